/* Unit tests for executor/spawn.c and the shim it starts: real processes, real signals.
 * The shim is $SLUICE_BIN (tests/run.sh sets it); run by hand without it, this test binary
 * serves as the shim itself (its main routes "shim" to shim_main, as cli/main.c does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/shim.h"
#include "executor/spawn.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

extern char **environ;

#define WAIT_MS 20000 /* generous: the sanitizer build on a busy 2-core machine is slow */

static char shim_bin[PATH_MAX];

/* One attempt: its folder, its shim, and what it left. */
struct attempt {
    char dir[PATH_MAX];
    struct spawn_proc proc;
    int status;             /* the shim's wait status */
    struct shim_exit ex;    /* exit.json */
    struct strbuf log;      /* DIR/log */
    int64_t elapsed_ms;     /* from spawn to the shim's exit */
    int64_t t0;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void attempt_dir(struct attempt *a)
{
    memset(a, 0, sizeof(*a));
    strbuf_init(&a->log);
    const char *tmp = getenv("TMPDIR");
    snprintf(a->dir, sizeof(a->dir), "%s/sluice-spawn.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(a->dir));
    a->proc.pidfd = -1;
}

static void attempt_start(struct attempt *a, struct spawn_req *req)
{
    struct err e = ERR_INIT;
    req->sluice_bin = shim_bin;
    req->dir = a->dir;
    a->t0 = mono_ms();
    int rc = spawn_shim(req, &a->proc, &e);
    if (rc < 0)
        print_error("spawn_shim: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_true(a->proc.pid > 0);
    assert_true(a->proc.pidfd >= 0);
}

/* Wait until the shim has exited (its pidfd is readable), reap it, read what it left. */
static void attempt_wait(struct attempt *a)
{
    struct pollfd pfd = {.fd = a->proc.pidfd, .events = POLLIN};
    int n;
    do
        n = poll(&pfd, 1, WAIT_MS);
    while (n < 0 && errno == EINTR);
    assert_int_equal(n, 1);
    a->elapsed_ms = mono_ms() - a->t0;
    assert_int_equal(spawn_reap(a->proc.pid, &a->status), a->proc.pid);
    char *path = xasprintf("%s/log", a->dir);
    assert_int_equal(strbuf_read_file(&a->log, path, 1 << 20), 0);
    free(path);
}

static void attempt_read_exit(struct attempt *a)
{
    struct err e = ERR_INIT;
    int rc = shim_read_exit(a->dir, &a->ex, &e);
    if (rc)
        print_error("shim_read_exit: %d %s; log: %s\n", rc, e.msg, a->log.buf);
    assert_int_equal(rc, 0);
}

static void attempt_release(struct attempt *a)
{
    static const char *const files[] = {"log", "exit.json", ".exit.json.tmp", "pid", "marker"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *path = xasprintf("%s/%s", a->dir, files[i]);
        unlink(path);
        free(path);
    }
    rmdir(a->dir);
    if (a->proc.pidfd >= 0)
        close(a->proc.pidfd);
    strbuf_release(&a->log);
}

/* Run a command (argv, or a shell command when argv is NULL) to its end. */
static void run(struct attempt *a, char *const *argv, const char *shell, unsigned long timeout_ms,
                unsigned long grace_ms)
{
    struct spawn_req req = {.argv = argv, .shell = shell, .envp = environ,
                            .timeout_ms = timeout_ms, .grace_ms = grace_ms};
    attempt_start(a, &req);
    attempt_wait(a);
    attempt_read_exit(a);
}

static bool group_gone(pid_t pgid)
{
    return kill(-pgid, 0) < 0 && errno == ESRCH;
}

/* "2026-11-24T19:00:00.123Z" */
static void assert_iso_ms(const char *t)
{
    assert_int_equal(strlen(t), 24);
    assert_true(t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' && t[16] == ':' &&
                t[19] == '.' && t[23] == 'Z');
}

static int skip_without_bin(void **state)
{
    (void)state;
    if (!shim_bin[0]) {
        print_message("no shim binary: set SLUICE_BIN to a built sluice\n");
        skip();
    }
    return 0;
}

static void test_exit_zero(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"true", NULL};
    run(&a, argv, NULL, 0, 0);
    assert_true(WIFEXITED(a.status));
    assert_int_equal(WEXITSTATUS(a.status), 0);
    assert_int_equal(a.ex.exit, 0);
    assert_int_equal(a.ex.signal, 0);
    assert_false(a.ex.timed_out);
    assert_false(a.ex.cancelled);
    assert_true(a.ex.cpu_s >= 0 && a.ex.cpu_s < 5);
    assert_true(a.ex.max_rss_kb > 0);
    assert_iso_ms(a.ex.started_at);
    assert_iso_ms(a.ex.ended_at);
    assert_true(strcmp(a.ex.started_at, a.ex.ended_at) <= 0);
    /* The shim formats UTC by hand: it must agree with the C library's calendar. */
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    assert_non_null(strptime(a.ex.started_at, "%Y-%m-%dT%H:%M:%S", &tm));
    time_t started = timegm(&tm);
    assert_true(llabs((long long)(started - time(NULL))) < 60);
    assert_string_equal(a.log.buf, "");

    /* The pid file names the shim (with the start time the engine saw) and the step. */
    struct shim_pid p;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 0);
    assert_int_equal(p.shim, a.proc.pid);
    assert_true(p.start_time == a.proc.start_time);
    assert_true(p.child > 0 && p.child != p.shim);
    attempt_release(&a);
}

static void test_exit_three(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    run(&a, NULL, "exit 3", 0, 0);
    assert_int_equal(WEXITSTATUS(a.status), 3);
    assert_int_equal(a.ex.exit, 3);
    assert_int_equal(a.ex.signal, 0);
    attempt_release(&a);
}

static void test_killed_by_signal(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"sh", "-c", "kill -KILL $$", NULL};
    run(&a, argv, NULL, 0, 0);
    assert_int_equal(a.ex.exit, 0);
    assert_int_equal(a.ex.signal, SIGKILL);
    assert_false(a.ex.cancelled);
    assert_false(a.ex.timed_out);
    /* The shim mirrors it as a shell would: 128 + the signal. */
    assert_true(WIFEXITED(a.status));
    assert_int_equal(WEXITSTATUS(a.status), 128 + SIGKILL);
    attempt_release(&a);
}

