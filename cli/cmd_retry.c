/* `sluice retry RUN`: a new run of the same pipeline snapshot and parameters that reuses every
 * step that succeeded in RUN and runs the rest again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "scheduler/engine.h"
#include "store/store.h"
#include "web/trigger.h"

static const char usage[] =
    "usage: sluice retry RUN [--json]\n"
    "\n"
    "Start a new run (trigger 'retry', parent RUN) of RUN's exact pipeline text and parameters.\n"
    "Steps that succeeded in RUN are reused as they are; the others run again.\n";

int cmd_retry(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    bool json = false;
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json"))
            json = true;
        else if (argv[i][0] == '-')
            return cli_usage_error(usage, "unknown option '%s'", argv[i]);
        else if (!arg)
            arg = argv[i];
        else
            return cli_usage_error(usage, "one RUN at a time");
    }
    if (!arg)
        return cli_usage_error(usage, "missing RUN");
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
