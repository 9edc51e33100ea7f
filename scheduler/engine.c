/* The run engine: one libuv loop drives runs. Ready steps come from the pure plan; each
 * attempt is recorded before its shim is spawned, watched through a pidfd, and read back from
 * the exit.json the shim leaves, so that nothing depends on this process staying alive. */
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

#include "executor/spawn.h"
#include "pipeline/duration.h"
#include "pipeline/load.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/xalloc.h"

#define LEASE_MS 10000
#define RENEW_EVERY_MS 3000
#define RETRY_DELAY_CAP_MS (10 * 60 * 1000)
#define LOST_GRACE_MS 5000

static void pump(struct run_ctx *run);
static void check_run_end(struct run_ctx *run);
static void launch_attempt(struct run_ctx *run, struct step_rt *s, const char *message);
static void attempt_ended(struct run_ctx *run, struct step_rt *s);
static void cancel_run(struct run_ctx *run, const char *why);

/* Test hook: SLUICE_CRASH_AT="POINT:STEP" kills this engine with SIGKILL at that point of that
 * step's attempt, so the crash-recovery tests can stop it exactly where a crash would. Points:
 * recorded (attempt row written, nothing spawned), spawned (shim started, pid not recorded),
 * exited (process ended, result not yet read). */
static void crash_point(const char *point, const char *step)
{
    const char *at = getenv("SLUICE_CRASH_AT");
    if (!at)
        return;
    size_t n = strlen(point);
    if (!strncmp(at, point, n) && at[n] == ':' && !strcmp(at + n + 1, step))
        raise(SIGKILL);
}

/* ---- owner ids ---- */

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

/* ---- events ---- */

static size_t count_done(const struct run_ctx *run)
{
    size_t done = 0;
    for (int i = 0; i < STEP_STATUS_COUNT; i++)
        if (step_status_terminal((enum step_status)i))
            done += run->plan.count[i];
    return done;
}

static void emit_step(struct run_ctx *run, struct step_rt *s, const char *message)
{
    struct engine *eng = run->eng;
    if (!eng->cb)
        return;
    struct engine_event ev = {
        .kind = ENGINE_EV_STEP,
        .run_id = run->id,
        .pipeline = run->pipe->name,
        .nsteps = run->nsteps,
        .ndone = count_done(run),
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
        .ndone = run->plan_inited ? count_done(run) : 0,
        .message = message,
        .run_status = st,
        .at_ms = store_now_ms(),
    };
    eng->cb(eng->cb_data, &ev);
}

static void engine_fail(struct run_ctx *run, const struct err *e)
{
    struct engine *eng = run->eng;
    if (!eng->failed) {
        eng->failed = true;
        eng->error = *e;
    }
    cancel_run(run, e->msg);
}

/* ---- status changes: the store first (conditional), then the plan, then listeners ---- */

/* Move step s to `to`, with the consequences the plan derives. Returns false when the store
 * says someone else changed the step first (then nothing changes here). */
static bool set_step(struct run_ctx *run, struct step_rt *s, enum step_status to,
                     const char *message)
{
    struct err e = ERR_INIT;
    enum step_status from = run->plan.status[s->index];
    bool changed = false;
    if (store_step_set_status(run->eng->st, s->row_id, from, to, message, &changed, &e) < 0) {
        engine_fail(run, &e);
        return false;
    }
    if (!changed)
        return false;
    if (from == STEP_PENDING || from == STEP_RETRYING)
        if ((to == STEP_RUNNING || to == STEP_WAITING) && !s->started_ms)
            s->started_ms = store_now_ms();
    plan_set(&run->plan, s->index, to);
    emit_step(run, s, message);
    size_t n = plan_changes(&run->plan, run->scratch);
    for (size_t k = 0; k < n; k++) {
        struct step_rt *d = &run->steps[run->scratch[k]];
        enum step_status dto = run->plan.status[d->index];
        char *why = xasprintf("upstream step '%s' %s", s->spec->name, step_status_name(to));
        bool ch = false;
        if (store_step_set_status(run->eng->st, d->row_id, STEP_PENDING, dto, why, &ch, &e) < 0) {
            free(why);
            engine_fail(run, &e);
            return true;
        }
        emit_step(run, d, why);
        free(why);
    }
    return true;
}

