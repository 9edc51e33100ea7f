/* The run engine: one libuv loop drives runs. Ready steps come from the pure plan; each
 * attempt is recorded before its run request reaches the engine's shim (dispatch.c), whose
 * report settles it; an adopted attempt is read back from the exit.json its shim leaves, so
 * that nothing depends on this process staying alive. */
#include "scheduler/engine.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "pipeline/duration.h"
#include "pipeline/load.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/fs.h"
#include "util/xalloc.h"


static void launch_attempt(struct run_ctx *run, struct step_rt *s, const char *message);

/* ---- events ---- */

/* The plan settles a whole branch at once; listeners hear of it one step at a time. */
size_t run_count_not_run(const struct run_ctx *run)
{
    return run->plan.nunrun - run->plan.nchanged - run->settled_untold;
}

size_t run_count_done(const struct run_ctx *run)
{
    size_t done = 0;
    for (int i = 0; i < STEP_STATUS_COUNT; i++)
        if (step_status_terminal((enum step_status)i))
            done += run->plan.count[i];
    return done - run->plan.nunrun;
}

void run_emit_step(struct run_ctx *run, struct step_rt *s, const char *message)
{
    struct engine *eng = run->eng;
    if (!eng->cb)
        return;
    struct engine_event ev = {
        .kind = ENGINE_EV_STEP,
        .run_id = run->id,
        .pipeline = run->pipe->name,
        .nsteps = run->nsteps,
        .ndone = run_count_done(run),
        .nnot_run = run_count_not_run(run),
        .step = s->spec->name,
        .step_index = s->index,
        .step_status = run->plan.status[s->index],
        .attempt = s->attempt_n,
        .message = message,
        .step_started_ms = s->started_ms,
        .run_status = RUN_RUNNING,
        .at_ms = store_now_ms(),
    };
    eng->cb(eng->cb_data, &ev);
}

static void emit_run(struct run_ctx *run, enum run_status st, const char *message)
{
    struct engine *eng = run->eng;
    if (!eng->cb)
        return;
    struct engine_event ev = {
        .kind = ENGINE_EV_RUN,
        .run_id = run->id,
        .pipeline = run->pipe ? run->pipe->name : run->row.pipeline,
        .nsteps = run->nsteps,
        .ndone = run->plan_inited ? run_count_done(run) : 0,
        .nnot_run = run->plan_inited ? run_count_not_run(run) : 0,
        .message = message,
        .run_status = st,
        .at_ms = store_now_ms(),
    };
    eng->cb(eng->cb_data, &ev);
}

void run_fail(struct run_ctx *run, const struct err *e)
{
    struct engine *eng = run->eng;
    if (!eng->failed) {
        eng->failed = true;
        eng->error = *e;
    }
    run_cancel(run, e->msg);
}

/* ---- status changes: the store first (conditional), then the plan, then listeners ---- */

/* The one way a step's status changes: the store first (conditional on the status the plan
 * holds, so that two engines never both make a change) unless `recorded` says another process
 * already wrote it there (a decision), then the plan and what it derives, then listeners.
 * Returns false when the store says someone else changed the step first (then nothing changes
 * here). */
static bool step_change(struct run_ctx *run, struct step_rt *s, enum step_status to,
                        const char *message, bool recorded)
{
    struct err e = ERR_INIT;
    enum step_status from = run->plan.status[s->index];
    bool changed = recorded;
    if (!recorded &&
        store_step_set_status(run->eng->st, s->row_id, from, to, message, &changed, &e) < 0) {
        run_fail(run, &e);
        return false;
    }
    if (!changed)
        return false;
    if (from == STEP_PENDING || from == STEP_RETRYING)
        if ((to == STEP_RUNNING || to == STEP_WAITING) && !s->started_ms)
            s->started_ms = store_now_ms();
    plan_set(&run->plan, s->index, to);
    run_emit_step(run, s, message);
    run_record_settled(run, s, to);
    return true;
}