static void test_command_not_found(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"sluice-no-such-command", "x", NULL};
    run(&a, argv, NULL, 0, 0);
    assert_int_equal(WEXITSTATUS(a.status), 127);
    assert_int_equal(a.ex.exit, 127);
    assert_int_equal(a.ex.signal, 0);
    assert_string_equal(a.log.buf,
                        "sluice: cannot run 'sluice-no-such-command': No such file or directory\n");
    /* No step process ever existed, so there is no pid file. */
    struct shim_pid p;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 1);
    attempt_release(&a);
}

static void test_not_executable(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *path = xasprintf("%s/marker", a.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    char *argv[] = {path, NULL};
    run(&a, argv, NULL, 0, 0);
    assert_int_equal(a.ex.exit, 126);
    assert_non_null(strstr(a.log.buf, "Permission denied"));
    free(path);
    attempt_release(&a);
}

static void test_timeout_kills_tree(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    run(&a, NULL, "sleep 100 & sleep 100; wait", 300, 500);
    assert_true(a.ex.timed_out);
    assert_false(a.ex.cancelled);
    assert_int_equal(a.ex.signal, SIGTERM);
    assert_int_equal(WEXITSTATUS(a.status), 128 + SIGTERM);
    assert_true(a.elapsed_ms >= 290);
    assert_true(a.elapsed_ms < 10000);
    struct shim_pid p;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 0);
    /* The background sleep too: nothing of the step's process group is left. */
    assert_true(group_gone(p.child));
    attempt_release(&a);
}

