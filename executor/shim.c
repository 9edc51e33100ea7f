/* The step shim (see shim.h): runs attempts in sessions of their own, stops them on timeout or
 * cancel, reports their ends to the engine and writes DIR/exit.json. Signals are never handled
 * asynchronously: SIGTERM, SIGINT and SIGCHLD stay blocked and are read from a signalfd in the
 * one poll() loop, which also sleeps until the next deadline, so there is no handler and no race
 * to reason about. One thread. */
#include "executor/shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h> /* snprintf only: nothing here goes through a FILE */
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/shim_int.h"
#include "executor/spawn.h"
#include "util/fs.h"
#include "util/xalloc.h"

extern char **environ;

static const char usage_text[] =
    "usage: sluice shim --serve FD\n"
    "       sluice shim DIR [--timeout MS] [--grace MS] [--workdir D] [--shell] -- ARG...\n";

void shim_say(int fd, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || fd < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    ssize_t w = write(fd, buf, (size_t)n);
    (void)w;
}

static int usage_error(const char *msg, const char *arg)
{
    if (arg)
        shim_say(STDERR_FILENO, "error: %s '%s'", msg, arg);
    else
        shim_say(STDERR_FILENO, "error: %s", msg);
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

/* ---- setting up ---- */

static void shim_setup(void)
{
    /* First of all, so that a cancel that comes early is kept for the loop rather than killing
     * the shim before it has recorded anything (the engine also spawns the shim with these
     * blocked, which closes the window entirely). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);

    /* Fails with EPERM when the engine already made the shim a session leader: fine. Either
     * way the shim outlives its engine's terminal and process group. */
    setsid();

    /* Every disposition to its default once, here, so that each spawn needs to reset only the
     * two the shim changes: an inherited SIG_IGN for SIGCHLD would make the kernel reap steps
     * behind our back, and a step should start as from a fresh login shell. */
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            sigaction(sig, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);

    /* When run by hand with a standard fd closed, the files opened below would take its place
     * and a step's output would land in them. */
    for (int fd = 0; fd <= 2; fd++)
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            break;

    /* Orphans of steps (a daemonised grandchild, the children of a killed shell) are reparented
     * to the shim rather than to init, so that it can reap them and can wait until a stopped
     * step has really gone. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
}

/* ---- one job ---- */

static void job_free(struct job *j)
{
    if (j->dirfd >= 0)
        close(j->dirfd);
    if (j->logfd > 2)
        close(j->logfd);
    free(j->payload);
    free(j->argv);
    free(j->envp);
    free(j);
}

static void report(struct shim *sh, const struct job *j, int type)
{
    if (sh->sock < 0)
        return;
    struct shim_report r;
    memset(&r, 0, sizeof(r));
    r.id = j->id;
    r.type = type;
    r.pid = j->child;
    if (type == SHIM_STARTED) {
        unsigned long long start = 0;
        proc_start_time(j->child, &start);
        r.pid_start = start;
    } else {
        r.exit = j->exit_code;
        r.signal = j->sig;
        r.timed_out = j->cause == STOP_TIMEOUT;
        r.cancelled = j->cause == STOP_CANCEL;
        r.metrics = j->dirfd >= 0 && faccessat(j->dirfd, "metrics.json", F_OK, 0) == 0;
        r.max_rss_kb = j->ru.ru_maxrss;
        r.cpu_s = shim_cpu_seconds(&j->ru);
        memcpy(r.msg, j->msg, sizeof(r.msg));
    }
    ssize_t w;
    do
        w = write(sh->sock, &r, sizeof(r));
    while (w < 0 && errno == EINTR);
    if (w != (ssize_t)sizeof(r)) {
        /* The engine is gone: go on without it (exit.json keeps the results). */
        close(sh->sock);
        sh->sock = -1;
    }
}

/* The job ended without a step process: say why (in the log when there is one). */
static void job_fail(struct job *j, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void job_fail(struct job *j, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(j->msg, sizeof(j->msg), fmt, ap);
    va_end(ap);
    shim_say(j->logfd, "sluice: %s", j->msg);
    if (j->logfd >= 0)
        j->msg[0] = '\0'; /* said in the log, where the engine reads a failure's last line */
    j->exit_code = code;
    j->ended = true;
    clock_gettime(CLOCK_REALTIME, &j->ended_at);
}

static int exit_code_for_errno(int err)
{
    if (err == ENOENT)
        return EXIT_NOT_FOUND;
    if (err == ENOMEM || err == EAGAIN)
        return EXIT_SHIM_FAILED;
    return EXIT_NOT_EXECUTABLE;
}

/* Served jobs: the attempt's folder, its out/ and its log. */
static int job_open_files(struct job *j)
{
    char *out = xasprintf("%s/out", j->dir);
    struct err e = ERR_INIT;
    if (fs_mkdir_p(out, 0755, &e) < 0) {
        free(out);
        job_fail(j, EXIT_SHIM_FAILED, "%s", e.msg);
        return -1;
    }
    free(out);
    j->dirfd = open(j->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd >= 0)
        j->logfd = openat(j->dirfd, "log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (j->dirfd < 0 || j->logfd < 0) {
        job_fail(j, EXIT_SHIM_FAILED, "cannot open '%s/log': %s", j->dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Start the step. On failure the job has ended, with the reason in its log. */
static void job_spawn(struct shim *sh, struct job *j)
{
    clock_gettime(CLOCK_REALTIME, &j->started);
    if (j->workdir) {
        /* Checked here rather than left to the spawn's chdir so that the message names the
         * folder instead of blaming the command. */
        struct stat st;
        int err = stat(j->workdir, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
        if (err) {
            job_fail(j, EXIT_SHIM_FAILED, "cannot change to workdir '%s': %s", j->workdir,
                     strerror(err));
            return;
        }
    }
    /* A served job's log is the shim's to open; the one-step form's caller set up 0-2. */
    bool own_log = j->logfd > STDERR_FILENO;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (own_log) {
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_adddup2(&fa, j->logfd, 1);
        posix_spawn_file_actions_adddup2(&fa, j->logfd, 2);
    }
    if (j->workdir)
        posix_spawn_file_actions_addchdir_np(&fa, j->workdir);
    /* Nothing but 0-2 reaches the step, whoever ran the shim. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    /* Every signal at its default: the shim ignores HUP and PIPE, and a full set costs glibc's
     * child one sigaction per signal where a partial one costs two (query, then set). */
    sigset_t set;
    sigfillset(&set);
    posix_spawnattr_setsigdefault(&attr, &set);
    sigemptyset(&set);
    posix_spawnattr_setsigmask(&attr, &set);
    /* The child makes itself a session (and group) leader before exec, and glibc's posix_spawn
     * returns only after the exec: there is no window in which the group does not exist. */
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

    char *sh_argv[] = {"sh", "-c", j->argv[0], NULL};
    char **envp = j->envp ? j->envp : environ;
    const char *what = j->shell ? "/bin/sh" : j->argv[0];
    int rc;
    if (j->shell)
        rc = posix_spawn(&j->child, "/bin/sh", &fa, &attr, sh_argv, envp);
    else if (strchr(j->argv[0], '/'))
        rc = posix_spawn(&j->child, j->argv[0], &fa, &attr, j->argv, envp);
    else if (!j->envp) /* the one-step form: environ is the step's, PATH search as execvp */
        rc = posix_spawnp(&j->child, j->argv[0], &fa, &attr, j->argv, envp);
    else
        rc = ENOENT; /* the engine found no such command on the step's PATH */
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        j->child = 0;
        job_fail(j, exit_code_for_errno(rc), "cannot run '%s': %s", what, strerror(rc));
        return;
    }
    if (j->timeout_ms)
        j->stop_at = now_ms() + j->timeout_ms;
    report(sh, j, SHIM_STARTED);
    if (own_log && sh->njobs > sh->fds_kept) {
        /* The step has its own copies: with many steps at once, the shim's two fds per step
         * would run into the fd limit, so they are reopened when the step ends. */
        close(j->logfd);
        close(j->dirfd);
        j->logfd = j->dirfd = -1;
        j->parked = true;
    }
}

static void job_kill(struct job *j)
{
    if (j->killed)
        return;
    j->killed = true;
    kill(-j->child, SIGKILL);
}

static void job_stop(struct job *j, enum stop_cause cause)
{
    if (j->cause != STOP_NONE || j->ended || !j->child)
        return;
    j->cause = cause;
    if (j->reaped) {
        job_kill(j); /* the leader is gone; what is left of its group goes at once */
        return;
    }
    kill(-j->child, SIGTERM);
    /* A stopped process would sit on its SIGTERM until the SIGKILL. */
    kill(-j->child, SIGCONT);
    j->kill_at = now_ms() + j->grace_ms;
}

static struct job *job_by_child(struct shim *sh, pid_t pid)
{
    for (struct job *j = sh->jobs; j; j = j->next)
        if (j->child == pid && !j->reaped)
            return j;
    return NULL;
}

static struct job *job_by_id(struct shim *sh, int64_t id)
{
    for (struct job *j = sh->jobs; j; j = j->next)
        if (j->id == id)
            return j;
    return NULL;
}

/* Reap every child that has exited: steps, and orphans handed to the shim as subreaper. Each
 * zombie is looked at before it is reaped: when it is a step's, what is left of the step's group
 * is killed while the zombie still holds the group's id, so the SIGKILL cannot reach a process
 * that reused that id. A step ends with its own process, as under Slurm or systemd: nothing it
 * started in the background may go on writing its outputs after they are hashed. */
static void reap_exited(struct shim *sh)
{
    for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
            return;
        struct job *j = job_by_child(sh, si.si_pid);
        if (j)
            job_kill(j);
        int status;
        struct rusage ru;
        pid_t p;
        do
            p = wait4(si.si_pid, &status, 0, &ru);
        while (p < 0 && errno == EINTR);
        if (p < 0)
            return;
        if (!j)
            continue;
        j->status = status;
        j->ru = ru;
        j->reaped = true;
        /* The group outlives its leader only while other members exist (killed, not yet gone). */
        j->left_behind = kill(-j->child, 0) == 0;
        clock_gettime(CLOCK_REALTIME, &j->ended_at);
        if (WIFEXITED(status))
            j->exit_code = WEXITSTATUS(status);
        else if (WIFSIGNALED(status))
            j->sig = WTERMSIG(status);
        j->give_up = now_ms() + REAP_WAIT_MS;
    }
}

/* Reopen what a parked job closed; on failure the fds stay -1 (no message, no exit.json). */
static void job_unpark(struct job *j)
{
    if (!j->parked)
        return;
    j->parked = false;
    j->dirfd = open(j->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd >= 0)
        j->logfd = openat(j->dirfd, "log", O_WRONLY | O_APPEND | O_CLOEXEC);
}

/* Whether a reaped job has nothing left to wait for. A step leaves nothing behind: its killed
 * group's members are all the shim's descendants, so they end up as its children (subreaper)
 * and are reaped before the step's end is reported. */
static bool job_settled(struct job *j, int64_t now)
{
    if (j->ended)
        return true;
    if (!j->reaped)
        return false;
    int status;
    pid_t p;
    do
        p = waitpid(-j->child, &status, WNOHANG);
    while (p > 0 || (p < 0 && errno == EINTR));
    if (p == 0 && now < j->give_up)
        return false;
    job_unpark(j);
    if (j->left_behind && j->cause == STOP_NONE)
        shim_say(j->logfd, "sluice: the step ended with processes of its own still running: "
                           "they were killed");
    if (p == 0)
        shim_say(j->logfd, "sluice: processes of the step still exist %d ms after it ended",
                 REAP_WAIT_MS);
    j->ended = true;
    return true;
}

/* Timeouts and escalations due by now; returns the next deadline of the job (0: none). */
static int64_t job_deadlines(struct job *j, int64_t now)
{
    if (j->ended || !j->child)
        return 0;
    if (!j->reaped && j->stop_at && now >= j->stop_at)
        job_stop(j, STOP_TIMEOUT);
    if (j->cause != STOP_NONE && !j->killed && now >= j->kill_at)
        job_kill(j);
    if (j->reaped)
        return j->give_up;
    if (j->cause == STOP_NONE)
        return j->stop_at;
    return j->killed ? 0 : j->kill_at;
}

/* ---- requests ---- */

static const char *next_field(char **cur, char *end)
{
    if (*cur >= end)
        return NULL;
    char *s = *cur;
    char *nul = memchr(s, '\0', (size_t)(end - s));
    if (!nul)
        return NULL;
    *cur = nul + 1;
    return s;
}

static bool parse_count(const char *s, size_t max, size_t *out)
{
    long long v;
    if (!s || parse_ms(s, &v) < 0 || (unsigned long long)v > max)
        return false;
    *out = (size_t)v;
    return true;
}

/* NULL-terminated array of the next n fields. */
static char **take_fields(char **cur, char *end, size_t n)
{
    char **v = xcalloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        const char *f = next_field(cur, end);
        if (!f) {
            free(v);
            return NULL;
        }
        v[i] = (char *)f;
    }
    return v;
}

static struct job *job_new(void)
{
    struct job *j = xcalloc(1, sizeof(*j));
    j->dirfd = -1;
    j->logfd = -1;
    j->grace_ms = GRACE_DEFAULT_MS;
    return j;
}

/* A run request; NULL when it is malformed (the engine is of the same binary: a bug). */
static struct job *parse_run(char *payload, size_t len)
{
    struct job *j = job_new();
    j->payload = payload;
    char *cur = payload, *end = payload + len;
    const char *kind = next_field(&cur, end), *id = next_field(&cur, end);
    const char *timeout = next_field(&cur, end), *grace = next_field(&cur, end);
    const char *shell = next_field(&cur, end);
    j->dir = next_field(&cur, end);
    j->workdir = next_field(&cur, end);
    size_t argc = 0, envc = 0;
    long long idv = 0;
    if (!kind || !id || parse_ms(id, &idv) < 0 || !timeout ||
        parse_ms(timeout, &j->timeout_ms) < 0 || !grace || parse_ms(grace, &j->grace_ms) < 0 ||
        !shell || !j->dir || !*j->dir || !j->workdir ||
        !parse_count(next_field(&cur, end), len, &argc) || !argc ||
        !(j->argv = take_fields(&cur, end, argc)) ||
        !parse_count(next_field(&cur, end), len, &envc) ||
        !(j->envp = take_fields(&cur, end, envc))) {
        job_free(j);
        return NULL;
    }
    j->id = idv;
    j->shell = !strcmp(shell, "1");
    if (!*j->workdir)
        j->workdir = NULL;
    if (!j->grace_ms)
        j->grace_ms = GRACE_DEFAULT_MS;
    return j;
}

static void handle_frame(struct shim *sh, const char *frame, size_t len)
{
    char *payload = xmalloc(len + 1);
    memcpy(payload, frame, len);
    payload[len] = '\0';
    if (!strcmp(payload, "C")) {
        long long id;
        struct job *j = len > 2 && parse_ms(payload + 2, &id) == 0 ? job_by_id(sh, id) : NULL;
        if (j)
            job_stop(j, STOP_CANCEL);
        free(payload);
        return;
    }
    if (strcmp(payload, "R")) {
        free(payload);
        return;
    }
    struct job *j = parse_run(payload, len); /* owns payload, even when it fails */
    if (!j)
        return;
    j->next = sh->jobs;
    sh->jobs = j;
    sh->njobs++;
    if (job_open_files(j) == 0)
        job_spawn(sh, j);
}

/* Read what the engine sent; handle each whole frame. */
static void read_requests(struct shim *sh)
{
    if (sh->in_alloc - sh->in_len < 65536) {
        sh->in_alloc = sh->in_alloc * 2 + 65536;
        sh->in = xrealloc(sh->in, sh->in_alloc);
    }
    ssize_t n = read(sh->sock, sh->in + sh->in_len, sh->in_alloc - sh->in_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        /* The engine hung up: what runs goes on, and its results go to exit.json. */
        close(sh->sock);
        sh->sock = -1;
        return;
    }
    sh->in_len += (size_t)n;
    size_t off = 0;
    while (sh->in_len - off >= 4) {
        uint32_t flen;
        memcpy(&flen, sh->in + off, 4);
        if (flen > SHIM_FRAME_MAX || flen < 2) {
            close(sh->sock); /* not our engine's protocol */
            sh->sock = -1;
            return;
        }
        if (sh->in_len - off - 4 < flen)
            break;
        handle_frame(sh, sh->in + off + 4, flen);
        off += 4 + flen;
    }
    memmove(sh->in, sh->in + off, sh->in_len - off);
    sh->in_len -= off;
}

/* ---- the loop ---- */

static void stop_all(struct shim *sh)
{
    for (struct job *j = sh->jobs; j; j = j->next)
        job_stop(j, STOP_CANCEL);
}

/* Report and record every job that has ended; returns the earliest deadline of the others. */
static int64_t settle_jobs(struct shim *sh, int *failures)
{
    int64_t now = now_ms(), wake = 0;
    struct job **pp = &sh->jobs;
    while (*pp) {
        struct job *j = *pp;
        int64_t d = job_deadlines(j, now);
        if (!job_settled(j, now)) {
            if (d && (!wake || d < wake))
                wake = d;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        sh->njobs--;
        job_unpark(j);
        report(sh, j, SHIM_EXITED);
        /* Without a folder (it could not be created) the report alone says what happened. */
        if (j->dirfd >= 0 && shim_exit_write(j) < 0)
            (*failures)++;
        job_free(j);
    }
    return wake;
}

static void drain_signals(struct shim *sh)
{
    struct signalfd_siginfo si[8];
    ssize_t n;
    while ((n = read(sh->sigfd, si, sizeof(si))) > 0)
        for (size_t i = 0; i < (size_t)n / sizeof(si[0]); i++)
            if (si[i].ssi_signo == SIGTERM || si[i].ssi_signo == SIGINT)
                stop_all(sh);
}

/* Run until the engine has hung up and no job is left. Returns how many exit records could
 * not be written. */
static int shim_loop(struct shim *sh)
{
    int failures = 0;
    for (;;) {
        reap_exited(sh);
        int64_t wake = settle_jobs(sh, &failures);
        if (sh->sock < 0 && !sh->jobs)
            break;
        struct pollfd pf[2] = {{.fd = sh->sigfd, .events = POLLIN},
                               {.fd = sh->sock, .events = POLLIN}};
        int timeout = -1;
        if (wake) {
            int64_t left = wake - now_ms();
            timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        if (poll(pf, sh->sock >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
            break;
        if (pf[0].revents)
            drain_signals(sh);
        if (sh->sock >= 0 && pf[1].revents)
            read_requests(sh);
    }
    return failures;
}

static int shim_init(struct shim *sh)
{
    memset(sh, 0, sizeof(*sh));
    sh->sock = -1;
    /* Two fds per running step are kept while they take at most an eighth of the limit, and
     * 64 steps at most; the exit records on their way to the disk hold three each, briefly. */
    struct rlimit rl;
    sh->fds_kept = 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur / 16 < sh->fds_kept)
        sh->fds_kept = (size_t)(rl.rlim_cur / 16);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sh->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sh->sigfd < 0) {
        shim_say(STDERR_FILENO, "sluice: cannot create a signalfd: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int serve(const char *fdarg)
{
    long long fd;
    if (parse_ms(fdarg, &fd) < 0 || fd < 3 || fd > 1000000 || fcntl((int)fd, F_GETFD) < 0)
        return usage_error("bad socket fd", fdarg);
    struct shim sh;
    if (shim_init(&sh) < 0)
        return EXIT_SHIM_FAILED;
    sh.sock = (int)fd;
    fcntl(sh.sock, F_SETFD, FD_CLOEXEC);
    int failures = shim_loop(&sh);
    free(sh.in);
    close(sh.sigfd);
    return failures ? EXIT_SHIM_FAILED : 0;
}

/* ---- one step ---- */

/* Returns 0, or the exit status for a usage error (after saying why). */
static int parse_args(struct job *j, int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--"))
        return usage_error("missing attempt folder", NULL);
    j->dir = argv[1];
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--shell")) {
            j->shell = true;
            continue;
        }
        bool is_timeout = !strcmp(opt, "--timeout"), is_grace = !strcmp(opt, "--grace");
        if (!is_timeout && !is_grace && strcmp(opt, "--workdir"))
            return usage_error("unknown option", opt);
        if (i + 1 >= argc)
            return usage_error("missing value for", opt);
        const char *val = argv[++i];
        if (is_timeout || is_grace) {
            if (parse_ms(val, is_timeout ? &j->timeout_ms : &j->grace_ms) < 0)
                return usage_error("bad milliseconds", val);
        } else {
            j->workdir = val;
        }
    }
    if (i >= argc)
        return usage_error("missing '--' before the command", NULL);
    j->argv = xcalloc((size_t)(argc - i), sizeof(char *));
    memcpy(j->argv, argv + i + 1, (size_t)(argc - i - 1) * sizeof(char *));
    if (!j->argv[0])
        return usage_error("missing command after '--'", NULL);
    if (j->shell && j->argv[1])
        return usage_error("--shell takes one command, got another argument", j->argv[1]);
    return 0;
}

static int run_one(int argc, char **argv)
{
    struct job *j = job_new();
    int rc = parse_args(j, argc, argv);
    if (rc) {
        job_free(j);
        return rc;
    }
    j->logfd = STDERR_FILENO;
    j->dirfd = open(j->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (j->dirfd < 0) {
        shim_say(STDERR_FILENO, "sluice: cannot open attempt folder '%s': %s", j->dir,
            strerror(errno));
        job_free(j);
        return EXIT_SHIM_FAILED;
    }
    struct shim sh;
    if (shim_init(&sh) < 0) {
        job_free(j);
        return EXIT_SHIM_FAILED;
    }
    sh.jobs = j;
    sh.njobs = 1;
    job_spawn(&sh, j);
    /* settle_jobs frees the job: keep what the exit status needs. */
    int exit_code = 0, sig = 0;
    int failures = 0;
    for (;;) {
        reap_exited(&sh);
        if (sh.jobs && (j->ended || j->reaped)) {
            exit_code = j->exit_code;
            sig = j->sig;
        }
        int64_t wake = settle_jobs(&sh, &failures);
        if (!sh.jobs)
            break;
        struct pollfd pf = {.fd = sh.sigfd, .events = POLLIN};
        int timeout = -1;
        if (wake) {
            int64_t left = wake - now_ms();
            timeout = left < 0 ? 0 : left > 60000 ? 60000 : (int)left;
        }
        if (poll(&pf, 1, timeout) < 0 && errno != EINTR)
            break;
        if (pf.revents)
            drain_signals(&sh);
    }
    close(sh.sigfd);
    if (failures)
        return EXIT_SHIM_FAILED;
    return sig ? 128 + sig : exit_code;
}

int shim_main(int argc, char **argv)
{
    shim_setup();
    for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            ssize_t w = write(STDOUT_FILENO, usage_text, sizeof(usage_text) - 1);
            (void)w;
            return 0;
        }
    }
    if (argc >= 2 && !strcmp(argv[1], "--serve")) {
        if (argc != 3)
            return usage_error("--serve takes one fd", NULL);
        return serve(argv[2]);
    }
    return run_one(argc, argv);
}