bool run_set_step(struct run_ctx *run, struct step_rt *s, enum step_status to,
                  const char *message)
{
    return step_change(run, s, to, message, false);
}

void run_follow_step(struct run_ctx *run, struct step_rt *s, enum step_status to,
                     const char *message)
{
    step_change(run, s, to, message, true);
}

/* Whether an upstream step's status is one that settles a step as dto. */
static bool ended_as(enum step_status up, enum step_status dto)
{
    if (dto == STEP_SKIPPED || dto == STEP_CANCELLED)
        return up == dto;
    return up == STEP_FAILED || up == STEP_LOST || up == STEP_UPSTREAM_FAILED;
}

/* Why the plan settled step d as dto when s ended with `to`. The rules that wait for every
 * upstream step say what they found; otherwise the message names s, the first cause, or when
 * s's end is not of the kind (a success that settled a one_failed step), d's own upstream. */
static char *settled_why(struct run_ctx *run, const struct step_rt *d, enum step_status dto,
                         const struct step_rt *s, enum step_status to)
{
    enum trigger_rule r = d->spec->trigger_rule;
    const char *found = NULL;
    if (dto == STEP_SKIPPED && r == TRIGGER_ONE_FAILED)
        found = "no upstream step failed";
    else if (dto == STEP_SKIPPED && r != TRIGGER_ALL_SUCCESS)
        found = "every upstream step was skipped";
    else if (dto == STEP_UPSTREAM_FAILED && r == TRIGGER_ONE_SUCCESS)
        found = "no upstream step succeeded";
    if (found)
        return xasprintf("%s (trigger_rule %s)", found, trigger_rule_name(r));
    const struct graph_node *nd = &run->graph.nodes[d->index];
    for (size_t k = 0; k < nd->ndeps && (!s || !ended_as(to, dto)); k++) {
        s = &run->steps[nd->deps[k]];
        to = run->plan.status[s->index];
    }
    if (!s)
        return xstrdup("upstream step ended");
    return xasprintf("upstream step '%s' %s", s->spec->name, step_status_name(to));
}

void run_record_settled(struct run_ctx *run, struct step_rt *s, enum step_status to)
{
    struct err e = ERR_INIT;
    size_t n = plan_changes(&run->plan, run->scratch);
    for (size_t k = 0; k < n; k++) {
        struct step_rt *d = &run->steps[run->scratch[k]];
        enum step_status dto = run->plan.status[d->index];
        char *why = settled_why(run, d, dto, s, to);
        bool ch = false;
        if (store_step_set_status(run->eng->st, d->row_id, STEP_PENDING, dto, why, &ch, &e) < 0) {
            free(why);
            run->settled_untold = 0;
            run_fail(run, &e);
            return;
        }
        run->settled_untold = n - 1 - k;
        run_emit_step(run, d, why);
        free(why);
    }
    run->settled_untold = 0;
}

static int64_t retry_delay(const struct step *sp, int attempt)
{
    int64_t d = sp->retry_delay_ms;
    for (int i = 1; i < attempt && d < RETRY_DELAY_CAP_MS; i++)
        d *= 2;
    return d < RETRY_DELAY_CAP_MS ? d : RETRY_DELAY_CAP_MS;
}

void step_release_slots(struct run_ctx *run, struct step_rt *s)
{
    if (s->holds_slots) {
        run->slots_used -= s->cpus;
        s->holds_slots = false;
    }
}

static bool step_has_room(struct run_ctx *run, struct step_rt *s, bool *slots);

void step_take_slots(struct run_ctx *run, struct step_rt *s)
{
    if (s->holds_slots || (s->exec && s->exec->ops->remote))
        return; /* a cluster's steps take none of this machine's slots */
    run->slots_used += s->cpus;
    s->holds_slots = true;
}

