/* Built-in steps that run as a child process under the shim (so that their logs, timeouts and
 * crash safety are those of any step): `sluice builtin NAME ARGS...`. Both sides of that
 * command line are here: builtin_argv writes it for the engine, builtin_parse reads it back
 * in the built-in's process. Each *_main returns the process exit status: 0 success, 1 a
 * permanent failure, 75 (EX_TEMPFAIL) a transient one. */
#ifndef SLUICE_BUILTIN_H
#define SLUICE_BUILTIN_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define BUILTIN_EXIT_TRANSIENT 75

enum builtin_kind { BUILTIN_INGEST, BUILTIN_CRAWL, BUILTIN_DEPLOY };

/* One built-in's command line: its step's fields as the run expanded them, and the paths of
 * the attempt. Strings are borrowed: the caller's for builtin_argv, argv's after
 * builtin_parse. A NULL string or a 0 number is an option left out (its default). */
struct builtin_req {
    enum builtin_kind kind;
    const char *self;   /* the sluice binary: argv[0] of builtin_argv */
    const char *out;    /* ingest: where the data goes; crawl: where schema.json goes */
    /* ingest */
    const char *source; /* a path (relative to base), file://, http:// or https:// */
    const char *base;   /* the pipeline's folder */
    int64_t max_size;   /* bytes; 0: 10 GiB */
    const char *sha256; /* the digest the data must have */
    const char *meta;   /* where to write {source, url, size, sha256, http_status} */
    long connect_timeout_ms; /* http(s); 0: 30 s */
    long timeout_ms;         /* http(s), the whole transfer; 0: none */
    /* crawl */
    const char *input;   /* the CSV or JSON Lines file */
    const char **expect; /* the data-quality rules (builtin_parse allocates the array) */
    size_t nexpect;
    /* deploy */
    const char *model;         /* the model file or folder */
    const char *target;        /* the deployment folder */
    const char *name;          /* the model's file name in the slot */
    const char *version;       /* the slot's VERSION label */
    const char *health;        /* the URL that must answer 2xx after the switch */
    int64_t health_timeout_ms; /* with health; 0: 30 s */
};

/* `SELF builtin NAME --option value …` for req, a NULL-terminated argv the caller frees (each
 * string, then the array). NULL with e set when a required field is missing. */
char **builtin_argv(const struct builtin_req *req, struct err *e);

/* Read the arguments of `sluice builtin NAME` (argv[0] is NAME) into req, which borrows argv's
 * strings; release it with builtin_req_release whatever this returns. 0, 1 when --help was
 * asked for (nothing printed), or -1 after printing "error: …" and the usage to stderr. */
int builtin_parse(enum builtin_kind kind, int argc, char **argv, struct builtin_req *req);
void builtin_req_release(struct builtin_req *req);
/* builtin_parse for a built-in's main, printing the usage to stdout for --help: -1 to go on,
 * else the exit status to return at once (0 after --help, 1 after a bad command line). */
int builtin_start(enum builtin_kind kind, int argc, char **argv, struct builtin_req *req);
/* NAME's usage text. */
const char *builtin_usage(enum builtin_kind kind);

int builtin_ingest_main(int argc, char **argv);
int builtin_crawl_main(int argc, char **argv);
int builtin_deploy_main(int argc, char **argv);

#endif
