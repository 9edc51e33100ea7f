/* Unit tests for executor/spawn.c and the shim it starts: real processes, real signals, both
 * forms of the shim (one step per shim, and one serving shim driven over its socket as the
 * engine drives it). The shim is $SLUICE_BIN (tests/run.sh sets it); run by hand without it,
 * this test binary serves as the shim itself (its main routes "shim" to shim_main). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
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

/* A step's environment is exactly the one asked for, in its order. */
static char *step_envp[] = {"SLUICE_STEP=train", "B=two words", "EMPTY=", "PATH=/usr/bin:/bin",
                            NULL};
#define ENV_EXPECTED "SLUICE_STEP=train\nB=two words\nEMPTY=\nPATH=/usr/bin:/bin\n"

/* The shell lists its fds with builtins only (a listing process or a glob would open fds of its
 * own), then where its stdin comes from, and its ignored standard signals (glibc's posix_spawn
 * leaves its two internal ones, 32 and 33, ignored: not ours). Not its blocked signals: dash
 * unblocks them all, so that takes a process that does not (sigblk_argv). */
#define FD_SCRIPT                                                                                  \
    "n=0; while [ $n -lt 64 ]; do [ -e /proc/$$/fd/$n ] && printf '%s ' $n; n=$((n+1)); done; "    \
    "readlink /proc/$$/fd/0; "                                                                     \
    "while read k v; do case $k in SigIgn:) echo $k $((0x$v & 0x7fffffff));; esac; "               \
    "done < /proc/$$/status"
