/* `sluice resume RUN`: adopt a run whose engine died — finished attempts are read from their
 * exit.json, live ones waited for, vanished ones retried — and drive it to its end. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "scheduler/engine.h"
#include "store/store.h"

static const char usage[] =
    "usage: sluice resume RUN [--json]\n"
    "\n"
    "Take over RUN (a number, or 'last') when the engine that drove it is gone, and drive it\n"
    "to its end. Steps that finished meanwhile are read back, steps still running are waited\n"
    "for, steps whose process vanished are retried per their retry policy.\n";

int cmd_resume(int argc, char **argv)
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
    if (cli_resolve_run(st, arg, &id) < 0)
        goto out;
    struct run_row r;
    struct err e = ERR_INIT;
    if (store_run_get(st, id, &r, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (run_status_terminal(r.status)) {
        printf("run %lld has already ended: %s\n", id, run_status_name(r.status));
        rc = r.status == RUN_SUCCEEDED ? EXIT_OK : EXIT_RUN_FAILED;
        run_row_release(&r);
        goto out;
    }
    if (engine_drives(&r, store_now_ms())) {
        cli_error("run %lld is being driven by a live engine ('%s')", id, r.lease_owner);
        run_row_release(&r);
        goto out;
    }
    struct engine_opts opts = {0};
    engine_opts_from_json(r.options, &opts);
    run_row_release(&r);
    rc = cli_drive(st, id, &opts, json);
out:
    store_close(st);
    return rc;
}
