/* The engine's life: its loop, the once-a-second tick (leases, cancel requests, decisions
 * from other processes), signals, serving mode, and the CLI's one-run convenience. */
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/duration.h"
#include "pipeline/load.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/xalloc.h"

static void on_check(uv_timer_t *t);
static void lease_lost(struct run_ctx *run);

static void tick_run(struct run_ctx *run, int64_t now)
{
    struct err e = ERR_INIT;
    struct store *st = run->eng->st;
    if (run->ended)
        return;
    static const int64_t every = RENEW_EVERY_MS;
    if (now - run->row.lease_expires + LEASE_MS >= every) {
        bool kept = true;
        if (store_lease_renew(st, run->id, engine_owner_id(), now + LEASE_MS, &kept, &e) == 0) {
            run->row.lease_expires = now + LEASE_MS;
            if (!kept) {
                lease_lost(run);
                return;
            }
        }
    }
    struct run_row cur;
    if (store_run_get(st, run->id, &cur, &e) == 0) {
        bool cancel = cur.cancel_requested;
        run_row_release(&cur);
        if (cancel && !run->cancelling)
            run_cancel(run, "cancelled");
    }
    if (run->plan.count[STEP_WAITING] && !run->cancelling) {
        /* A decision made by another process (sluice approve, the page) lands in the steps
         * table: follow it. */
        struct step_row *rows = NULL;
        size_t n = 0;
        if (store_steps_load(st, run->id, &rows, &n, &e) == 0) {
            for (size_t i = 0; i < n && i < run->nsteps; i++) {
                struct step_rt *s = &run->steps[i];
                if (run->plan.status[i] != STEP_WAITING || rows[i].status == STEP_WAITING)
                    continue;
                step_follow_decision(run, s, rows[i].status, rows[i].message);
            }
            step_rows_free(rows, n);
        }
        run_pump(run);
        run_check_end(run);
    }
}

void engine_leave(struct engine *eng, int code, const char *msg)
{
    if (eng->left)
        return;
    eng->left = true;
    eng->failed = true;
    err_set(&eng->error, "%s", msg);
    eng->error.code = code;
    uv_stop(&eng->loop);
}

/* Another engine took run over while this one was stopped (SIGSTOP, a debugger, a machine
 * asleep) for longer than the lease. Nothing this engine wrote since may land, and nothing
 * more may start for it. */
static void lease_lost(struct run_ctx *run)
{
    char *msg = xasprintf("run %lld was taken over by another engine while this one was stopped "
                          "for longer than its lease: leaving the run to it",
                          (long long)run->id);
    engine_leave(run->eng, ENGINE_LEFT_TAKEN_OVER, msg);
    free(msg);
}

int engine_fence_leases(struct engine *eng)
{
    /* A heartbeat every RENEW_EVERY_MS keeps a lease at least LEASE_MS - RENEW_EVERY_MS
     * ahead; one nearer its end than a heartbeat less (LEASE_MS - 2 * RENEW_EVERY_MS) missed
     * one: the engine was stopped, or blocked. Checked only then, so a commit costs nothing. */
    int64_t now = store_now_ms();
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        if (r->ended || r->row.lease_expires - now > LEASE_MS - 2 * RENEW_EVERY_MS)
            continue;
        struct err e = ERR_INIT;
        bool kept = true;
        if (store_lease_renew(eng->st, r->id, engine_owner_id(), now + LEASE_MS, &kept, &e) < 0)
            continue; /* the store fails: the commit that follows fails too, and says why */
        if (!kept) {
            lease_lost(r);
            return -1;
        }
        r->row.lease_expires = now + LEASE_MS;
    }
    return 0;
}

