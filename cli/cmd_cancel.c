/* `sluice cancel RUN`: ask the run's engine to stop it; with no live engine, stop it here. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "scheduler/engine.h"
#include "store/store.h"

static const char usage[] =
    "usage: sluice cancel RUN\n"
    "\n"
    "Cancel RUN (a number, or 'last'): running steps get SIGTERM (SIGKILL 10 s later), nothing\n"
    "new starts, and the run ends 'cancelled'. Waits until it has.\n";

#define WAIT_MS 60000

int cmd_cancel(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    if (argc != 2 || argv[1][0] == '-')
        return cli_usage_error(usage, argc < 2 ? "missing RUN" : "one RUN, no options");
    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    long long id;
    int rc = EXIT_RUN_FAILED;
    struct err e = ERR_INIT;
    struct run_row r = {0};
    if (cli_resolve_run(st, argv[1], &id) < 0)
        goto out;
    if (store_run_get(st, id, &r, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (run_status_terminal(r.status)) {
        cli_error("run %lld has already ended (%s)", id, run_status_name(r.status));
        goto out;
    }
    if (store_run_request_cancel(st, id, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (engine_drives(&r, store_now_ms())) {
        /* Its engine sees the request within a second and stops the steps. */
        int64_t until = store_now_ms() + WAIT_MS;
        while (store_now_ms() < until) {
            struct run_row cur;
            if (store_run_get(st, id, &cur, &e) < 0)
                break;
            bool ended = run_status_terminal(cur.status);
            run_row_release(&cur);
            if (ended) {
                printf("run %lld cancelled\n", id);
                rc = EXIT_OK;
                goto out;
            }
            usleep(100 * 1000);
        }
        cli_error("run %lld: cancel requested, but its engine has not stopped it yet", id);
        goto out;
    }
    /* No live engine: adopt the run here and cancel it. */
    struct engine *eng = engine_new(st, NULL, &e);
    if (!eng) {
        cli_error("%s", e.msg);
        goto out;
    }
    struct engine_opts opts = {0};
    engine_opts_from_json(r.options, &opts);
    opts.no_wait = false;
    if (engine_add_run(eng, id, &opts, &e) < 0) {
        cli_error("%s", e.msg);
        engine_free(eng);
        goto out;
    }
    engine_cancel(eng, id);
    if (engine_loop(eng, &e) < 0)
        cli_engine_error(&e);
    else {
        printf("run %lld cancelled\n", id);
        rc = EXIT_OK;
    }
    engine_free(eng);
out:
    run_row_release(&r);
    store_close(st);
    return rc;
}
