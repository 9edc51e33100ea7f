/* Start the shim for an attempt with posix_spawn (glibc's is clone(CLONE_VM|CLONE_VFORK): its
 * cost does not grow with the engine's memory, unlike libuv 1.44's fork-based uv_spawn), and
 * read what the shim leaves in the attempt's folder. */
#include "executor/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/shim.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

extern char **environ;

/* exit.json and pid are a few hundred bytes; anything larger was not written by the shim. */
#define SHIM_FILE_CAP 4096

int spawn_reap(pid_t pid, int *status)
{
    pid_t p;
    do
        p = waitpid(pid, status, WNOHANG);
    while (p < 0 && errno == EINTR);
    return p;
}

/* Either form of the shim: a new session, every signal handler at its default, and TERM, INT
 * and CHLD blocked from its first instruction, so that a cancel sent between this spawn and the
 * shim's loop is kept for the loop instead of killing it before it records anything (the shim
 * gives its steps an empty mask). The caller destroys attr. */
static void shim_spawnattr(posix_spawnattr_t *attr)
{
    posix_spawnattr_init(attr);
    sigset_t set;
    sigfillset(&set);
    posix_spawnattr_setsigdefault(attr, &set);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    posix_spawnattr_setsigmask(attr, &set);
    posix_spawnattr_setflags(attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
}

/* The shim's argv: BIN shim DIR [options] -- ARG..., in an array the caller frees (the strings
 * are borrowed, except the two numbers, which live in the caller's buffers). */
static char **shim_argv(const struct spawn_req *req, char *timeout, char *grace)
{
    size_t nargs = 0;
    if (req->argv)
        while (req->argv[nargs])
            nargs++;
    char **argv = xcalloc(12 + nargs + 1, sizeof(*argv));
    size_t i = 0;
    argv[i++] = (char *)req->sluice_bin;
    argv[i++] = "shim";
    argv[i++] = (char *)req->dir;
    if (req->timeout_ms) {
        argv[i++] = "--timeout";
        argv[i++] = timeout;
    }
    if (req->grace_ms) {
        argv[i++] = "--grace";
        argv[i++] = grace;
    }
    if (req->workdir) {
        argv[i++] = "--workdir";
        argv[i++] = (char *)req->workdir;
    }
    if (!req->argv)
        argv[i++] = "--shell";
    argv[i++] = "--";
    if (req->argv) {
        for (size_t k = 0; k < nargs; k++)
            argv[i++] = req->argv[k];
    } else {
        argv[i++] = (char *)req->shell;
    }
    argv[i] = NULL;
    return argv;
}

int spawn_shim(const struct spawn_req *req, struct spawn_proc *out, struct err *e)
{
    if (!req->argv == !req->shell)
        BUG("spawn_shim needs exactly one of argv and shell");
    if (req->argv && !req->argv[0])
        BUG("spawn_shim with an empty argv");

    char timeout[24], grace[24];
    snprintf(timeout, sizeof(timeout), "%lu", req->timeout_ms);
    snprintf(grace, sizeof(grace), "%lu", req->grace_ms);
    char **argv = shim_argv(req, timeout, grace);
    char *log = xasprintf("%s/log", req->dir);
    int ret = -1;

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    /* No O_CLOEXEC here, although the fd lives only in the child: had the engine's fd 1 been
     * closed, open() would return 1 itself, glibc would not dup2() it, and the flag would stay
     * and close the shim's stdout at exec. */
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    /* The engine opens its fds with O_CLOEXEC, but libraries may not: no fd above 2 reaches
     * the shim either way (one close_range() in the child). */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);

    posix_spawnattr_t attr;
    shim_spawnattr(&attr);

    pid_t pid;
    int rc = posix_spawn(&pid, req->sluice_bin, &fa, &attr, argv,
                         req->envp ? req->envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    if (rc) {
        /* posix_spawn reports a failed file action (the log) and a failed exec alike. */
        if (access(req->sluice_bin, X_OK) == 0)
            err_set(e, "cannot open '%s': %s", log, strerror(rc));
        else
            err_set(e, "cannot start the shim '%s': %s", req->sluice_bin, strerror(rc));
        goto out;
    }

    /* The shim is our child and not reaped: its pid cannot be reused before spawn_reap(), so
     * its start time and pidfd are its own even if it has already exited. */
    out->pid = pid;
    out->pidfd = -1;
    if (proc_start_time(pid, &out->start_time) < 0) {
        err_set(e, "cannot read the start time of process '%ld': %s", (long)pid,
                strerror(errno));
        goto kill;
    }
    out->pidfd = proc_pidfd_open(pid);
    if (out->pidfd < 0 && errno != ENOSYS) {
        err_set(e, "cannot open a pidfd for process '%ld': %s", (long)pid, strerror(errno));
        goto kill;
    }
    ret = 0;
    goto out;
kill:
    /* Nothing left running that the caller does not know about. */
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
out:
    free(log);
    free(argv);
    return ret;
}

/* Read DIR/NAME into sb. Returns 0, 1 when it does not exist, -1 with e filled. */
static int read_shim_file(const char *dir, const char *name, struct strbuf *sb, struct err *e)
{
    char *path = xasprintf("%s/%s", dir, name);
    int rc = strbuf_read_regular(sb, path, SHIM_FILE_CAP);
    if (rc == -1 && errno == ENOENT)
        rc = 1;
    else if (rc == -1)
        rc = err_set(e, "cannot read '%s': %s", path, strerror(errno));
    else if (rc == -2)
        rc = err_set(e, "'%s' is larger than %d bytes", path, SHIM_FILE_CAP);
    else if (rc == -3)
        rc = err_set(e, "'%s' is not a regular file", path);
    free(path);
    return rc;
}

static int copy_time(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    if (n >= size)
        return -1;
    memcpy(dst, src, n + 1);
    return 0;
}

int shim_read_exit(const char *dir, struct shim_exit *out, struct err *e)
{
    struct strbuf sb = STRBUF_INIT;
    json_t *root = NULL;
    int rc = read_shim_file(dir, "exit.json", &sb, e);
    if (rc)
        goto out;
    json_error_t jerr;
    root = json_loadb(sb.buf, sb.len, 0, &jerr);
    if (!root) {
        rc = err_set(e, "cannot parse '%s/exit.json': %s at line %d", dir, jerr.text, jerr.line);
        goto out;
    }
    json_int_t code, sig, rss;
    const char *started, *ended;
    int timed_out, cancelled;
    memset(out, 0, sizeof(*out));
    if (json_unpack_ex(root, &jerr, 0, "{s:I, s:I, s:F, s:I, s:s, s:s, s:b, s:b}", "exit", &code,
                       "signal", &sig, "cpu_s", &out->cpu_s, "max_rss_kb", &rss, "started_at",
                       &started, "ended_at", &ended, "timed_out", &timed_out, "cancelled",
                       &cancelled) < 0) {
        rc = err_set(e, "malformed '%s/exit.json': %s", dir, jerr.text);
        goto out;
    }
    if (code < 0 || code > 255 || sig < 0 || sig > 127 || rss < 0) {
        rc = err_set(e, "malformed '%s/exit.json': value out of range", dir);
        goto out;
    }
    if (copy_time(out->started_at, sizeof(out->started_at), started) < 0 ||
        copy_time(out->ended_at, sizeof(out->ended_at), ended) < 0) {
        rc = err_set(e, "malformed '%s/exit.json': time too long", dir);
        goto out;
    }
    out->exit = (int)code;
    out->signal = (int)sig;
    out->max_rss_kb = (long)rss;
    out->timed_out = timed_out;
    out->cancelled = cancelled;
    json_t *node = json_object_get(root, "node");
    if (json_is_string(node) && json_string_length(node) < sizeof(out->node))
        memcpy(out->node, json_string_value(node), json_string_length(node) + 1);
out:
    json_decref(root);
    strbuf_release(&sb);
    return rc;
}

int shim_serve_start(const char *sluice_bin, struct spawn_proc *out, int *sock, struct err *e)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return err_set(e, "cannot create a socket for the shim: %s", strerror(errno));
    /* Above 3, so that the dup2 to 3 below always happens and clears close-on-exec. */
    int theirs = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    close(sv[1]);
    if (theirs < 0) {
        close(sv[0]);
        return err_set(e, "cannot create a socket for the shim: %s", strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    posix_spawn_file_actions_adddup2(&fa, theirs, 3);
    posix_spawn_file_actions_addclosefrom_np(&fa, 4);
    posix_spawnattr_t attr;
    shim_spawnattr(&attr);
    char *argv[] = {(char *)sluice_bin, "shim", "--serve", "3", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, sluice_bin, &fa, &attr, argv, environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    close(theirs);
    if (rc) {
        close(sv[0]);
        return err_set(e, "cannot start the shim '%s': %s", sluice_bin, strerror(rc));
    }
    out->pid = pid;
    out->pidfd = -1;
    if (proc_start_time(pid, &out->start_time) < 0) {
        err_set(e, "cannot read the start time of process '%ld': %s", (long)pid,
                strerror(errno));
        close(sv[0]);
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    *sock = sv[0];
    return 0;
}

static void add_field(struct strbuf *sb, const char *s)
{
    strbuf_add(sb, s, strlen(s) + 1);
}

static void add_number(struct strbuf *sb, unsigned long long v)
{
    char num[24];
    snprintf(num, sizeof(num), "%llu", v);
    add_field(sb, num);
}

/* Frame what add_* appended after offset start: its length goes in the 4 bytes there. */
static void frame_end(struct strbuf *sb, size_t start)
{
    size_t len = sb->len - start - 4;
    if (len > SHIM_FRAME_MAX)
        BUG("a shim request of %zu bytes", len);
    uint32_t n = (uint32_t)len;
    memcpy(sb->buf + start, &n, 4);
}

void shim_encode_run(struct strbuf *sb, int64_t id, const struct spawn_req *req)
{
    if (!req->argv == !req->shell)
        BUG("shim_encode_run needs exactly one of argv and shell");
    size_t start = sb->len;
    strbuf_add(sb, "\0\0\0\0", 4);
    add_field(sb, "R");
    add_number(sb, (unsigned long long)id);
    add_number(sb, req->timeout_ms);
    add_number(sb, req->grace_ms);
    add_field(sb, req->shell ? "1" : "0");
    add_field(sb, req->dir);
    add_field(sb, req->workdir ? req->workdir : "");
    size_t argc = 0;
    if (req->argv)
        while (req->argv[argc])
            argc++;
    add_number(sb, req->shell ? 1 : argc);
    if (req->shell)
        add_field(sb, req->shell);
    for (size_t i = 0; i < argc; i++)
        add_field(sb, req->argv[i]);
    char *const *envp = req->envp ? req->envp : environ;
    size_t envc = 0;
    while (envp[envc])
        envc++;
    add_number(sb, envc);
    for (size_t i = 0; i < envc; i++)
        add_field(sb, envp[i]);
    frame_end(sb, start);
}

void shim_encode_cancel(struct strbuf *sb, int64_t id)
{
    size_t start = sb->len;
    strbuf_add(sb, "\0\0\0\0", 4);
    add_field(sb, "C");
    add_number(sb, (unsigned long long)id);
    frame_end(sb, start);
}
