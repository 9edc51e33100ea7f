/* The engine's side of the shim (executor/shim.h): one `sluice shim --serve` per engine, started
 * at the first step, fed run and cancel requests over a socket, and read for its reports. The
 * writes of one loop iteration are one SQLite transaction (the store's batch mode); a request
 * goes out only after the transaction that recorded its attempt has committed (engine_flush,
 * called before the loop blocks), so an attempt is always recorded before it can run. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "executor/shim.h"
#include "executor/spawn.h"
#include "scheduler/engine_int.h"
#include "util/xalloc.h"

static void on_shim_closed(uv_handle_t *h)
{
    struct shim_conn *c = h->data;
    /* Usually gone by now (it hung up); if not, it goes on with its steps on its own, and its
     * zombie is left to init when this process exits. */
    int status;
    spawn_reap(c->pid, &status);
    strbuf_release(&c->in);
    free(c);
}

void dispatch_close(struct engine *eng)
{
    struct shim_conn *c = eng->shim;
    if (!c)
        return;
    eng->shim = NULL;
    uv_close((uv_handle_t *)&c->pipe, on_shim_closed);
}

/* The steps our shim runs, at most --parallel of them: a report finds its step here rather than
 * among every step of every run. */
static void inflight_add(struct engine *eng, struct step_rt *s)
{
    s->dispatched = true;
    XGROW(eng->inflight, eng->inflight_alloc, eng->ninflight + 1);
    eng->inflight[eng->ninflight++] = s;
}

static void inflight_drop(struct engine *eng, struct step_rt *s)
{
    s->dispatched = false;
    for (size_t i = 0; i < eng->ninflight; i++) {
        if (eng->inflight[i] == s) {
            eng->inflight[i] = eng->inflight[--eng->ninflight];
            return;
        }
    }
}

bool dispatch_runs_any(const struct run_ctx *run)
{
    for (size_t i = 0; i < run->eng->ninflight; i++)
        if (run->eng->inflight[i]->run == run)
            return true;
    return false;
}

static struct step_rt *step_by_attempt(struct engine *eng, int64_t id)
{
    for (size_t i = 0; i < eng->ninflight; i++)
        if (eng->inflight[i]->attempt_id == id)
            return eng->inflight[i];
    return NULL;
}

static void on_report(struct engine *eng, const struct shim_report *rep)
{
    struct step_rt *s = step_by_attempt(eng, rep->id);
    if (!s || eng->stopping)
        return;
    struct run_ctx *run = s->run;
    if (rep->type == SHIM_STARTED) {
        /* Recorded by the next tick (dispatch_save_pids), not now: most steps are over by
         * then and need no record of it, and a transaction per start would cost more than a
         * short step. */
        s->step_pid = rep->pid;
        s->step_pid_start = rep->pid_start;
        s->step_pid_saved = false;
        return;
    }
    if (rep->type != SHIM_EXITED)
        return;
    engine_crash_point("exited", s->spec->name);
    inflight_drop(eng, s);
    struct shim_exit x;
    memset(&x, 0, sizeof(x));
    x.exit = rep->exit;
    x.signal = rep->signal;
    x.cpu_s = rep->cpu_s;
    x.max_rss_kb = (long)rep->max_rss_kb;
    x.timed_out = rep->timed_out;
    x.cancelled = rep->cancelled;
    x.no_metrics = !rep->metrics;
    memcpy(x.msg, rep->msg, sizeof(x.msg));
    x.msg[sizeof(x.msg) - 1] = '\0';
    step_attempt_ended(run, s, &x);
    run_pump(run);
    run_check_end(run);
}

/* The shim hung up or died with steps of ours in flight: those it started are lost (and retried
 * per policy), those it never got to go again. A step whose shim is gone must not go on
 * running beside its retry: its session is killed first. */