void step_on_retry_timer(uv_timer_t *t)
{
    struct step_rt *s = t->data;
    struct run_ctx *run = s->run;
    if (run->cancelling || run->plan.status[s->index] != STEP_RETRYING)
        return;
    bool slots;
    if (!step_has_room(run, s, &slots)) {
        uv_timer_start(&s->timer, step_on_retry_timer, 200, 0);
        return;
    }
    launch_attempt(run, s, NULL);
    run_check_end(run);
}

void step_ensure_timer(struct run_ctx *run, struct step_rt *s)
{
    if (s->timer_inited)
        return;
    uv_timer_init(&run->eng->loop, &s->timer);
    s->timer.data = s;
    s->timer_inited = true;
}

/* The attempt failed (or was lost): retry per policy, or fail the step. */
static void attempt_failed(struct run_ctx *run, struct step_rt *s, const char *why, bool lost,
                           bool retryable)
{
    const struct step *sp = s->spec;
    if (retryable && !run->cancelling && s->attempts < sp->retries + 1) {
        int64_t delay = retry_delay(sp, s->attempts);
        struct err e = ERR_INIT;
        if (store_step_set_retry(run->eng->st, s->row_id, s->attempts, store_now_ms() + delay,
                                 &e) < 0) {
            run_fail(run, &e);
            return;
        }
        char d[32];
        duration_format(delay, d, sizeof(d));
        char *msg = xasprintf("%s; retry %d of %d in %s", why, s->attempts, sp->retries, d);
        run_set_step(run, s, STEP_RETRYING, msg);
        free(msg);
        step_ensure_timer(run, s);
        uv_timer_start(&s->timer, step_on_retry_timer, (uint64_t)delay, 0);
        return;
    }
    enum step_status to = run->cancelling ? STEP_CANCELLED : lost ? STEP_LOST : STEP_FAILED;
    run_set_step(run, s, to, why);
    if (to != STEP_CANCELLED && run->opts.fail_fast)
        run_cancel(run, "--fail-fast: a step failed");
}

/* An attempt that provably never ran goes again, without counting as a try; under a cancel it
 * ends cancelled (nothing starts any more: a pending step would keep the run from ending). */
static void attempt_never_started(struct run_ctx *run, struct step_rt *s, const char *why)
{
    struct err e = ERR_INIT;
    bool ch = false;
    if (store_attempt_finish(run->eng->st, s->attempt_id, "lost", -1, 0, 0, 0, store_now_ms(),
                             &ch, &e) < 0) {
        run_fail(run, &e);
        return;
    }
    if (run->cancelling) {
        run_set_step(run, s, STEP_CANCELLED, "cancelled");
        return;
    }
    s->attempts--;
    char *msg = xasprintf("re-dispatched: %s", why);
    run_set_step(run, s, STEP_PENDING, msg);
    free(msg);
}