/* A step that ignores SIGTERM (and whose children inherit that) gets SIGKILL after the grace. */
static void test_timeout_escalates_to_sigkill(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    run(&a, NULL, "trap '' TERM; sleep 100 & sleep 100; wait", 200, 400);
    assert_true(a.ex.timed_out);
    assert_int_equal(a.ex.signal, SIGKILL);
    assert_true(a.elapsed_ms >= 590);
    assert_true(a.elapsed_ms < 10000);
    struct shim_pid p;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 0);
    assert_true(group_gone(p.child));
    attempt_release(&a);
}

/* The step's shell obeys SIGTERM but leaves a child that ignores it: that straggler is killed as
 * soon as the shell has gone, not after the (10 s) grace period. */
static void test_stop_kills_stragglers_at_once(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    run(&a, NULL, "sh -c \"trap '' TERM; sleep 100\" & sleep 100; wait", 200, 0);
    assert_true(a.ex.timed_out);
    assert_int_equal(a.ex.signal, SIGTERM);
    assert_true(a.elapsed_ms < 4000);
    struct shim_pid p;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 0);
    assert_true(group_gone(p.child));
    attempt_release(&a);
}

/* Wait for the shim's pid file: the step's process exists once it is there. */
static void wait_pid_file(struct attempt *a, struct shim_pid *p)
{
    struct err e = ERR_INIT;
    int64_t until = mono_ms() + WAIT_MS;
    int rc;
    while ((rc = shim_read_pid(a->dir, p, &e)) == 1 && mono_ms() < until)
        usleep(5000);
    assert_int_equal(rc, 0);
}

static void test_cancel_forwards_sigterm(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"sleep", "100", NULL};
    struct spawn_req req = {.argv = argv, .envp = environ};
    attempt_start(&a, &req);
    struct shim_pid p;
    wait_pid_file(&a, &p);
    unsigned long long child_start;
    assert_int_equal(proc_start_time(p.child, &child_start), 0);
    assert_true(proc_alive(p.child, child_start));
    /* The step is not our child, as a live attempt is not a restarted engine's: a pidfd still
     * tells when it is gone. */
    assert_int_equal(proc_pidfd(p.child, child_start + 1), -1);
    assert_int_equal(errno, ESRCH);
    int step_fd = proc_pidfd(p.child, child_start);
    assert_true(step_fd >= 0);
    struct pollfd step_pfd = {.fd = step_fd, .events = POLLIN};
    assert_int_equal(poll(&step_pfd, 1, 0), 0);
    /* A wrong start time is another process: no signal. */
    assert_int_equal(proc_signal_group(a.proc.pid, a.proc.start_time + 1, SIGTERM), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(proc_alive(a.proc.pid, a.proc.start_time));
    assert_int_equal(proc_signal_group(a.proc.pid, a.proc.start_time, SIGTERM), 0);
    attempt_wait(&a);
    attempt_read_exit(&a);
    assert_true(a.ex.cancelled);
    assert_false(a.ex.timed_out);
    assert_int_equal(a.ex.signal, SIGTERM);
    assert_int_equal(WEXITSTATUS(a.status), 128 + SIGTERM);
    assert_true(a.elapsed_ms < 5000); /* well before the 10 s grace: sleep obeys SIGTERM */
    assert_true(group_gone(p.child));
    assert_int_equal(poll(&step_pfd, 1, 0), 1);
    close(step_fd);
    assert_false(proc_alive(p.child, child_start));
    attempt_release(&a);
}

/* A cancel that arrives at once, before the shim could have set anything up, still counts. */
static void test_cancel_right_after_spawn(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"sleep", "100", NULL};
    struct spawn_req req = {.argv = argv, .envp = environ};
    attempt_start(&a, &req);
    assert_int_equal(kill(a.proc.pid, SIGTERM), 0);
    attempt_wait(&a);
    attempt_read_exit(&a);
    assert_true(a.ex.cancelled);
    assert_int_equal(a.ex.signal, SIGTERM);
    attempt_release(&a);
}

