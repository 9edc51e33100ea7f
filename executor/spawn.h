/* The local executor's spawn path, on the engine's side: start the engine's `sluice shim
 * --serve` without forking the engine (posix_spawn, so the cost does not grow with the engine's
 * memory) and encode its requests; or start a one-step shim (`sluice shim DIR -- ARGV`, for
 * tests and by hand); read exit.json; and recognise processes by pid plus start time so that a
 * restarted engine can tell a live shim from a reused pid. No libuv here. */
#ifndef SLUICE_SPAWN_H
#define SLUICE_SPAWN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "util/err.h"
#include "util/proc.h"
#include "util/strbuf.h"

struct spawn_req {
    const char *sluice_bin;   /* the sluice binary (the engine's /proc/self/exe, resolved) */
    const char *dir;          /* the attempt's folder, which exists; output goes to DIR/log */
    const char *workdir;      /* the step's working folder; NULL: the engine's */
    char *const *argv;        /* the step's argv, NULL-terminated; NULL when shell is used */
    const char *shell;        /* a command for /bin/sh -c, when argv is NULL */
    char *const *envp;        /* the step's complete environment, NULL-terminated; NULL: environ */
    unsigned long timeout_ms; /* 0: none */
    unsigned long grace_ms;   /* SIGTERM to SIGKILL when stopped; 0: the shim's default, 10 s */
};

struct spawn_proc {
    pid_t pid;                     /* the shim's pid, a child of the caller */
    unsigned long long start_time; /* field 22 of /proc/PID/stat (clock ticks after boot) */
    int pidfd; /* readable once the shim has exited (O_CLOEXEC); -1 when the kernel has no
                * pidfd_open (before 5.3): then watch SIGCHLD and call spawn_reap() */
};

/* Start a one-step shim, `SLUICE_BIN shim DIR … -- ARGV`, in a new session, stdin from
 * /dev/null, stdout and stderr appended to DIR/log, no other fd, default signal handlers.
 * Returns 0 and fills out (the caller closes out->pidfd and reaps the shim with spawn_reap()),
 * or -1 with e filled and nothing left running. */
int spawn_shim(const struct spawn_req *req, struct spawn_proc *out, struct err *e);

/* Reap the caller's child pid without blocking. Returns pid once reaped (*status then holds
 * its wait status), 0 while it runs, -1 with errno set (ECHILD: not a child, or reaped). */
int spawn_reap(pid_t pid, int *status);

/* DIR/exit.json, as written by the shim (see shim.h), or the shim's report of it. */
struct shim_exit {
    int exit;            /* exit status when the step exited, else 0 */
    int signal;          /* the signal that killed the step, else 0 */
    double cpu_s;        /* user + system time of the step's processes */
    long max_rss_kb;     /* the largest resident set among them */
    char started_at[32]; /* "2026-11-24T19:00:00.123Z" */
    char ended_at[32];
    bool timed_out; /* stopped because its timeout expired */
    bool cancelled; /* stopped because the shim got SIGTERM or SIGINT */
    char msg[256];  /* from a report only: why the step could not start ("" when it did) */
    bool no_metrics; /* from a report only: the shim saw no metrics.json */
    char node[64];   /* the Slurm node it ran on (SLURMD_NODENAME), "" elsewhere */
};

/* Read DIR/exit.json. Returns 0, 1 when there is none (the attempt has not ended, or its shim
 * died before writing it), or -1 with e filled when it cannot be read or is malformed. */
int shim_read_exit(const char *dir, struct shim_exit *out, struct err *e);

/* Start `SLUICE_BIN shim --serve 3` in a new session, with *sock (O_CLOEXEC, the caller's) as
 * the other end of its fd 3, stdin/stdout/stderr on /dev/null, signals TERM, INT and CHLD
 * blocked. Returns 0 and fills out, with no pidfd (out->pidfd is -1: the socket's hang-up says
 * the shim is gone; the caller reaps it with spawn_reap()), or -1 with e set and nothing left
 * running. */
int shim_serve_start(const char *sluice_bin, struct spawn_proc *out, int *sock, struct err *e);

/* Append a run request for attempt id (see shim.h's protocol) to sb; req->sluice_bin is not
 * used. argv[0] must hold a '/' (the shim does no PATH search for the engine). */
void shim_encode_run(struct strbuf *sb, int64_t id, const struct spawn_req *req);
/* Append a cancel request for attempt id to sb. */
void shim_encode_cancel(struct strbuf *sb, int64_t id);

#endif