static void shim_lost(struct engine *eng)
{
    dispatch_close(eng);
    while (eng->ninflight) {
        struct step_rt *s = eng->inflight[0];
        inflight_drop(eng, s);
        if (s->step_pid > 0)
            proc_kill_group(s->step_pid, s->step_pid_start, SIGKILL);
        if (!eng->stopping)
            step_shim_gone(s->run, s);
    }
    for (struct run_ctx *r = eng->runs; r; r = r->next) {
        run_pump(r);
        run_check_end(r);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct shim_conn *c = h->data;
    (void)suggested;
    strbuf_grow(&c->in, 16384);
    buf->base = c->in.buf + c->in.len;
    buf->len = c->in.alloc - c->in.len - 1;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct shim_conn *c = stream->data;
    struct engine *eng = c->eng;
    (void)buf;
    if (c != eng->shim)
        return; /* a closing shim's last bytes */
    if (n < 0) {
        shim_lost(eng);
        return;
    }
    struct strbuf *in = &c->in;
    in->len += (size_t)n;
    size_t off = 0;
    while (in->len - off >= sizeof(struct shim_report)) {
        struct shim_report rep;
        memcpy(&rep, in->buf + off, sizeof(rep));
        off += sizeof(rep);
        on_report(eng, &rep);
        if (c != eng->shim)
            return; /* lost while handling it */
    }
    memmove(in->buf, in->buf + off, in->len - off);
    in->len -= off;
    in->buf[in->len] = '\0';
}

int dispatch_ensure(struct engine *eng, struct err *e)
{
    if (eng->shim)
        return 0;
    struct spawn_proc proc;
    int fd;
    if (shim_serve_start(eng->self_exe, &proc, &fd, e) < 0)
        return -1;
    struct shim_conn *c = xcalloc(1, sizeof(*c));
    c->eng = eng;
    c->pid = proc.pid;
    c->start = proc.start_time;
    strbuf_init(&c->in);
    int rc = uv_pipe_init(&eng->loop, &c->pipe, 0);
    c->pipe.data = c;
    bool inited = rc == 0;
    if (inited)
        rc = uv_pipe_open(&c->pipe, fd);
    if (rc < 0) {
        close(fd);
        kill(proc.pid, SIGKILL);
        while (waitpid(proc.pid, NULL, 0) < 0 && errno == EINTR)
            ;
        if (inited)
            uv_close((uv_handle_t *)&c->pipe, on_shim_closed); /* frees c */
        else
            free(c);
        return err_set(e, "cannot talk to the shim: %s", uv_strerror(rc));
    }
    eng->shim = c;
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    return 0;
}

void dispatch_run(struct run_ctx *run, struct step_rt *s, const struct spawn_req *req)
{
    struct engine *eng = run->eng;
    strbuf_reset(&s->request);
    shim_encode_run(&s->request, s->attempt_id, req);
    inflight_add(eng, s);
    s->step_pid = 0;
    s->step_pid_start = 0;
    XGROW(eng->queue, eng->queue_alloc, eng->nqueue + 1);
    eng->queue[eng->nqueue++] = (struct queued){s, false};
}

void dispatch_save_pids(struct engine *eng)
{
    for (size_t i = 0; i < eng->ninflight; i++) {
        struct step_rt *s = eng->inflight[i];
        if (s->step_pid <= 0 || s->step_pid_saved)
            continue;
        struct err e = ERR_INIT;
        if (store_attempt_set_step_pid(eng->st, s->attempt_id, s->step_pid, s->step_pid_start,
                                       &e) < 0) {
            run_fail(s->run, &e);
            return;
        }
        s->step_pid_saved = true;
    }
}

void dispatch_cancel(struct run_ctx *run, struct step_rt *s)
{
    struct engine *eng = run->eng;
    XGROW(eng->queue, eng->queue_alloc, eng->nqueue + 1);
    eng->queue[eng->nqueue++] = (struct queued){s, true};
}

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a broken pipe shows as the read side's end */
    free(req->data);
    free(req);
}

static void send_bytes(struct engine *eng, const char *bytes, size_t len)
{
    uv_stream_t *pipe = (uv_stream_t *)&eng->shim->pipe;
    uv_buf_t buf = uv_buf_init((char *)bytes, (unsigned)len);
    int n = uv_try_write(pipe, &buf, 1);
    if (n == (int)len)
        return;
    if (n < 0 && n != UV_EAGAIN)
        return; /* the shim is gone: its hang-up is read next */
    size_t done = n > 0 ? (size_t)n : 0;
    uv_write_t *w = xmalloc(sizeof(*w));
    char *copy = xmalloc(len - done);
    memcpy(copy, bytes + done, len - done);
    w->data = copy;
    buf = uv_buf_init(copy, (unsigned)(len - done));
    if (uv_write(w, pipe, &buf, 1, on_written) < 0) {
        free(copy);
        free(w);
    }
}