static void test_output_appends_to_log(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *path = xasprintf("%s/log", a.dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "before\n", 7), 7);
    close(fd);
    free(path);
    run(&a, NULL, "echo out; echo err >&2; echo out2", 0, 0);
    assert_int_equal(a.ex.exit, 0);
    assert_string_equal(a.log.buf, "before\nout\nerr\nout2\n");
    attempt_release(&a);
}

static void test_environment_exact(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *envp[] = {"SLUICE_STEP=train", "B=two words", "EMPTY=", "PATH=/usr/bin:/bin", NULL};
    char *argv[] = {"env", NULL};
    struct spawn_req req = {.argv = argv, .envp = envp};
    attempt_start(&a, &req);
    attempt_wait(&a);
    attempt_read_exit(&a);
    assert_int_equal(a.ex.exit, 0);
    assert_string_equal(a.log.buf, "SLUICE_STEP=train\nB=two words\nEMPTY=\nPATH=/usr/bin:/bin\n");
    attempt_release(&a);
}

static void test_stdin_is_dev_null(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"readlink", "/proc/self/fd/0", NULL};
    run(&a, argv, NULL, 0, 0);
    assert_string_equal(a.log.buf, "/dev/null\n");
    attempt_release(&a);
}

/* An fd the engine left inheritable (no O_CLOEXEC) does not reach the step. */
static void test_no_fd_leaks(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak > 2 && leak < 64);
    /* The shell lists its fds above 2 with builtins only (a listing process or a glob would
     * open fds of its own). */
    run(&a, NULL,
        "n=0; while [ $n -lt 64 ]; do [ -e /proc/$$/fd/$n ] && printf '%s ' $n; n=$((n+1)); done",
        0, 0);
    close(leak);
    /* The shell sees exactly stdin, stdout and stderr. */
    assert_string_equal(a.log.buf, "0 1 2 ");
    /* The engine's pidfd does not leak into steps either. */
    int flags = fcntl(a.proc.pidfd, F_GETFD);
    assert_true(flags >= 0 && (flags & FD_CLOEXEC));
    attempt_release(&a);
}

static void test_workdir(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"pwd", NULL};
    struct spawn_req req = {.argv = argv, .envp = environ, .workdir = "/"};
    attempt_start(&a, &req);
    attempt_wait(&a);
    attempt_read_exit(&a);
    assert_string_equal(a.log.buf, "/\n");
    attempt_release(&a);

    attempt_dir(&a);
    struct spawn_req bad = {.argv = argv, .envp = environ, .workdir = "/nonexistent-sluice"};
    attempt_start(&a, &bad);
    attempt_wait(&a);
    attempt_read_exit(&a);
    assert_int_equal(a.ex.exit, 125);
    assert_string_equal(
        a.log.buf,
        "sluice: cannot change to workdir '/nonexistent-sluice': No such file or directory\n");
    attempt_release(&a);
}

static void test_pidfd_and_alive(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"sleep", "0.3", NULL};
    struct spawn_req req = {.argv = argv, .envp = environ};
    attempt_start(&a, &req);
    struct pollfd pfd = {.fd = a.proc.pidfd, .events = POLLIN};
    assert_int_equal(poll(&pfd, 1, 0), 0); /* not readable while the shim runs */
    int status;
    assert_int_equal(spawn_reap(a.proc.pid, &status), 0);
    assert_true(proc_alive(a.proc.pid, a.proc.start_time));
    assert_false(proc_alive(a.proc.pid, a.proc.start_time + 1));
    unsigned long long t;
    assert_int_equal(proc_start_time(a.proc.pid, &t), 0);
    assert_true(t == a.proc.start_time);

    int n;
    do
        n = poll(&pfd, 1, WAIT_MS);
    while (n < 0 && errno == EINTR);
    assert_int_equal(n, 1);
    assert_true(pfd.revents & POLLIN);
    /* Exited, not reaped yet: a zombie is not alive, and cannot be signalled. */
    assert_false(proc_alive(a.proc.pid, a.proc.start_time));
    assert_int_equal(proc_signal_group(a.proc.pid, a.proc.start_time, SIGTERM), -1);
    assert_int_equal(errno, ESRCH);
    assert_int_equal(spawn_reap(a.proc.pid, &status), a.proc.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(proc_alive(a.proc.pid, a.proc.start_time));
    assert_int_equal(spawn_reap(a.proc.pid, &status), -1);
    assert_int_equal(errno, ECHILD);
    attempt_read_exit(&a);
    assert_int_equal(a.ex.exit, 0);
    attempt_release(&a);
}