static int64_t retry_delay(const struct step *sp, int attempt)
{
    int64_t d = sp->retry_delay_ms;
    for (int i = 1; i < attempt && d < RETRY_DELAY_CAP_MS; i++)
        d *= 2;
    return d < RETRY_DELAY_CAP_MS ? d : RETRY_DELAY_CAP_MS;
}

static void release_slots(struct run_ctx *run, struct step_rt *s)
{
    if (s->holds_slots) {
        run->slots_used -= s->cpus;
        s->holds_slots = false;
    }
}

/* ---- the step's process ---- */

static void on_poll_closed(uv_handle_t *h)
{
    struct step_rt *s = h->data;
    struct run_ctx *run = s->run;
    crash_point("exited", s->spec->name);
    s->polling = false;
    if (s->pidfd >= 0)
        close(s->pidfd);
    s->pidfd = -1;
    if (s->own_child) {
        int status;
        spawn_reap(s->pid, &status);
    }
    run->closing--;
    if (run->eng->stopping)
        return; /* left to the shim and the next engine */
    attempt_ended(run, s);
    pump(run);
    check_run_end(run);
}

static void on_exit_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    uv_poll_stop(h);
    uv_close((uv_handle_t *)h, on_poll_closed);
}

static int watch_process(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    int rc = uv_poll_init(&run->eng->loop, &s->poll, s->pidfd);
    if (rc < 0)
        return err_set(e, "cannot watch process %d: %s", (int)s->pid, uv_strerror(rc));
    s->poll.data = s;
    s->polling = true;
    run->closing++;
    rc = uv_poll_start(&s->poll, UV_READABLE, on_exit_readable);
    if (rc < 0) {
        uv_close((uv_handle_t *)&s->poll, on_poll_closed);
        return err_set(e, "cannot watch process %d: %s", (int)s->pid, uv_strerror(rc));
    }
    return 0;
}

static void on_retry_timer(uv_timer_t *t)
{
    struct step_rt *s = t->data;
    struct run_ctx *run = s->run;
    if (run->cancelling || run->plan.status[s->index] != STEP_RETRYING)
        return;
    if (run->slots_used > 0 && run->slots_used + s->cpus > run->opts.parallel) {
        uv_timer_start(&s->timer, on_retry_timer, 200, 0);
        return;
    }
    launch_attempt(run, s, NULL);
    check_run_end(run);
}

static void ensure_timer(struct run_ctx *run, struct step_rt *s)
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
            engine_fail(run, &e);
            return;
        }
        char *msg = xasprintf("%s; retry %d of %d in %lldms", why, s->attempts, sp->retries,
                              (long long)delay);
        set_step(run, s, STEP_RETRYING, msg);
        free(msg);
        ensure_timer(run, s);
        uv_timer_start(&s->timer, on_retry_timer, (uint64_t)delay, 0);
        return;
    }
    enum step_status to = run->cancelling ? STEP_CANCELLED : lost ? STEP_LOST : STEP_FAILED;
    set_step(run, s, to, why);
    if (to != STEP_CANCELLED && run->opts.fail_fast)
        cancel_run(run, "--fail-fast: a step failed");
}

