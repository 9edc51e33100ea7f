/* `sluice retry RUN`: a new run of the same pipeline snapshot and parameters that reuses every
 * step that succeeded in RUN and runs the rest again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "scheduler/engine.h"
#include "scheduler/trigger.h"
#include "store/store.h"

static const char usage[] =
    "usage: sluice retry RUN [--json]\n"
    "\n"
    "Start a new run (trigger 'retry', parent RUN) of RUN's exact pipeline text and parameters.\n"
    "Steps that succeeded in RUN are reused as they are; the others run again.\n";

int cmd_retry(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    bool json;
    const char *arg;
    int bad = cli_one_arg(argc, argv, usage, "RUN", &arg, &json);
    if (bad)
        return bad;
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    long long id;
    int rc = EXIT_RUN_FAILED;
    struct err e = ERR_INIT;
    struct run_row r = {0};
    if (cli_resolve_run(st, arg, &id) < 0)
        goto out;
    int64_t new_id = 0;
    struct engine_opts opts = {0};
    if (trigger_retry(st, id, &new_id, &opts, &e) < 0 || store_run_get(st, new_id, &r, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (!json)
        fprintf(stderr, "run %lld: retry of run %lld (%s)\n", (long long)new_id, id, r.pipeline);
    rc = cli_drive(st, new_id, &opts, json);
out:
    run_row_release(&r);
    store_close(st);
    return rc;
}