void step_attempt_ended(struct run_ctx *run, struct step_rt *s, const struct exec_result *r)
{
    struct err e = ERR_INIT;
    step_release_slots(run, s);
    if (r->why == EXEC_NEVER_STARTED) {
        attempt_never_started(run, s, r->msg[0] ? r->msg : "its process never started");
        return;
    }
    bool have_exit = r->why != EXEC_LOST && r->why != EXEC_START_FAILED;
    int exit_code = have_exit ? r->exit : -1;
    const char *astatus;
    char *why = NULL;
    bool lost = false, retryable = true, ok = false;
    if (r->why == EXEC_START_FAILED) {
        astatus = "failed";
        retryable = !r->permanent;
        why = xasprintf("cannot start step: %s", r->msg);
    } else if (r->why == EXEC_LOST) {
        astatus = "lost";
        lost = true;
        why = xasprintf("attempt %d was lost: %s", s->attempt_n,
                        r->msg[0] ? r->msg : "nothing says how it ended");
    } else if (r->why == EXEC_CANCELLED ||
               (run->cancelling && (r->signal || exit_code || r->why != EXEC_EXITED))) {
        astatus = "cancelled";
        retryable = false;
        why = xstrdup("cancelled");
    } else if (r->why == EXEC_TIMED_OUT) {
        astatus = "timed_out";
        char d[32];
        duration_format(s->spec->timeout_ms, d, sizeof(d));
        /* The executor's word names a limit other than timeout: (Slurm's, which slurm: time
         * may set shorter); without it, the step's own timeout stopped it. */
        why = r->msg[0] ? xasprintf("timed out: %s", r->msg) : xasprintf("timed out after %s", d);
    } else if (r->why == EXEC_OUT_OF_MEMORY) {
        astatus = "failed";
        why = xasprintf("out of memory%s%s", r->msg[0] ? " " : "", r->msg);
    } else if ((r->signal || exit_code) && r->msg[0]) {
        astatus = "failed";
        retryable = !r->permanent; /* a cancel from outside sluice is meant: not undone */
        why = xstrdup(r->msg); /* who or what ended it, e.g. a cancel from outside sluice */
    } else if (r->signal || exit_code) {
        astatus = "failed";
        char *last = step_log_last_line(s->attempt_dir);
        if (r->signal)
            why = xasprintf("killed by signal %d (%s)%s%s", r->signal, strsignal(r->signal),
                            last ? ": " : "", last ? last : "");
        else
            why = xasprintf("exited with status %d%s%s", exit_code, last ? ": " : "",
                            last ? last : "");
        free(last);
    } else {
        astatus = "succeeded";
        ok = true;
    }
    struct store *st = run->eng->st;
    if (store_begin(st, &e) < 0) {
        free(why);
        run_fail(run, &e);
        return;
    }
    if (ok) {
        struct err ce = ERR_INIT;
        s->no_metrics = r->no_metrics;
        int rc_collect = step_collect(run, s, &ce);
        s->no_metrics = false;
        if (rc_collect < 0) {
            ok = false;
            astatus = "failed";
            why = xstrdup(ce.msg);
        }
    }
    bool changed = false;
    int rc = store_attempt_finish(st, s->attempt_id, astatus, exit_code, have_exit ? r->signal : 0,
                                  have_exit ? r->cpu_s : 0, have_exit ? r->max_rss_kb : 0,
                                  store_now_ms(), &changed, &e);
    if (rc < 0 || store_commit(st, &e) < 0) {
        store_rollback(st);
        free(why);
        run_fail(run, &e);
        return;
    }
    if (ok) {
        /* After a retry the step's message still tells the failure that was retried. */
        char *msg = s->attempts < 2 ? NULL
                    : s->note ? xasprintf("succeeded on attempt %d; %s", s->attempt_n, s->note)
                              : xasprintf("succeeded on attempt %d", s->attempt_n);
        run_set_step(run, s, STEP_SUCCEEDED, msg ? msg : s->note);
        free(msg);
        free(s->note);
        s->note = NULL;
    } else {
        attempt_failed(run, s, why, lost, retryable);
    }
    free(why);
}

static char *attempt_dir(struct run_ctx *run, const struct step *sp, int n)
{
    return xasprintf("%s/runs/%lld/%s/%d", run->eng->home, (long long)run->id, sp->name, n);
}

/* Record a new attempt and queue it for its executor, which gets it once the record has
 * committed (engine_flush). message goes on the step (a cache miss's why). */
