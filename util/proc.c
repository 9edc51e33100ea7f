/* Processes identified by pid plus start time, against pid reuse: alive, a pidfd to watch, a
 * signal to its group, and the scan that finds an attempt's leftovers by their environment.
 * Libc only: the shim uses them too. */
#include "util/proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

/* Read the state letter and the start time of pid from /proc/PID/stat. */
static int proc_stat_read(pid_t pid, char *state, unsigned long long *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, sizeof(buf) - 1);
    while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    buf[n] = '\0';
    /* "PID (COMM) S f4 … f22 …": COMM may hold spaces and parentheses, the fields after the
     * last ')' cannot. 1023 bytes always reach field 22. */
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ' || !p[2])
        goto malformed;
    p += 2;
    *state = *p;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            goto malformed;
        p++;
    }
    char *end;
    errno = 0;
    *start = strtoull(p, &end, 10);
    if (errno || end == p || (*end != ' ' && *end != '\n' && *end != '\0'))
        goto malformed;
    return 0;
malformed:
    errno = EINVAL;
    return -1;
}

int proc_start_time(pid_t pid, unsigned long long *out)
{
    char state;
    return proc_stat_read(pid, &state, out);
}

bool proc_alive(pid_t pid, unsigned long long start)
{
    char state;
    unsigned long long t;
    if (pid <= 0 || proc_stat_read(pid, &state, &t) < 0)
        return false;
    /* Z: exited, not reaped yet; X: being reaped. */
    return t == start && state != 'Z' && state != 'X';
}

int proc_pidfd_open(pid_t pid)
{
    /* pidfds are always close-on-exec (the kernel sets O_CLOEXEC on them). */
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int proc_pidfd(pid_t pid, unsigned long long start)
{
    if (pid <= 0) {
        errno = ESRCH;
        return -1;
    }
    /* Pin the process first, then check that it is the right one: the pidfd cannot come to
     * mean a process that took the pid over after the check. */
    int pidfd = proc_pidfd_open(pid);
    if (pidfd < 0)
        return -1;
    if (!proc_alive(pid, start)) {
        close(pidfd);
        errno = ESRCH;
        return -1;
    }
    return pidfd;
}

int proc_kill_group(pid_t pid, unsigned long long start, int sig)
{
    /* While the leader is alive (checked after pinning it), no new group can take its id. */
    int pidfd = proc_pidfd(pid, start);
    if (pidfd < 0 && errno != ENOSYS)
        return -1;
    if (pidfd < 0 && !proc_alive(pid, start)) {
        errno = ESRCH; /* no pidfds (Linux < 5.3): check, then kill, and accept the window */
        return -1;
    }
    int rc = kill(-pid, sig);
    int saved = errno;
    if (pidfd >= 0)
        close(pidfd);
    errno = saved;
    return rc < 0 ? -1 : 0;
}

/* The environment of pid (NUL-separated entries) into buf; false when it cannot be read (another
 * user's process, a zombie, a kernel thread). */
static bool read_environ(pid_t pid, struct strbuf *buf)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
    strbuf_reset(buf);
    return strbuf_read_file(buf, path, 1 << 20) != -1 && buf->len > 0;
}

/* Whether the environment in env holds every entry of kv and dir_var=a path to the folder
 * identified by want. */
static bool environ_matches(const struct strbuf *env, const char *const *kv, size_t n,
                            const char *dir_var, const struct stat *want)
{
    size_t found = 0, dlen = strlen(dir_var);
    bool dir_ok = false;
    for (size_t off = 0; off < env->len;) {
        const char *e = env->buf + off;
        size_t len = strnlen(e, env->len - off);
        for (size_t i = 0; i < n; i++)
            if (!strcmp(e, kv[i]))
                found |= (size_t)1 << i;
        if (!dir_ok && !strncmp(e, dir_var, dlen) && e[dlen] == '=') {
            struct stat st;
            dir_ok = stat(e + dlen + 1, &st) == 0 && st.st_dev == want->st_dev &&
                     st.st_ino == want->st_ino;
        }
        off += len + 1;
    }
    return dir_ok && found == ((size_t)1 << n) - 1;
}

int proc_kill_env(const char *const *kv, size_t n, const char *dir_var, const char *dir)
{
    if (n >= sizeof(size_t) * 8)
        BUG("proc_kill_env: %zu entries", n);
    struct stat want;
    if (stat(dir, &want) < 0)
        return -1;
    struct strbuf env = STRBUF_INIT;
    pid_t self = getpid(), own_group = getpgrp();
    int killed = 0;
    for (int round = 0; round < 10; round++) {
        DIR *d = opendir("/proc");
        if (!d) {
            strbuf_release(&env);
            return -1;
        }
        int matched = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
            char *end;
            long pid = strtol(de->d_name, &end, 10);
            if (*end || pid <= 1 || pid == self || !read_environ((pid_t)pid, &env) ||
                !environ_matches(&env, kv, n, dir_var, &want))
                continue;
            pid_t group = getpgid((pid_t)pid);
            if (group > 1 && group != own_group)
                kill(-group, SIGKILL);
            kill((pid_t)pid, SIGKILL);
            matched++;
        }
        closedir(d);
        if (round == 0)
            killed = matched; /* later rounds see the same processes again, until they are gone */
        if (!matched)
            break;
        /* A killed process keeps its environment until it is gone: give it time to go. */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    strbuf_release(&env);
    return killed;
}


void proc_crash_point(const char *point, const char *step)
{
    const char *at = getenv("SLUICE_CRASH_AT");
    if (!at)
        return;
    size_t n = strlen(point);
    if (!strncmp(at, point, n) && at[n] == ':' && !strcmp(at + n + 1, step))
        raise(SIGKILL);
}
