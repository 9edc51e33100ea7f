/* The local executor: attempts run on this machine under one `sluice shim --serve` per engine
 * (executor/shim.h), started at the first attempt, fed run and cancel requests over a socket and
 * read for its reports. An attempt another engine's shim runs is adopted by watching that shim
 * (a pidfd, readable when it exits) and reading the exit.json it leaves. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "executor/executor.h"
#include "executor/shim.h"
#include "executor/spawn.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

struct local;

/* An attempt this executor answers for. Heap-allocated: its handles are freed in their close
 * callbacks. */
struct lattempt {
    struct local *x;
    int64_t id;
    int64_t run_id;
    char *step;
    int n;
    char *dir;
    int64_t grace_ms;
    bool sent;               /* our shim runs it: its report ends it */
    pid_t step_pid;          /* the attempt's process (its session's id), 0 until known */
    unsigned long long step_pid_start;
    bool step_pid_saved;     /* in the store: an engine that adopts it can stop it */
    bool cancel_sent;
    /* adopted: another engine's shim runs it */
    int pidfd;               /* -1 when none */
    uv_poll_t poll;          /* readable when that shim has exited */
    bool poll_inited;
    uv_timer_t kill;         /* SIGKILL after the grace period of a cancel */
    int open;                /* handles not yet closed */
    bool done;               /* reported (or forgotten): freed once open is 0 */
    bool have_result;        /* settled before it could be reported (adopt, a dead shim) */
    struct exec_result result;
};

/* The engine's shim; freed once its pipe has closed, so that a new one can start while a dead
 * one's handle is still closing. */
struct shim_conn {
    uv_pipe_t pipe;
    struct local *x;
    pid_t pid;
    unsigned long long start;
    struct strbuf in;        /* report bytes read, not yet a whole report */
};

/* Commands found on a PATH, remembered: a failed execve per PATH folder costs milliseconds
 * here, a resolved path none. */
struct path_entry {
    char *key;  /* PATH value, NUL, command name */
    size_t key_len;
    char *path; /* absolute, or NULL when not found */
    struct path_entry *next;
};

struct local {
    struct executor base;
    uv_loop_t *loop;
    struct shim_conn *shim;  /* NULL until the first attempt, and after a hang-up */
    struct lattempt **live;  /* every attempt not yet reported */
    size_t nlive, live_alloc;
    uv_timer_t later;        /* reports settled inside start or adopt go out from here */
    bool later_inited;
    bool closed;
    struct path_entry *paths;
};

static void report_later(struct local *x);

/* ---- attempts ---- */

static struct lattempt *find(struct local *x, int64_t id)
{
    for (size_t i = 0; i < x->nlive; i++)
        if (x->live[i]->id == id)
            return x->live[i];
    return NULL;
}

static struct lattempt *attempt_new(struct local *x, const struct exec_attempt *a)
{
    struct lattempt *la = xcalloc(1, sizeof(*la));
    la->x = x;
    la->id = a->id;
    la->run_id = a->run_id;
    la->step = xstrdup(a->step);
    la->n = a->n;
    la->dir = xstrdup(a->dir);
    la->grace_ms = a->grace_ms > 0 ? a->grace_ms : 10000;
    la->pidfd = -1;
    XGROW(x->live, x->live_alloc, x->nlive + 1);
    x->live[x->nlive++] = la;
    return la;
}

static void attempt_free(struct lattempt *la)
{
    if (la->pidfd >= 0)
        close(la->pidfd);
    free(la->step);
    free(la->dir);
    free(la);
}

static void on_attempt_handle_closed(uv_handle_t *h)
{
    struct lattempt *la = h->data;
    if (--la->open == 0 && la->done)
        attempt_free(la);
}

/* Forget la: out of the live list, its handles closed, freed once they are. */
static void attempt_drop(struct lattempt *la)
{
    struct local *x = la->x;
    for (size_t i = 0; i < x->nlive; i++) {
        if (x->live[i] == la) {
            x->live[i] = x->live[--x->nlive];
            break;
        }
    }
    la->done = true;
    if (la->open > 0) {
        if (!uv_is_closing((uv_handle_t *)&la->kill))
            uv_close((uv_handle_t *)&la->kill, on_attempt_handle_closed);
        if (la->poll_inited && !uv_is_closing((uv_handle_t *)&la->poll))
            uv_close((uv_handle_t *)&la->poll, on_attempt_handle_closed);
        return;
    }
    attempt_free(la);
}

