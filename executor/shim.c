/* The step shim (see shim.h): runs one attempt in a process group of its own, stops it on
 * timeout or cancel, and writes DIR/pid and DIR/exit.json. Libc only and no stdio streams: it is
 * exec'd once per step, so each syscall here is paid by every step. Signals are never handled
 * asynchronously: SIGTERM, SIGINT and SIGCHLD stay blocked and are taken with sigtimedwait(),
 * which also sleeps until the next deadline, so there is no handler and no race to reason about. */
#include "executor/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h> /* snprintf only: nothing here goes through a FILE */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/spawn.h"

extern char **environ;

#define GRACE_DEFAULT_MS 10000
/* After SIGKILL, how long to wait for the step's processes to be gone; only a process stuck
 * in the kernel (uninterruptible sleep) outlives SIGKILL for long, and exit.json must not wait
 * for it forever. */
#define REAP_WAIT_MS 5000
#define MS_MAX 1000000000000LL /* 31 years: a larger value is a mistake */

/* Exit statuses of the shell's convention for a command that did not run. */
#define EXIT_SHIM_FAILED 125
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

static const char usage_text[] =
    "usage: sluice shim DIR [--timeout MS] [--grace MS] [--workdir D] [--shell] -- ARG...\n";

enum stop_cause { STOP_NONE, STOP_TIMEOUT, STOP_CANCEL };

struct shim {
    const char *dir;       /* the attempt's folder, as given */
    int dirfd;             /* that folder, opened: later writes do not depend on the cwd */
    long long timeout_ms;  /* 0: none */
    long long grace_ms;    /* SIGTERM to SIGKILL */
    const char *workdir;   /* NULL: the shim's own */
    bool shell;            /* argv[0] is a /bin/sh -c command */
    char **argv;           /* the step's command, NULL-terminated */
    pid_t child;           /* the step's process, leader of its process group; 0 before spawn */
    int status;            /* wait status of the child once reaped */
    bool reaped;           /* status is valid */
    enum stop_cause cause; /* why the step is being stopped, the first cause only */
    bool killed;           /* SIGKILL sent to the group */
    int64_t stop_at;       /* monotonic ms at which the timeout expires; 0: none */
    int64_t kill_at;       /* monotonic ms at which SIGKILL follows SIGTERM */
    struct timespec started, ended; /* wall clock, for exit.json */
};

/* A message to stderr (the attempt's log) with one write(), so it does not interleave. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, (size_t)n);
    (void)w;
}

/* arg: the offending argument, or NULL. */
static int usage_error(const char *msg, const char *arg)
{
    if (arg)
        say("error: %s '%s'", msg, arg);
    else
        say("error: %s", msg);
    ssize_t w = write(STDERR_FILENO, usage_text, sizeof(usage_text) - 1);
    (void)w;
    return 2;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_ms(const char *s, long long *out)
{
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v > MS_MAX)
        return -1;
    *out = v;
    return 0;
}

/* Returns 0, or the exit status for a usage error (after saying why). */
static int parse_args(struct shim *s, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--"))
        return usage_error("missing attempt folder", NULL);
    s->dir = argv[1];
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--shell")) {
            s->shell = true;
            continue;
        }
        bool is_timeout = !strcmp(opt, "--timeout"), is_grace = !strcmp(opt, "--grace");
        if (!is_timeout && !is_grace && strcmp(opt, "--workdir"))
            return usage_error("unknown option", opt);
        if (i + 1 >= argc)
            return usage_error("missing value for", opt);
        const char *val = argv[++i];
        if (is_timeout || is_grace) {
            if (parse_ms(val, is_timeout ? &s->timeout_ms : &s->grace_ms) < 0)
                return usage_error("bad milliseconds", val);
        } else {
            s->workdir = val;
        }
    }
    if (i >= argc)
        return usage_error("missing '--' before the command", NULL);
    s->argv = argv + i + 1;
    if (!s->argv[0])
        return usage_error("missing command after '--'", NULL);
    if (s->shell && s->argv[1])
        return usage_error("--shell takes one command, got another argument", s->argv[1]);
    return 0;
}