/* Test hook: SLUICE_KILL_SHIM_AT=STEP kills the engine's shim just before the run request of
 * STEP's first attempt is written, so that a test can see that an attempt its shim never got
 * runs again without using a retry, and that the write to a dead shim does not kill the
 * engine. */
static void kill_shim_point(struct engine *eng, const struct step_rt *s)
{
    const char *at = getenv("SLUICE_KILL_SHIM_AT");
    if (!at || strcmp(at, s->spec->name) || s->attempt_n != 1 || !eng->shim)
        return;
    kill(eng->shim->pid, SIGKILL);
    while (waitpid(eng->shim->pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* Send what is queued; returns whether steps went back to pending (their shim had died). */
static bool send_queued(struct engine *eng)
{
    /* Taken over: what the loop below queues (a --fail-fast cancel) waits for the next round. */
    struct queued *q = eng->queue;
    size_t n = eng->nqueue;
    eng->queue = NULL;
    eng->nqueue = eng->queue_alloc = 0;
    bool again = false;
    for (size_t i = 0; i < n; i++) {
        struct step_rt *s = q[i].s;
        if (!s->dispatched)
            continue;
        if (!eng->shim) {
            /* The shim died after the attempt was recorded: it never ran, and goes again. */
            inflight_drop(eng, s);
            step_shim_gone(s->run, s);
            again = true;
            continue;
        }
        if (q[i].cancel) {
            struct strbuf sb = STRBUF_INIT;
            shim_encode_cancel(&sb, s->attempt_id);
            send_bytes(eng, sb.buf, sb.len);
            strbuf_release(&sb);
            continue;
        }
        engine_crash_point("recorded", s->spec->name);
        kill_shim_point(eng, s);
        send_bytes(eng, s->request.buf, s->request.len);
        strbuf_release(&s->request);
        engine_crash_point("spawned", s->spec->name);
    }
    free(q);
    return again;
}

/* Commit the batch, if one is open, fenced by the leases of the runs it wrote for. */
static int flush_batch(struct engine *eng, struct err *e)
{
    if (store_batch_open(eng->st))
        engine_fence_leases(eng);
    return store_batch_flush(eng->st, e);
}

void engine_flush(struct engine *eng)
{
    /* A few rounds at most: a round queues more only when a shim died under it. */
    for (int round = 0; round < 3; round++) {
        struct err e = ERR_INIT;
        if (flush_batch(eng, &e) < 0) {
            /* Nothing of this iteration is recorded, so nothing of it may run (a cancel is
             * for a step that runs already). */
            for (size_t i = 0; i < eng->nqueue; i++)
                if (!eng->queue[i].cancel)
                    inflight_drop(eng, eng->queue[i].s);
            eng->nqueue = 0;
            for (struct run_ctx *r = eng->runs; r; r = r->next)
                run_fail(r, &e);
            return;
        }
        if (!eng->nqueue || !send_queued(eng))
            break;
        for (struct run_ctx *r = eng->runs; r; r = r->next) {
            run_pump(r);
            run_check_end(r);
        }
    }
    struct err e = ERR_INIT;
    if (flush_batch(eng, &e) < 0)
        for (struct run_ctx *r = eng->runs; r; r = r->next)
            run_fail(r, &e);
}

static void on_prepare(uv_prepare_t *h)
{
    engine_flush(h->data);
}

void dispatch_init(struct engine *eng)
{
    /* A shim that dies while a request is written to it must not take the engine with it: the
     * write fails with EPIPE and the hang-up is read next. (The shim and steps start with every
     * disposition at its default.) */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    uv_prepare_init(&eng->loop, &eng->flush);
    eng->flush.data = eng;
    uv_prepare_start(&eng->flush, on_prepare);
    /* It runs whenever the loop is about to block, but is no reason to keep it running. */
    uv_unref((uv_handle_t *)&eng->flush);
    store_batch_set(eng->st, true);
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

void dispatch_release(struct engine *eng)
{
    free(eng->queue);
    eng->queue = NULL;
    eng->nqueue = eng->queue_alloc = 0;
    free(eng->inflight);
    eng->inflight = NULL;
    eng->ninflight = eng->inflight_alloc = 0;
}