static void test_spawn_failure(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *argv[] = {"true", NULL};
    struct spawn_req req = {.sluice_bin = "/nonexistent/sluice", .dir = a.dir, .argv = argv,
                            .envp = environ};
    struct spawn_proc proc;
    struct err e = ERR_INIT;
    assert_int_equal(spawn_shim(&req, &proc, &e), -1);
    assert_string_equal(e.msg,
                        "cannot start the shim '/nonexistent/sluice': No such file or directory");

    /* An attempt folder that does not exist: the log cannot be opened. */
    char *missing = xasprintf("%s/missing", a.dir);
    req.sluice_bin = shim_bin;
    req.dir = missing;
    err_clear(&e);
    assert_int_equal(spawn_shim(&req, &proc, &e), -1);
    char *want = xasprintf("cannot open '%s/log': No such file or directory", missing);
    assert_string_equal(e.msg, want);
    free(want);
    free(missing);
    attempt_release(&a);
}

/* Run the shim binary directly; returns its exit status. */
static int run_shim_direct(char **argv)
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawn(&pid, shim_bin, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    assert_int_equal(rc, 0);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_shim_usage_errors(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *no_dir[] = {shim_bin, "shim", NULL};
    char *no_dashes[] = {shim_bin, "shim", a.dir, "true", NULL};
    char *bad_ms[] = {shim_bin, "shim", a.dir, "--timeout", "10s", "--", "true", NULL};
    char *no_cmd[] = {shim_bin, "shim", a.dir, "--", NULL};
    char *two_shell[] = {shim_bin, "shim", a.dir, "--shell", "--", "true", "x", NULL};
    char *unknown[] = {shim_bin, "shim", a.dir, "--frobnicate", "--", "true", NULL};
    assert_int_equal(run_shim_direct(no_dir), 2);
    assert_int_equal(run_shim_direct(no_dashes), 2);
    assert_int_equal(run_shim_direct(bad_ms), 2);
    assert_int_equal(run_shim_direct(no_cmd), 2);
    assert_int_equal(run_shim_direct(two_shell), 2);
    assert_int_equal(run_shim_direct(unknown), 2);
    struct shim_exit ex;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), 1); /* none of them ran anything */
    /* Run by hand, with no log prepared: it works as well, output to its own stdout. */
    char *ok[] = {shim_bin, "shim", a.dir, "--timeout", "0", "--grace", "0", "--", "true", NULL};
    assert_int_equal(run_shim_direct(ok), 0);
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), 0);
    attempt_release(&a);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    free(path);
}

