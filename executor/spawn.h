/* The local executor's cheap spawn path, on the engine's side: start `sluice shim` for an
 * attempt without forking the engine (posix_spawn, so the cost does not grow with the engine's
 * memory), and recognise processes by pid plus start time so that a restarted engine can tell
 * a live attempt from a reused pid. No libuv here: the engine watches the returned pidfd. */
#ifndef SLUICE_SPAWN_H
#define SLUICE_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

#include "util/err.h"

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

/* Start `SLUICE_BIN shim DIR … -- ARGV` in a new session, stdin from /dev/null, stdout and
 * stderr appended to DIR/log, no other fd, default signal handlers. Returns 0 and fills out
 * (the caller closes out->pidfd and reaps the shim with spawn_reap()), or -1 with e filled and
 * nothing left running. */
int spawn_shim(const struct spawn_req *req, struct spawn_proc *out, struct err *e);

/* Reap the caller's child pid without blocking. Returns pid once reaped (*status then holds
 * its wait status), 0 while it runs, -1 with errno set (ECHILD: not a child, or reaped). */
int spawn_reap(pid_t pid, int *status);

/* The start time of process pid: field 22 of /proc/PID/stat. Returns 0, or -1 with errno set
 * (ENOENT: no such process). Libc only: the shim uses it too. */
int proc_start_time(pid_t pid, unsigned long long *out);

/* Whether pid is a running process that started at start. False for a zombie (it has exited)
 * and for a pid reused by another process. */
bool proc_alive(pid_t pid, unsigned long long start);

/* A pidfd (O_CLOEXEC) for pid, if it is still the process that started at start: what a
 * restarted engine watches (readable at exit) for a live attempt that is not its child.
 * Returns the fd, or -1 with errno set (ESRCH: gone, a zombie, or another process now). */
int proc_pidfd(pid_t pid, unsigned long long start);

/* Send sig to the shim pid, if it is still the process that started at start; the shim relays
 * SIGTERM/SIGINT to the step's process group and escalates to SIGKILL after its grace period.
 * Race-free against pid reuse (through a pidfd). Returns 0, or -1 with errno set (ESRCH: the
 * process is gone, a zombie, or another process now). */
int proc_signal_group(pid_t pid, unsigned long long start, int sig);

/* DIR/exit.json, as written by the shim (see shim.h). */
struct shim_exit {
    int exit;            /* exit status when the step exited, else 0 */
    int signal;          /* the signal that killed the step, else 0 */
    double cpu_s;        /* user + system time of the step's processes */
    long max_rss_kb;     /* the largest resident set among them */
    char started_at[32]; /* "2026-11-24T19:00:00.123Z" */
    char ended_at[32];
    bool timed_out; /* stopped because its timeout expired */
    bool cancelled; /* stopped because the shim got SIGTERM or SIGINT */
};

/* Read DIR/exit.json. Returns 0, 1 when there is none (the attempt has not ended, or its shim
 * died before writing it), or -1 with e filled when it cannot be read or is malformed. */
int shim_read_exit(const char *dir, struct shim_exit *out, struct err *e);

/* DIR/pid, as written by the shim once the step's process exists. */
struct shim_pid {
    pid_t shim;                    /* the shim's pid */
    unsigned long long start_time; /* the shim's start time, for proc_alive() */
    pid_t child;                   /* the step's pid, also its process group's id */
};

/* Read DIR/pid. Returns 0, 1 when there is none yet (or it is not complete yet), or -1 with e
 * filled when it cannot be read or is malformed. */
int shim_read_pid(const char *dir, struct shim_pid *out, struct err *e);

#endif