static void on_tick(uv_timer_t *t)
{
    struct engine *eng = t->data;
    int64_t now = store_now_ms();
    if (eng->serve && !eng->stopping && ++eng->ticks % 2 == 0)
        engine_adopt(eng, &eng->serve_defaults);
    if (eng->left)
        return;
    dispatch_tick(eng);
    for (struct run_ctx *r = eng->runs; r && !eng->left; r = r->next) {
        tick_run(r, now);
        if (!r->ended && eng->cb) {
            struct engine_event ev = {.kind = ENGINE_EV_TICK,
                                      .run_id = r->id,
                                      .pipeline = r->pipe->name,
                                      .nsteps = r->nsteps,
                                      .ndone = run_count_done(r),
                                      .nnot_run = run_count_not_run(r),
                                      .run_status = r->row.status,
                                      .at_ms = now};
            eng->cb(eng->cb_data, &ev);
        }
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct engine *eng = h->data;
    (void)signum;
    if (++eng->interrupts >= 3) {
        /* The user insists: leave; the steps' executors record their ends, and `sluice
         * resume` picks the run up. */
        engine_leave(eng, ENGINE_LEFT_INTERRUPTED,
                     "leaving the run to its shims; 'sluice resume' picks it up");
        return;
    }
    if (eng->serve)
        engine_stop(eng);
    else
        engine_cancel(eng, 0);
}

struct engine *engine_new(struct store *st, const char *self_exe, struct err *e)
{
    struct engine *eng = xcalloc(1, sizeof(*eng));
    int rc = uv_loop_init(&eng->loop);
    if (rc < 0) {
        err_set(e, "cannot start the event loop: %s", uv_strerror(rc));
        free(eng);
        return NULL;
    }
    eng->st = st;
    eng->home = xstrdup(store_home(st));
    if (self_exe) {
        eng->self_exe = xstrdup(self_exe);
    } else {
        char buf[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
        if (n < 0) {
            err_set(e, "cannot find the sluice binary: %s", strerror(errno));
            uv_loop_close(&eng->loop);
            free(eng->home);
            free(eng);
            return NULL;
        }
        buf[n] = '\0';
        eng->self_exe = xstrdup(buf);
    }
    return eng;
}

void engine_set_listener(struct engine *eng, engine_event_cb cb, void *data)
{
    eng->cb = cb;
    eng->cb_data = data;
}

void engine_free(struct engine *eng)
{
    if (!eng)
        return;
    struct run_ctx *r = eng->runs;
    while (r) {
        struct run_ctx *next = r->next;
        run_free(r);
        r = next;
    }
    uv_loop_close(&eng->loop);
    dispatch_release(eng);
    free(eng->home);
    free(eng->self_exe);
    free(eng);
}

static void on_engine_handle_closed(uv_handle_t *h)
{
    (void)h;
}

static bool all_ended(struct engine *eng)
{
    for (struct run_ctx *r = eng->runs; r; r = r->next)
        if (!r->ended || r->closing > 0)
            return false;
    return true;
}

/* Serving: forget runs that ended and whose handles are closed (their story is in the store). */
static void reap_runs(struct engine *eng)
{
    struct run_ctx **pp = &eng->runs;
    while (*pp) {
        struct run_ctx *r = *pp;
        if (r->ended && r->closing == 0) {
            *pp = r->next;
            run_free(r);
        } else {
            pp = &r->next;
        }
    }
}

static void on_check(uv_timer_t *t)
{
    struct engine *eng = t->data;
    if (eng->serve && !eng->stopping) {
        reap_runs(eng);
        return;
    }
    if (!all_ended(eng) || !eng->handles_open)
        return;
    eng->handles_open = false;
    uv_close((uv_handle_t *)&eng->tick, on_engine_handle_closed);
    uv_close((uv_handle_t *)&eng->sigint, on_engine_handle_closed);
    uv_close((uv_handle_t *)&eng->sigterm, on_engine_handle_closed);
    uv_close((uv_handle_t *)&eng->flush, on_engine_handle_closed);
    uv_close((uv_handle_t *)t, on_engine_handle_closed);
    dispatch_close(eng);
}

void engine_check_soon(struct engine *eng)
{
    /* Before engine_loop has set the timer up, engine_loop's own first check does it. */
    if (eng->handles_open)
        uv_timer_start(&eng->check, on_check, 0, 20);
}

int engine_loop(struct engine *eng, struct err *e)
{
    uv_timer_init(&eng->loop, &eng->tick);
    eng->tick.data = eng;
    uv_signal_init(&eng->loop, &eng->sigint);
    uv_signal_init(&eng->loop, &eng->sigterm);
    eng->sigint.data = eng;
    eng->sigterm.data = eng;
    uv_signal_start(&eng->sigint, on_signal, SIGINT);
    uv_signal_start(&eng->sigterm, on_signal, SIGTERM);
    dispatch_init(eng);
    /* A cheap periodic check closes the engine's own handles once every run has ended (and a
     * run that ends asks for it at once). */
    uv_timer_init(&eng->loop, &eng->check);
    eng->check.data = eng;
    uv_timer_start(&eng->check, on_check, 0, 20);
    eng->handles_open = true;
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        run_pump(r);
        run_check_end(r);
    }
    uv_timer_start(&eng->tick, on_tick, 1000, 1000);
    uv_run(&eng->loop, UV_RUN_DEFAULT);
    if (eng->left) {
        /* Like a crash: the open batch is never committed, and nothing is cleaned up. */
        *e = eng->error;
        return -1;
    }
    engine_flush(eng);
    store_batch_set(eng->st, false);
    if (eng->failed) {
        *e = eng->error;
        return -1;
    }
    return 0;
}

void *engine_uv_loop(struct engine *eng)
{
    return &eng->loop;
}

void engine_set_serve(struct engine *eng, engine_stop_cb on_stop, void *data)
{
    eng->serve = true;
    eng->on_stop = on_stop;
    eng->on_stop_data = data;
}

/* Leave every run to its shims and to whichever engine comes next: nothing is cancelled. */
void engine_stop(struct engine *eng)
{
    if (eng->stopping)
        return;
    eng->stopping = true;
    struct err e = ERR_INIT;
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        if (r->ended)
            continue;
        r->ended = true;
        r->final = r->row.status;
        store_lease_release(eng->st, r->id, engine_owner_id(), &e);
        run_close_handles(r);
    }
    /* What runs goes on under its executors, for the next engine to adopt. */
    dispatch_close(eng);
    if (eng->on_stop)
        eng->on_stop(eng->on_stop_data);
}