/* Report la's end to the engine and forget it. */
static void attempt_end(struct lattempt *la, const struct exec_result *r)
{
    struct local *x = la->x;
    int64_t id = la->id;
    struct exec_result copy = *r;
    attempt_drop(la);
    if (!x->closed)
        x->base.env.ended(x->base.env.data, id, &copy);
}

static bool attempt_file_exists(const struct lattempt *la, const char *name)
{
    char *p = xasprintf("%s/%s", la->dir, name);
    bool yes = access(p, F_OK) == 0;
    free(p);
    return yes;
}

/* The shim and the engine of an attempt died together (or the shim alone, before it reported
 * the step's pid): the step may still run, with nobody left to record how it ends. Whatever is
 * left of it is killed before its retry can start beside it: the session we know of, and every
 * process that carries the attempt's environment (children that left the session). */
static void kill_leftovers(struct lattempt *la)
{
    if (la->step_pid > 0)
        proc_kill_group(la->step_pid, la->step_pid_start, SIGKILL);
    char *run_id = xasprintf("SLUICE_RUN_ID=%lld", (long long)la->run_id);
    char *step = xasprintf("SLUICE_STEP=%s", la->step);
    char *attempt = xasprintf("SLUICE_ATTEMPT=%d", la->n);
    const char *kv[] = {run_id, step, attempt};
    proc_kill_env(kv, 3, "SLUICE_HOME", la->x->base.env.home);
    free(run_id);
    free(step);
    free(attempt);
}

/* What became of an attempt whose shim is gone without a report of it: its exit.json; or, when
 * the shim never created its log (the first thing it does), it never ran; or it is lost, and
 * what is left of it is killed first. */
static void settle_from_files(struct lattempt *la, struct exec_result *r)
{
    struct err e = ERR_INIT;
    memset(r, 0, sizeof(*r));
    int rc = exec_result_read(la->dir, r, &e);
    if (rc == 0)
        return;
    if (rc == 1 && !attempt_file_exists(la, "log")) {
        r->why = EXEC_NEVER_STARTED;
        snprintf(r->msg, sizeof(r->msg), "its process never started");
        return;
    }
    kill_leftovers(la);
    r->why = EXEC_LOST;
    if (rc == 1)
        snprintf(r->msg, sizeof(r->msg), "its shim ended without writing its exit record");
    else
        snprintf(r->msg, sizeof(r->msg), "%s", e.msg);
}

/* ---- the shim ---- */

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

static void shim_close(struct local *x)
{
    struct shim_conn *c = x->shim;
    if (!c)
        return;
    x->shim = NULL;
    uv_close((uv_handle_t *)&c->pipe, on_shim_closed);
}

/* The shim hung up or died with attempts of ours in flight: those it started are lost (and
 * retried per policy), those it never got to go again. A step whose shim is gone must not go on
 * running beside its retry: its session is killed first. */
static void shim_lost(struct local *x)
{
    shim_close(x);
    for (size_t i = 0; i < x->nlive;) {
        struct lattempt *la = x->live[i];
        if (!la->sent) {
            i++;
            continue;
        }
        if (la->step_pid > 0)
            proc_kill_group(la->step_pid, la->step_pid_start, SIGKILL);
        struct exec_result r;
        settle_from_files(la, &r);
        attempt_end(la, &r); /* takes it out of live */
    }
}

