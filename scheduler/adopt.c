/* Taking runs over: leases and owner ids, reading back what became of attempts whose
 * engine died, reusing what a retried run's parent finished, adopting orphaned and queued
 * runs. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/proc.h"
#include "pipeline/duration.h"
#include "pipeline/load.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/xalloc.h"

const char *engine_owner_id(void)
{
    static char id[HOST_NAME_MAX + 64];
    if (!id[0]) {
        char host[HOST_NAME_MAX + 1] = "localhost";
        gethostname(host, sizeof(host));
        host[HOST_NAME_MAX] = '\0';
        unsigned long long start = 0;
        proc_start_time(getpid(), &start);
        snprintf(id, sizeof(id), "%s:%d:%llu", host, (int)getpid(), start);
    }
    return id;
}

bool engine_owner_alive(const char *owner)
{
    if (!owner || !*owner)
        return false;
    const char *c2 = strrchr(owner, ':');
    if (!c2 || c2 == owner)
        return true;
    const char *c1 = c2 - 1;
    while (c1 > owner && *c1 != ':')
        c1--;
    if (*c1 != ':')
        return true;
    char host[HOST_NAME_MAX + 1] = "localhost";
    gethostname(host, sizeof(host));
    host[HOST_NAME_MAX] = '\0';
    if ((size_t)(c1 - owner) != strlen(host) || strncmp(owner, host, (size_t)(c1 - owner)))
        return true; /* another host's engine: only its lease expiry tells */
    long pid = strtol(c1 + 1, NULL, 10);
    unsigned long long start = strtoull(c2 + 1, NULL, 10);
    return pid > 0 && proc_alive((pid_t)pid, start);
}

void run_free(struct run_ctx *run)
{
    dispatch_forget_run(run);
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        free(s->attempt_dir);
        for (size_t k = 0; k < s->noutputs; k++)
            free(s->outputs[k].name);
        free(s->outputs);
        free(s->cache_key);
        free(s->cache_info);
        free(s->note);
        argv_free(s->shell_env);
        argv_free(s->argv);
        argv_free(s->envp);
        free(s->workdir);
    }
    free(run->steps);
    if (run->plan_inited)
        plan_release(&run->plan);
    if (run->graph_built)
        graph_release(&run->graph);
    pipeline_free(run->pipe);
    run_row_release(&run->row);
    value_release(&run->param_scratch);
    free(run->scratch);
    free(run);
}

/* A retry run reuses what succeeded in its parent; the rest runs again. */
static int reuse_parent(struct run_ctx *run, struct err *e)
{
    struct store *st = run->eng->st;
    struct step_row *rows = NULL;
    size_t n = 0;
    if (store_steps_load(st, run->row.parent_run, &rows, &n, e) < 0)
        return -1;
    for (size_t k = 0; k < run->nsteps; k++) {
        size_t i = run->graph.order[k];
        struct step_rt *s = &run->steps[i];
        if (run->plan.status[i] != STEP_PENDING)
            continue;
        for (size_t r = 0; r < n; r++) {
            if (strcmp(rows[r].name, s->spec->name) || !step_status_ok(rows[r].status))
                continue;
            struct attempt_row *a = NULL;
            size_t na = 0;
            int64_t from = 0;
            if (store_attempts_load(st, rows[r].id, &a, &na, e) < 0) {
                step_rows_free(rows, n);
                return -1;
            }
            for (size_t j = 0; j < na; j++) {
                if (!strcmp(a[j].status, "succeeded"))
                    from = a[j].id;
                else if (!strcmp(a[j].status, "cached") && a[j].cached_from)
                    from = a[j].cached_from;
            }
            attempt_rows_free(a, na);
            if (from) {
                char *why = xasprintf("reused from run %lld", (long long)run->row.parent_run);
                int rc = step_reuse(run, s, from, why, e);
                free(why);
                if (rc < 0) {
                    step_rows_free(rows, n);
                    return -1;
                }
            }
        }
    }
    step_rows_free(rows, n);
    return 0;
}

/* Read back what became of an attempt that was running when its engine went away: its
 * executor takes it over and reports its end as if it had started it. */
