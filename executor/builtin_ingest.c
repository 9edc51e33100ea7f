/* `sluice builtin ingest`: the process the engine runs (under the shim) for an ingest step.
 * Progress and the result go to stdout, errors to stderr (both into the step's log); the exit
 * status says success (0), a permanent failure (1) or one worth retrying (75). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/builtin.h"
#include "executor/ingest.h"

int builtin_ingest_main(int argc, char **argv)
{
    struct builtin_req req;
    int done = builtin_start(BUILTIN_INGEST, argc, argv, &req);
    if (done >= 0)
        return done;
    struct ingest_options opt = {
        .source = req.source,
        .base = req.base,
        .out = req.out,
        .max_size = req.max_size,
        .sha256 = req.sha256,
        .connect_timeout_ms = req.connect_timeout_ms ? req.connect_timeout_ms : 30000,
        .timeout_ms = req.timeout_ms,
        .progress = stdout,
    };
    const char *meta = req.meta;

    struct ingest_result res;
    struct err e = ERR_INIT;
    int status = 1;
    if (ingest_run(&opt, &res, &e)) {
        fflush(stdout);
        fprintf(stderr, "error: %s\n", e.msg);
        if (res.transient) {
            fputs("(transient: the step may be retried)\n", stderr);
            status = BUILTIN_EXIT_TRANSIENT;
        }
        goto out;
    }
    if (meta && ingest_write_meta(meta, opt.source, &res, &e)) {
        fprintf(stderr, "error: %s\n", e.msg);
        goto out;
    }
    printf("ingested %s: %lld bytes, sha256 %s\n", opt.source, (long long)res.size, res.sha256);
    status = fflush(stdout) ? 1 : 0;
out:
    ingest_result_release(&res);
    return status;
}
