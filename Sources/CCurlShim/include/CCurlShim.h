#ifndef STSCACHE_CCURLSHIM_H
#define STSCACHE_CCURLSHIM_H

/*
 * One blocking HTTP exchange through libcurl, which is loaded with dlopen() on first use so that
 * processes that never touch the network (cache hits, `prompt`) never pay for loading it.
 *
 * This header deliberately does not include <curl/curl.h>: Swift sees only these plain types.
 */

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Outcome classes of stscache_http_perform. */
typedef enum {
    STSCACHE_HTTP_OK = 0,
    /* libcurl could not be loaded, or lacks a function we need. */
    STSCACHE_HTTP_ERR_LIBRARY = 1,
    STSCACHE_HTTP_ERR_RESOLVE = 2,
    STSCACHE_HTTP_ERR_CONNECT = 3,
    STSCACHE_HTTP_ERR_TIMEOUT = 4,
    /* TLS handshake, certificate verification, or the CA bundle. */
    STSCACHE_HTTP_ERR_TLS = 5,
    STSCACHE_HTTP_ERR_PROXY = 6,
    /* The response body (or header block) exceeded the limit. */
    STSCACHE_HTTP_ERR_TOO_LARGE = 7,
    /* The request itself is unusable: malformed URL, unsupported scheme. */
    STSCACHE_HTTP_ERR_INVALID_REQUEST = 8,
    STSCACHE_HTTP_ERR_OTHER = 9,
} stscache_http_result;

typedef struct {
    /* "GET", "POST", "PUT", ... */
    const char *method;
    /* Absolute http:// or https:// URL. Other schemes are refused. */
    const char *url;
    /* Complete header lines ("Name: value"), no CR/LF. */
    const char *const *headers;
    size_t header_count;
    const unsigned char *body;
    size_t body_len;
    long connect_timeout_ms;
    long total_timeout_ms;
    /* PEM file replacing the system CA store; NULL = the system store. */
    const char *ca_bundle;
    /* Proxy URL; NULL = no proxy (the proxy environment variables are never consulted). */
    const char *proxy;
    /* Hosts that bypass the proxy, curl's syntax; NULL = none. */
    const char *no_proxy;
    /* Largest accepted response body, in bytes. */
    size_t max_response_bytes;
} stscache_http_request;

typedef struct {
    long status;
    /* Raw header block of the final response (status line included), NUL-terminated; malloc'd. */
    char *headers;
    size_t headers_len;
    /* Response body; malloc'd, may be NULL when empty. */
    unsigned char *body;
    size_t body_len;
    /* libcurl's CURLcode when the exchange failed, else 0. */
    int curl_code;
} stscache_http_response;

/*
 * Performs one request. Returns a stscache_http_result. On STSCACHE_HTTP_OK, `resp` holds the
 * status, headers and body (any HTTP status counts as success here). On failure, `err` receives a
 * NUL-terminated description (libcurl's message) and `resp->curl_code` the libcurl code.
 * Always call stscache_http_response_free(resp) afterwards. Thread-safe.
 */
int stscache_http_perform(const stscache_http_request *req, stscache_http_response *resp,
                          char *err, size_t errlen);

void stscache_http_response_free(stscache_http_response *resp);

#ifdef __cplusplus
}
#endif

#endif
