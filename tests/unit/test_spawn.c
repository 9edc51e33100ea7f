/* Tests for executor/spawn.c and the one-step shim it starts (`sluice shim DIR -- CMD`): real
 * processes, exit statuses, timeouts, cancels, the log and exit.json, fds and environment, and
 * the shim's command line. Shared helpers: spawn_helpers.h. */
#include <dirent.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>

#include "executor/shim.h"
#include "executor/spawn.h"
#include "tests/unit/spawn_helpers.h"

extern char **environ;

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

/* Start `sleep 30` in a session of its own with environment envp; returns its pid. */
static pid_t start_sleeper(char **envp)
{
    char *argv[] = {"sleep", "30", NULL};
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, "/bin/sleep", NULL, &at, argv, envp), 0);
    posix_spawnattr_destroy(&at);
    return pid;
}

/* Whether child pid has ended (reaping it), within about two seconds. */
static bool ends_soon(pid_t pid)
{
    for (int i = 0; i < 200; i++) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid)
            return true;
        usleep(10000);
    }
    return false;
}

/* An attempt's leftovers are found by their environment: every NAME=VALUE given, and the
 * workspace by identity, whatever its spelling. Nothing else is touched. */
static void test_proc_kill_env(void **state)
{
    (void)state;
    char dir[] = "/tmp/sluice-killenv.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *same = xasprintf("SLUICE_HOME=%s/.//", dir); /* another spelling of dir */
    char *other_home = xasprintf("SLUICE_HOME=%s/..", dir);
    char *match[] = {"A=1", same, "SLUICE_RUN_ID=7", "SLUICE_STEP=train", "SLUICE_ATTEMPT=2",
                     NULL};
    char *other_attempt[] = {same, "SLUICE_RUN_ID=7", "SLUICE_STEP=train", "SLUICE_ATTEMPT=1",
                             NULL};
    char *other_workspace[] = {other_home, "SLUICE_RUN_ID=7", "SLUICE_STEP=train",
                               "SLUICE_ATTEMPT=2", NULL};
    pid_t hit = start_sleeper(match);
    pid_t miss1 = start_sleeper(other_attempt);
    pid_t miss2 = start_sleeper(other_workspace);
    /* posix_spawn returns once the exec is done: each environment is in place. */
    const char *kv[] = {"SLUICE_RUN_ID=7", "SLUICE_STEP=train", "SLUICE_ATTEMPT=2"};
    assert_int_equal(proc_kill_env(kv, 3, "SLUICE_HOME", dir), 1);
    assert_true(ends_soon(hit));
    assert_int_equal(waitpid(miss1, NULL, WNOHANG), 0);
    assert_int_equal(waitpid(miss2, NULL, WNOHANG), 0);
    /* Nothing matches any more. */
    assert_int_equal(proc_kill_env(kv, 3, "SLUICE_HOME", dir), 0);
    kill(miss1, SIGKILL);
    kill(miss2, SIGKILL);
    assert_true(ends_soon(miss1));
    assert_true(ends_soon(miss2));
    /* A workspace that does not exist cannot be compared. */
    assert_int_equal(proc_kill_env(kv, 3, "SLUICE_HOME", "/nonexistent/sluice"), -1);
    rmdir(dir);
    free(same);
    free(other_home);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "shim"))
        return shim_main(argc - 1, argv + 1);
    if (shim_bin_find("test_spawn") < 0)
        return 1;

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_exit_file),
        cmocka_unit_test(test_proc_self),
        cmocka_unit_test(test_proc_kill_env),
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