void engine_opts_from_json(const char *text, struct engine_opts *o)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!j)
        return;
    json_t *v;
    if ((v = json_object_get(j, "parallel")) && json_is_integer(v))
        o->parallel = (int)json_integer_value(v);
    if ((v = json_object_get(j, "max_jobs")) && json_is_integer(v))
        o->max_jobs = (int)json_integer_value(v);
    if ((v = json_object_get(j, "executor")) && json_is_string(v))
        snprintf(o->executor, sizeof(o->executor), "%s", json_string_value(v));
    o->fail_fast = json_is_true(json_object_get(j, "fail_fast"));
    o->no_cache = json_is_true(json_object_get(j, "no_cache"));
    o->auto_approve = json_is_true(json_object_get(j, "auto_approve"));
    o->no_wait = json_is_true(json_object_get(j, "no_wait"));
    json_decref(j);
}

char *engine_opts_to_json(const struct engine_opts *o)
{
    json_t *j = json_pack("{s:i,s:b,s:b,s:b,s:b}", "parallel", o->parallel, "fail_fast",
                          o->fail_fast, "no_cache", o->no_cache, "auto_approve", o->auto_approve,
                          "no_wait", o->no_wait);
    if (o->max_jobs)
        json_object_set_new(j, "max_jobs", json_integer(o->max_jobs));
    if (o->executor[0])
        json_object_set_new(j, "executor", json_string(o->executor));
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s;
}

int engine_result(struct engine *eng, int64_t run_id, enum run_status *status, bool *waiting)
{
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        if (r->id != run_id)
            continue;
        *status = r->ended ? r->final : r->row.status;
        *waiting = r->stopped_waiting;
        return 0;
    }
    return -1;
}

void engine_each_active(struct engine *eng, int64_t run_id,
                        void (*cb)(void *data, const struct engine_step_view *v), void *data)
{
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        if (r->id != run_id)
            continue;
        for (size_t i = 0; i < r->nsteps; i++) {
            enum step_status st = r->plan.status[i];
            if (st != STEP_RUNNING && st != STEP_RETRYING && st != STEP_WAITING)
                continue;
            struct engine_step_view v = {r->steps[i].spec->name, i, st, r->steps[i].attempt_n,
                                         r->steps[i].started_ms};
            cb(data, &v);
        }
    }
}

int engine_drive(struct store *st, int64_t run_id, const struct engine_opts *opts,
                 engine_event_cb cb, void *data, enum run_status *status, bool *waiting,
                 struct err *e)
{
    struct engine *eng = engine_new(st, NULL, e);
    if (!eng)
        return -1;
    engine_set_listener(eng, cb, data);
    int rc = engine_add_run(eng, run_id, opts, e);
    if (rc == 0)
        rc = engine_loop(eng, e);
    if (rc < 0 && eng->left)
        return -1; /* the caller leaves at once, like a crash: nothing to clean */
    if (rc == 0 && engine_result(eng, run_id, status, waiting) < 0)
        rc = err_set(e, "run %lld vanished from the engine", (long long)run_id);
    engine_free(eng);
    return rc;
}
