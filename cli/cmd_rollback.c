/* `sluice rollback MODEL`: switch the model's deployment target back to the version in its
 * other slot (blue/green), and record in the registry which version is live again. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "executor/deploy.h"
#include "store/registry.h"
#include "store/store.h"
#include "util/xalloc.h"

static const char usage[] =
    "usage: sluice rollback MODEL [--target DIR]\n"
    "\n"
    "Switch the deployment of MODEL back to the version deployed before the live one: the\n"
    "target's `current` link moves to its other slot, when that slot holds a model. The\n"
    "registry then shows that version as deployed and the other one as retired.\n"
    "\n"
    "      --target DIR  the deployment folder, when MODEL was deployed to several\n"
    "                    (default: where its live version was deployed)\n";

/* The model version a slot holds, from the deployments recorded for it: the label a deploy
 * step writes is "run-N" (executor/deploy.h, scheduler/step_exec.c), naming the deploying run;
 * failing that, the newest successful deployment into that slot. NULL when unknown. */
static const struct deployment_row *slot_model(const struct deployment_row *d, size_t n,
                                               const char *target, const char *slot,
                                               const char *label)
{
    long long run = 0;
    char *end;
    if (!strncmp(label, "run-", 4)) {
        errno = 0;
        run = strtoll(label + 4, &end, 10);
        if (errno || *end || run <= 0)
            run = 0;
    }
    /* newest first: the first match is the latest */
    for (size_t i = 0; run && i < n; i++)
        if (d[i].run_id == run && !strcmp(d[i].target, target) &&
            (!strcmp(d[i].status, "deployed") || !strcmp(d[i].status, "superseded")))
            return &d[i];
    for (size_t i = 0; i < n; i++)
        if (!strcmp(d[i].target, target) && d[i].slot && !strcmp(d[i].slot, slot) &&
            (!strcmp(d[i].status, "deployed") || !strcmp(d[i].status, "superseded")))
            return &d[i];
    return NULL;
}

/* Where to roll back: --target, else the target of the live version's deployment, else of
 * the newest one. */
static char *pick_target(const char *arg, const struct deployment_row *d, size_t n)
{
    if (arg) {
        char abs[PATH_MAX];
        return xstrdup(realpath(arg, abs) ? abs : arg);
    }
    for (size_t i = 0; i < n; i++)
        if (!strcmp(d[i].status, "deployed"))
            return xstrdup(d[i].target);
    return xstrdup(d[0].target);
}

int cmd_rollback(int argc, char **argv)
{
    if (cli_help(argc, argv, usage) == 0)
        return EXIT_OK;
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    const char *target_arg = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case 't':
            target_arg = optarg;
            break;
        case ':':
            return cli_usage_error(usage, "option '%s' needs a value", argv[optind - 1]);
        default:
            return cli_usage_error(usage, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage_error(usage, "missing MODEL");
    if (optind + 1 < argc)
        return cli_usage_error(usage, "one MODEL at a time");
    const char *name = argv[optind];

    struct store *st = cli_open_store();
    if (!st)
        return EXIT_RUN_FAILED;
    int rc = EXIT_RUN_FAILED;
    struct model_row *models = NULL;
    struct deployment_row *deps = NULL;
    size_t nmodels = 0, ndeps = 0;
    char *target = NULL;
    struct err e = ERR_INIT;
    if (store_model_list(st, name, &models, &nmodels, &e) < 0 ||
        store_deployments_list(st, name, &deps, &ndeps, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (!nmodels) {
        cli_error("no model '%s' in the registry", name);
        goto out;
    }
    if (!ndeps) {
        cli_error("model '%s' was never deployed", name);
        goto out;
    }
    target = pick_target(target_arg, deps, ndeps);
    bool known = false;
    for (size_t i = 0; i < ndeps; i++)
        known = known || !strcmp(deps[i].target, target);
    if (!known) {
        cli_error("model '%s' was never deployed to '%s'", name, target);
        goto out;
    }
    struct deploy_state before, after;
    if (deploy_current(target, &before, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    if (!before.slot[0]) {
        cli_error("nothing is deployed in '%s': nothing to roll back", target);
        goto out;
    }
    char slot[8];
    if (deploy_rollback(target, slot, sizeof(slot), &e) < 0) {
        cli_error("cannot roll back '%s': %s", name, e.msg);
        goto out;
    }
    if (deploy_current(target, &after, &e) < 0) {
        cli_error("%s", e.msg);
        goto out;
    }
    const struct deployment_row *live = slot_model(deps, ndeps, target, after.slot, after.version);
    if (!live) {
        /* The registry would be wrong about what serves: undo the switch rather than guess. */
        struct err ue = ERR_INIT;
        bool undone = deploy_rollback(target, slot, sizeof(slot), &ue) == 0;
        cli_error("cannot tell which version of '%s' slot '%s' of '%s' holds (label '%s'); %s",
                  name, after.slot, target, after.version,
                  undone ? "switched back" : ue.msg);
        goto out;
    }
    const struct deployment_row *old = slot_model(deps, ndeps, target, before.slot, before.version);
    if (store_deployment_add(st, live->model_id, 0, target, after.slot, "deployed", &e) < 0) {
        cli_error("rolled back '%s' in '%s', but cannot record it: %s", name, target, e.msg);
        goto out;
    }
    printf("rolled back %s in '%s': version %d is live in slot '%s'", name, target, live->version,
           after.slot);
    if (old)
        printf(", version %d (slot '%s') retired", old->version, before.slot);
    printf("\n");
    rc = EXIT_OK;
out:
    free(target);
    model_rows_free(models, nmodels);
    deployment_rows_free(deps, ndeps);
    store_close(st);
    return rc;
}