static void attempt_ended(struct run_ctx *run, struct step_rt *s)
{
    struct err e = ERR_INIT;
    struct shim_exit x;
    release_slots(run, s);
    bool have_exit = shim_read_exit(s->attempt_dir, &x, &e) == 0;
    int exit_code = have_exit ? x.exit : -1;
    const char *astatus;
    char *why = NULL;
    bool lost = false, retryable = true, ok = false;
    if (!have_exit) {
        astatus = "lost";
        lost = true;
        why = xasprintf("attempt %d was lost: its process ended without an exit record",
                        s->attempt_n);
    } else if (x.cancelled || (run->cancelling && (x.signal || exit_code))) {
        astatus = "cancelled";
        retryable = false;
        why = xstrdup("cancelled");
    } else if (x.timed_out) {
        astatus = "timed_out";
        char d[32];
        snprintf(d, sizeof(d), "%lldms", (long long)s->spec->timeout_ms);
        why = xasprintf("timed out after %s", d);
    } else if (x.signal || exit_code) {
        astatus = "failed";
        char *last = step_log_last_line(s->attempt_dir);
        if (x.signal)
            why = xasprintf("killed by signal %d (%s)%s%s", x.signal, strsignal(x.signal),
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
        engine_fail(run, &e);
        return;
    }
    if (ok) {
        struct err ce = ERR_INIT;
        if (step_collect(run, s, &ce) < 0) {
            ok = false;
            astatus = "failed";
            why = xstrdup(ce.msg);
        }
    }
    bool changed = false;
    int rc = store_attempt_finish(st, s->attempt_id, astatus, exit_code,
                                  have_exit ? x.signal : 0, have_exit ? x.cpu_s : 0,
                                  have_exit ? x.max_rss_kb : 0, store_now_ms(), &changed, &e);
    if (rc < 0 || store_commit(st, &e) < 0) {
        store_rollback(st);
        free(why);
        engine_fail(run, &e);
        return;
    }
    if (ok) {
        set_step(run, s, STEP_SUCCEEDED, s->note);
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

static int mkdirs(const char *path, struct err *e)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *c = p + 1;; c++) {
        if (*c != '/' && *c)
            continue;
        char was = *c;
        *c = '\0';
        if (mkdir(p, 0755) < 0 && errno != EEXIST) {
            rc = err_set(e, "cannot create folder '%s': %s", p, strerror(errno));
            break;
        }
        if (!was)
            break;
        *c = was;
    }
    free(p);
    return rc;
}

/* Record a new attempt, then spawn its shim. message goes on the step (a cache miss's why). */
static void launch_attempt(struct run_ctx *run, struct step_rt *s, const char *message)
{
    struct err e = ERR_INIT;
    struct store *st = run->eng->st;
    const struct step *sp = s->spec;
    int n = s->attempt_n + 1;
    char *dir = attempt_dir(run, sp, n);
    char *out = xasprintf("%s/out", dir);
    char **argv = NULL, **envp = NULL;
    bool shell = false;
    const char *failure = NULL;
    char *msg = NULL;

    free(s->attempt_dir);
    s->attempt_dir = dir;
    s->attempt_n = n;
    if (mkdirs(out, &e) < 0 || !(argv = step_command(run, s, &shell, &e)) ||
        !(envp = step_environ(run, s, dir, &e))) {
        failure = e.msg;
    }
    if (!failure && !shell)
        step_resolve_command(run->eng, argv, envp);
    if (failure) {
        /* Nothing was spawned: the step fails without an attempt (it would fail again). */
        msg = xstrdup(failure);
        enum step_status from = run->plan.status[s->index];
        if (from == STEP_PENDING || from == STEP_RETRYING)
            set_step(run, s, STEP_FAILED, msg);
        goto out;
    }
    s->attempts++;
    if (store_begin(st, &e) < 0 ||
        store_attempt_insert(st, s->row_id, n, dir, 0, &s->attempt_id, &e) < 0 ||
        store_step_set_retry(st, s->row_id, s->attempts, 0, &e) < 0 ||
        step_record_inputs(run, s, &e) < 0 || store_commit(st, &e) < 0) {
        store_rollback(st);
        engine_fail(run, &e);
        goto out;
    }
    if (!set_step(run, s, STEP_RUNNING, message))
        goto out;
    crash_point("recorded", sp->name);
    s->cpus = sp->cpus > 0 ? sp->cpus : 1;
    run->slots_used += s->cpus;
    s->holds_slots = true;

    struct spawn_req req = {
        .sluice_bin = run->eng->self_exe,
        .dir = dir,
        .workdir = sp->workdir ? sp->workdir : run->pipe->dir,
        .argv = shell ? NULL : argv,
        .shell = shell ? argv[0] : NULL,
        .envp = envp,
        .timeout_ms = (unsigned long)sp->timeout_ms,
        .grace_ms = (unsigned long)run->opts.kill_grace_ms,
    };
    struct spawn_proc proc;
    if (spawn_shim(&req, &proc, &e) < 0) {
        msg = xasprintf("cannot start step: %s", e.msg);
        bool ch;
        store_attempt_finish(st, s->attempt_id, "failed", -1, 0, 0, 0, store_now_ms(), &ch, &e);
        release_slots(run, s);
        attempt_failed(run, s, msg, false, false);
        goto out;
    }
    s->pid = proc.pid;
    s->pid_start = proc.start_time;
    s->pidfd = proc.pidfd;
    s->own_child = true;
    s->cancel_sent = false;
    crash_point("spawned", sp->name);
    if (store_attempt_set_pid(st, s->attempt_id, proc.pid, proc.start_time, NULL, &e) < 0) {
        engine_fail(run, &e);
        /* still watch it: its result must be read */
    }
    struct err we = ERR_INIT;
    if (watch_process(run, s, &we) < 0)
        engine_fail(run, &we);
out:
    free(out);
    free(msg);
    argv_free(argv);
    argv_free(envp);
}

/* ---- starting steps ---- */

/* Settle step s as `cached` with the outputs and metrics of an earlier attempt (a cache hit,
 * or a step that succeeded in the run being retried). False when that attempt's artifacts are
 * no longer there. */
static bool reuse_attempt(struct run_ctx *run, struct step_rt *s, int64_t from, const char *why)
{
    struct store *st = run->eng->st;
    struct err e = ERR_INIT;
    int64_t rec = 0;
    bool ch = false;
    free(s->attempt_dir);
    s->attempt_dir = NULL;
    s->attempt_n = 0;
    if (store_begin(st, &e) == 0 &&
        store_attempt_insert(st, s->row_id, 0, "", from, &rec, &e) == 0) {
        s->attempt_id = rec;
        if (step_collect(run, s, &e) == 0 &&
            store_attempt_finish(st, rec, "cached", 0, 0, 0, 0, store_now_ms(), &ch, &e) == 0 &&
            store_commit(st, &e) == 0) {
            set_step(run, s, STEP_CACHED, why);
            return true;
        }
    }
    store_rollback(st);
    s->attempt_id = 0;
    return false;
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
            if (store_attempts_load(st, rows[r].id, &a, &na, e) == 0) {
                for (size_t j = 0; j < na; j++) {
                    if (!strcmp(a[j].status, "succeeded"))
                        from = a[j].id;
                    else if (!strcmp(a[j].status, "cached") && a[j].cached_from)
                        from = a[j].cached_from;
                }
                attempt_rows_free(a, na);
            }
            if (from) {
                char *why = xasprintf("reused from run %lld", (long long)run->row.parent_run);
                reuse_attempt(run, s, from, why);
                free(why);
            }
        }
    }
    step_rows_free(rows, n);
    return 0;
}


