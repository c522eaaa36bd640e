#ifndef STSCACHE_COPENSSL_SHIM_H
#define STSCACHE_COPENSSL_SHIM_H
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
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

/* P-256 keys and ES256 (RFC 7518 §3.4) for DPoP proofs (RFC 9449): the AWS CLI's `aws login`
 * keeps the key as a SEC1 "EC PRIVATE KEY" PEM in its cache file. The refresh path only; the hit
 * path never calls these. */

/* A PEM that asks for a passphrase is refused, never prompted for on the terminal. */
static inline int stscache_no_passphrase(char *buffer, int size, int rwflag, void *context) {
    (void)buffer; (void)size; (void)rwflag; (void)context;
    return -1;
}

/* The private key in `pem` when it is an EC key on P-256; NULL otherwise. */
static inline EVP_PKEY *stscache_p256_key_from_pem(const unsigned char *pem, size_t count) {
    if (count > 16384) return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)count);
    if (bio == NULL) return NULL;
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, stscache_no_passphrase, NULL);
    BIO_free(bio);
    if (key == NULL) {
        ERR_clear_error();
        return NULL;
    }
    char group[64] = {0};
    size_t length = 0;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC
        || EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &length) != 1
        || strcmp(group, "prime256v1") != 0) {
        EVP_PKEY_free(key);
        ERR_clear_error();
        return NULL;
    }
    return key;
}

/* A new P-256 key pair. */
static inline EVP_PKEY *stscache_p256_generate(void) {
    return EVP_EC_gen("P-256");
}

/* The key as a SEC1 "EC PRIVATE KEY" PEM (what `aws login` writes) into a memory buffer the
 * caller copies out of and frees with stscache_bio_free (which wipes it). */
static inline BIO *stscache_p256_pem(EVP_PKEY *key) {
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL) bio = BIO_new(BIO_s_mem());
    if (bio == NULL) return NULL;
    if (PEM_write_bio_PrivateKey_traditional(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return NULL;
    }
    return bio;
}

static inline long stscache_bio_contents(BIO *bio, char **data) {
    return BIO_get_mem_data(bio, data);
}

static inline void stscache_bio_free(BIO *bio) {
    char *data = NULL;
    long count = BIO_get_mem_data(bio, &data);
    if (data != NULL && count > 0) OPENSSL_cleanse(data, (size_t)count);
    BIO_free(bio);
}

/* The public point's coordinates, 32 bytes each, big-endian. */
static inline int stscache_p256_public_xy(const EVP_PKEY *key, unsigned char *x, unsigned char *y) {
    BIGNUM *bx = NULL, *by = NULL;
    int ok = EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1
        && EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1
        && BN_bn2binpad(bx, x, 32) == 32 && BN_bn2binpad(by, y, 32) == 32;
    BN_free(bx);
    BN_free(by);
    return ok;
}

/* ES256 over `message`: ECDSA P-256 with SHA-256, the signature as r || s, 32 bytes each. */
static inline int stscache_es256_sign(EVP_PKEY *key, const unsigned char *message, size_t count,
                                      unsigned char *signature) {
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL) return 0;
    unsigned char der[80];
    size_t der_length = sizeof der;
    int ok = EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestSign(context, der, &der_length, message, count) == 1;
    EVP_MD_CTX_free(context);
    if (!ok) return 0;
    const unsigned char *cursor = der;
    ECDSA_SIG *parsed = d2i_ECDSA_SIG(NULL, &cursor, (long)der_length);
    if (parsed == NULL) return 0;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG_get0(parsed, &r, &s);
    ok = BN_bn2binpad(r, signature, 32) == 32 && BN_bn2binpad(s, signature + 32, 32) == 32;
    ECDSA_SIG_free(parsed);
    return ok;
}

/* Verifies an ES256 signature (r || s) over `message` with the public key (x, y): 1 valid, 0 not
 * (or not a point on P-256). */
static inline int stscache_es256_verify(const unsigned char *x, const unsigned char *y, const unsigned char *message,
                                        size_t count, const unsigned char *signature) {
    unsigned char point[65];
    point[0] = 4;
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    OSSL_PARAM_BLD *builder = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *key_context = NULL;
    EVP_PKEY *key = NULL;
    EVP_MD_CTX *context = NULL;
    ECDSA_SIG *parsed = NULL;
    unsigned char *der = NULL;
    int valid = 0;
    if (builder == NULL
        || OSSL_PARAM_BLD_push_utf8_string(builder, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1
        || OSSL_PARAM_BLD_push_octet_string(builder, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) != 1
        || (params = OSSL_PARAM_BLD_to_param(builder)) == NULL
        || (key_context = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL
        || EVP_PKEY_fromdata_init(key_context) != 1
        || EVP_PKEY_fromdata(key_context, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) goto done;
    parsed = ECDSA_SIG_new();
    if (parsed == NULL) goto done;
    BIGNUM *r = BN_bin2bn(signature, 32, NULL), *s = BN_bin2bn(signature + 32, 32, NULL);
    if (r == NULL || s == NULL || ECDSA_SIG_set0(parsed, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    int der_length = i2d_ECDSA_SIG(parsed, &der);
    if (der_length <= 0) goto done;
    context = EVP_MD_CTX_new();
    if (context == NULL) goto done;
    valid = EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(context, der, (size_t)der_length, message, count) == 1;
done:
    OPENSSL_free(der);
    ECDSA_SIG_free(parsed);
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(key_context);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    ERR_clear_error();
    return valid;
}
#endif
