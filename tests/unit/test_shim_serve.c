/* Tests for the serving form of the shim (`sluice shim --serve`), driven over its socket as the
 * engine drives it: run and cancel requests out, STARTED and EXITED reports in, timeouts, setup
 * failures, many steps at once, and the engine hanging up. Shared helpers: spawn_helpers.h. */
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "executor/shim.h"
#include "executor/spawn.h"
#include "tests/unit/spawn_helpers.h"

/* ---- one shim serving many steps: shim_serve_start, requests out, reports in ---- */

struct server {
    char base[PATH_MAX];   /* a fresh folder, removed at the end */
    char dir[3][PATH_MAX]; /* attempt folders BASE/N/attempt, which do not exist yet */
    char fifo[PATH_MAX];   /* BASE/go: a step that reads it waits for release_fifo() */
    struct spawn_proc proc;
    int sock; /* our end; -1 once we hung up */
};

static void server_start(struct server *s)
{
    char base[PATH_MAX]; /* apart from *s, for snprintf's restrict */
    temp_dir(base, sizeof(base));
    memcpy(s->base, base, sizeof(base));
    for (int i = 0; i < 3; i++)
        snprintf(s->dir[i], sizeof(s->dir[i]), "%s/%d/attempt", base, i);
    snprintf(s->fifo, sizeof(s->fifo), "%s/go", base);
    assert_int_equal(mkfifo(s->fifo, 0600), 0);
    struct err e = ERR_INIT;
    int rc = shim_serve_start(shim_bin, &s->proc, &s->sock, &e);
    if (rc < 0)
        print_error("shim_serve_start: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_true(s->proc.pid > 0 && s->sock >= 0);
    assert_true(proc_alive(s->proc.pid, s->proc.start_time));
    int flags = fcntl(s->sock, F_GETFD);
    assert_true(flags >= 0 && (flags & FD_CLOEXEC)); /* nothing started later inherits it */
}

static void server_send(struct server *s, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = send(s->sock, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n > 0);
        buf += n;
        len -= (size_t)n;
    }
}

static void server_run(struct server *s, int64_t id, const struct spawn_req *req)
{
    struct strbuf sb = STRBUF_INIT;
    shim_encode_run(&sb, id, req);
    server_send(s, sb.buf, sb.len);
    strbuf_release(&sb);
}

static void server_cancel(struct server *s, int64_t id)
{
    struct strbuf sb = STRBUF_INIT;
    shim_encode_cancel(&sb, id);
    server_send(s, sb.buf, sb.len);
    strbuf_release(&sb);
}

/* The next report, which may come in pieces; fails after WAIT_MS or at a hang-up. */
static void server_read(struct server *s, struct shim_report *r)
{
    size_t got = 0;
    int64_t until = mono_ms() + WAIT_MS;
    while (got < sizeof(*r)) {
        struct pollfd pfd = {.fd = s->sock, .events = POLLIN};
        int64_t left = until - mono_ms();
        int n = poll(&pfd, 1, left > 0 ? (int)left : 0);
        if (n < 0 && errno == EINTR)
            continue;
        assert_int_equal(n, 1);
        ssize_t k = read(s->sock, (char *)r + got, sizeof(*r) - got);
        if (k < 0 && errno == EINTR)
            continue;
        assert_true(k > 0);
        got += (size_t)k;
    }
}

/* The next report, which must be of type for attempt id. */
static void server_expect(struct server *s, int64_t id, int type, struct shim_report *r)
{
    server_read(s, r);
    assert_int_equal(r->id, id);
    assert_int_equal(r->type, type);
    if (type == SHIM_STARTED)
        assert_true(r->pid > 0);
}