static void launch_attempt(struct run_ctx *run, struct step_rt *s, const char *message)
{
    struct err e = ERR_INIT;
    struct store *st = run->eng->st;
    const struct step *sp = s->spec;
    int n = s->attempt_n + 1;
    char **argv = NULL, **envp = NULL, *workdir = NULL;
    bool shell = false;
    struct executor *x = NULL;

    free(s->attempt_dir);
    s->attempt_dir = attempt_dir(run, sp, n);
    s->attempt_n = n;
    if (!(x = dispatch_executor(run, s, &e)) || !(argv = step_command(run, s, &shell, &e)) ||
        !(envp = step_environ(run, s, s->attempt_dir, &e)) ||
        step_field(run, sp, "workdir", &workdir, &e) < 0)
        goto fail;
    s->attempts++;
    if (store_begin(st, &e) < 0 ||
        store_attempt_insert(st, s->row_id, n, s->attempt_dir, 0, x->ops->name, &s->attempt_id, &e) < 0 ||
        store_step_set_retry(st, s->row_id, s->attempts, 0, &e) < 0 ||
        step_record_inputs(run, s, &e) < 0) {
        store_rollback(st);
        s->attempts--;
        run_fail(run, &e);
        goto out;
    }
    struct exec_attempt a = {s->attempt_id, run->id, sp->name, n, s->attempt_dir,
                             run->opts.kill_grace_ms};
    if (x->ops->prepare && x->ops->prepare(x, &a, &e) < 0) {
        store_rollback(st);
        s->attempts--;
        s->attempt_id = 0;
        goto fail;
    }
    if (store_commit(st, &e) < 0) {
        store_rollback(st);
        s->attempts--;
        run_fail(run, &e);
        goto out;
    }
    if (!run_set_step(run, s, STEP_RUNNING, message))
        goto out;
    s->cpus = sp->cpus > 0 ? sp->cpus : 1;
    step_take_slots(run, s);
    s->cancel_sent = false;
    free(s->workdir);
    s->workdir = workdir ? workdir : xstrdup(run->pipe->dir);
    workdir = NULL;
    s->argv = argv;
    s->envp = envp;
    s->shell = shell;
    argv = envp = NULL;
    dispatch_start(run, s);
    goto out;
fail:
    /* Nothing was recorded: the step fails without an attempt (it would fail again). */
    {
        enum step_status from = run->plan.status[s->index];
        if (from == STEP_PENDING || from == STEP_RETRYING)
            run_set_step(run, s, STEP_FAILED, e.msg);
    }
out:
    free(workdir);
    argv_free(argv);
    argv_free(envp);
}

/* ---- starting steps ---- */

int step_reuse(struct run_ctx *run, struct step_rt *s, int64_t from, const char *why,
               struct err *e)
{
    struct store *st = run->eng->st;
    int64_t rec = 0;
    bool ch = false;
    free(s->attempt_dir);
    s->attempt_dir = NULL;
    s->attempt_n = 0;
    if (store_begin(st, e) == 0 &&
        store_attempt_insert(st, s->row_id, 0, "", from, NULL, &rec, e) == 0) {
        s->attempt_id = rec;
        if (step_collect(run, s, e) == 0 &&
            store_attempt_finish(st, rec, "cached", 0, 0, 0, 0, store_now_ms(), &ch, e) == 0 &&
            store_commit(st, e) == 0) {
            run_set_step(run, s, STEP_CACHED, why);
            return 1;
        }
    }
    store_rollback(st);
    s->attempt_id = 0;
    if (e->code == REUSE_GONE) {
        err_clear(e);
        return 0;
    }
    return -1;
}

