#ifndef STSCACHE_COPENSSL_SHIM_H
#define STSCACHE_COPENSSL_SHIM_H
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>

/// SHA-256 without EVP. In OpenSSL 3 the first EVP digest call fetches the algorithm from the
/// default provider, which first builds the library's whole name map and then every digest
/// implementation: ~0.5 ms, paid by every `stscache` process on its first hash. SHA256_Init and
/// friends (deprecated in 3.0, not removed) run the same assembly with no fetch. Where they are
/// compiled out, this falls back to EVP.
static inline int stscache_sha256(const void *data, size_t count, unsigned char *out) {
#if defined(OPENSSL_NO_DEPRECATED_3_0)
    unsigned int length = 0;
    return EVP_Digest(data, count, out, &length, EVP_sha256(), NULL) == 1 && length == 32;
#else
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    SHA256_CTX context;
    int ok = SHA256_Init(&context) == 1 && SHA256_Update(&context, data, count) == 1
        && SHA256_Final(out, &context) == 1;
    OPENSSL_cleanse(&context, sizeof context);
    return ok;
#pragma clang diagnostic pop
#endif
}

#endif
