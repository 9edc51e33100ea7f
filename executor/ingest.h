/* The ingest built-in: bring a source (a local path, file://, http://, https://) into the step's
 * output, hashing it with SHA-256 on the way, under a size cap, and optionally checking the
 * digest. The output appears only when everything succeeded (written aside, then renamed). */
#ifndef SLUICE_INGEST_H
#define SLUICE_INGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

#define INGEST_DEFAULT_MAX_SIZE (10LL << 30) /* 10 GiB, as the pipeline file's default */

struct ingest_options {
    const char *source;      /* as written in the pipeline file */
    const char *base;        /* folder a relative source path is relative to; NULL: cwd */
    const char *out;         /* destination file (OUT.tmp while writing); missing folders made */
    int64_t max_size;        /* cap in bytes; 0: INGEST_DEFAULT_MAX_SIZE */
    const char *sha256;      /* expected digest (64 hex digits, any case) or NULL */
    long connect_timeout_ms; /* http(s) only; 0: libcurl's default */
    long timeout_ms;         /* http(s) only, the whole transfer; 0: none */
    FILE *progress;          /* progress lines, about one a second; NULL: none */
};

struct ingest_result {
    char *url;           /* file:///absolute/path or the http(s) address (see release) */
    char *effective_url; /* http(s): the address after redirects; NULL otherwise */
    int64_t size;        /* bytes written */
    char sha256[65];     /* lowercase hex */
    long http_status;    /* 0 for local sources */
    bool transient;      /* on failure: a retry may succeed */
};

/* Copy or download opt->source to opt->out. Returns 0 with res filled, or -1 with e filled and
 * res->transient set; on failure opt->out is left as it was and no temporary file remains.
 * Call ingest_result_release(res) either way. */
int ingest_run(const struct ingest_options *opt, struct ingest_result *res, struct err *e);
void ingest_result_release(struct ingest_result *res);

/* Write res as one JSON object {"source", "url", "size", "sha256", "http_status"} (plus
 * "effective_url" for downloads; http_status is null for local sources) to path, atomically. */
int ingest_write_meta(const char *path, const char *source, const struct ingest_result *res,
                      struct err *e);

#endif