/* Decide a ready step: skip it, reuse a cached result, wait for approval, or run it. */
static void start_step(struct run_ctx *run, struct step_rt *s)
{
    const struct step *sp = s->spec;
    struct err e = ERR_INIT;
    if (sp->when) {
        struct expr_env env;
        run_expr_env(run, &env);
        struct value v = {0};
        char msg[512];
        if (expr_eval(sp->when, &env, &v, msg, sizeof(msg)) < 0) {
            char *why = xasprintf("when: %s", msg);
            run_set_step(run, s, STEP_FAILED, why);
            free(why);
            if (run->opts.fail_fast)
                run_cancel(run, "--fail-fast: a step failed");
            return;
        }
        bool go = v.type == TYPE_BOOL && v.b;
        value_release(&v);
        if (!go) {
            /* what it compared, last and unquoted: it may hold quotes of its own */
            char *shown = expr_render(sp->when, &env);
            char *why = xasprintf("when is false: %s", shown);
            run_set_step(run, s, STEP_SKIPPED, why);
            free(why);
            free(shown);
            return;
        }
    }
    if (sp->kind == KIND_APPROVE) {
        step_start_approve(run, s);
        return;
    }
    char *miss = NULL;
    if (sp->cache) {
        char *key = NULL, *info = NULL;
        if (step_cache_key(run, s, &key, &info, &e) < 0) {
            run_set_step(run, s, STEP_FAILED, e.msg);
            return;
        }
        free(s->cache_key);
        free(s->cache_info);
        s->cache_key = key;
        s->cache_info = info;
        struct store *st = run->eng->st;
        int64_t hit = 0;
        if (store_step_set_cache(st, s->row_id, key, info, &e) < 0 ||
            (!run->opts.no_cache &&
             store_cache_lookup(st, run->pipe->name, sp->name, key, &hit, &e) < 0)) {
            run_fail(run, &e);
            return;
        }
        if (hit) {
            char *why = xasprintf("cache hit: reused attempt %lld", (long long)hit);
            int reused = step_reuse(run, s, hit, why, &e);
            free(why);
            if (reused < 0) {
                run_fail(run, &e);
                return;
            }
            if (reused)
                return;
            /* An unusable hit (its artifact is gone): run the step. */
        }
        if (run->opts.no_cache) {
            miss = xstrdup("cache ignored (--no-cache)");
        } else {
            struct step_row prev;
            struct err pe = ERR_INIT;
            if (store_step_previous(st, run->pipe->name, sp->name, run->id, &prev, &pe) == 0) {
                char *what = cache_explain_miss(prev.cache_info, info);
                miss = xasprintf("cache miss: %s", what);
                free(what);
                step_row_release(&prev);
            } else {
                miss = xstrdup("cache miss: first run of this step");
            }
        }
        if (miss) {
            struct err me = ERR_INIT;
            store_event(st, run->id, sp->name, "cache", miss, &me);
        }
    }
    /* The miss reason stays on the step so that `sluice show` can say it. */
    launch_attempt(run, s, miss);
    free(miss);
}

/* Whether s can start now; when not, whether the reason is this machine's slots (else its
 * executor's capacity). */
static bool step_has_room(struct run_ctx *run, struct step_rt *s, bool *slots)
{
    *slots = false;
    if (s->spec->kind == KIND_APPROVE)
        return true;
    struct err e = ERR_INIT;
    struct executor *x = dispatch_executor(run, s, &e);
    if (!x || !x->ops->remote) {
        int need = s->spec->cpus > 0 ? s->spec->cpus : 1;
        if (run->slots_used > 0 && run->slots_used + need > run->opts.parallel) {
            *slots = true;
            return false;
        }
    }
    return dispatch_has_room(run, s);
}

void run_pump(struct run_ctx *run)
{
    if (run->cancelling || run->ended || run->eng->failed)
        return;
    /* Ready steps start in order, except that a step waiting for one resource (this machine's
     * slots, a cluster's --max-jobs) does not hold back a step that needs another: a full
     * Slurm queue leaves local steps running, and the other way round. Within one resource
     * the order stands, so a wide step is not starved by narrow ones behind it. */
    size_t i, *held = NULL, nheld = 0, alloc = 0;
    bool slots_full = false;
    struct executor *full[ENGINE_MAX_EXECUTORS];
    size_t nfull = 0;
    /* A held step is out of the queue until the end: each ready step is looked at once, and
     * one that a start makes ready (a skip settles its downstream) is looked at too. */
    while (plan_next_ready(&run->plan, &i)) {
        struct step_rt *s = &run->steps[i];
        bool blocked = false, slots;
        if (s->spec->kind != KIND_APPROVE) {
            struct err e = ERR_INIT;
            struct executor *x = dispatch_executor(run, s, &e);
            blocked = slots_full && (!x || !x->ops->remote);
            for (size_t k = 0; k < nfull && !blocked; k++)
                blocked = full[k] == x;
            if (!blocked && !step_has_room(run, s, &slots)) {
                blocked = true;
                if (slots)
                    slots_full = true;
                else if (nfull < ENGINE_MAX_EXECUTORS)
                    full[nfull++] = x;
            }
        }
        if (blocked) {
            XGROW(held, alloc, nheld + 1);
            held[nheld++] = i;
            continue;
        }
        start_step(run, s);
        if (run->cancelling || run->eng->failed)
            break;
    }
    /* Back at the head of the queue, in their order. */
    while (nheld > 0)
        plan_unpop(&run->plan, held[--nheld]);
    free(held);
}