static void on_report(struct local *x, const struct shim_report *rep)
{
    struct lattempt *la = find(x, rep->id);
    if (!la || !la->sent || x->closed)
        return;
    if (rep->type == SHIM_STARTED) {
        /* Recorded by the next tick, not now: most steps are over by then and need no record
         * of it, and a transaction per start would cost more than a short step. */
        la->step_pid = rep->pid;
        la->step_pid_start = rep->pid_start;
        la->step_pid_saved = false;
        return;
    }
    if (rep->type != SHIM_EXITED)
        return;
    struct exec_result r;
    memset(&r, 0, sizeof(r));
    r.why = rep->timed_out ? EXEC_TIMED_OUT : rep->cancelled ? EXEC_CANCELLED : EXEC_EXITED;
    r.exit = rep->exit;
    r.signal = rep->signal;
    r.cpu_s = rep->cpu_s;
    r.max_rss_kb = (long)rep->max_rss_kb;
    r.no_metrics = !rep->metrics;
    if (rep->msg[0]) {
        /* The shim could not even create the attempt's folder or log. */
        r.why = EXEC_START_FAILED;
        memcpy(r.msg, rep->msg, sizeof(r.msg));
        r.msg[sizeof(r.msg) - 1] = '\0';
    }
    attempt_end(la, &r);
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
    struct local *x = c->x;
    (void)buf;
    if (c != x->shim)
        return; /* a closing shim's last bytes */
    if (n < 0) {
        shim_lost(x);
        return;
    }
    struct strbuf *in = &c->in;
    in->len += (size_t)n;
    size_t off = 0;
    while (in->len - off >= sizeof(struct shim_report)) {
        struct shim_report rep;
        memcpy(&rep, in->buf + off, sizeof(rep));
        off += sizeof(rep);
        on_report(x, &rep);
        if (c != x->shim)
            return; /* lost while handling it */
    }
    memmove(in->buf, in->buf + off, in->len - off);
    in->len -= off;
    in->buf[in->len] = '\0';
}

static int shim_ensure(struct local *x, struct err *e)
{
    if (x->shim)
        return 0;
    struct spawn_proc proc;
    int fd;
    if (shim_serve_start(x->base.env.self_exe, &proc, &fd, e) < 0)
        return -1;
    struct shim_conn *c = xcalloc(1, sizeof(*c));
    c->x = x;
    c->pid = proc.pid;
    c->start = proc.start_time;
    strbuf_init(&c->in);
    int rc = uv_pipe_init(x->loop, &c->pipe, 0);
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
    x->shim = c;
    uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    return 0;
}

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a broken pipe shows as the read side's end */
    free(req->data);
    free(req);
}

