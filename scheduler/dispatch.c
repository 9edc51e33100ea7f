/* Handing recorded attempts to their executors (executor/executor.h) and hearing their ends.
 * The writes of one loop iteration are one SQLite transaction (the store's batch mode); an
 * executor call goes out only after the transaction that recorded its attempt has committed
 * (engine_flush, called before the loop blocks), so an attempt is always recorded before it can
 * run. Which executor runs a step, and how, is none of the engine's business. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/engine_int.h"
#include "util/proc.h"
#include "util/xalloc.h"

static void inflight_add(struct engine *eng, struct step_rt *s)
{
    if (s->in_exec)
        return;
    s->in_exec = true;
    s->run->in_exec++;
    XGROW(eng->inflight, eng->inflight_alloc, eng->ninflight + 1);
    eng->inflight[eng->ninflight++] = s;
}

static void inflight_drop(struct engine *eng, struct step_rt *s)
{
    if (!s->in_exec)
        return;
    s->in_exec = false;
    s->run->in_exec--;
    for (size_t i = 0; i < eng->ninflight; i++) {
        if (eng->inflight[i] == s) {
            eng->inflight[i] = eng->inflight[--eng->ninflight];
            return;
        }
    }
}

static struct step_rt *step_by_attempt(struct engine *eng, int64_t id)
{
    for (size_t i = 0; i < eng->ninflight; i++)
        if (eng->inflight[i]->attempt_id == id)
            return eng->inflight[i];
    return NULL;
}

/* The one way an executor's news reaches the state machine. */
static void on_ended(void *data, int64_t attempt_id, const struct exec_result *r)
{
    struct engine *eng = data;
    struct step_rt *s = step_by_attempt(eng, attempt_id);
    if (!s || eng->stopping || eng->left)
        return;
    struct run_ctx *run = s->run;
    proc_crash_point("exited", s->spec->name);
    inflight_drop(eng, s);
    step_attempt_ended(run, s, r);
    run_pump(run);
    run_check_end(run);
}

/* An executor has room again without an attempt having ended. */
static void on_room(void *data)
{
    struct engine *eng = data;
    if (eng->stopping || eng->left)
        return;
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        run_pump(r);
        run_check_end(r);
    }
}

struct executor *dispatch_executor(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    struct engine *eng = run->eng;
    if (s->exec)
        return s->exec;
    /* --executor moves the command steps; built-in steps (ingest, crawl, deploy) stay with
     * the engine, as Snakemake's localrules do: they move files and call this machine's
     * services, and a cluster's queue would only delay them. */
    enum step_kind k = s->spec->kind;
    bool command = k == KIND_TASK || k == KIND_TRANSFORM || k == KIND_TRAIN || k == KIND_EVALUATE;
    const char *name = s->spec->executor                 ? s->spec->executor
                       : command && run->opts.executor[0] ? run->opts.executor
                                                          : "local";
    const struct executor_ops *ops = executor_find(name);
    if (!ops) {
        err_set(e, "executor '%s' is not available in this build (remove 'executor: %s' to run "
                   "the step on this machine)", name, name);
        return NULL;
    }
    for (size_t i = 0; i < eng->nexecs; i++) {
        if (eng->execs[i]->ops == ops) {
            s->exec = eng->execs[i];
            return s->exec;
        }
    }
    if (eng->nexecs == ENGINE_MAX_EXECUTORS)
        BUG("more than %d executors in one engine", ENGINE_MAX_EXECUTORS);
    struct exec_env env = {
        .loop = &eng->loop,
        .st = eng->st,
        .home = eng->home,
        .self_exe = eng->self_exe,
        .max_jobs = run->opts.max_jobs > 0 ? run->opts.max_jobs : ENGINE_MAX_JOBS,
        .ended = on_ended,
        .room = on_room,
        .data = eng,
    };
    struct executor *x = ops->create(&env, e);
    if (!x)
        return NULL;
    x->ops = ops;
    eng->execs[eng->nexecs++] = x;
    s->exec = x;
    return x;
}

