/* `sluice retry RUN`: a new run of the same pipeline snapshot and parameters that reuses every
 * step that succeeded in RUN and runs the rest again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "pipeline/load.h"
#include "scheduler/engine.h"
#include "store/store.h"
#include "util/xalloc.h"

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
    struct pipeline *p = NULL;
    const char **names = NULL, **kinds = NULL;
    if (cli_resolve_run(st, arg, &id) < 0)
        goto out;
    if (store_run_get(st, id, &r, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (!run_status_terminal(r.status)) {
        cli_error("run %lld has not ended (%s); cancel or resume it first", id,
                  run_status_name(r.status));
        goto out;
    }
    struct diag_list diags = DIAG_LIST_INIT;
    p = pipeline_load_text(r.path, r.yaml, strlen(r.yaml), &diags);
    if (!p) {
        cli_error("the pipeline of run %lld no longer loads: %s", id,
                  diags.n ? diags.items[0].msg : "?");
        diag_list_release(&diags);
        goto out;
    }
    diag_list_release(&diags);
    names = xcalloc(p->nsteps + 1, sizeof(*names));
    kinds = xcalloc(p->nsteps + 1, sizeof(*kinds));
    for (size_t i = 0; i < p->nsteps; i++) {
        names[i] = p->steps[i].name;
        kinds[i] = step_kind_name(p->steps[i].kind);
    }
    struct run_new rn = {
        .pipeline = r.pipeline,
        .yaml = r.yaml,
        .yaml_len = strlen(r.yaml),
        .path = r.path,
        .trigger = "retry",
        .parent_run = id,
        .options = r.options,
        .params = r.params,
        .nparams = r.nparams,
        .steps = names,
        .kinds = kinds,
        .nsteps = p->nsteps,
    };
    int64_t new_id = 0;
    if (store_run_create(st, &rn, &new_id, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (!json)
        fprintf(stderr, "run %lld: retry of run %lld (%s)\n", (long long)new_id, id, r.pipeline);
    struct engine_opts opts = {0};
    cli_options_from_json(r.options, &opts);
    rc = cli_drive(st, new_id, &opts, json);
out:
    free(names);
    free(kinds);
    pipeline_free(p);
    run_row_release(&r);
    store_close(st);
    return rc;
}
