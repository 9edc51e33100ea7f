/* A command of Slurm's (sbatch, squeue, scancel, sacct) run from the engine's loop: uv_spawn,
 * its stdout and stderr gathered, killed when it takes too long; one callback once it has
 * exited and all its output is read. Never blocks the loop. */
#ifndef SLUICE_SLURM_CMD_H
#define SLUICE_SLURM_CMD_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "util/err.h"
#include "util/strbuf.h"

struct cmd {
    uv_process_t proc;
    uv_pipe_t out, err;
    uv_timer_t timer;
    struct strbuf obuf, ebuf; /* what it printed */
    int open;                 /* handles not yet closed */
    int64_t status;
    int term_signal;
    bool exited, timed_out;
    int64_t timeout_ms;
    int64_t started_ms;       /* when it was started: a listing says nothing of what came after */
    void (*done)(struct cmd *c);
    void *data;               /* the caller's */
    const bool *quiet;        /* when it is true by the end (the caller has closed), no done */
    struct cmd **slot;        /* where the caller keeps it: cleared before done */
    /* the caller's payload, freed with the command */
    int64_t attempt_id;       /* sbatch: whose */
    char **ids;               /* scancel, sacct: the job ids it is about */
    size_t nids;
};

/* Run argv (argv[0] an absolute path) with envp; done(c) once it has exited and its output is
 * read, unless *quiet is true by then; c is freed after. NULL with e set when it cannot be
 * started (nothing is reported then). */
struct cmd *slurm_cmd_run(uv_loop_t *loop, char *const *argv, char *const *envp,
                          int64_t timeout_ms, void (*done)(struct cmd *c), void *data,
                          const bool *quiet, struct err *e);

/* Whether the command did its job; else msg says why (Slurm's words) and *transient whether it
 * is worth another try (a timeout, a busy or unreachable controller). */
bool slurm_cmd_ok(const struct cmd *c, bool *transient, char *msg, size_t msgsz);

#endif