static void queue_call(struct engine *eng, struct step_rt *s, bool cancel)
{
    XGROW(eng->queue, eng->queue_alloc, eng->nqueue + 1);
    eng->queue[eng->nqueue++] = (struct queued){s, cancel};
}

void dispatch_start(struct run_ctx *run, struct step_rt *s)
{
    s->start_queued = true;
    inflight_add(run->eng, s);
    queue_call(run->eng, s, false);
}

bool dispatch_has_room(struct run_ctx *run, struct step_rt *s)
{
    struct err e = ERR_INIT;
    struct executor *x = dispatch_executor(run, s, &e);
    if (!x)
        return true; /* starting it says why it cannot */
    int64_t cap = x->ops->capacity(x), busy = 0;
    for (size_t i = 0; i < run->eng->ninflight && busy < cap; i++)
        busy += run->eng->inflight[i]->exec == x;
    return busy < cap;
}

void dispatch_cancel(struct run_ctx *run, struct step_rt *s)
{
    queue_call(run->eng, s, true);
}

static struct exec_attempt attempt_of(struct run_ctx *run, struct step_rt *s)
{
    return (struct exec_attempt){
        .id = s->attempt_id,
        .run_id = run->id,
        .step = s->spec->name,
        .n = s->attempt_n,
        .dir = s->attempt_dir,
        .grace_ms = run->opts.kill_grace_ms,
    };
}

int dispatch_adopt(struct run_ctx *run, struct step_rt *s, const struct attempt_row *row,
                   struct err *e)
{
    struct executor *x = dispatch_executor(run, s, e);
    if (!x)
        return -1;
    struct exec_attempt a = attempt_of(run, s);
    inflight_add(run->eng, s);
    if (x->ops->adopt(x, &a, row, e) < 0) {
        inflight_drop(run->eng, s);
        return -1;
    }
    return 0;
}

static void free_command(struct step_rt *s)
{
    argv_free(s->argv);
    argv_free(s->envp);
    s->argv = s->envp = NULL;
}

/* exec_job.expand: an executor option's template, for s's run. */
static char *expand_option(void *data, const struct tmpl *t, struct err *e)
{
    struct step_rt *s = data;
    return step_expand(s->run, t, false, e);
}

/* Start s's recorded attempt with its executor. */
static void call_start(struct engine *eng, struct step_rt *s)
{
    struct run_ctx *run = s->run;
    const struct step *sp = s->spec;
    s->start_queued = false;
    proc_crash_point("recorded", sp->name);
    struct exec_job job = {
        .a = attempt_of(run, s),
        .spec = sp,
        .workdir = s->workdir,
        .argv = s->shell ? NULL : s->argv,
        .shell = s->shell ? s->argv[0] : NULL,
        .envp = s->envp,
        .timeout_ms = sp->timeout_ms,
        .cpus = sp->cpus > 0 ? sp->cpus : 1,
        .memory_bytes = sp->memory_bytes,
        .expand = expand_option,
        .expand_data = s,
    };
    struct err e = ERR_INIT;
    int rc = s->exec->ops->start(s->exec, &job, &e);
    free_command(s);
    if (rc < 0) {
        struct exec_result r = {.why = EXEC_START_FAILED};
        snprintf(r.msg, sizeof(r.msg), "%s", e.msg);
        inflight_drop(eng, s);
        step_attempt_ended(run, s, &r);
        return;
    }
    proc_crash_point("spawned", sp->name);
}

/* Make the queued calls; returns whether any changed a step (a start that failed at once). */
static bool call_queued(struct engine *eng)
{
    /* Taken over: what the calls below queue waits for the next round. */
    struct queued *q = eng->queue;
    size_t n = eng->nqueue;
    eng->queue = NULL;
    eng->nqueue = eng->queue_alloc = 0;
    bool again = false;
    for (size_t i = 0; i < n && !eng->left; i++) {
        struct step_rt *s = q[i].s;
        if (!s->in_exec)
            continue;
        if (q[i].cancel) {
            if (s->start_queued)
                continue; /* its start went with the failed batch */
            s->exec->ops->cancel(s->exec, s->attempt_id);
            continue;
        }
        if (!s->start_queued)
            continue;
        if (s->run->cancelling) {
            /* Recorded in the iteration that began the cancel (--fail-fast): it need not run. */
            struct exec_result r = {.why = EXEC_NEVER_STARTED};
            s->start_queued = false;
            free_command(s);
            inflight_drop(eng, s);
            step_attempt_ended(s->run, s, &r);
            again = true;
            continue;
        }
        call_start(eng, s);
        again |= !s->in_exec;
    }
    free(q);
    return again;
}