/* Process setup that does not depend on the arguments. */
static void shim_setup(void)
{
    /* First of all, so that a cancel that comes early is kept for the loop rather than
     * killing the shim before it has recorded anything (the engine also spawns the shim with
     * these blocked, which closes the window entirely). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);

    /* Fails with EPERM when the engine already made the shim a session leader: fine. Either
     * way the shim outlives its engine's terminal and process group. */
    setsid();

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
    /* An inherited SIG_IGN for SIGCHLD would make the kernel reap the step behind our back,
     * and its status and rusage would be lost. */
    sa.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &sa, NULL);

    /* When run by hand with a standard fd closed, the files opened below would take its place
     * and the step's output would land in them. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            break;
    /* Nothing but 0-2 reaches the step, whoever ran the shim. ENOSYS before Linux 5.11. */
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);

    /* Orphans of the step (a daemonised grandchild, the children of a killed shell) are
     * reparented to the shim rather than to init, so that the shim can reap them and can wait
     * until a stopped step has really gone. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

static int exit_code_for_errno(int err)
{
    if (err == ENOENT)
        return EXIT_NOT_FOUND;
    if (err == ENOMEM || err == EAGAIN)
        return EXIT_SHIM_FAILED;
    return EXIT_NOT_EXECUTABLE;
}

/* Start the step. Returns 0, or an exit status for a step that could not start. */
static int shim_spawn(struct shim *s)
{
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t set;
    /* Every disposition back to default (the shim ignores SIGHUP and SIGPIPE; its caller may
     * have ignored more) and an empty mask: the step starts as from a fresh login shell. */
    sigfillset(&set);
    posix_spawnattr_setsigdefault(&attr, &set);
    sigemptyset(&set);
    posix_spawnattr_setsigmask(&attr, &set);
    /* The child makes itself a group leader before exec, and glibc's posix_spawn returns only
     * after the exec: there is no window in which the group does not exist yet, so the parent
     * needs no setpgid() of its own (it would fail with EACCES after the exec anyway). */
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSIGMASK);

    char *sh_argv[] = {"sh", "-c", s->argv[0], NULL};
    const char *what = s->shell ? "/bin/sh" : s->argv[0];
    clock_gettime(CLOCK_REALTIME, &s->started);
    int rc = s->shell ? posix_spawn(&s->child, "/bin/sh", NULL, &attr, sh_argv, environ)
                      : posix_spawnp(&s->child, s->argv[0], NULL, &attr, s->argv, environ);
    posix_spawnattr_destroy(&attr);
    if (rc) {
        s->child = 0;
        clock_gettime(CLOCK_REALTIME, &s->ended);
        say("sluice: cannot run '%s': %s", what, strerror(rc));
        return exit_code_for_errno(rc);
    }
    if (s->timeout_ms)
        s->stop_at = now_ms() + s->timeout_ms;
    return 0;
}

/* "SHIMPID STARTTIME CHILDPID\n" with one write(): a reader that sees no newline yet knows the
 * file is not complete. A failure is said in the log but does not stop the step: the engine
 * also has the shim's pid from spawning it. */
