/* Run and step statuses, and the one table that says which transitions are legal. */
#ifndef SLUICE_STATUS_H
#define SLUICE_STATUS_H

#include <stdbool.h>

enum run_status { RUN_QUEUED, RUN_RUNNING, RUN_WAITING, RUN_SUCCEEDED, RUN_FAILED, RUN_CANCELLED };
#define RUN_STATUS_COUNT 6
enum step_status {
    STEP_PENDING,
    STEP_RUNNING,
    STEP_RETRYING,
    STEP_WAITING,
    STEP_SUCCEEDED,
    STEP_CACHED,
    STEP_SKIPPED,
    STEP_FAILED,
    STEP_UPSTREAM_FAILED,
    STEP_CANCELLED,
    STEP_LOST,
};
#define STEP_STATUS_COUNT 11
/* Attempt statuses are plain strings: running, succeeded, failed, lost, cancelled, timed_out,
 * cached. */

const char *run_status_name(enum run_status s);
int run_status_parse(const char *s, enum run_status *out); /* 0, or -1 when unknown */
const char *step_status_name(enum step_status s);
int step_status_parse(const char *s, enum step_status *out);

bool run_status_terminal(enum run_status s);
bool step_status_terminal(enum step_status s);
/* succeeded or cached: downstream may start */
bool step_status_ok(enum step_status s);

/* The transition tables: may a step (run) go from `from` to `to`? */
bool step_transition_ok(enum step_status from, enum step_status to);
bool run_transition_ok(enum run_status from, enum run_status to);

#endif
