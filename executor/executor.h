/* The executor interface: how the engine hands a recorded attempt to whatever runs it — a
 * process under this machine's shim, a Slurm job — and hears how it ended, in the shape of
 * ninja's CommandRunner. The engine records an attempt, then calls start; it never knows how a
 * step runs. An executor never calls into the run's state machine except through `ended`. */
#ifndef SLUICE_EXECUTOR_H
#define SLUICE_EXECUTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/err.h"

struct step;
struct tmpl;

/* How an attempt ended, as far as its executor can tell. */
enum exec_why {
    EXEC_EXITED,        /* it ended by itself: exit and signal say how */
    EXEC_TIMED_OUT,     /* stopped because its timeout expired */
    EXEC_CANCELLED,     /* stopped by a cancel */
    EXEC_LOST,          /* it ran, or may have, and nothing says how it ended (msg: why) */
    EXEC_OUT_OF_MEMORY, /* killed for passing its memory limit */
    EXEC_NEVER_STARTED, /* it provably never ran: the engine runs it again without a retry */
    EXEC_START_FAILED,  /* the executor could not start it (msg says why) */
};
const char *exec_why_name(enum exec_why why);

/* A neutral result: the same for every executor. */
struct exec_result {
    enum exec_why why;
    int exit;          /* exit status when it exited, else 0 */
    int signal;        /* the signal that killed it, else 0 */
    double cpu_s;      /* user + system time of its processes, 0 when unknown */
    long max_rss_kb;   /* the largest resident set among them, 0 when unknown */
    bool no_metrics;   /* a hint: the attempt left no metrics file (saves a look) */
    bool permanent;    /* trying again cannot help or is not wanted (a partition that does
                        * not exist; a job cancelled from outside sluice): the step fails
                        * without its retries. START_FAILED, and a failure with a msg */
    int64_t started_ms; /* when its process started, 0 when unknown (from exit.json) */
    char node[64];     /* the cluster node it ran on, "" when unknown or this machine */
    char msg[256];     /* for LOST, OUT_OF_MEMORY, START_FAILED: what happened; for an exit
                        * or a signal, when set, who or what ended it (a cancel from outside);
                        * for TIMED_OUT, when set, whose limit it was if not the step's
                        * timeout (a batch system's own time limit) */
};

/* Which attempt: what reports are keyed by and what is needed to find it again. */
struct exec_attempt {
    int64_t id;        /* the store's attempt id: the key of start, cancel, adopt and ended */
    int64_t run_id;
    const char *step;  /* the step's name (a sweep instance's full name) */
    int n;             /* 1-based */
    const char *dir;   /* HOME/runs/RUN/STEP/N: log, exit.json and out/ land there */
    int64_t grace_ms;  /* SIGTERM → SIGKILL on a cancel */
};

/* One attempt to start. Everything is borrowed for the call. */
struct exec_job {
    struct exec_attempt a;
    const struct step *spec;  /* the step, for executor options (slurm:, resources:) */
    const char *workdir;      /* where the command runs */
    char *const *argv;        /* the command, NULL-terminated; NULL with shell */
    const char *shell;        /* a /bin/sh -c script, or NULL */
    char *const *envp;        /* the complete environment, NULL-terminated */
    int64_t timeout_ms;       /* 0: none */
    int cpus;
    int64_t memory_bytes;     /* 0: unspecified */
    /* A template of the step's executor options (slurm: partition …) expanded for this run:
     * the caller's to free; NULL with e set when it cannot be (an unknown param). */
    char *(*expand)(void *data, const struct tmpl *t, struct err *e);
    void *expand_data;
};

/* Called once per attempt, from the loop, never from within start, cancel or adopt. The
 * executor has forgotten the attempt by then. */
typedef void (*exec_ended_cb)(void *data, int64_t attempt_id, const struct exec_result *r);
/* Called from the loop when an executor that had no room has some again (a batch system's
 * queue drained below its bound without an attempt ending). */
typedef void (*exec_room_cb)(void *data);

/* What an executor gets from the engine that makes it. */
struct exec_env {
    void *loop;              /* the engine's uv_loop_t */
    struct store *st;        /* writes land in the engine's open batch */
    const char *home;        /* the workspace */
    const char *self_exe;    /* the sluice binary (shims, built-ins) */
    int max_jobs;            /* a batch executor: queued + running jobs at most (--max-jobs) */
    exec_ended_cb ended;
    exec_room_cb room;
    void *data;
};

struct executor;

struct executor_ops {
    const char *name;
    /* Its attempts run elsewhere (a cluster's nodes): they take none of this machine's step
     * slots (--parallel); capacity alone bounds them. */
    bool remote;
    struct executor *(*create)(const struct exec_env *env, struct err *e);
    /* Inside the transaction that records the attempt, before start: record what an engine
     * that adopts the attempt needs to find it (the local shim's pid), and refuse an attempt
     * that cannot start (then it is never recorded, and the step fails with e). */
    int (*prepare)(struct executor *x, const struct exec_attempt *a, struct err *e);
    /* Start the recorded attempt (its record has committed). -1 with e set when it cannot:
     * the engine then ends it as EXEC_START_FAILED. */
    int (*start)(struct executor *x, const struct exec_job *job, struct err *e);
    /* Stop a started or adopted attempt; its end is reported as usual. */
    void (*cancel)(struct executor *x, int64_t attempt_id);
    /* Take over an attempt another engine started and that was running when it went away (row
     * is its record): its end is reported as if this executor had started it. */
    int (*adopt)(struct executor *x, const struct exec_attempt *a, const struct attempt_row *row,
                 struct err *e);
    /* The most attempts it takes at once (INT32_MAX: as many as the engine's slots allow; a
     * Slurm executor: --max-jobs). The engine starts no more while it has that many. */
    int (*capacity)(struct executor *x);
    /* Once a second: bookkeeping (the local executor records its steps' pids). */
    int (*tick)(struct executor *x, struct err *e);
    /* The engine stops: what runs goes on without it; nothing more is reported. */
    void (*close)(struct executor *x);
    void (*free)(struct executor *x);
    /* Without an engine (sluice logs): whether the attempt row names something still running. */
    bool (*alive)(const struct attempt_row *row);
};

/* Every executor embeds this first. */
struct executor {
    const struct executor_ops *ops;
    struct exec_env env;
};

/* The executor called name ("local", "slurm"), or NULL when this build has none. */
const struct executor_ops *executor_find(const char *name);
/* Register another table entry (tests: a fake executor). */
void executor_register(const struct executor_ops *ops);

/* The result an attempt's exit record says (DIR/exit.json, written by the shim wherever the
 * attempt ran): 0; 1 when there is none (it has not ended, or its shim died first); -1 with e
 * set when it cannot be read or is malformed. */
int exec_result_read(const char *dir, struct exec_result *r, struct err *e);
/* A UTC time as exit.json and Slurm (under TZ=UTC) write it, "2026-11-24T19:00:00" with an
 * optional ".123" and "Z", in ms since the epoch; 0 for anything else ("N/A", "Unknown"). */
int64_t exec_time_ms(const char *s);

#endif