static void recover_attempt(struct run_ctx *run, struct step_rt *s)
{
    struct err e = ERR_INIT;
    struct attempt_row *rows = NULL;
    size_t n = 0;
    if (store_attempts_load(run->eng->st, s->row_id, &rows, &n, &e) < 0) {
        run_fail(run, &e);
        return;
    }
    struct attempt_row *a = NULL;
    int counted = 0;
    for (size_t k = 0; k < n; k++) {
        if (rows[k].n > 0)
            counted++;
        if (rows[k].n > 0 && (!a || rows[k].n > a->n))
            a = &rows[k];
    }
    s->attempts = counted;
    if (!a || strcmp(a->status, "running")) {
        /* The step row says running but no attempt runs: it never got one. */
        s->attempt_n = a ? a->n : 0;
        attempt_rows_free(rows, n);
        run_set_step(run, s, STEP_PENDING, "re-dispatched after an engine restart");
        return;
    }
    s->attempt_id = a->id;
    s->attempt_n = a->n;
    free(s->attempt_dir);
    s->attempt_dir = xstrdup(a->dir);
    s->started_ms = a->started_at;
    s->cpus = s->spec->cpus > 0 ? s->spec->cpus : 1;
    if (dispatch_adopt(run, s, a, &e) < 0)
        run_fail(run, &e);
    else
        step_take_slots(run, s);
    attempt_rows_free(rows, n);
}

int engine_add_run(struct engine *eng, int64_t run_id, const struct engine_opts *opts,
                   struct err *e)
{
    struct run_ctx *run = xcalloc(1, sizeof(*run));
    run->eng = eng;
    run->id = run_id;
    run->opts = *opts;
    if (run->opts.parallel <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        run->opts.parallel = n > 0 ? (int)n : 1;
    }
    if (run->opts.kill_grace_ms <= 0)
        run->opts.kill_grace_ms = 10000;
    struct store *st = eng->st;
    if (store_run_get(st, run_id, &run->row, e) < 0)
        goto fail;
    if (run_status_terminal(run->row.status)) {
        e->code = EALREADY;
        err_set(e, "run %lld has already ended (%s)", (long long)run_id,
                run_status_name(run->row.status));
        goto fail;
    }
    int64_t now = store_now_ms();
    const char *me = engine_owner_id();
    bool got = false;
    const char *old = run->row.lease_owner;
    const char *expected = (old && !engine_owner_alive(old)) ? old : NULL;
    if (store_lease_acquire(st, run_id, me, expected, now, now + LEASE_MS, &got, e) < 0)
        goto fail;
    if (!got) {
        /* Name the engine that won: the owner read above may be a dead one it took over from. */
        struct run_row now_row;
        char *owner = NULL;
        if (store_run_get(st, run_id, &now_row, e) == 0) {
            owner = now_row.lease_owner ? xstrdup(now_row.lease_owner) : NULL;
            run_row_release(&now_row);
        }
        e->code = EBUSY;
        err_set(e, "run %lld is being driven by another engine ('%s')", (long long)run_id,
                owner ? owner : old ? old : "?");
        free(owner);
        goto fail;
    }
    run->row.lease_expires = now + LEASE_MS;

    struct diag_list diags = DIAG_LIST_INIT;
    run->pipe = pipeline_load_text(run->row.path, run->row.yaml, strlen(run->row.yaml), &diags);
    if (!run->pipe) {
        err_set(e, "the stored pipeline of run %lld no longer loads: %s", (long long)run_id,
                diags.n ? diags.items[0].msg : "unknown error");
        diag_list_release(&diags);
        store_lease_release(st, run_id, me, NULL);
        goto fail;
    }
    diag_list_release(&diags);
    if (graph_build(&run->graph, run->pipe, NULL) < 0) {
        err_set(e, "the stored pipeline of run %lld has a cycle", (long long)run_id);
        store_lease_release(st, run_id, me, NULL);
        goto fail;
    }
    run->graph_built = true;
    run->nsteps = run->pipe->nsteps;
    run->steps = xcalloc(run->nsteps ? run->nsteps : 1, sizeof(*run->steps));
    run->scratch = xcalloc(run->nsteps ? run->nsteps : 1, sizeof(*run->scratch));