/* A decision recorded in the store (by this engine for --auto-approve or a timeout, or by
 * another process) moves the plan on. */
static void follow_decision(struct run_ctx *run, struct step_rt *s, enum step_status to,
                            const char *message)
{
    if (run->plan.status[s->index] != STEP_WAITING)
        return;
    if (s->timer_inited)
        uv_timer_stop(&s->timer);
    plan_set(&run->plan, s->index, to);
    emit_step(run, s, message);
    struct err e = ERR_INIT;
    size_t nc = plan_changes(&run->plan, run->scratch);
    for (size_t k = 0; k < nc; k++) {
        struct step_rt *d = &run->steps[run->scratch[k]];
        bool ch;
        char *why = xasprintf("upstream step '%s' %s", s->spec->name, step_status_name(to));
        store_step_set_status(run->eng->st, d->row_id, STEP_PENDING, run->plan.status[d->index],
                              why, &ch, &e);
        emit_step(run, d, why);
        free(why);
    }
    if (!step_status_ok(to) && run->opts.fail_fast)
        cancel_run(run, "--fail-fast: a step failed");
}

static void on_approval_timeout(uv_timer_t *t)
{
    struct step_rt *s = t->data;
    struct run_ctx *run = s->run;
    if (run->plan.status[s->index] != STEP_WAITING)
        return;
    char d[32];
    duration_format(s->spec->timeout_ms, d, sizeof(d));
    char *why = xasprintf("no decision within %s: approval timed out", d);
    struct err e = ERR_INIT;
    bool won = false;
    if (store_approval_decide(run->eng->st, run->id, s->spec->name, false, "timeout", why, &won,
                              &e) < 0) {
        engine_fail(run, &e);
    } else if (won) {
        follow_decision(run, s, STEP_FAILED, why);
    }
    free(why);
    pump(run);
    check_run_end(run);
}

