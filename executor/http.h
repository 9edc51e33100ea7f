/* HTTP(S) downloads and health checks over libcurl, which is loaded with dlopen() on first use
 * so that the sluice binary does not link it (every step execs sluice; see the Makefile).
 * This header and http.c are the only places that know about libcurl. */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

/* Sees every body chunk after it was written (to hash it, say). Returns 0, or -1 after filling
 * e to abort the transfer with that error (permanent). */
typedef int (*http_data_cb)(void *ctx, const void *data, size_t len, struct err *e);

struct http_options {
    long connect_timeout_ms; /* 0: libcurl's default (300 s) */
    long timeout_ms;         /* the whole transfer; 0: no limit */
    int64_t max_size;        /* refuse a body larger than this many bytes; 0: no cap */
    FILE *progress;          /* progress lines, at most about one a second; NULL: none */
    http_data_cb on_data;    /* may be NULL */
    void *data_ctx;          /* passed to on_data */
};

#define HTTP_OPTIONS_INIT {0, 0, 0, NULL, NULL, NULL}

struct http_result {
    long status;              /* HTTP status of the last response; 0 when none arrived */
    int64_t size;             /* body bytes written to the fd */
    bool transient;           /* on failure: worth retrying (connection refused or reset, timeout,
                                 DNS failure, HTTP 408, 429, 5xx except 501 and 505) */
    char effective_url[2048]; /* the address the body came from, after redirects (truncated) */
};

/* Load libcurl and initialise it, once per process. Returns 0, or -1 with "libcurl is not
 * installed (libcurl.so.4): install libcurl4-openssl-dev". The other functions call it. */
int http_init(struct err *e);

/* Download url (http:// or https:// only) and write its body to fd. Redirects are followed
 * (at most 10) but only to http and https addresses. An HTTP status >= 400 is an error that
 * names the status; so is a body past opt->max_size (the transfer stops there). Returns 0, or
 * -1 with e filled and res->transient saying whether a retry may succeed. res is always
 * filled. What was written to fd before a failure stays there: write to a temporary file. */
int http_fetch(const char *url, int fd, const struct http_options *opt, struct http_result *res,
               struct err *e);

/* e->code of http_get_status when nothing accepted the connection (refused, or the host or its
 * network unreachable): no server listens there, as opposed to one that is slow or failing. */
#define HTTP_ERR_CONNECT 2

/* GET url (http or https, redirects followed as above) and set *status to the final HTTP status,
 * whatever it is; the body is read and dropped (at most 1 MiB). timeout_ms bounds connecting
 * and the whole exchange. Returns 0 when a response arrived, -1 with e filled otherwise (code
 * HTTP_ERR_CONNECT when the connection was refused). */
int http_get_status(const char *url, long timeout_ms, long *status, struct err *e);

/* ---- progress lines, for downloads here and local copies (ingest.c) ---- */

/* Monotonic seconds. */
double http_clock_s(void);

/* True, and *last set to now, when at least a second has passed since *last (http_clock_s
 * seconds: start it at http_clock_s() for a first line after one second). */
bool http_progress_due(double *last);

/* n bytes for people: "512 B", "1.5 MiB". */
void http_format_bytes(int64_t n, char *buf, size_t size);

#endif