/* ---- cancel ---- */

void run_cancel(struct run_ctx *run, const char *why)
{
    if (run->cancelling || run->ended)
        return;
    run->cancelling = true;
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        enum step_status st = run->plan.status[i];
        if (st == STEP_PENDING || st == STEP_WAITING) {
            run_set_step(run, s, STEP_CANCELLED, why);
        } else if (st == STEP_RETRYING) {
            if (s->timer_inited)
                uv_timer_stop(&s->timer);
            run_set_step(run, s, STEP_CANCELLED, why);
        } else if (st == STEP_RUNNING && s->in_exec && !s->cancel_sent) {
            s->cancel_sent = true;
            dispatch_cancel(run, s);
        }
    }
    run_check_end(run);
}

void engine_cancel(struct engine *eng, int64_t run_id)
{
    for (struct run_ctx *r = eng->runs; r; r = r->next)
        if (!run_id || r->id == run_id)
            run_cancel(r, "cancelled");
}

/* ---- the end of a run ---- */

static void on_step_timer_closed(uv_handle_t *h)
{
    struct step_rt *s = h->data;
    s->run->closing--;
}

void run_close_handles(struct run_ctx *run)
{
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        if (s->timer_inited && !uv_is_closing((uv_handle_t *)&s->timer)) {
            run->closing++;
            uv_close((uv_handle_t *)&s->timer, on_step_timer_closed);
        }
    }
}

/* Whether a step's process may still run: checked after every event, so it does not look at
 * every step of a large pipeline. */
static bool any_process(const struct run_ctx *run)
{
    return run->in_exec > 0;
}

void run_set_status(struct run_ctx *run, enum run_status to, const char *message)
{
    struct err e = ERR_INIT;
    bool changed = false;
    enum run_status from = run->row.status;
    if (from == to)
        return;
    if (from == RUN_WAITING && !message)
        message = ""; /* "waiting for an approval" no longer holds */
    if (store_run_set_status(run->eng->st, run->id, from, to, message, &changed, &e) < 0) {
        if (!run->eng->failed) {
            run->eng->failed = true;
            run->eng->error = e;
        }
        return;
    }
    run->row.status = to;
    emit_run(run, to, message && *message ? message : NULL);
}

void run_check_end(struct run_ctx *run)
{
    if (run->ended)
        return;
    if (any_process(run))
        return;
    struct err e = ERR_INIT;
    if (plan_finished(&run->plan) || (run->eng->failed && !any_process(run))) {
        enum run_status outcome = plan_outcome(&run->plan);
        if (run->eng->failed && outcome == RUN_SUCCEEDED)
            outcome = RUN_FAILED;
        run->final = outcome;
        run->ended = true;
        run_set_status(run, outcome, NULL);
        store_lease_release(run->eng->st, run->id, engine_owner_id(), &e);
        run_close_handles(run);
        engine_check_soon(run->eng);
        return;
    }
    if (plan_only_waiting(&run->plan)) {
        run_set_status(run, RUN_WAITING, "waiting for an approval");
        if (run->opts.no_wait) {
            run->stopped_waiting = true;
            run->ended = true;
            run->final = RUN_WAITING;
            store_lease_release(run->eng->st, run->id, engine_owner_id(), &e);
            run_close_handles(run);
            engine_check_soon(run->eng);
        }
    } else if (run->row.status == RUN_WAITING) {
        run_set_status(run, RUN_RUNNING, "");
    }
}