#define FD_EXPECTED "0 1 2 /dev/null\nSigIgn: 0\n"
static char *sigblk_argv[] = {"/bin/grep", "SigBlk", "/proc/self/status", NULL};
#define SIGBLK_EXPECTED "SigBlk:\t0000000000000000\n"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void temp_dir(char *buf, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/sluice-spawn.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(buf));
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void rm_tree(const char *path)
{
    assert_int_equal(nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
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

static void read_log(const char *dir, struct strbuf *sb)
{
    char *path = xasprintf("%s/log", dir);
    strbuf_reset(sb);
    assert_int_equal(strbuf_read_file(sb, path, 1 << 20), 0);
    free(path);
}

static void assert_log(const char *dir, const char *want)
{
    struct strbuf log = STRBUF_INIT;
    read_log(dir, &log);
    assert_string_equal(log.buf, want);
    strbuf_release(&log);
}

/* The pid a step wrote to DIR/step.pid (`echo $$ > …`), waiting for the whole line. */
static pid_t step_pid(const char *dir)
{
    char *path = xasprintf("%s/step.pid", dir);
    struct strbuf sb = STRBUF_INIT;
    int64_t until = mono_ms() + WAIT_MS;
    for (;;) {
        strbuf_reset(&sb);
        if ((strbuf_read_file(&sb, path, 64) == 0 && sb.len && sb.buf[sb.len - 1] == '\n') ||
            mono_ms() > until)
            break;
        usleep(5000);
    }
    long pid = strtol(sb.buf, NULL, 10);
    strbuf_release(&sb);
    free(path);
    assert_true(pid > 0);
    return (pid_t)pid;
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

/* ---- one step per shim: spawn_shim ---- */

/* One attempt: its folder, its shim, and what it left. */
struct attempt {
    char dir[PATH_MAX];
    struct spawn_proc proc;
    int status;          /* the shim's wait status */
    struct shim_exit ex; /* exit.json */
    struct strbuf log;   /* DIR/log */
    int64_t elapsed_ms;  /* from spawn to the shim's exit */
    int64_t t0;
};

static void attempt_dir(struct attempt *a)
{
    memset(a, 0, sizeof(*a));
    strbuf_init(&a->log);
    temp_dir(a->dir, sizeof(a->dir));
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
    read_log(a->dir, &a->log);
    struct err e = ERR_INIT;
    int rc = shim_read_exit(a->dir, &a->ex, &e);
    if (rc)
        print_error("shim_read_exit: %d %s; log: %s\n", rc, e.msg, a->log.buf);
    assert_int_equal(rc, 0);
}

static void attempt_release(struct attempt *a)
{
    rm_tree(a->dir);
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
    /* The folder holds the log and exit.json, nothing else (no temporary file, no pid file). */
    DIR *d = opendir(a.dir);
    assert_non_null(d);
    int files = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            files += strcmp(de->d_name, "log") && strcmp(de->d_name, "exit.json") ? 100 : 1;
    }
    closedir(d);
    assert_int_equal(files, 2);
    attempt_release(&a);
}

static void test_exit_statuses(void **state)
{
    (void)state;
    static char *kill_self[] = {"sh", "-c", "kill -KILL $$", NULL};
    static char *missing[] = {"sluice-no-such-command", "x", NULL};
    static char *not_exec[] = {"/etc/passwd", NULL};
    static const struct {
        char **argv;
        const char *shell;
        int exit, signal, status; /* exit.json's, and the shim's own exit status */
        const char *log;
    } cases[] = {
        {NULL, "exit 3", 3, 0, 3, ""},
        /* The shim mirrors a signal as a shell would: 128 + the signal. */
        {kill_self, NULL, 0, SIGKILL, 128 + SIGKILL, ""},
        {missing, NULL, 127, 0, 127,
         "sluice: cannot run 'sluice-no-such-command': No such file or directory\n"},
        {not_exec, NULL, 126, 0, 126, "sluice: cannot run '/etc/passwd': Permission denied\n"},
        {sigblk_argv, NULL, 0, 0, 0, SIGBLK_EXPECTED}, /* the shim's blocked signals are not */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct attempt a;
        attempt_dir(&a);
        run(&a, cases[i].argv, cases[i].shell, 0, 0);
        assert_true(WIFEXITED(a.status));
        assert_int_equal(WEXITSTATUS(a.status), cases[i].status);
        assert_int_equal(a.ex.exit, cases[i].exit);
        assert_int_equal(a.ex.signal, cases[i].signal);
        assert_false(a.ex.cancelled || a.ex.timed_out);
        assert_string_equal(a.log.buf, cases[i].log);
        attempt_release(&a);
    }
}

/* Run script (after it wrote its pid, its group's id) with a timeout: the step's whole process
 * group must be gone by the time the shim reports. */
static void run_timed(struct attempt *a, const char *script, unsigned long timeout_ms,
                      unsigned long grace_ms)
{
    char *cmd = xasprintf("echo $$ > '%s/step.pid'; %s", a->dir, script);
    run(a, NULL, cmd, timeout_ms, grace_ms);
    free(cmd);
    assert_true(a->ex.timed_out);
    assert_false(a->ex.cancelled);
    assert_true(group_gone(step_pid(a->dir)));
    assert_true(a->elapsed_ms >= (int64_t)timeout_ms - 10);
}

static void test_timeout_kills_tree(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    run_timed(&a, "sleep 100 & sleep 100; wait", 300, 500); /* the background sleep too */
    assert_int_equal(a.ex.signal, SIGTERM);
    assert_int_equal(WEXITSTATUS(a.status), 128 + SIGTERM);
    assert_true(a.elapsed_ms < 10000);
    attempt_release(&a);
}

/* A step that ignores SIGTERM (and whose children inherit that) gets SIGKILL after the grace. */
static void test_timeout_escalates_to_sigkill(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    run_timed(&a, "trap '' TERM; sleep 100 & sleep 100; wait", 200, 400);
    assert_int_equal(a.ex.signal, SIGKILL);
    assert_true(a.elapsed_ms >= 590);
    assert_true(a.elapsed_ms < 10000);
    attempt_release(&a);
}

/* The step's shell obeys SIGTERM but leaves a child that ignores it: that straggler is killed as
 * soon as the shell has gone, not after the (10 s) grace period. */
static void test_stop_kills_stragglers_at_once(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    run_timed(&a, "sh -c \"trap '' TERM; sleep 100\" & sleep 100; wait", 200, 0);
    assert_int_equal(a.ex.signal, SIGTERM);
    assert_true(a.elapsed_ms < 4000);
    attempt_release(&a);
}

static void test_cancel_forwards_sigterm(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    char *pid_file = xasprintf("%s/step.pid", a.dir);
    char *argv[] = {"sh", "-c", "echo $$ > \"$0\"; exec sleep 100", pid_file, NULL};
    struct spawn_req req = {.argv = argv, .envp = environ};
    attempt_start(&a, &req);
    pid_t child = step_pid(a.dir);
    free(pid_file);
    assert_true(child != a.proc.pid);
    unsigned long long child_start;
    assert_int_equal(proc_start_time(child, &child_start), 0);
    assert_true(proc_alive(child, child_start));
    /* The step is not our child, as a live attempt is not a restarted engine's: a pidfd still
     * tells when it is gone. */
    assert_int_equal(proc_pidfd(child, child_start + 1), -1);
    assert_int_equal(errno, ESRCH);
    int step_fd = proc_pidfd(child, child_start);
    assert_true(step_fd >= 0);
    struct pollfd step_pfd = {.fd = step_fd, .events = POLLIN};
    assert_int_equal(poll(&step_pfd, 1, 0), 0);
    /* A wrong start time is another process: no signal. */
    assert_int_equal(proc_kill_group(a.proc.pid, a.proc.start_time + 1, SIGTERM), -1);
    assert_int_equal(errno, ESRCH);
    assert_true(proc_alive(a.proc.pid, a.proc.start_time));
    assert_int_equal(proc_kill_group(a.proc.pid, a.proc.start_time, SIGTERM), 0);
    attempt_wait(&a);
    assert_true(a.ex.cancelled);
    assert_false(a.ex.timed_out);
    assert_int_equal(a.ex.signal, SIGTERM);
    assert_int_equal(WEXITSTATUS(a.status), 128 + SIGTERM);
    assert_true(a.elapsed_ms < 5000); /* well before the 10 s grace: sleep obeys SIGTERM */
    assert_true(group_gone(child));
    assert_int_equal(poll(&step_pfd, 1, 0), 1);
    close(step_fd);
    assert_false(proc_alive(child, child_start));
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
    assert_true(a.ex.cancelled);
    assert_int_equal(a.ex.signal, SIGTERM);
    attempt_release(&a);
}

static void test_output_appends_to_log(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    write_file(a.dir, "log", "before\n");
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
    char *argv[] = {"env", NULL};
    struct spawn_req req = {.argv = argv, .envp = step_envp};
    attempt_start(&a, &req);
    attempt_wait(&a);
    assert_int_equal(a.ex.exit, 0);
    assert_string_equal(a.log.buf, ENV_EXPECTED);
    attempt_release(&a);
}

/* An fd the engine left inheritable (no O_CLOEXEC) does not reach the step; stdin is /dev/null;
 * no signal is blocked or ignored. */
static void test_no_fd_leaks(void **state)
{
    (void)state;
    struct attempt a;
    attempt_dir(&a);
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak > 2 && leak < 64);
    run(&a, NULL, FD_SCRIPT, 0, 0);
    close(leak);
    assert_string_equal(a.log.buf, FD_EXPECTED);
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
    assert_string_equal(a.log.buf, "/\n");
    attempt_release(&a);

    attempt_dir(&a);
    struct spawn_req bad = {.argv = argv, .envp = environ, .workdir = "/nonexistent-sluice"};
    attempt_start(&a, &bad);
    attempt_wait(&a);
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
    assert_int_equal(proc_kill_group(a.proc.pid, a.proc.start_time, SIGTERM), -1);
    assert_int_equal(errno, ESRCH);
    assert_int_equal(spawn_reap(a.proc.pid, &status), a.proc.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_false(proc_alive(a.proc.pid, a.proc.start_time));
    assert_int_equal(spawn_reap(a.proc.pid, &status), -1);
    assert_int_equal(errno, ECHILD);
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_exit(a.dir, &a.ex, &e), 0);
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
    const char *no_bin = "cannot start the shim '/nonexistent/sluice': No such file or directory";
    assert_int_equal(spawn_shim(&req, &proc, &e), -1);
    assert_string_equal(e.msg, no_bin);

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

    /* The serving form: nothing started, no socket handed out. */
    int sock = -1;
    err_clear(&e);
    assert_int_equal(shim_serve_start("/nonexistent/sluice", &proc, &sock, &e), -1);
    assert_string_equal(e.msg, no_bin);
    assert_int_equal(sock, -1);
    attempt_release(&a);
}

/* Run the shim binary directly, as by hand, its stdout to out (NULL: ours); returns its exit
 * status. */
static int run_shim_direct(char **argv, const char *out)
{
    pid_t pid;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (out)
        posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
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
    char *serve_none[] = {shim_bin, "shim", "--serve", NULL};
    char *serve_bad[] = {shim_bin, "shim", "--serve", "x", NULL};
    char *serve_closed[] = {shim_bin, "shim", "--serve", "999", NULL};
    char **bad[] = {no_dir,     no_dashes, bad_ms,      no_cmd,      two_shell,
                    unknown,    serve_none, serve_bad, serve_closed};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(run_shim_direct(bad[i], NULL), 2);
    struct shim_exit ex;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), 1); /* none of them ran anything */
    /* Run by hand, with no log prepared: it works as well, output to its own stdout; and an
     * inheritable fd it was given does not reach the step. */
    char *ok[] = {shim_bin, "shim", a.dir, "--timeout", "0", "--grace", "0", "--shell", "--",
                  FD_SCRIPT, NULL};
    char *out = xasprintf("%s/log", a.dir);
    int leak = open("/dev/null", O_RDONLY);
    assert_true(leak > 2 && leak < 64);
    assert_int_equal(run_shim_direct(ok, out), 0);
    close(leak);
    free(out);
    assert_log(a.dir, FD_EXPECTED);
    assert_int_equal(shim_read_exit(a.dir, &ex, &e), 0);
    /* A folder that does not exist: 125, and no exit.json. */
    char *missing = xasprintf("%s/missing", a.dir);
    char *no_folder[] = {shim_bin, "shim", missing, "--", "true", NULL};
    assert_int_equal(run_shim_direct(no_folder, NULL), 125);
    assert_int_equal(shim_read_exit(missing, &ex, &e), 1);
    free(missing);
    attempt_release(&a);
}