static void test_read_files(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    struct shim_exit ex;
    struct shim_pid p;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), 1);
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 1);

    write_file(a.dir, "exit.json",
               "{\"exit\": 0, \"signal\": 9, \"cpu_s\": 1.5, \"max_rss_kb\": 2048, "
               "\"started_at\": \"2026-11-24T19:00:00.123Z\", "
               "\"ended_at\": \"2026-11-24T19:00:01.456Z\", \"timed_out\": true, "
               "\"cancelled\": false, \"future_field\": 1}\n");
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), 0);
    assert_int_equal(ex.exit, 0);
    assert_int_equal(ex.signal, 9);
    assert_true(ex.cpu_s == 1.5);
    assert_int_equal(ex.max_rss_kb, 2048);
    assert_string_equal(ex.started_at, "2026-11-24T19:00:00.123Z");
    assert_string_equal(ex.ended_at, "2026-11-24T19:00:01.456Z");
    assert_true(ex.timed_out);
    assert_false(ex.cancelled);

    write_file(a.dir, "exit.json", "{\"exit\": 0");
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), -1);
    assert_non_null(strstr(e.msg, "cannot parse"));
    err_clear(&e);
    write_file(a.dir, "exit.json", "{\"exit\": \"0\", \"signal\": 0}");
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), -1);
    assert_non_null(strstr(e.msg, "malformed"));

    write_file(a.dir, "pid", "123 456");
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 1); /* not complete yet */
    write_file(a.dir, "pid", "123 456 789\n");
    assert_int_equal(shim_read_pid(a.dir, &p, &e), 0);
    assert_int_equal(p.shim, 123);
    assert_true(p.start_time == 456);
    assert_int_equal(p.child, 789);
    err_clear(&e);
    write_file(a.dir, "pid", "123 x 789\n");
    assert_int_equal(shim_read_pid(a.dir, &p, &e), -1);
    assert_non_null(strstr(e.msg, "malformed"));
    attempt_release(&a);
}

static void test_proc_self(void **state)
{
    (void)state;
    unsigned long long t;
    assert_int_equal(proc_start_time(getpid(), &t), 0);
    assert_true(proc_alive(getpid(), t));
    assert_false(proc_alive(getpid(), t + 1));
    assert_false(proc_alive(0, t));
    assert_false(proc_alive(-1, t));
    /* pid_max is at most 2^22: this pid never exists. */
    assert_int_equal(proc_start_time(INT_MAX, &t), -1);
    assert_int_equal(errno, ENOENT);
    assert_false(proc_alive(INT_MAX, t));
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "shim"))
        return shim_main(argc - 1, argv + 1);

    const char *bin = getenv("SLUICE_BIN");
    if (bin && *bin) {
        if (!realpath(bin, shim_bin)) {
            fprintf(stderr, "test_spawn: SLUICE_BIN '%s': %s\n", bin, strerror(errno));
            return 1;
        }
    } else {
        ssize_t n = readlink("/proc/self/exe", shim_bin, sizeof(shim_bin) - 1);
        if (n > 0) {
            shim_bin[n] = '\0';
            fprintf(stderr, "test_spawn: SLUICE_BIN is not set: this binary runs as the shim\n");
        } else {
            shim_bin[0] = '\0'; /* every test but the parsing ones skips */
        }
    }

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_files),
        cmocka_unit_test(test_proc_self),
        cmocka_unit_test_setup(test_exit_zero, skip_without_bin),
        cmocka_unit_test_setup(test_exit_three, skip_without_bin),
        cmocka_unit_test_setup(test_killed_by_signal, skip_without_bin),
        cmocka_unit_test_setup(test_command_not_found, skip_without_bin),
        cmocka_unit_test_setup(test_not_executable, skip_without_bin),
        cmocka_unit_test_setup(test_timeout_kills_tree, skip_without_bin),
        cmocka_unit_test_setup(test_timeout_escalates_to_sigkill, skip_without_bin),
        cmocka_unit_test_setup(test_stop_kills_stragglers_at_once, skip_without_bin),
        cmocka_unit_test_setup(test_cancel_forwards_sigterm, skip_without_bin),
        cmocka_unit_test_setup(test_cancel_right_after_spawn, skip_without_bin),
        cmocka_unit_test_setup(test_output_appends_to_log, skip_without_bin),
        cmocka_unit_test_setup(test_environment_exact, skip_without_bin),
        cmocka_unit_test_setup(test_stdin_is_dev_null, skip_without_bin),
        cmocka_unit_test_setup(test_no_fd_leaks, skip_without_bin),
        cmocka_unit_test_setup(test_workdir, skip_without_bin),
        cmocka_unit_test_setup(test_pidfd_and_alive, skip_without_bin),
        cmocka_unit_test_setup(test_spawn_failure, skip_without_bin),
        cmocka_unit_test_setup(test_shim_usage_errors, skip_without_bin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
