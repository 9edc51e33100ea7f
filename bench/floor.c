/*
 * floor: the work DESIGN.md asks of every attempt, done by the smallest runner we could write,
 * so that bench/dispatch.sh can say how much of sluice's time is the contract and how much is
 * sluice. No engine, no store, no loop: a blocking wait4() loop that keeps PARALLEL steps
 * running and, per step,
 *
 *   - creates runs/STEP/1/ and its out/ (three folders), opens log;
 *   - posix_spawns /usr/bin/true in a session of its own, stdin /dev/null, stdout and stderr
 *     into log (what the shim does);
 *   - on its exit writes exit.json: a temporary file renamed into place, with no fsync
 *     (DESIGN "The shim": against power loss the store's durability is the promise).
 *
 * Steps are numbered 0..STEPS-1 in layers of LAYER: a step may start once every step of the
 * layer before has ended. LAYER = STEPS is the wide shape, 1 the chain, 50 the layered one.
 *
 *   floor DIR STEPS LAYER PARALLEL    (prints nothing; time it from outside)
 *
 * Built by bench/dispatch.sh; not part of sluice.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what, const char *path)
{
    fprintf(stderr, "floor: %s '%s': %s\n", what, path, strerror(errno));
    exit(1);
}

static void mkdir_or_die(const char *path)
{
    if (mkdir(path, 0755) < 0)
        die("cannot create folder", path);
}

/* start step i: its folders and log, then the process; returns its pid */
static pid_t start(const char *dir, long i)
{
    char p[4096];
    snprintf(p, sizeof p, "%s/s%ld", dir, i);
    mkdir_or_die(p);
    snprintf(p, sizeof p, "%s/s%ld/1", dir, i);
    mkdir_or_die(p);
    snprintf(p, sizeof p, "%s/s%ld/1/out", dir, i);
    mkdir_or_die(p);
    snprintf(p, sizeof p, "%s/s%ld/1/log", dir, i);
    int log = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (log < 0)
        die("cannot create", p);

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, log, 1);
    posix_spawn_file_actions_adddup2(&fa, log, 2);
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID);
    char *argv[] = {"true", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/usr/bin/true", &fa, &at, argv, environ);
    posix_spawnattr_destroy(&at);
    posix_spawn_file_actions_destroy(&fa);
    close(log);
    if (rc != 0) {
        errno = rc;
        die("cannot start", "/usr/bin/true");
    }
    return pid;
}

static const char *root;

/* step i ended: its exit.json written and renamed into place */
static void finish(long i, int status, const struct rusage *ru)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s/s%ld/1/.exit.json.tmp", root, i);
    FILE *f = fopen(tmp, "we");
    if (!f)
        die("cannot create", tmp);
    fprintf(f, "{\"exit\": %d, \"signal\": %d, \"cpu_s\": %.6f, \"max_rss_kb\": %ld}\n",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1,
            WIFSIGNALED(status) ? WTERMSIG(status) : 0,
            (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 +
                (double)ru->ru_stime.tv_sec + ru->ru_stime.tv_usec / 1e6,
            ru->ru_maxrss);
    if (fclose(f) != 0)
        die("cannot write", tmp);
    char dst[4096];
    snprintf(dst, sizeof dst, "%s/s%ld/1/exit.json", root, i);
    if (rename(tmp, dst) < 0)
        die("cannot rename", tmp);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: floor DIR STEPS LAYER PARALLEL\n");
        return 2;
    }
    const char *dir = root = argv[1];
    long steps = atol(argv[2]), layer = atol(argv[3]), par = atol(argv[4]);
    if (steps < 1 || layer < 1 || par < 1) {
        fprintf(stderr, "floor: STEPS, LAYER and PARALLEL must be positive\n");
        return 2;
    }
    mkdir_or_die(dir);
    pid_t *pids = calloc((size_t)steps, sizeof *pids);
    if (!pids)
        return 1;

    long next = 0, done = 0, running = 0;
    while (done < steps) {
        /* start what the layer barrier and the parallel bound allow */
        while (next < steps && running < par && next / layer * layer <= done) {
            pids[next] = start(dir, next);
            next++;
            running++;
        }
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, 0, &ru);
        if (pid < 0)
            die("cannot wait in", dir);
        long i = 0;
        while (i < next && pids[i] != pid)
            i++;
        if (i == next)
            continue;
        pids[i] = 0;
        finish(i, status, &ru);
        running--;
        done++;
    }
    free(pids);
    return 0;
}