static void send_bytes(struct local *x, const char *bytes, size_t len)
{
    uv_stream_t *pipe = (uv_stream_t *)&x->shim->pipe;
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
static void kill_shim_point(struct local *x, const struct exec_attempt *a)
{
    const char *at = getenv("SLUICE_KILL_SHIM_AT");
    if (!at || strcmp(at, a->step) || a->n != 1 || !x->shim)
        return;
    kill(x->shim->pid, SIGKILL);
    while (waitpid(x->shim->pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

/* ---- PATH look-ups ---- */

/* argv[0] (no '/') resolved on the PATH of envp, as execvp would; NULL when not found (the
 * shim then reports it as not found). Borrowed from the cache. */
static const char *resolve_command(struct local *x, const char *cmd, char *const *envp)
{
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char *const *ev = envp; ev && *ev; ev++)
        if (!strncmp(*ev, "PATH=", 5))
            path = *ev + 5;
    size_t pl = strlen(path), nl = strlen(cmd);
    size_t kl = pl + 1 + nl;
    struct path_entry *pe;
    for (pe = x->paths; pe; pe = pe->next)
        if (pe->key_len == kl && !memcmp(pe->key, path, pl) && !strcmp(pe->key + pl + 1, cmd))
            return pe->path;
    pe = xcalloc(1, sizeof(*pe));
    pe->key = xmalloc(kl + 1);
    memcpy(pe->key, path, pl + 1);
    memcpy(pe->key + pl + 1, cmd, nl + 1);
    pe->key_len = kl;
    for (const char *d = path; !pe->path;) {
        const char *end = strchr(d, ':');
        size_t dl = end ? (size_t)(end - d) : strlen(d);
        char *cand = xasprintf("%.*s/%s", (int)dl, dl ? d : ".", cmd);
        struct stat stt;
        if (stat(cand, &stt) == 0 && S_ISREG(stt.st_mode) && access(cand, X_OK) == 0 &&
            cand[0] == '/')
            pe->path = cand;
        else
            free(cand);
        if (!end)
            break;
        d = end + 1;
    }
    pe->next = x->paths;
    x->paths = pe;
    return pe->path;
}

/* ---- the interface ---- */

static struct executor *local_create(const struct exec_env *env, struct err *e)
{
    (void)e;
    struct local *x = xcalloc(1, sizeof(*x));
    x->base.env = *env;
    x->loop = env->loop;
    /* A shim that dies while a request is written to it must not take the engine with it: the
     * write fails with EPIPE and the hang-up is read next. (The shim and steps start with every
     * disposition at its default.) */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return &x->base;
}

static int local_prepare(struct executor *base, const struct exec_attempt *a, struct err *e)
{
    struct local *x = (struct local *)base;
    if (shim_ensure(x, e) < 0)
        return -1;
    /* The attempt's pid is the shim's: a restarted engine waits for it to exit, then reads the
     * attempt's exit.json. */
    return store_attempt_set_pid(x->base.env.st, a->id, x->shim->pid, x->shim->start, NULL, e);
}

static int local_start(struct executor *base, const struct exec_job *job, struct err *e)
{
    struct local *x = (struct local *)base;
    (void)e;
    struct lattempt *la = attempt_new(x, &job->a);
    if (!x->shim) {
        /* The shim died after the attempt was recorded: it never ran, and goes again. */
        la->have_result = true;
        la->result.why = EXEC_NEVER_STARTED;
        snprintf(la->result.msg, sizeof(la->result.msg), "its shim was gone before it started");
        report_later(x);
        return 0;
    }
    la->sent = true;
    /* The shim does no PATH search for the engine: argv[0] goes resolved. */
    size_t argc = 0;
    while (job->argv && job->argv[argc])
        argc++;
    char **argv = NULL;
    if (job->argv) {
        argv = xcalloc(argc + 1, sizeof(*argv));
        memcpy(argv, job->argv, argc * sizeof(*argv));
        if (argc && *argv[0] && !strchr(argv[0], '/')) {
            const char *found = resolve_command(x, argv[0], job->envp);
            if (found)
                argv[0] = (char *)found;
        }
    }
    struct spawn_req req = {
        .dir = job->a.dir,
        .workdir = job->workdir,
        .argv = argv,
        .shell = job->shell,
        .envp = job->envp,
        .timeout_ms = (unsigned long)job->timeout_ms,
        .grace_ms = (unsigned long)job->a.grace_ms,
    };
    struct strbuf sb = STRBUF_INIT;
    shim_encode_run(&sb, job->a.id, &req);
    free(argv);
    kill_shim_point(x, &job->a);
    send_bytes(x, sb.buf, sb.len);
    strbuf_release(&sb);
    return 0;
}

static void on_adopted_kill(uv_timer_t *t)
{
    struct lattempt *la = t->data;
    if (!la->done)
        proc_kill_group(la->step_pid, la->step_pid_start, SIGKILL);
}

static void local_cancel(struct executor *base, int64_t id)
{
    struct local *x = (struct local *)base;
    struct lattempt *la = find(x, id);
    if (!la || la->cancel_sent || la->have_result)
        return;
    la->cancel_sent = true;
    if (la->sent) {
        if (!x->shim)
            return; /* its hang-up settles it */
        struct strbuf sb = STRBUF_INIT;
        shim_encode_cancel(&sb, id);
        send_bytes(x, sb.buf, sb.len);
        strbuf_release(&sb);
        return;
    }
    /* Another engine's shim runs it, and is not ours to ask: SIGTERM to the step's session,
     * SIGKILL after the grace period. Without the step's pid (its engine died before recording
     * it) there is nothing safe to signal: the shim serves other steps too. The step then ends
     * by itself or by its timeout, and the run ends cancelled after it. */
    if (la->step_pid <= 0 || proc_kill_group(la->step_pid, la->step_pid_start, SIGTERM) < 0)
        return;
    /* A stopped process would sit on its SIGTERM. */
    proc_kill_group(la->step_pid, la->step_pid_start, SIGCONT);
    uv_timer_start(&la->kill, on_adopted_kill, (uint64_t)la->grace_ms, 0);
}

static void on_adopted_exit(uv_poll_t *h, int status, int events)
{
    struct lattempt *la = h->data;
    (void)status;
    (void)events;
    uv_poll_stop(h);
    struct exec_result r;
    settle_from_files(la, &r);
    attempt_end(la, &r);
}

static int local_adopt(struct executor *base, const struct exec_attempt *a,
                       const struct attempt_row *row, struct err *e)
{
    struct local *x = (struct local *)base;
    struct lattempt *la = attempt_new(x, a);
    la->step_pid = (pid_t)row->step_pid;
    la->step_pid_start = row->step_pid_start;
    uv_timer_init(x->loop, &la->kill);
    la->kill.data = la;
    la->open++;
    if (row->pid && !attempt_file_exists(la, "exit.json")) {
        /* Its shim is alive: it writes exit.json before it exits. */
        int fd = proc_pidfd((pid_t)row->pid, row->pid_start);
        if (fd >= 0) {
            la->pidfd = fd;
            int rc = uv_poll_init(x->loop, &la->poll, fd);
            if (rc == 0) {
                la->poll.data = la;
                la->poll_inited = true;
                la->open++;
                rc = uv_poll_start(&la->poll, UV_READABLE, on_adopted_exit);
            }
            if (rc < 0) {
                attempt_drop(la);
                return err_set(e, "cannot watch process %lld: %s", (long long)row->pid,
                               uv_strerror(rc));
            }
            return 0;
        }
    }
    /* Its shim is gone: what it left says how the attempt ended, reported from the loop. */
    settle_from_files(la, &la->result);
    la->have_result = true;
    report_later(x);
    return 0;
}

static void on_later(uv_timer_t *t)
{
    struct local *x = t->data;
    for (size_t i = 0; i < x->nlive;) {
        struct lattempt *la = x->live[i];
        if (la->have_result && !x->closed)
            attempt_end(la, &la->result); /* takes it out of live */
        else
            i++;
    }
}

static void report_later(struct local *x)
{
    if (!x->later_inited) {
        uv_timer_init(x->loop, &x->later);
        x->later.data = x;
        x->later_inited = true;
    }
    uv_timer_start(&x->later, on_later, 0, 0);
}

static int local_capacity(struct executor *base)
{
    (void)base;
    return INT32_MAX; /* the engine's --parallel slots are the bound */
}

static int local_tick(struct executor *base, struct err *e)
{
    struct local *x = (struct local *)base;
    for (size_t i = 0; i < x->nlive; i++) {
        struct lattempt *la = x->live[i];
        if (!la->sent || la->step_pid <= 0 || la->step_pid_saved)
            continue;
        if (store_attempt_set_step_pid(x->base.env.st, la->id, la->step_pid, la->step_pid_start,
                                       e) < 0)
            return -1;
        la->step_pid_saved = true;
    }
    return 0;
}

static void on_later_closed(uv_handle_t *h)
{
    (void)h;
}

static void local_close(struct executor *base)
{
    struct local *x = (struct local *)base;
    x->closed = true;
    /* Hang up on the shim: it goes on with what runs, and writes their exit.json. */
    shim_close(x);
    while (x->nlive)
        attempt_drop(x->live[0]);
    if (x->later_inited && !uv_is_closing((uv_handle_t *)&x->later))
        uv_close((uv_handle_t *)&x->later, on_later_closed);
}

static void local_free(struct executor *base)
{
    struct local *x = (struct local *)base;
    if (!x)
        return;
    while (x->paths) {
        struct path_entry *next = x->paths->next;
        free(x->paths->key);
        free(x->paths->path);
        free(x->paths);
        x->paths = next;
    }
    free(x->live);
    free(x);
}

static bool local_alive(const struct attempt_row *row)
{
    return row->pid > 0 && proc_alive((pid_t)row->pid, row->pid_start);
}

const struct executor_ops local_executor = {
    .name = "local",
    .create = local_create,
    .prepare = local_prepare,
    .start = local_start,
    .cancel = local_cancel,
    .adopt = local_adopt,
    .capacity = local_capacity,
    .tick = local_tick,
    .close = local_close,
    .free = local_free,
    .alive = local_alive,
};