static void start_approve(struct run_ctx *run, struct step_rt *s)
{
    const struct step *sp = s->spec;
    struct store *st = run->eng->st;
    struct err e = ERR_INIT;
    struct strbuf msg = STRBUF_INIT;
    if (sp->model.step) {
        char *name = sp->model_name.s ? xstrdup(sp->model_name.s) : xstrdup(run->pipe->name);
        struct model_row m = {0};
        if (step_register_model(run, s, name, &m, &e) < 0) {
            free(name);
            set_step(run, s, STEP_FAILED, e.msg);
            return;
        }
        char *vs = step_challenger_summary(run, &m);
        strbuf_addf(&msg, "%s", vs);
        free(vs);
        model_row_release(&m);
        free(name);
    } else {
        strbuf_addstr(&msg, "waiting for an approval");
    }
    strbuf_addf(&msg, "; decide with: sluice approve %lld (or reject)", (long long)run->id);
    if (!set_step(run, s, STEP_WAITING, msg.buf)) {
        strbuf_release(&msg);
        return;
    }
    strbuf_release(&msg);
    if (run->opts.auto_approve) {
        bool won = false;
        if (store_approval_decide(st, run->id, sp->name, true, "auto", "--auto-approve", &won,
                                  &e) < 0) {
            engine_fail(run, &e);
            return;
        }
        if (won)
            follow_decision(run, s, STEP_SUCCEEDED, "approved by 'auto'");
        return;
    }
    if (sp->timeout_ms > 0) {
        int64_t left = s->started_ms + sp->timeout_ms - store_now_ms();
        ensure_timer(run, s);
        uv_timer_start(&s->timer, on_approval_timeout, left > 0 ? (uint64_t)left : 0, 0);
    }
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
            set_step(run, s, STEP_FAILED, why);
            free(why);
            if (run->opts.fail_fast)
                cancel_run(run, "--fail-fast: a step failed");
            return;
        }
        bool go = v.type == TYPE_BOOL && v.b;
        value_release(&v);
        if (!go) {
            char *why = xasprintf("when '%s' is false", sp->when_src);
            set_step(run, s, STEP_SKIPPED, why);
            free(why);
            return;
        }
    }
    if (sp->kind == KIND_APPROVE) {
        start_approve(run, s);
        return;
    }
    char *miss = NULL;
    if (sp->cache) {
        char *key = NULL, *info = NULL;
        if (step_cache_key(run, s, &key, &info, &e) < 0) {
            set_step(run, s, STEP_FAILED, e.msg);
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
            engine_fail(run, &e);
            return;
        }
        if (hit) {
            char *why = xasprintf("cache hit: reused attempt %lld", (long long)hit);
            bool reused = reuse_attempt(run, s, hit, why);
            free(why);
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

static void pump(struct run_ctx *run)
{
    if (run->cancelling || run->ended || run->eng->failed)
        return;
    size_t i;
    while (plan_next_ready(&run->plan, &i)) {
        struct step_rt *s = &run->steps[i];
        int need = s->spec->cpus > 0 ? s->spec->cpus : 1;
        bool runs_process = s->spec->kind != KIND_APPROVE;
        if (runs_process && run->slots_used > 0 && run->slots_used + need > run->opts.parallel) {
            plan_unpop(&run->plan, i);
            break;
        }
        start_step(run, s);
        if (run->cancelling || run->eng->failed)
            break;
    }
}

/* ---- cancel ---- */

static void cancel_run(struct run_ctx *run, const char *why)
{
    if (run->cancelling || run->ended)
        return;
    run->cancelling = true;
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        enum step_status st = run->plan.status[i];
        if (st == STEP_PENDING || st == STEP_WAITING) {
            set_step(run, s, STEP_CANCELLED, why);
        } else if (st == STEP_RETRYING) {
            if (s->timer_inited)
                uv_timer_stop(&s->timer);
            set_step(run, s, STEP_CANCELLED, why);
        } else if (st == STEP_RUNNING && s->polling && !s->cancel_sent) {
            s->cancel_sent = true;
            proc_signal_group(s->pid, s->pid_start, SIGTERM);
        }
    }
    check_run_end(run);
}

void engine_cancel(struct engine *eng, int64_t run_id)
{
    for (struct run_ctx *r = eng->runs; r; r = r->next)
        if (!run_id || r->id == run_id)
            cancel_run(r, "cancelled");
}

/* ---- the end of a run ---- */

static void on_step_timer_closed(uv_handle_t *h)
{
    struct step_rt *s = h->data;
    s->run->closing--;
}

static void close_run_handles(struct run_ctx *run)
{
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        if (s->timer_inited && !uv_is_closing((uv_handle_t *)&s->timer)) {
            run->closing++;
            uv_close((uv_handle_t *)&s->timer, on_step_timer_closed);
        }
    }
}