static void write_pid_file(struct shim *s)
{
    pid_t self = getpid();
    unsigned long long start = 0;
    if (proc_start_time(self, &start) < 0) {
        say("sluice: cannot read the shim's start time: %s", strerror(errno));
        return;
    }
    char buf[96];
    int n = snprintf(buf, sizeof(buf), "%ld %llu %ld\n", (long)self, start, (long)s->child);
    int fd = openat(s->dirfd, "pid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, buf, (size_t)n) != n)
        say("sluice: cannot write '%s/pid': %s", s->dir, strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void stop_kill(struct shim *s)
{
    if (s->killed)
        return;
    s->killed = true;
    kill(-s->child, SIGKILL);
}

static void stop_begin(struct shim *s, enum stop_cause cause)
{
    if (s->cause != STOP_NONE)
        return;
    s->cause = cause;
    kill(-s->child, SIGTERM);
    /* A stopped process would sit on its SIGTERM until the SIGKILL. */
    kill(-s->child, SIGCONT);
    s->kill_at = now_ms() + s->grace_ms;
}

static pid_t waitpid_noeintr(pid_t pid, int *status, int flags)
{
    pid_t p;
    do
        p = waitpid(pid, status, flags);
    while (p < 0 && errno == EINTR);
    return p;
}

/* Reap every child that has exited: the step, and orphans handed to the shim as subreaper.
 * Each zombie is looked at before it is reaped: when it is the step's and the step is being
 * stopped, its group is killed while the zombie still holds the group's id, so the SIGKILL
 * cannot reach a process that reused that id. */
static void reap_exited(struct shim *s)
{
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        int status;
        bool is_step = si.si_pid == s->child && !s->reaped;
        if (is_step && s->cause != STOP_NONE)
            stop_kill(s);
        if (waitpid_noeintr(si.si_pid, &status, 0) < 0)
            return;
        if (is_step) {
            s->status = status;
            s->reaped = true;
            clock_gettime(CLOCK_REALTIME, &s->ended);
        }
    }
}

/* Wait for SIGTERM, SIGINT or SIGCHLD, at most until the monotonic time `until` (0: no limit).
 * Returns the signal, or 0 on timeout. */
static int wait_signal(int64_t until)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    struct timespec ts, *tsp = NULL;
    if (until) {
        int64_t left = until - now_ms();
        if (left <= 0)
            return 0;
        ts.tv_sec = left / 1000;
        ts.tv_nsec = (long)(left % 1000) * 1000000;
        tsp = &ts;
    }
    int sig = sigtimedwait(&set, NULL, tsp);
    return sig < 0 ? 0 : sig;
}

/* Run until the step has exited; stop it on timeout or on SIGTERM/SIGINT. */
static void supervise(struct shim *s)
{
    for (;;) {
        reap_exited(s);
        if (s->reaped)
            break;
        int64_t now = now_ms();
        if (s->stop_at && now >= s->stop_at)
            stop_begin(s, STOP_TIMEOUT);
        if (s->cause != STOP_NONE && now >= s->kill_at)
            stop_kill(s);
        int64_t until = 0;
        if (s->cause == STOP_NONE)
            until = s->stop_at;
        else if (!s->killed)
            until = s->kill_at;
        int sig = wait_signal(until);
        if (sig == SIGTERM || sig == SIGINT)
            stop_begin(s, STOP_CANCEL);
    }
    if (s->cause == STOP_NONE)
        return;
    /* A stopped step leaves nothing behind: the killed group's members are all the shim's
     * descendants, so they end up as its children (subreaper) and are reaped here. */
    int64_t give_up = now_ms() + REAP_WAIT_MS;
    for (;;) {
        int status;
        pid_t p = waitpid_noeintr(-s->child, &status, WNOHANG);
        if (p > 0)
            continue;
        if (p < 0) /* ECHILD: none left */
            break;
        if (!wait_signal(give_up) && now_ms() >= give_up) {
            say("sluice: processes of the stopped step still exist after %d ms",
                REAP_WAIT_MS);
            break;
        }
    }
}

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* UTC "YYYY-MM-DDTHH:MM:SS.mmmZ" by hand: gmtime_r() would initialise the time zone first,
 * which reads /etc/localtime and sets up malloc, a dozen syscalls for nothing. */
static void format_time(char *buf, size_t size, const struct timespec *ts)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t secs = ts->tv_sec < 0 ? 0 : ts->tv_sec;
    int64_t days = secs / 86400, rest = secs % 86400;
    int year = 1970, month = 0;
    for (; days >= (is_leap(year) ? 366 : 365); year++)
        days -= is_leap(year) ? 366 : 365;
    for (; month < 11; month++) {
        int in_month = month_days[month] + (month == 1 && is_leap(year));
        if (days < in_month)
            break;
        days -= in_month;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month + 1, (int)days + 1,
             (int)(rest / 3600), (int)(rest / 60 % 60), (int)(rest % 60),
             (int)(ts->tv_nsec / 1000000));
}

