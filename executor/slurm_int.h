/* The Slurm executor's pure parts: what its commands print and how that is read, the job's
 * script and sbatch arguments, and how a job's end is settled from its exit.json and Slurm's
 * state. No libuv and no store here, so that tests drive them with plain strings. */
#ifndef SLUICE_SLURM_INT_H
#define SLUICE_SLURM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "executor/executor.h"
#include "util/strbuf.h"

/* What sluice does with a Slurm job state. */
enum slurm_class {
    SLURM_WAITING,   /* PENDING, CONFIGURING, REQUEUED, RESV_DEL_HOLD, SUSPENDED … */
    SLURM_RUNNING,   /* RUNNING, COMPLETING, STOPPED, SIGNALING, STAGE_OUT */
    SLURM_COMPLETED, /* COMPLETED, FAILED: the end is in exit.json */
    SLURM_TIMEOUT,   /* TIMEOUT, DEADLINE: Slurm's time limit ended it */
    SLURM_OOM,       /* OUT_OF_MEMORY */
    SLURM_CANCELLED, /* CANCELLED (by whom, only sluice knows: its own scancel or not) */
    SLURM_LOST,      /* NODE_FAIL, PREEMPTED, BOOT_FAIL, REVOKED, SPECIAL_EXIT: not the
                      * step's doing; it goes again per its retries */
};
enum slurm_class slurm_state_class(const char *state);
/* An ended state: the job is over, whatever exit.json says or does not say yet. */
bool slurm_state_ended(const char *state);

/* One line of `squeue -h -t all -o SLURM_SQUEUE_FORMAT`. */
#define SLURM_SQUEUE_FORMAT "%i|%T|%V|%S|%N|%r|%j"
struct squeue_line {
    const char *job_id, *state, *node, *reason, *name; /* into the line; node and reason "" */
    int64_t submit_ms, start_ms;                        /* 0 when Slurm says N/A or Unknown */
};
/* Split line (NUL-terminated, modified in place). -1 when it is not such a line. */
int slurm_parse_squeue_line(char *line, struct squeue_line *out);
/* squeue's "2026-12-02T14:03:05" (printed with TZ=UTC), exactly, in ms since the epoch; 0 for
 * anything else ("N/A", "Unknown"). */
int64_t slurm_time_ms(const char *s);

/* One line of `sacct -n -P -X -o JobID,State`: "812|CANCELLED by 1000" (modified in place).
 * -1 when it is not such a line (or a job step's, "812.batch"). */
int slurm_parse_sacct_line(char *line, const char **job_id, const char **state);

/* An sbatch/squeue/scancel failure that goes away by itself (a busy or restarting controller,
 * a socket timeout): tried again with backoff, never a failed step. */
bool slurm_error_transient(const char *stderr_text);
/* The command's message without its "sbatch: error: " prefixes, lines joined by "; ". */
void slurm_error_text(const char *stderr_text, char *out, size_t outsz);

/* The job name of an attempt: "sluice-TAG-ATTEMPT", TAG telling this workspace's jobs from
 * another's (the first 12 hex digits of its store's random id). *attempt_id from such a name,
 * else false. */
void slurm_job_name(const char *tag, int64_t attempt_id, char *out, size_t outsz);
bool slurm_job_name_attempt(const char *tag, const char *name, int64_t *attempt_id);

/* Minutes for --time, rounded up (at least 1). */
int64_t slurm_minutes(int64_t ms);
/* --mem's value in MiB, rounded up; 16G as "16G" for messages. */
int64_t slurm_mem_mib(int64_t bytes);

/* The job's batch script: claim the attempt (mkdir DIR/claim, so that a job that was submitted
 * by an engine that died before recording it, and that an adopting engine declared never
 * started, does nothing), then exec the one-step shim. */
struct slurm_script {
    const char *self_exe, *dir, *workdir;
    char *const *argv;  /* or shell */
    const char *shell;
    int64_t timeout_ms, grace_ms;
    int64_t run_id, attempt_id;
    const char *step;
    int n;
};
void slurm_script_write(struct strbuf *sb, const struct slurm_script *s);

/* How an attempt's job ended, from what is known: its exit.json (file, NULL when there is
 * none), Slurm's last state (NULL when the job has left the queue), whether sluice cancelled
 * it, and whether sluice stopped it for its timeout. Returns true with *r set when that
 * settles it; false when it is better to wait: an exit.json that says the step was killed or
 * stopped while Slurm has not said why yet, or no exit.json at all where one is due (a shared
 * file system can be late to show it; the caller waits up to its exit-read timeout, then calls
 * again with late set, which settles all but a job Slurm still lists as queued or running). */
struct slurm_end {
    const struct exec_result *file;
    const char *state;
    const char *job_id;
    bool cancelled_by_us, timed_out_by_us, late;
    int64_t memory_bytes, limit_ms;
};
bool slurm_settle(const struct slurm_end *in, struct exec_result *r);

#endif