static bool any_process(const struct run_ctx *run)
{
    for (size_t i = 0; i < run->nsteps; i++)
        if (run->steps[i].polling)
            return true;
    return false;
}

static void set_run_status(struct run_ctx *run, enum run_status to, const char *message)
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

static void check_run_end(struct run_ctx *run)
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
        set_run_status(run, outcome, NULL);
        store_lease_release(run->eng->st, run->id, engine_owner_id(), &e);
        close_run_handles(run);
        return;
    }
    if (plan_only_waiting(&run->plan)) {
        set_run_status(run, RUN_WAITING, "waiting for an approval");
        if (run->opts.no_wait) {
            run->stopped_waiting = true;
            run->ended = true;
            run->final = RUN_WAITING;
            store_lease_release(run->eng->st, run->id, engine_owner_id(), &e);
            close_run_handles(run);
        }
    } else if (run->row.status == RUN_WAITING) {
        set_run_status(run, RUN_RUNNING, "");
    }
}

/* ---- the tick: leases, cancel requests from other processes, approvals ---- */

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
                struct err le = ERR_INIT;
                err_set(&le, "run %lld was taken over by another engine", (long long)run->id);
                engine_fail(run, &le);
                return;
            }
        }
    }
    struct run_row cur;
    if (store_run_get(st, run->id, &cur, &e) == 0) {
        bool cancel = cur.cancel_requested;
        run_row_release(&cur);
        if (cancel && !run->cancelling)
            cancel_run(run, "cancelled");
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
                follow_decision(run, s, rows[i].status, rows[i].message);
            }
            step_rows_free(rows, n);
        }
        pump(run);
        check_run_end(run);
    }
}

