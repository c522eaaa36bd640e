#ifndef STSCACHE_COPENSSL_SHIM_H
#define STSCACHE_COPENSSL_SHIM_H
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#if defined(__linux__) || defined(__APPLE__)
#include <sys/random.h>
#endif

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

/// Fills `buffer` from the kernel's CSPRNG: getrandom(2) on Linux (blocking only until the pool
/// is first seeded at boot), getentropy(2) elsewhere. Not RAND_bytes: in OpenSSL 3 its first
/// call instantiates the DRBG through a provider fetch (7M instructions on a miss), and the
/// kernel's generator is what seeds that DRBG anyway. Returns 0, or the errno.
static inline int stscache_random_bytes(unsigned char *buffer, size_t count) {
    size_t filled = 0;
    while (filled < count) {
#if defined(__linux__)
        ssize_t n = getrandom(buffer + filled, count - filled, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        filled += (size_t)n;
#else
        size_t chunk = count - filled < 256 ? count - filled : 256;
        if (getentropy(buffer + filled, chunk) != 0) return errno;
        filled += chunk;
#endif
    }
    return 0;
}

/// HMAC-SHA256 (RFC 2104) over the SHA-256 above, for the same reason: EVP_Q_mac's first call
/// fetches HMAC and SHA-256 from the provider, building the name map (~0.7 ms of a miss, which
/// signs one request). Falls back to EVP_Q_mac where the low-level functions are compiled out.
static inline int stscache_hmac_sha256(const unsigned char *key, size_t key_count, const unsigned char *message,
                                       size_t message_count, unsigned char *out) {
#if defined(OPENSSL_NO_DEPRECATED_3_0)
    static const unsigned char empty = 0;
    size_t length = 0;
    return EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key_count ? key : &empty, key_count,
                     message_count ? message : &empty, message_count, out, 32, &length) != NULL && length == 32;
#else
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    unsigned char block[SHA256_CBLOCK] = {0}, pad[SHA256_CBLOCK], inner[SHA256_DIGEST_LENGTH];
    SHA256_CTX context;
    int ok = 1;
    if (key_count > sizeof block) {
        ok = stscache_sha256(key, key_count, block);  /* a long key is hashed first */
    } else if (key_count > 0) {
        memcpy(block, key, key_count);
    }
    for (size_t i = 0; i < sizeof block; i++) pad[i] = block[i] ^ 0x36;
    ok = ok && SHA256_Init(&context) == 1 && SHA256_Update(&context, pad, sizeof pad) == 1
        && SHA256_Update(&context, message, message_count) == 1 && SHA256_Final(inner, &context) == 1;
    for (size_t i = 0; i < sizeof block; i++) pad[i] = block[i] ^ 0x5c;
    ok = ok && SHA256_Init(&context) == 1 && SHA256_Update(&context, pad, sizeof pad) == 1
        && SHA256_Update(&context, inner, sizeof inner) == 1 && SHA256_Final(out, &context) == 1;
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(inner, sizeof inner);
    OPENSSL_cleanse(&context, sizeof context);
    return ok;
#pragma clang diagnostic pop
#endif
}

#if !defined(OPENSSL_NO_ENGINE) && !defined(OPENSSL_NO_DEPRECATED_3_0)
#include <openssl/engine.h>

static inline int stscache_aes_gcm_engine_ciphers(ENGINE *engine, const EVP_CIPHER **cipher, const int **nids,
                                                  int nid) {
    static const int supported[] = { NID_aes_256_gcm };
    (void)engine;
    if (cipher == NULL) {
        *nids = supported;
        return 1;
    }
    *cipher = nid == NID_aes_256_gcm ? EVP_aes_256_gcm() : NULL;
    return *cipher != NULL;
}
#endif

/// An ENGINE that hands out OpenSSL's own built-in AES-256-GCM (EVP_aes_256_gcm(): the same
/// AES-NI and carry-less-multiply assembly the default provider runs). OpenSSL 3 takes its
/// legacy, fetch-free code path when an ENGINE is passed to EVP_*Init_ex; without one, the first
/// AES-GCM call of every process fetches the cipher from the provider, which builds the name map
/// and every cipher implementation: 6M instructions, ~0.8 ms, more than half of a cache hit.
/// NULL where engines are compiled out (OpenSSL 4): the caller then uses the provider.
static inline ENGINE *stscache_make_aes_gcm_engine(void) {
#if !defined(OPENSSL_NO_ENGINE) && !defined(OPENSSL_NO_DEPRECATED_3_0)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wdeprecated-declarations"
    ENGINE *engine = ENGINE_new();
    if (engine == NULL) return NULL;
    if (ENGINE_set_id(engine, "stscache-aes-gcm") != 1 || ENGINE_set_name(engine, "built-in AES-256-GCM") != 1
        || ENGINE_set_ciphers(engine, stscache_aes_gcm_engine_ciphers) != 1 || ENGINE_init(engine) != 1) {
        ENGINE_free(engine);
        return NULL;
    }
    /* ENGINE_init holds a functional reference; drop the structural one from ENGINE_new. */
    ENGINE_free(engine);
    return engine;
#pragma clang diagnostic pop
#else
    return NULL;
#endif
}
#endif