/* Write exit.json atomically: a reader sees no file or the whole file, even across a crash. */
static int write_exit_file(struct shim *s, int exit_code, int sig)
{
    struct rusage ru;
    memset(&ru, 0, sizeof(ru));
    /* All the step's processes that were waited for, by the step or by the shim as subreaper:
     * the shim has no other children. (A step that never started has no usage: the child of a
     * failed spawn was only the shim's vfork.) */
    if (s->child)
        getrusage(RUSAGE_CHILDREN, &ru);
    double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
    char started[96], ended[96]; /* room for any int the compiler cannot rule out */
    format_time(started, sizeof(started), &s->started);
    format_time(ended, sizeof(ended), &s->ended);
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "{\"exit\": %d, \"signal\": %d, \"cpu_s\": %.6f, \"max_rss_kb\": %ld, "
                     "\"started_at\": \"%s\", \"ended_at\": \"%s\", \"timed_out\": %s, "
                     "\"cancelled\": %s}\n",
                     exit_code, sig, cpu, ru.ru_maxrss, started, ended,
                     s->cause == STOP_TIMEOUT ? "true" : "false",
                     s->cause == STOP_CANCEL ? "true" : "false");
    int fd = openat(s->dirfd, ".exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        goto fail;
    if (write(fd, buf, (size_t)n) != n || fsync(fd) < 0) {
        int err = errno ? errno : EIO;
        close(fd);
        errno = err;
        goto fail;
    }
    if (close(fd) < 0 || renameat(s->dirfd, ".exit.json.tmp", s->dirfd, "exit.json") < 0)
        goto fail;
    /* No fsync of the folder: the rename reaches the disk with the next journal commit, within
     * seconds, and only a power loss in that window could lose it (then the attempt reads as
     * lost and is retried). It would cost a second journal flush per step. */
    return 0;
fail:
    say("sluice: cannot write '%s/exit.json': %s", s->dir, strerror(errno));
    return -1;
}

int shim_main(int argc, char **argv)
{
    shim_setup();
    struct shim s;
    memset(&s, 0, sizeof(s));
    s.grace_ms = GRACE_DEFAULT_MS;
    s.dirfd = -1;
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            ssize_t w = write(STDOUT_FILENO, usage_text, sizeof(usage_text) - 1);
            (void)w;
            return 0;
        }
    }
    int rc = parse_args(&s, argc, argv);
    if (rc)
        return rc;
    s.dirfd = open(s.dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (s.dirfd < 0) {
        say("sluice: cannot open attempt folder '%s': %s", s.dir, strerror(errno));
        return EXIT_SHIM_FAILED;
    }

    int exit_code = 0, sig = 0;
    if (s.workdir && chdir(s.workdir) < 0) {
        /* Done here rather than as a spawn file action so that the message names the folder
         * instead of blaming the command. */
        say("sluice: cannot change to workdir '%s': %s", s.workdir, strerror(errno));
        exit_code = EXIT_SHIM_FAILED;
        clock_gettime(CLOCK_REALTIME, &s.started);
        s.ended = s.started;
    } else if ((exit_code = shim_spawn(&s)) == 0) {
        write_pid_file(&s);
        supervise(&s);
        if (WIFEXITED(s.status))
            exit_code = WEXITSTATUS(s.status);
        else if (WIFSIGNALED(s.status))
            sig = WTERMSIG(s.status);
    }
    rc = write_exit_file(&s, exit_code, sig);
    close(s.dirfd);
    if (rc < 0)
        return EXIT_SHIM_FAILED;
    return sig ? 128 + sig : exit_code;
}