    struct step_row *rows = NULL;
    size_t nrows = 0;
    if (store_steps_load(st, run_id, &rows, &nrows, e) < 0) {
        store_lease_release(st, run_id, me, NULL);
        goto fail;
    }
    enum step_status *initial = xcalloc(run->nsteps ? run->nsteps : 1, sizeof(*initial));
    struct step_row **row_of = xcalloc(run->nsteps ? run->nsteps : 1, sizeof(*row_of));
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        s->run = run;
        s->index = i;
        s->spec = &run->pipe->steps[i];
        s->cpus = s->spec->cpus > 0 ? s->spec->cpus : 1;
        /* The rows were written in the pipeline's order: look there first, so that a large
         * pipeline does not cost steps x rows name comparisons. */
        struct step_row *r = i < nrows && !strcmp(rows[i].name, s->spec->name) ? &rows[i] : NULL;
        for (size_t k = 0; !r && k < nrows; k++)
            if (!strcmp(rows[k].name, s->spec->name))
                r = &rows[k];
        if (!r) {
            err_set(e, "run %lld has no row for step '%s'", (long long)run_id, s->spec->name);
            free(initial);
            free(row_of);
            step_rows_free(rows, nrows);
            store_lease_release(st, run_id, me, NULL);
            goto fail;
        }
        s->row_id = r->id;
        s->attempts = r->attempts;
        initial[i] = r->status;
        row_of[i] = r;
    }
    plan_init(&run->plan, &run->graph, initial);
    run->plan_inited = true;
    free(initial);
    /* What can fail without a trace goes first: the outputs of finished steps, the attempt
     * numbers of retrying ones. */
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        enum step_status status = run->plan.status[i];
        int rc = 0;
        if (step_status_ok(status)) {
            rc = step_load_outputs(run, s, e);
        } else if (status == STEP_RETRYING) {
            struct attempt_row *ar = NULL;
            size_t na = 0;
            rc = store_attempts_load(st, s->row_id, &ar, &na, e);
            for (size_t k = 0; rc == 0 && k < na; k++)
                if (ar[k].n > s->attempt_n)
                    s->attempt_n = ar[k].n;
            attempt_rows_free(ar, na);
        }
        if (rc < 0) {
            free(row_of);
            step_rows_free(rows, nrows);
            store_lease_release(st, run_id, me, NULL);
            goto fail;
        }
    }

    /* From here on the run is this engine's: a store failure ends it through run_fail, and
     * engine_loop reports it. */
    run->next = eng->runs;
    eng->runs = run;
    bool fresh = run->row.status == RUN_QUEUED;
    run_set_status(run, RUN_RUNNING, NULL);
    /* Statuses the plan derived at once (upstream of them already ended). */
    run_record_settled(run, NULL, STEP_PENDING);
    /* A cancel requested while no engine drove the run (sluice cancel adopts it to carry the
     * cancel out): an attempt recovered as lost ends cancelled, not retried and not failed. */
    bool cancel = run->row.cancel_requested;
    run->cancelling = cancel;
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        enum step_status status = run->plan.status[i];
        if (status == STEP_RUNNING) {
            recover_attempt(run, s);
        } else if (status == STEP_WAITING && s->spec->timeout_ms > 0) {
            s->started_ms = row_of[i]->started_at;
            int64_t left = s->started_ms + s->spec->timeout_ms - store_now_ms();
            step_ensure_timer(run, s);
            uv_timer_start(&s->timer, step_on_approval_timeout, left > 0 ? (uint64_t)left : 0, 0);
        } else if (status == STEP_RETRYING) {
            int64_t delay = row_of[i]->next_attempt_at - store_now_ms();
            step_ensure_timer(run, s);
            uv_timer_start(&s->timer, step_on_retry_timer, delay > 0 ? (uint64_t)delay : 0, 0);
        }
    }
    free(row_of);
    step_rows_free(rows, nrows);
    if (cancel) {
        run->cancelling = false; /* so that run_cancel stops what still runs, and the rest */
        run_cancel(run, "cancelled");
    }
    if (fresh && run->row.parent_run && run->row.trigger && !strcmp(run->row.trigger, "retry")) {
        struct err re = ERR_INIT;
        if (reuse_parent(run, &re) < 0)
            run_fail(run, &re);
    }
    if (eng->handles_open) {
        /* The loop already runs (serve): start what is ready now. */
        run_pump(run);
        run_check_end(run);
    }
    return 0;
fail:
    run_free(run);
    return -1;
}

void engine_adopt(struct engine *eng, const struct engine_opts *defaults)
{
    static const enum run_status live[] = {RUN_QUEUED, RUN_RUNNING, RUN_WAITING};
    int64_t now = store_now_ms();
    for (size_t k = 0; k < sizeof(live) / sizeof(live[0]); k++) {
        struct run_filter f = {.pipeline = NULL, .status = (int)live[k], .before = 0, .limit = 100};
        struct run_row *rows = NULL;
        size_t n = 0;
        struct err e = ERR_INIT;
        if (store_run_list(eng->st, &f, &rows, &n, &e) < 0)
            continue;
        for (size_t i = 0; i < n; i++) {
            bool mine = false;
            for (struct run_ctx *r = eng->runs; r; r = r->next)
                mine |= r->id == rows[i].id;
            if (mine || engine_drives(&rows[i], now))
                continue;
            struct engine_opts o = *defaults;
            engine_opts_from_json(rows[i].options, &o);
            o.no_wait = false;
            struct err ae = ERR_INIT;
            engine_add_run(eng, rows[i].id, &o, &ae);
        }
        run_rows_free(rows, n);
    }
}
