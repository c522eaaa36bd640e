/*
 * libcurl, loaded on demand.
 *
 * stscache answers cache hits without touching the network, and linking libcurl costs ~5 ms at
 * every process start (the loader maps libcurl and its dozen dependencies). So libcurl is never
 * linked: the first request dlopen()s it and resolves the handful of functions used here.
 * <curl/curl.h> is included only for its types and constants. Nothing here runs at process start.
 */

#define CURL_DISABLE_TYPECHECK 1
#define CURL_DISABLE_DEPRECATION 1
#define CURL_NO_OLDIES 1
#include <curl/curl.h>

#include "CCurlShim.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A response header block larger than this is refused (STS sends well under 1 KiB). */
#define STSCACHE_MAX_HEADER_BYTES (64 * 1024)

typedef CURLcode (*fn_global_init)(long);
typedef CURL *(*fn_easy_init)(void);
typedef CURLcode (*fn_easy_setopt)(CURL *, CURLoption, ...);
typedef CURLcode (*fn_easy_perform)(CURL *);
typedef CURLcode (*fn_easy_getinfo)(CURL *, CURLINFO, ...);
typedef void (*fn_easy_cleanup)(CURL *);
typedef const char *(*fn_easy_strerror)(CURLcode);
typedef struct curl_slist *(*fn_slist_append)(struct curl_slist *, const char *);
typedef void (*fn_slist_free_all)(struct curl_slist *);

static struct {
    fn_global_init global_init;
    fn_easy_init easy_init;
    fn_easy_setopt easy_setopt;
    fn_easy_perform easy_perform;
    fn_easy_getinfo easy_getinfo;
    fn_easy_cleanup easy_cleanup;
    fn_easy_strerror easy_strerror;
    fn_slist_append slist_append;
    fn_slist_free_all slist_free_all;
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
/* Written once inside load_once, read-only afterwards. */
static int load_failed;
static char load_error[512];

#if defined(__APPLE__)
static const char *const library_names[] = {"libcurl.4.dylib", "libcurl.dylib"};
#else
static const char *const library_names[] = {"libcurl.so.4", "libcurl.so"};
#endif

static void load_curl(void) {
    void *handle = NULL;
    const char *first_error = NULL;
    char first_error_copy[256] = {0};
    for (size_t i = 0; i < sizeof(library_names) / sizeof(library_names[0]); i++) {
        handle = dlopen(library_names[i], RTLD_NOW | RTLD_LOCAL);
        if (handle) break;
        if (!first_error) {
            const char *e = dlerror();
            snprintf(first_error_copy, sizeof(first_error_copy), "%s", e ? e : "unknown error");
            first_error = first_error_copy;
        }
    }
    if (!handle) {
        load_failed = 1;
        snprintf(load_error, sizeof(load_error), "could not load %s (%s)", library_names[0],
                 first_error ? first_error : "unknown error");
        return;
    }

#define RESOLVE(field, symbol)                                                                   \
    do {                                                                                         \
        *(void **)(&api.field) = dlsym(handle, symbol);                                          \
        if (!api.field) {                                                                        \
            load_failed = 1;                                                                     \
            snprintf(load_error, sizeof(load_error), "%s lacks %s", library_names[0], symbol);   \
            return;                                                                              \
        }                                                                                        \
    } while (0)

    RESOLVE(global_init, "curl_global_init");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_perform, "curl_easy_perform");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
#undef RESOLVE

    /* curl_global_init is not thread-safe in older libcurl: pthread_once makes it run once. */
    CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        load_failed = 1;
        snprintf(load_error, sizeof(load_error), "curl_global_init failed (%d)", (int)rc);
    }
}

typedef struct {
    unsigned char *data;
    size_t len;
    size_t cap;
    size_t limit;
    int too_large;
    int oom;
} growable;