static void on_tick(uv_timer_t *t)
{
    struct engine *eng = t->data;
    int64_t now = store_now_ms();
    if (eng->serve && !eng->stopping && ++eng->ticks % 2 == 0)
        engine_adopt(eng, &eng->serve_defaults);
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        tick_run(r, now);
        if (!r->ended && eng->cb) {
            struct engine_event ev = {.kind = ENGINE_EV_TICK,
                                      .run_id = r->id,
                                      .pipeline = r->pipe->name,
                                      .nsteps = r->nsteps,
                                      .ndone = count_done(r),
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
        /* The user insists: leave; the steps' shims record their ends, and `sluice resume`
         * picks the run up. */
        fprintf(stderr, "\nleaving the run to its shims; 'sluice resume' picks it up\n");
        _exit(130);
    }
    if (eng->serve)
        engine_stop(eng);
    else
        engine_cancel(eng, 0);
}

/* ---- engine lifecycle ---- */

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

static void run_free(struct run_ctx *run)
{
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
    path_cache_free(eng);
    free(eng->home);
    free(eng->self_exe);
    free(eng);
}

static void recover_attempt(struct run_ctx *run, struct step_rt *s);

static void on_recover_timer(uv_timer_t *t)
{
    struct step_rt *s = t->data;
    recover_attempt(s->run, s);
    pump(s->run);
    check_run_end(s->run);
}

/* Read back what became of an attempt that was running when its engine went away. */
static void recover_attempt(struct run_ctx *run, struct step_rt *s)
{
    struct err e = ERR_INIT;
    struct attempt_row *rows = NULL;
    size_t n = 0;
    if (store_attempts_load(run->eng->st, s->row_id, &rows, &n, &e) < 0) {
        engine_fail(run, &e);
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
        attempt_rows_free(rows, n);
        s->attempt_n = a ? a->n : 0;
        plan_set(&run->plan, s->index, STEP_PENDING);
        bool ch;
        store_step_set_status(run->eng->st, s->row_id, STEP_RUNNING, STEP_PENDING,
                              "re-dispatched after an engine restart", &ch, &e);
        return;
    }
    s->attempt_id = a->id;
    s->attempt_n = a->n;
    free(s->attempt_dir);
    s->attempt_dir = xstrdup(a->dir);
    s->started_ms = a->started_at;
    pid_t pid = (pid_t)a->pid;
    unsigned long long start = a->pid_start;
    int64_t started = a->started_at;
    attempt_rows_free(rows, n);
    s->cpus = s->spec->cpus > 0 ? s->spec->cpus : 1;
    if (!s->holds_slots) {
        run->slots_used += s->cpus;
        s->holds_slots = true;
    }

    char *exitp = xasprintf("%s/exit.json", s->attempt_dir);
    bool has_exit = access(exitp, F_OK) == 0;
    free(exitp);
    if (!has_exit && !pid) {
        struct shim_pid sp;
        if (shim_read_pid(s->attempt_dir, &sp, &e) == 0) {
            pid = sp.shim;
            start = sp.start_time;
            store_attempt_set_pid(run->eng->st, s->attempt_id, pid, start, NULL, &e);
        }
    }
    if (!has_exit && pid) {
        int fd = proc_pidfd(pid, start);
        if (fd >= 0) {
            s->pid = pid;
            s->pid_start = start;
            s->pidfd = fd;
            s->own_child = false;
            if (watch_process(run, s, &e) < 0)
                engine_fail(run, &e);
            return;
        }
    }
    if (!has_exit && !pid && store_now_ms() - started < LOST_GRACE_MS) {
        /* Spawned a moment before the old engine died, perhaps: give the shim time to write
         * its pid file before calling the attempt lost. */
        ensure_timer(run, s);
        uv_timer_start(&s->timer, on_recover_timer,
                       (uint64_t)(LOST_GRACE_MS - (store_now_ms() - started)), 0);
        return;
    }
    if (!has_exit && !pid) {
        /* The shim never started: the command provably did not run, so this is no try. */
        bool ch;
        store_attempt_finish(run->eng->st, s->attempt_id, "lost", -1, 0, 0, 0, store_now_ms(),
                             &ch, &e);
        s->attempts--;
        release_slots(run, s);
        plan_set(&run->plan, s->index, STEP_PENDING);
        store_step_set_status(run->eng->st, s->row_id, STEP_RUNNING, STEP_PENDING,
                              "re-dispatched: its process never started", &ch, &e);
        return;
    }
    attempt_ended(run, s);
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
        e->code = EBUSY;
        err_set(e, "run %lld is being driven by another engine ('%s')", (long long)run_id,
                old ? old : "?");
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
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        s->run = run;
        s->index = i;
        s->spec = &run->pipe->steps[i];
        s->pidfd = -1;
        s->cpus = s->spec->cpus > 0 ? s->spec->cpus : 1;
        struct step_row *r = NULL;
        for (size_t k = 0; k < nrows; k++)
            if (!strcmp(rows[k].name, s->spec->name))
                r = &rows[k];
        if (!r) {
            err_set(e, "run %lld has no row for step '%s'", (long long)run_id, s->spec->name);
            free(initial);
            step_rows_free(rows, nrows);
            store_lease_release(st, run_id, me, NULL);
            goto fail;
        }
        s->row_id = r->id;
        s->attempts = r->attempts;
        initial[i] = r->status;
    }
    plan_init(&run->plan, &run->graph, initial);
    run->plan_inited = true;
    free(initial);

    run->next = eng->runs;
    eng->runs = run;
    bool fresh = run->row.status == RUN_QUEUED;
    set_run_status(run, RUN_RUNNING, NULL);
    /* Statuses the plan derived at once (upstream of them already ended). */
    size_t nc = plan_changes(&run->plan, run->scratch);
    for (size_t k = 0; k < nc; k++) {
        struct step_rt *d = &run->steps[run->scratch[k]];
        bool ch;
        store_step_set_status(st, d->row_id, STEP_PENDING, run->plan.status[d->index],
                              "upstream step ended", &ch, e);
    }
    for (size_t i = 0; i < run->nsteps; i++) {
        struct step_rt *s = &run->steps[i];
        enum step_status status = run->plan.status[i];
        int64_t next_at = 0;
        for (size_t k = 0; k < nrows; k++)
            if (rows[k].id == s->row_id)
                next_at = rows[k].next_attempt_at;
        if (step_status_ok(status)) {
            step_load_outputs(run, s, e);
        } else if (status == STEP_RUNNING) {
            recover_attempt(run, s);
        } else if (status == STEP_WAITING && s->spec->timeout_ms > 0) {
            for (size_t k = 0; k < nrows; k++)
                if (rows[k].id == s->row_id)
                    s->started_ms = rows[k].started_at;
            int64_t left = s->started_ms + s->spec->timeout_ms - store_now_ms();
            ensure_timer(run, s);
            uv_timer_start(&s->timer, on_approval_timeout, left > 0 ? (uint64_t)left : 0, 0);
        } else if (status == STEP_RETRYING) {
            struct attempt_row *ar = NULL;
            size_t na = 0;
            if (store_attempts_load(st, s->row_id, &ar, &na, e) == 0) {
                for (size_t k = 0; k < na; k++)
                    if (ar[k].n > s->attempt_n)
                        s->attempt_n = ar[k].n;
                attempt_rows_free(ar, na);
            }
            int64_t delay = next_at - store_now_ms();
            ensure_timer(run, s);
            uv_timer_start(&s->timer, on_retry_timer, delay > 0 ? (uint64_t)delay : 0, 0);
        }
    }
    step_rows_free(rows, nrows);
    if (fresh && run->row.parent_run && run->row.trigger && !strcmp(run->row.trigger, "retry"))
        reuse_parent(run, e);
    if (eng->handles_open) {
        /* The loop already runs (serve): start what is ready now. */
        pump(run);
        check_run_end(run);
    }
    return 0;
fail:
    if (run->plan_inited || eng->runs == run) {
        /* not reached: failures happen before the run is listed */
    }
    run_free(run);
    return -1;
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
    uv_close((uv_handle_t *)t, on_engine_handle_closed);
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
    eng->handles_open = true;
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        pump(r);
        check_run_end(r);
    }
    uv_timer_start(&eng->tick, on_tick, 1000, 1000);
    /* A cheap periodic check closes the engine's own handles once every run has ended. */
    uv_timer_init(&eng->loop, &eng->check);
    eng->check.data = eng;
    uv_timer_start(&eng->check, on_check, 0, 20);
    uv_run(&eng->loop, UV_RUN_DEFAULT);
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
        for (size_t i = 0; i < r->nsteps; i++) {
            struct step_rt *s = &r->steps[i];
            if (s->polling && !uv_is_closing((uv_handle_t *)&s->poll)) {
                uv_poll_stop(&s->poll);
                uv_close((uv_handle_t *)&s->poll, on_poll_closed);
            }
        }
        close_run_handles(r);
    }
    if (eng->on_stop)
        eng->on_stop(eng->on_stop_data);
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
            const char *owner = rows[i].lease_owner;
            bool free_lease = !owner || !*owner || rows[i].lease_expires < now ||
                              !engine_owner_alive(owner);
            if (mine || !free_lease)
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

void engine_opts_from_json(const char *text, struct engine_opts *o)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!j)
        return;
    json_t *v;
    if ((v = json_object_get(j, "parallel")) && json_is_integer(v))
        o->parallel = (int)json_integer_value(v);
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
    if (rc == 0 && engine_result(eng, run_id, status, waiting) < 0)
        rc = err_set(e, "run %lld vanished from the engine", (long long)run_id);
    engine_free(eng);
    return rc;
}
