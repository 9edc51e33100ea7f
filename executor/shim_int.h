/* The shim's insides, shared by executor/shim.c (requests, jobs, the loop) and
 * executor/shim_exit.c (exit records and the thread that makes them durable). Libc only. */
#ifndef SLUICE_SHIM_INT_H
#define SLUICE_SHIM_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#define GRACE_DEFAULT_MS 10000
/* After SIGKILL, how long to wait for a stopped step's processes to be gone; only a process
 * stuck in the kernel (uninterruptible sleep) outlives SIGKILL for long, and the step's end
 * must not wait for it forever. */
#define REAP_WAIT_MS 5000
#define MS_MAX 1000000000000LL /* 31 years: a larger value is a mistake */

/* Exit statuses of the shell's convention for a command that did not run. */
#define EXIT_SHIM_FAILED 125
#define EXIT_NOT_EXECUTABLE 126
#define EXIT_NOT_FOUND 127

enum stop_cause { STOP_NONE, STOP_TIMEOUT, STOP_CANCEL };

/* One attempt. */
struct job {
    struct job *next;
    int64_t id;
    char *payload;         /* the request's bytes, which the strings below point into */
    const char *dir;       /* the attempt's folder */
    const char *workdir;   /* NULL: the shim's own */
    char **argv;           /* NULL-terminated; with shell, argv[0] is the script */
    char **envp;           /* NULL: environ */
    bool shell;
    long long timeout_ms;  /* 0: none */
    long long grace_ms;    /* SIGTERM to SIGKILL */
    int dirfd;             /* the folder, opened: later writes do not depend on the cwd */
    int logfd;             /* the step's stdout and stderr; the shim's messages go there too */
    pid_t child;           /* the step's process, leader of its session; 0 before the spawn */
    bool reaped;           /* status and ru are valid */
    int status;
    struct rusage ru;
    int exit_code, sig;    /* the outcome, once known */
    bool ended;            /* nothing left to wait for */
    enum stop_cause cause; /* why the step is being stopped, the first cause only */
    bool killed;           /* SIGKILL sent to the group (at the latest when the step ends) */
    bool left_behind;      /* the step ended with other processes of its group still running */
    int64_t stop_at;       /* monotonic ms at which the timeout expires; 0: none */
    int64_t kill_at;       /* monotonic ms at which SIGKILL follows SIGTERM */
    int64_t give_up;       /* monotonic ms after which a stopped group's stragglers are left */
    struct timespec started, ended_at; /* wall clock, for exit.json */
    char msg[256];         /* why the step could not start, when there is no log to say it */
    bool parked;           /* dirfd and logfd closed while it runs (many steps run at once) */
};

struct shim {
    struct job *jobs;
    int sock;      /* the engine; -1 once it hung up, or in the one-step form */
    int sigfd;
    char *in;      /* bytes read from the engine, not yet a whole frame */
    size_t in_len, in_alloc;
    size_t njobs;
    size_t fds_kept; /* beyond this many jobs, a running job holds no fd of its own */
};

/* A message to fd with one write(), so it does not interleave with a step's output; nothing
 * when fd < 0. */
void shim_say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- shim_exit.c ---- */

double shim_cpu_seconds(const struct rusage *ru);
/* Write the job's exit.json (a temporary file renamed into place). Returns -1, said in the
 * job's log, when it cannot. */
int shim_exit_write(struct job *j);

#endif