static int growable_append(growable *b, const char *src, size_t n) {
    if (n > b->limit - b->len) {
        b->too_large = 1;
        return 0;
    }
    /* +1 keeps room for a terminating NUL (the header block is handed out as a C string). */
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p) {
            b->oom = 1;
            return 0;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, src, n);
    b->len += n;
    b->data[b->len] = 0;
    return 1;
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata) {
    size_t n = size * nmemb;
    if (n == 0) return 0;
    return growable_append((growable *)userdata, ptr, n) ? n : 0;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata) {
    growable *b = (growable *)userdata;
    size_t n = size * nmemb;
    /* A new status line starts a new response (1xx, or a proxy's CONNECT reply): keep only the
     * final response's headers. */
    if (n >= 5 && memcmp(ptr, "HTTP/", 5) == 0) b->len = 0;
    if (n == 0) return 0;
    return growable_append(b, ptr, n) ? n : 0;
}

static void set_error(char *err, size_t errlen, const char *fmt, ...) {
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int classify(CURLcode code, long connect_code, int body_too_large, int header_too_large) {
    switch (code) {
    case CURLE_WRITE_ERROR:
        return (body_too_large || header_too_large) ? STSCACHE_HTTP_ERR_TOO_LARGE
                                                    : STSCACHE_HTTP_ERR_OTHER;
    case CURLE_FILESIZE_EXCEEDED:
        return STSCACHE_HTTP_ERR_TOO_LARGE;
    case CURLE_COULDNT_RESOLVE_HOST:
        return STSCACHE_HTTP_ERR_RESOLVE;
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_PROXY:
        return STSCACHE_HTTP_ERR_PROXY;
    case CURLE_COULDNT_CONNECT:
        return STSCACHE_HTTP_ERR_CONNECT;
    case CURLE_OPERATION_TIMEDOUT:
        return STSCACHE_HTTP_ERR_TIMEOUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
        return STSCACHE_HTTP_ERR_TLS;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        return STSCACHE_HTTP_ERR_INVALID_REQUEST;
    default:
        /* The proxy refused the CONNECT tunnel (older libcurl reports it as a receive error). */
        if (connect_code != 0 && (connect_code < 200 || connect_code > 299))
            return STSCACHE_HTTP_ERR_PROXY;
        return STSCACHE_HTTP_ERR_OTHER;
    }
}

int stscache_http_perform(const stscache_http_request *req, stscache_http_response *resp,
                          char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (!resp) return STSCACHE_HTTP_ERR_INVALID_REQUEST;
    memset(resp, 0, sizeof(*resp));
    if (!req || !req->url || !req->method) {
        set_error(err, errlen, "missing URL or method");
        return STSCACHE_HTTP_ERR_INVALID_REQUEST;
    }

    pthread_once(&load_once, load_curl);
    if (load_failed) {
        set_error(err, errlen, "%s", load_error);
        return STSCACHE_HTTP_ERR_LIBRARY;
    }

    CURL *h = api.easy_init();
    if (!h) {
        set_error(err, errlen, "curl_easy_init failed");
        return STSCACHE_HTTP_ERR_OTHER;
    }

    char curl_error[CURL_ERROR_SIZE];
    curl_error[0] = 0;
    growable body = {0};
    body.limit = req->max_response_bytes;
    growable headers = {0};
    headers.limit = STSCACHE_MAX_HEADER_BYTES;
    struct curl_slist *header_list = NULL;
    int result = STSCACHE_HTTP_OK;
    CURLcode rc = CURLE_OK;
    const char *failed_option = NULL;

#define SETOPT(option, value)                                                                    \
    do {                                                                                         \
        rc = api.easy_setopt(h, option, value);                                                  \
        if (rc != CURLE_OK) {                                                                    \
            failed_option = #option;                                                             \
            goto setopt_failed;                                                                  \
        }                                                                                        \
    } while (0)

    SETOPT(CURLOPT_ERRORBUFFER, curl_error);
    /* No SIGALRM-based DNS timeouts: we may run on any thread. */
    SETOPT(CURLOPT_NOSIGNAL, 1L);
    SETOPT(CURLOPT_URL, req->url);
    /* Only http(s); an endpoint_url of file:// or similar must not read local files. Older
     * libcurl lacks CURLOPT_PROTOCOLS_STR (7.85): fall back to the bitmask. */
    if (api.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
        SETOPT(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
    SETOPT(CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_SSL_VERIFYHOST, 2L);
    SETOPT(CURLOPT_PROXY_SSL_VERIFYPEER, 1L);
    SETOPT(CURLOPT_PROXY_SSL_VERIFYHOST, 2L);
    if (req->ca_bundle) {
        /* The bundle replaces the system store, as AWS_CA_BUNDLE does for botocore. */
        SETOPT(CURLOPT_CAINFO, req->ca_bundle);
        SETOPT(CURLOPT_CAPATH, (const char *)NULL);
    }
    /* "" disables the proxy even when http_proxy/https_proxy/all_proxy are set, and an explicit
     * no-proxy list (even empty) keeps libcurl from reading no_proxy: the caller decides. */
    SETOPT(CURLOPT_PROXY, req->proxy ? req->proxy : "");
    SETOPT(CURLOPT_NOPROXY, req->no_proxy ? req->no_proxy : "");
    SETOPT(CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 1L);
    SETOPT(CURLOPT_TIMEOUT_MS, req->total_timeout_ms > 0 ? req->total_timeout_ms : 1L);
    if (req->max_response_bytes <= (size_t)INT64_MAX)
        SETOPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response_bytes);

    if (strcmp(req->method, "GET") == 0 && req->body_len == 0) {
        SETOPT(CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        SETOPT(CURLOPT_NOBODY, 1L);
    } else {
        if (req->body_len > 0 || strcmp(req->method, "POST") == 0) {
            SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            SETOPT(CURLOPT_POSTFIELDS, req->body_len > 0 ? (const char *)req->body : "");
        }
        if (strcmp(req->method, "POST") != 0) SETOPT(CURLOPT_CUSTOMREQUEST, req->method);
    }

    for (size_t i = 0; i < req->header_count; i++) {
        struct curl_slist *next = api.slist_append(header_list, req->headers[i]);
        if (!next) goto out_of_memory;
        header_list = next;
    }
    /* No "Expect: 100-continue" round trip for bodies. */
    {
        struct curl_slist *next = api.slist_append(header_list, "Expect:");
        if (!next) goto out_of_memory;
        header_list = next;
    }
    SETOPT(CURLOPT_HTTPHEADER, header_list);
    SETOPT(CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(CURLOPT_WRITEDATA, (void *)&body);
    SETOPT(CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(CURLOPT_HEADERDATA, (void *)&headers);
#undef SETOPT

    rc = api.easy_perform(h);
    if (rc == CURLE_OK) {
        long status = 0;
        api.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        resp->status = status;
        resp->body = body.data;
        resp->body_len = body.len;
        body.data = NULL;
        if (headers.data) {
            resp->headers = (char *)headers.data;
            resp->headers_len = headers.len;
            headers.data = NULL;
        }
        result = STSCACHE_HTTP_OK;
    } else if (body.oom || headers.oom) {
        goto out_of_memory;
    } else {
        long connect_code = 0;
        api.easy_getinfo(h, CURLINFO_HTTP_CONNECTCODE, &connect_code);
        result = classify(rc, connect_code, body.too_large, headers.too_large);
        resp->curl_code = (int)rc;
        if (result == STSCACHE_HTTP_ERR_TOO_LARGE && headers.too_large)
            set_error(err, errlen, "response header block exceeds %d bytes",
                      STSCACHE_MAX_HEADER_BYTES);
        else if (result == STSCACHE_HTTP_ERR_TOO_LARGE)
            set_error(err, errlen, "response body exceeds %zu bytes", req->max_response_bytes);
        else
            set_error(err, errlen, "%s", curl_error[0] ? curl_error : api.easy_strerror(rc));
    }
    goto done;

setopt_failed:
    resp->curl_code = (int)rc;
    result = STSCACHE_HTTP_ERR_OTHER;
    set_error(err, errlen, "libcurl refused %s: %s", failed_option, api.easy_strerror(rc));
    goto done;

out_of_memory:
    result = STSCACHE_HTTP_ERR_OTHER;
    resp->curl_code = (int)CURLE_OUT_OF_MEMORY;
    set_error(err, errlen, "out of memory");

done:
    api.easy_cleanup(h);
    if (header_list) api.slist_free_all(header_list);
    free(body.data);
    free(headers.data);
    return result;
}

void stscache_http_response_free(stscache_http_response *resp) {
    if (!resp) return;
    free(resp->headers);
    free(resp->body);
    resp->headers = NULL;
    resp->body = NULL;
    resp->headers_len = 0;
    resp->body_len = 0;
}
