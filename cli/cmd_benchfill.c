/* `sluice bench-fill N FILE` (not listed in --help): record N ended runs of the pipeline in
 * FILE through the store, with statuses, steps and a metric each, so that bench/web.sh can
 * measure the web API over a large history. Nothing is executed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/load.h"
#include "scheduler/engine.h"
#include "scheduler/trigger.h"
#include "store/store.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice bench-fill N FILE\n"
    "\n"
    "Record N ended runs of the pipeline in FILE (for benchmarks): one in ten failed, the\n"
    "others succeeded, each with its steps ended and a metric 'score'. Nothing runs.\n";

#define BATCH 500 /* runs per transaction */

static int fill_one(struct store *st, const struct pipeline *p, long i, struct err *e)
{
    struct engine_opts opts = {0};
    int64_t id;
    if (trigger_run(st, p, NULL, 0, i % 7 ? "cli" : "schedule", &opts, &id, e) < 0)
        return -1;
    bool fail = i % 10 == 9;
    bool changed;
    struct step_row *steps = NULL;
    size_t n = 0;
    if (store_run_set_status(st, id, RUN_QUEUED, RUN_RUNNING, NULL, &changed, e) < 0 ||
        store_steps_load(st, id, &steps, &n, e) < 0)
        return -1;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        enum step_status to = fail && k == n - 1 ? STEP_FAILED : STEP_SUCCEEDED;
        rc = store_step_set_status(st, steps[k].id, STEP_PENDING, STEP_RUNNING, NULL, &changed,
                                   e);
        if (rc == 0)
            rc = store_step_set_status(st, steps[k].id, STEP_RUNNING, to, NULL, &changed, e);
    }
    if (rc == 0 && n)
        rc = store_metric_put(st, id, steps[0].name, "score", -1, (double)(i % 1000) / 1000.0,
                              e);
    step_rows_free(steps, n);
    if (rc < 0)
        return -1;
    return store_run_set_status(st, id, RUN_RUNNING, fail ? RUN_FAILED : RUN_SUCCEEDED,
                                fail ? "step failed" : NULL, &changed, e);
}

int cmd_benchfill(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    if (argc != 3)
        return cli_usage_error(usage, "bench-fill takes N and FILE");
    char *end;
    errno = 0;
    long count = strtol(argv[1], &end, 10);
    if (*end || errno || count < 1 || count > 10000000)
        return cli_usage_error(usage, "N must be a number from 1 to 10000000, got '%s'", argv[1]);
    struct diag_list diags = DIAG_LIST_INIT;
    char *text = NULL;
    size_t len = 0;
    struct pipeline *p = pipeline_load(argv[2], &diags, &text, &len);
    if (!p) {
        diag_print(&diags, argv[2], text, len, stderr);
        diag_list_release(&diags);
        free(text);
        return EXIT_USAGE;
    }
    diag_list_release(&diags);
    free(text);
    struct store *st = cli_open_store();
    int rc = EXIT_RUN_FAILED;
    struct err e = ERR_INIT;
    for (long i = 0; st && i < count; i += BATCH) {
        if (store_begin(st, &e) < 0)
            goto fail;
        for (long k = i; k < i + BATCH && k < count; k++)
            if (fill_one(st, p, k, &e) < 0) {
                store_rollback(st);
                goto fail;
            }
        if (store_commit(st, &e) < 0)
            goto fail;
    }
    if (st) {
        fprintf(stderr, "recorded %ld runs of %s\n", count, p->name);
        rc = EXIT_OK;
    }
    goto out;
fail:
    cli_error("%s", e.msg);
out:
    store_close(st);
    pipeline_free(p);
    return rc;
}