static void test_read_exit_file(void **state)
{
    (void)state;
    char dir[PATH_MAX];
    temp_dir(dir, sizeof(dir));
    struct shim_exit ex;
    struct err e = ERR_INIT;
    assert_int_equal(shim_read_exit(dir, &ex, &e), 1);
    write_file(dir, "exit.json",
               "{\"exit\": 0, \"signal\": 9, \"cpu_s\": 1.5, \"max_rss_kb\": 2048, "
               "\"started_at\": \"2026-11-24T19:00:00.123Z\", "
               "\"ended_at\": \"2026-11-24T19:00:01.456Z\", \"timed_out\": true, "
               "\"cancelled\": false, \"future_field\": 1}\n");
    assert_int_equal(shim_read_exit(dir, &ex, &e), 0);
    assert_int_equal(ex.exit, 0);
    assert_int_equal(ex.signal, 9);
    assert_true(ex.cpu_s == 1.5);
    assert_int_equal(ex.max_rss_kb, 2048);
    assert_string_equal(ex.started_at, "2026-11-24T19:00:00.123Z");
    assert_string_equal(ex.ended_at, "2026-11-24T19:00:01.456Z");
    assert_true(ex.timed_out);
    assert_false(ex.cancelled);
    assert_string_equal(ex.msg, "");

#define REST "\"cpu_s\": 0, \"max_rss_kb\": 0, \"timed_out\": false, \"cancelled\": false"
    static const struct {
        const char *text, *error;
    } bad[] = {
        {"{\"exit\": 0", "cannot parse"},
        {"{\"exit\": \"0\", \"signal\": 0}", "malformed"},
        {"{\"exit\": 256, \"signal\": 0, \"started_at\": \"a\", \"ended_at\": \"b\", " REST "}",
         "value out of range"},
        {"{\"exit\": 0, \"signal\": 0, \"started_at\": \"2026-11-24T19:00:00.123Z and more\", "
         "\"ended_at\": \"b\", " REST "}",
         "time too long"},
    };
#undef REST
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        write_file(dir, "exit.json", bad[i].text);
        err_clear(&e);
        assert_int_equal(shim_read_exit(dir, &ex, &e), -1);
        assert_non_null(strstr(e.msg, bad[i].error));
        assert_non_null(strstr(e.msg, dir));
    }
    /* Larger than anything the shim writes: refused unparsed. */
    char big[5000];
    memset(big, ' ', sizeof(big) - 1);
    big[0] = '{';
    strcpy(big + sizeof(big) - 2, "}");
    write_file(dir, "exit.json", big);
    err_clear(&e);
    assert_int_equal(shim_read_exit(dir, &ex, &e), -1);
    assert_non_null(strstr(e.msg, "is larger than"));
    rm_tree(dir);
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
    assert_int_equal(proc_pidfd(INT_MAX, t), -1);
    assert_int_equal(proc_kill_group(INT_MAX, t, 0), -1);
    assert_int_equal(errno, ESRCH);
}

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

#define WITH_BIN(t) cmocka_unit_test_setup(t, skip_without_bin)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_exit_file),
        cmocka_unit_test(test_proc_self),
        WITH_BIN(test_exit_zero),
        WITH_BIN(test_exit_statuses),
        WITH_BIN(test_timeout_kills_tree),
        WITH_BIN(test_timeout_escalates_to_sigkill),
        WITH_BIN(test_stop_kills_stragglers_at_once),
        WITH_BIN(test_cancel_forwards_sigterm),
        WITH_BIN(test_cancel_right_after_spawn),
        WITH_BIN(test_output_appends_to_log),
        WITH_BIN(test_environment_exact),
        WITH_BIN(test_no_fd_leaks),
        WITH_BIN(test_workdir),
        WITH_BIN(test_pidfd_and_alive),
        WITH_BIN(test_spawn_failure),
        WITH_BIN(test_shim_usage_errors),
        WITH_BIN(test_serve_one_step),
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
#undef WITH_BIN
    return cmocka_run_group_tests(tests, NULL, NULL);
}
