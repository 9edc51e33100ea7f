/* Rolling back a model's deployment: the blue/green switch (executor/deploy.h) and the
 * registry's record of which version is live again, for `sluice rollback` and the page. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/deploy.h"
#include "executor/rollback.h"
#include "store/registry.h"
#include "util/xalloc.h"

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


static int conflict(struct err *e, const char *fmt, const char *a, const char *b)
{
    err_set(e, fmt, a, b);
    e->code = ROLLBACK_CONFLICT;
    return -1;
}

int rollback_model(struct store *st, const char *name, const char *target_arg,
                   struct rollback_result *res, struct err *e)
{
    memset(res, 0, sizeof(*res));
    int rc = -1;
    struct model_row *models = NULL;
    struct deployment_row *deps = NULL;
    size_t nmodels = 0, ndeps = 0;
    char *target = NULL;
    if (store_model_list(st, name, &models, &nmodels, e) < 0 ||
        store_deployments_list(st, name, &deps, &ndeps, e) < 0)
        goto out;
    if (!nmodels) {
        err_set(e, "no model '%s' in the registry", name);
        e->code = ROLLBACK_NOT_FOUND;
        goto out;
    }
    if (!ndeps) {
        err_set(e, "model '%s' was never deployed", name);
        e->code = ROLLBACK_CONFLICT;
        goto out;
    }
    target = pick_target(target_arg, deps, ndeps);
    bool known = false;
    for (size_t i = 0; i < ndeps; i++)
        known = known || !strcmp(deps[i].target, target);
    if (!known) {
        conflict(e, "model '%s' was never deployed to '%s'", name, target);
        goto out;
    }
    struct deploy_state before, after;
    if (deploy_current(target, &before, e) < 0)
        goto out;
    if (!before.slot[0]) {
        err_set(e, "nothing is deployed in '%s': nothing to roll back", target);
        e->code = ROLLBACK_CONFLICT;
        goto out;
    }
    char slot[8];
    if (deploy_rollback(target, slot, sizeof(slot), e) < 0) {
        char *why = xstrdup(e->msg);
        conflict(e, "cannot roll back '%s': %s", name, why);
        free(why);
        goto out;
    }
    if (deploy_current(target, &after, e) < 0)
        goto out;
    const struct deployment_row *live = slot_model(deps, ndeps, target, after.slot, after.version);
    if (!live) {
        /* The registry would be wrong about what serves: undo the switch rather than guess. */
        struct err ue = ERR_INIT;
        bool undone = deploy_rollback(target, slot, sizeof(slot), &ue) == 0;
        err_set(e, "cannot tell which version of '%s' slot '%s' of '%s' holds (label '%s'); %s",
                name, after.slot, target, after.version, undone ? "switched back" : ue.msg);
        goto out;
    }
    const struct deployment_row *old = slot_model(deps, ndeps, target, before.slot, before.version);
    if (store_deployment_add(st, live->model_id, 0, target, after.slot, "deployed", e) < 0) {
        err_prefix(e, "rolled back '%s' in '%s', but cannot record it", name, target);
        goto out;
    }
    snprintf(res->slot, sizeof(res->slot), "%s", after.slot);
    res->version = live->version;
    if (old) {
        res->retired = old->version;
        snprintf(res->retired_slot, sizeof(res->retired_slot), "%s", before.slot);
    }
    res->target = target;
    target = NULL;
    rc = 0;
out:
    free(target);
    model_rows_free(models, nmodels);
    deployment_rows_free(deps, ndeps);
    return rc;
}

void rollback_result_release(struct rollback_result *res)
{
    free(res->target);
    res->target = NULL;
}