/* Commit the batch, if one is open, fenced by the leases of the runs it wrote for. */
static int flush_batch(struct engine *eng, struct err *e)
{
    if (eng->left)
        return 0;
    if (store_batch_open(eng->st) && engine_fence_leases(eng) < 0)
        return 0; /* left: never committed */
    return store_batch_flush(eng->st, e);
}

static void flush_failed(struct engine *eng, const struct err *e)
{
    /* Nothing of this iteration is recorded, so nothing of it may start (a cancel is for an
     * attempt that runs already). */
    for (size_t i = 0; i < eng->nqueue; i++) {
        struct step_rt *s = eng->queue[i].s;
        if (!eng->queue[i].cancel && s->start_queued) {
            s->start_queued = false;
            free_command(s);
            inflight_drop(eng, s);
        }
    }
    eng->nqueue = 0;
    for (struct run_ctx *r = eng->runs; r; r = r->next)
        run_fail(r, e);
}

void engine_flush(struct engine *eng)
{
    /* A few rounds at most: a round changes steps only when a start failed at once. */
    for (int round = 0; round < 3 && !eng->left; round++) {
        struct err e = ERR_INIT;
        if (flush_batch(eng, &e) < 0) {
            flush_failed(eng, &e);
            return;
        }
        if (!eng->nqueue || !call_queued(eng))
            break;
        for (struct run_ctx *r = eng->runs; r; r = r->next) {
            run_pump(r);
            run_check_end(r);
        }
    }
    struct err e = ERR_INIT;
    if (flush_batch(eng, &e) < 0)
        flush_failed(eng, &e);
}

static void on_prepare(uv_prepare_t *h)
{
    engine_flush(h->data);
}

void dispatch_init(struct engine *eng)
{
    uv_prepare_init(&eng->loop, &eng->flush);
    eng->flush.data = eng;
    uv_prepare_start(&eng->flush, on_prepare);
    /* It runs whenever the loop is about to block, but is no reason to keep it running. */
    uv_unref((uv_handle_t *)&eng->flush);
    store_batch_set(eng->st, true);
}

void dispatch_tick(struct engine *eng)
{
    for (size_t i = 0; i < eng->nexecs; i++) {
        struct executor *x = eng->execs[i];
        struct err e = ERR_INIT;
        if (x->ops->tick && x->ops->tick(x, &e) < 0) {
            for (struct run_ctx *r = eng->runs; r; r = r->next)
                run_fail(r, &e);
            return;
        }
    }
}

void dispatch_forget_run(struct run_ctx *run)
{
    struct engine *eng = run->eng;
    size_t k = 0;
    for (size_t i = 0; i < eng->nqueue; i++)
        if (eng->queue[i].s->run != run)
            eng->queue[k++] = eng->queue[i];
    eng->nqueue = k;
    k = 0;
    for (size_t i = 0; i < eng->ninflight; i++)
        if (eng->inflight[i]->run != run)
            eng->inflight[k++] = eng->inflight[i];
    eng->ninflight = k;
}

void dispatch_close(struct engine *eng)
{
    for (size_t i = 0; i < eng->nexecs; i++)
        eng->execs[i]->ops->close(eng->execs[i]);
}

void dispatch_release(struct engine *eng)
{
    for (size_t i = 0; i < eng->nexecs; i++)
        eng->execs[i]->ops->free(eng->execs[i]);
    eng->nexecs = 0;
    free(eng->queue);
    eng->queue = NULL;
    eng->nqueue = eng->queue_alloc = 0;
    free(eng->inflight);
    eng->inflight = NULL;
    eng->ninflight = eng->inflight_alloc = 0;
}