/* Reap the child pid within WAIT_MS (SIGKILL after that); returns its wait status. */
static int reap_within(pid_t pid)
{
    int64_t until = mono_ms() + WAIT_MS;
    int status = 0, rc;
    while ((rc = spawn_reap(pid, &status)) == 0 && mono_ms() < until)
        usleep(5000);
    if (rc == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    assert_int_equal(rc, pid);
    return status;
}

/* Hang up; the shim must exit by itself, with 0, once what it ran has ended. */
static void server_stop(struct server *s)
{
    if (s->sock >= 0)
        close(s->sock);
    s->sock = -1;
    int status = reap_within(s->proc.pid);
    if (s->proc.pidfd >= 0)
        close(s->proc.pidfd);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    rm_tree(s->base);
}

/* DIR/exit.json, written after the report (off the reporting path): wait for it. */
static void wait_exit(const char *dir, struct shim_exit *ex)
{
    struct err e = ERR_INIT;
    int64_t until = mono_ms() + WAIT_MS;
    int rc;
    while ((rc = shim_read_exit(dir, ex, &e)) == 1 && mono_ms() < until)
        usleep(5000);
    assert_int_equal(rc, 0);
}

static void release_fifo(struct server *s, const char *line)
{
    int64_t until = mono_ms() + WAIT_MS;
    int fd;
    /* ENXIO until the step has opened its end. */
    while ((fd = open(s->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0 && errno == ENXIO &&
           mono_ms() < until)
        usleep(5000);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
}

static void test_serve_one_step(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    const char *dir = s.dir[0];
    assert_int_equal(access(dir, F_OK), -1);
    char *argv[] = {"/bin/sh", "-c", "echo hello; echo oops >&2; read x < \"$0\"; echo \"got $x\"",
                    s.fifo, NULL};
    struct spawn_req req = {.dir = dir, .argv = argv};
    /* A frame may reach the shim in pieces, as a partial write leaves it. */
    struct strbuf sb = STRBUF_INIT;
    shim_encode_run(&sb, 41, &req);
    server_send(&s, sb.buf, 3);
    usleep(50000);
    server_send(&s, sb.buf + 3, sb.len - 3);
    strbuf_release(&sb);

    struct shim_report r;
    server_expect(&s, 41, SHIM_STARTED, &r);
    unsigned long long start;
    assert_int_equal(proc_start_time(r.pid, &start), 0); /* it waits for the fifo: alive */
    assert_true(start == r.pid_start);
    assert_true(proc_alive(r.pid, r.pid_start));
    assert_int_equal(getpgid(r.pid), r.pid); /* its own session and process group */
    assert_int_equal(getsid(r.pid), r.pid);
    release_fifo(&s, "go\n");
    server_expect(&s, 41, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 0);
    assert_int_equal(r.signal, 0);
    assert_false(r.timed_out || r.cancelled);
    assert_true(r.cpu_s >= 0 && r.cpu_s < 5);
    assert_true(r.max_rss_kb > 0);
    assert_string_equal(r.msg, "");

    struct shim_exit ex;
    wait_exit(dir, &ex);
    assert_int_equal(ex.exit, 0);
    assert_int_equal(ex.signal, 0);
    assert_false(ex.timed_out || ex.cancelled);
    assert_iso_ms(ex.started_at);
    assert_iso_ms(ex.ended_at);
    assert_log(dir, "hello\noops\ngot go\n");
    char *out = xasprintf("%s/out", dir);
    struct stat st;
    assert_int_equal(stat(out, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    free(out);
    server_stop(&s);
}

/* A step ends with its own process: what it left running in its group is killed before its end
 * is reported (and the log says so), so nothing it started writes its outputs after they are
 * hashed. A step that leaves nothing gets no such line. */
static void test_serve_step_leaves_nothing_behind(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    const char *dir = s.dir[0];
    char *script = xasprintf("sleep 30 & echo $! > %s/../bg.pid; echo started", dir);
    char *argv[] = {"/bin/sh", "-c", script, NULL};
    struct spawn_req req = {.dir = dir, .argv = argv};
    server_run(&s, 51, &req);
    struct shim_report r;
    server_expect(&s, 51, SHIM_STARTED, &r);
    pid_t step = r.pid;
    server_expect(&s, 51, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 0);
    assert_false(r.timed_out || r.cancelled);
    /* Reported only once the group is gone: the background sleep with it. */
    assert_true(group_gone(step));
    char *pidfile = xasprintf("%s/../bg.pid", dir);
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_read_file(&sb, pidfile, 64), 0);
    pid_t bg = (pid_t)strtol(sb.buf, NULL, 10);
    assert_true(bg > 0);
    assert_int_equal(kill(bg, 0), -1);
    assert_int_equal(errno, ESRCH);
    assert_log(dir, "started\nsluice: the step ended with processes of its own still running: "
                    "they were killed\n");
    struct shim_exit ex;
    wait_exit(dir, &ex);
    assert_int_equal(ex.exit, 0);

    /* A background process the step waited for is no leftover. */
    const char *dir2 = s.dir[1];
    char *argv2[] = {"/bin/sh", "-c", "sleep 0.05 & wait; echo done", NULL};
    struct spawn_req req2 = {.dir = dir2, .argv = argv2};
    server_run(&s, 52, &req2);
    server_expect(&s, 52, SHIM_STARTED, &r);
    server_expect(&s, 52, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 0);
    assert_log(dir2, "done\n");
    strbuf_release(&sb);
    free(pidfile);
    free(script);
    server_stop(&s);
}

static void test_serve_concurrent(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    /* The slow one writes metrics.json (as $SLUICE_METRICS would name it): its report says so. */
    char *metrics = xasprintf("%s/metrics.json", s.dir[0]);
    char *slow_argv[] = {"/bin/sh", "-c", "sleep 0.5; echo '{}' > \"$0\"; exit 5", metrics, NULL};
    struct spawn_req slow = {.dir = s.dir[0], .argv = slow_argv};
    struct spawn_req quick = {.dir = s.dir[1], .shell = "exit 3"};
    /* Both frames in one write: the shim takes every whole frame it has read. */
    struct strbuf sb = STRBUF_INIT;
    shim_encode_run(&sb, 7, &slow);
    shim_encode_run(&sb, 8, &quick);
    server_send(&s, sb.buf, sb.len);
    strbuf_release(&sb);

    struct shim_report r;
    server_expect(&s, 7, SHIM_STARTED, &r);
    pid_t slow_pid = r.pid;
    server_expect(&s, 8, SHIM_STARTED, &r);
    assert_true(r.pid != slow_pid);
    server_expect(&s, 8, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 3);
    assert_int_equal(r.signal, 0);
    assert_int_equal(r.metrics, 0);
    server_expect(&s, 7, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 5);
    assert_int_equal(r.pid, slow_pid);
    assert_int_equal(r.metrics, 1);
    free(metrics);
    struct shim_exit ex;
    wait_exit(s.dir[0], &ex);
    assert_int_equal(ex.exit, 5);
    wait_exit(s.dir[1], &ex);
    assert_int_equal(ex.exit, 3);
    server_stop(&s);
}

/* Two steps that each leave a background sleep: one obeys SIGTERM at its timeout, the other
 * ignores it and is killed after the request's grace period, not the default 10 s. */
static void test_serve_timeout(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    struct spawn_req reqs[2] = {
        {.dir = s.dir[0], .shell = "sleep 30 & sleep 30", .timeout_ms = 300},
        {.dir = s.dir[1], .shell = "trap '' TERM; sleep 30 & sleep 30", .timeout_ms = 300,
         .grace_ms = 300},
    };
    /* One write, so that neither can time out before the other has started. */
    struct strbuf sb = STRBUF_INIT;
    shim_encode_run(&sb, 1, &reqs[0]);
    shim_encode_run(&sb, 2, &reqs[1]);
    int64_t t0 = mono_ms();
    server_send(&s, sb.buf, sb.len);
    strbuf_release(&sb);
    pid_t pgid[2];
    struct shim_report r;
    for (int i = 0; i < 2; i++) {
        server_expect(&s, i + 1, SHIM_STARTED, &r);
        pgid[i] = r.pid;
    }
    for (int n = 0; n < 2; n++) {
        server_read(&s, &r);
        assert_int_equal(r.type, SHIM_EXITED);
        assert_true(r.id == 1 || r.id == 2);
        int i = (int)r.id - 1;
        int64_t elapsed = mono_ms() - t0;
        assert_true(elapsed >= (i ? 590 : 290));
        assert_true(elapsed < 10000);
        assert_true(r.timed_out);
        assert_false(r.cancelled);
        assert_int_equal(r.exit, 0);
        assert_int_equal(r.signal, i ? SIGKILL : SIGTERM);
        assert_true(group_gone(pgid[i])); /* the background sleep too */
        struct shim_exit ex;
        wait_exit(s.dir[i], &ex);
        assert_true(ex.timed_out);
        assert_int_equal(ex.signal, r.signal);
    }
    server_stop(&s);
}

/* A cancel sends SIGTERM to the step's whole process group: here the shell waits for a child
 * that says goodbye on SIGTERM, which it must get from the shim since the shell sends none. */
static void test_serve_cancel(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    char *ready = xasprintf("%s/step.pid", s.base);
    char *argv[] = {"/bin/sh", "-c",
                    "trap 'wait; exit 0' TERM; (trap 'echo child got TERM; exit' TERM; "
                    "echo $$ > \"$0\"; sleep 30 & wait) & wait",
                    ready, NULL};
    struct spawn_req req = {.dir = s.dir[0], .argv = argv, .grace_ms = 3000};
    server_run(&s, 5, &req);
    struct shim_report r;
    server_expect(&s, 5, SHIM_STARTED, &r);
    pid_t pgid = r.pid;
    assert_int_equal(step_pid(s.base), pgid); /* the child has set its trap */
    free(ready);
    server_cancel(&s, 99); /* no such attempt: ignored */
    server_cancel(&s, 5);
    server_expect(&s, 5, SHIM_EXITED, &r);
    assert_true(r.cancelled);
    assert_false(r.timed_out);
    assert_int_equal(r.exit, 0);
    assert_int_equal(r.signal, 0);
    assert_true(group_gone(pgid));
    struct shim_exit ex;
    wait_exit(s.dir[0], &ex);
    assert_true(ex.cancelled);
    assert_log(s.dir[0], "child got TERM\n");
    /* The shim serves on after a cancel. */
    struct spawn_req next = {.dir = s.dir[1], .shell = "exit 4"};
    server_run(&s, 6, &next);
    server_expect(&s, 6, SHIM_STARTED, &r);
    server_expect(&s, 6, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 4);
    assert_false(r.cancelled);
    server_stop(&s);
}

/* A command that cannot run: EXITED at once (no STARTED, no pid) with the shell's status, and
 * the reason in the log. */
static void test_serve_not_runnable(void **state)
{
    (void)state;
    static const struct {
        char *cmd;
        int exit;
        const char *why;
    } cases[] = {
        /* No PATH search in the shim: the engine resolves names; one it did not find is not
         * found. */
        {"definitely-not-a-command", 127, "No such file or directory"},
        {"/nonexistent/x", 127, "No such file or directory"},
        {"/etc/passwd", 126, "Permission denied"},
    };
    struct server s;
    server_start(&s);
    for (int i = 0; i < 3; i++) {
        char *argv[] = {cases[i].cmd, "x", NULL};
        struct spawn_req req = {.dir = s.dir[i], .argv = argv};
        server_run(&s, i + 1, &req);
        struct shim_report r;
        server_expect(&s, i + 1, SHIM_EXITED, &r);
        assert_int_equal(r.pid, 0);
        assert_int_equal(r.exit, cases[i].exit);
        assert_string_equal(r.msg, ""); /* said in the log */
        struct shim_exit ex;
        wait_exit(s.dir[i], &ex);
        assert_int_equal(ex.exit, cases[i].exit);
        char *want = xasprintf("sluice: cannot run '%s': %s\n", cases[i].cmd, cases[i].why);
        assert_log(s.dir[i], want);
        free(want);
    }
    server_stop(&s);
}

static void test_serve_setup_failures(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    /* A folder that cannot be created (under a regular file): no log, the report says why. */
    write_file(s.base, "file", "");
    char *bad_dir = xasprintf("%s/file/x", s.base);
    struct spawn_req req = {.dir = bad_dir, .shell = "true"};
    server_run(&s, 1, &req);
    struct shim_report r;
    server_expect(&s, 1, SHIM_EXITED, &r);
    assert_int_equal(r.pid, 0);
    assert_int_equal(r.exit, 125);
    char *want = xasprintf("cannot create folder '%s", bad_dir);
    assert_ptr_equal(strstr(r.msg, want), r.msg);
    assert_non_null(strstr(r.msg, "': Not a directory"));
    free(want);
    free(bad_dir);

    /* A workdir that does not exist: 125, and the log names it. */
    char *nowhere = xasprintf("%s/nowhere", s.base);
    char *argv[] = {"/bin/pwd", NULL};
    struct spawn_req bad_wd = {.dir = s.dir[0], .argv = argv, .workdir = nowhere};
    server_run(&s, 2, &bad_wd);
    server_expect(&s, 2, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 125);
    assert_int_equal(r.pid, 0);
    struct shim_exit ex;
    wait_exit(s.dir[0], &ex);
    assert_int_equal(ex.exit, 125);
    want = xasprintf("sluice: cannot change to workdir '%s': No such file or directory\n",
                     nowhere);
    assert_log(s.dir[0], want);
    free(want);
    free(nowhere);

    /* One that exists is the step's working folder. */
    struct spawn_req good_wd = {.dir = s.dir[1], .argv = argv, .workdir = s.base};
    server_run(&s, 3, &good_wd);
    server_expect(&s, 3, SHIM_STARTED, &r);
    server_expect(&s, 3, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 0);
    wait_exit(s.dir[1], &ex);
    want = xasprintf("%s\n", s.base);
    assert_log(s.dir[1], want);
    free(want);

    /* A workdir that is a file: the message says so (not a stale errno). */
    char *file = xasprintf("%s/file", s.base);
    char *wd_dir = xasprintf("%s/wdfile", s.base);
    struct spawn_req file_wd = {.dir = wd_dir, .argv = argv, .workdir = file};
    server_run(&s, 4, &file_wd);
    server_expect(&s, 4, SHIM_EXITED, &r);
    assert_int_equal(r.exit, 125);
    want = xasprintf("sluice: cannot change to workdir '%s': Not a directory\n", file);
    assert_log(wd_dir, want);
    free(want);
    free(wd_dir);
    free(file);
    server_stop(&s);
}

/* Many steps at once under a low fd limit: the shim does not hold two fds per running step,
 * so all of them start, end and get their exit.json (with a limit of 64 fds, 40 steps would
 * need 80 of them otherwise). */
static void test_serve_many_steps_few_fds(void **state)
{
    (void)state;
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 64;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    struct server s;
    server_start(&s); /* the shim inherits the low limit */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    enum { N = 40 };
    char *dirs[N];
    for (int i = 0; i < N; i++) {
        dirs[i] = xasprintf("%s/many/%d", s.base, i);
        struct spawn_req req = {.dir = dirs[i], .shell = "sleep 1; echo done"};
        server_run(&s, 100 + i, &req);
    }
    int started = 0, exited = 0;
    while (exited < N) {
        struct shim_report r;
        server_read(&s, &r);
        assert_true(r.id >= 100 && r.id < 100 + N);
        if (r.type == SHIM_STARTED) {
            started++;
            continue;
        }
        assert_int_equal(r.type, SHIM_EXITED);
        assert_string_equal(r.msg, "");
        assert_int_equal(r.exit, 0);
        exited++;
    }
    assert_int_equal(started, N);
    for (int i = 0; i < N; i++) {
        struct shim_exit ex;
        wait_exit(dirs[i], &ex);
        assert_int_equal(ex.exit, 0);
        assert_log(dirs[i], "done\n");
        free(dirs[i]);
    }
    server_stop(&s);
}

/* The engine dies mid-step: the shim finishes the step, records it, and exits by itself. */
static void test_serve_engine_hangs_up(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    char *argv[] = {"/bin/sh", "-c", "read x < \"$0\"; echo done", s.fifo, NULL};
    struct spawn_req req = {.dir = s.dir[0], .argv = argv};
    server_run(&s, 1, &req);
    struct shim_report r;
    server_expect(&s, 1, SHIM_STARTED, &r);
    close(s.sock);
    s.sock = -1;
    usleep(100000);
    int status;
    assert_int_equal(spawn_reap(s.proc.pid, &status), 0); /* still there, for its step */
    struct shim_exit ex;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_exit(s.dir[0], &ex, &e), 1);
    release_fifo(&s, "\n");
    status = reap_within(s.proc.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* exit.json is in place by the time the shim has exited. */
    assert_int_equal(shim_read_exit(s.dir[0], &ex, &e), 0);
    assert_int_equal(ex.exit, 0);
    assert_false(ex.cancelled);
    assert_log(s.dir[0], "done\n");
    rm_tree(s.base);
}

/* SIGTERM to the shim (the engine stopping, or someone's kill) stops every step it runs. */
static void test_serve_sigterm_stops_all(void **state)
{
    (void)state;
    struct server s;
    server_start(&s);
    pid_t pgid[2];
    struct shim_report r;
    for (int i = 0; i < 2; i++) {
        struct spawn_req req = {.dir = s.dir[i], .shell = "sleep 30 & sleep 30"};
        server_run(&s, i + 1, &req);
        server_expect(&s, i + 1, SHIM_STARTED, &r);
        pgid[i] = r.pid;
    }
    assert_int_equal(kill(s.proc.pid, SIGTERM), 0);
    bool seen[2] = {false, false};
    for (int n = 0; n < 2; n++) {
        server_read(&s, &r);
        assert_int_equal(r.type, SHIM_EXITED);
        assert_true(r.id == 1 || r.id == 2);
        assert_false(seen[r.id - 1]);
        seen[r.id - 1] = true;
        assert_true(r.cancelled);
        assert_int_equal(r.signal, SIGTERM);
        assert_true(group_gone(pgid[r.id - 1]));
    }
    struct shim_exit ex;
    for (int i = 0; i < 2; i++) {
        wait_exit(s.dir[i], &ex);
        assert_true(ex.cancelled);
    }
    server_stop(&s);
}

static void test_serve_environment_and_fds(void **state)
{
    (void)state;
    int leak = open("/dev/null", O_RDONLY); /* inheritable: must reach neither shim nor step */
    assert_true(leak > 2 && leak < 64);
    struct server s;
    server_start(&s);
    close(leak);
    /* The shim has /dev/null as 0-2 only (above 2: its socket, signalfd and such). */
    for (int fd = 3; fd < 64; fd++) {
        char path[64], target[PATH_MAX];
        snprintf(path, sizeof(path), "/proc/%ld/fd/%d", (long)s.proc.pid, fd);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        assert_string_not_equal(target, "/dev/null");
    }
    char *argv[] = {"/usr/bin/env", NULL};
    struct spawn_req reqs[3] = {
        {.dir = s.dir[0], .argv = argv, .envp = step_envp},
        {.dir = s.dir[1], .shell = FD_SCRIPT, .envp = step_envp},
        {.dir = s.dir[2], .argv = sigblk_argv, .envp = step_envp},
    };
    static const char *const want[3] = {ENV_EXPECTED, FD_EXPECTED, SIGBLK_EXPECTED};
    for (int i = 0; i < 3; i++)
        server_run(&s, i + 1, &reqs[i]);
    struct shim_report r;
    for (int n = 0; n < 6; n++) { /* a STARTED and an EXITED each, in whatever order */
        server_read(&s, &r);
        assert_true(r.id >= 1 && r.id <= 3);
        if (r.type == SHIM_EXITED)
            assert_int_equal(r.exit, 0);
    }
    struct shim_exit ex;
    for (int i = 0; i < 3; i++) {
        wait_exit(s.dir[i], &ex);
        assert_log(s.dir[i], want[i]);
    }
    server_stop(&s);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "shim"))
        return shim_main(argc - 1, argv + 1);
    if (shim_bin_find("test_shim_serve") < 0)
        return 1;

    const struct CMUnitTest tests[] = {
        WITH_BIN(test_serve_one_step),
        WITH_BIN(test_serve_step_leaves_nothing_behind),
        WITH_BIN(test_serve_concurrent),
        WITH_BIN(test_serve_timeout),
        WITH_BIN(test_serve_cancel),
        WITH_BIN(test_serve_not_runnable),
        WITH_BIN(test_serve_setup_failures),
        WITH_BIN(test_serve_many_steps_few_fds),
        WITH_BIN(test_serve_engine_hangs_up),
        WITH_BIN(test_serve_sigterm_stops_all),
        WITH_BIN(test_serve_environment_and_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
