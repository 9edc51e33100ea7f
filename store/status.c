/* Status names and the legal transitions between them (s6-supervise style: one table). */
#include "store/status.h"

#include <string.h>

static const char *const run_names[RUN_STATUS_COUNT] = {
    "queued", "running", "waiting", "succeeded", "failed", "cancelled",
};

static const char *const step_names[STEP_STATUS_COUNT] = {
    "pending",   "running", "retrying", "waiting",         "succeeded", "cached",
    "skipped",   "failed",  "upstream_failed", "cancelled", "lost",
};

const char *run_status_name(enum run_status s)
{
    return (unsigned)s < RUN_STATUS_COUNT ? run_names[s] : "unknown";
}

const char *step_status_name(enum step_status s)
{
    return (unsigned)s < STEP_STATUS_COUNT ? step_names[s] : "unknown";
}

int run_status_parse(const char *s, enum run_status *out)
{
    for (int i = 0; i < RUN_STATUS_COUNT; i++)
        if (!strcmp(s, run_names[i])) {
            *out = (enum run_status)i;
            return 0;
        }
    return -1;
}

int step_status_parse(const char *s, enum step_status *out)
{
    for (int i = 0; i < STEP_STATUS_COUNT; i++)
        if (!strcmp(s, step_names[i])) {
            *out = (enum step_status)i;
            return 0;
        }
    return -1;
}

bool run_status_terminal(enum run_status s)
{
    return s == RUN_SUCCEEDED || s == RUN_FAILED || s == RUN_CANCELLED;
}

bool step_status_terminal(enum step_status s)
{
    switch (s) {
    case STEP_SUCCEEDED:
    case STEP_CACHED:
    case STEP_SKIPPED:
    case STEP_FAILED:
    case STEP_UPSTREAM_FAILED:
    case STEP_CANCELLED:
    case STEP_LOST:
        return true;
    default:
        return false;
    }
}

bool step_status_ok(enum step_status s)
{
    return s == STEP_SUCCEEDED || s == STEP_CACHED;
}

/* step_ok[from][to]: pending may start, be decided without running (cached, skipped, failed
 * before spawn, upstream_failed, cancelled) or wait for an approval; running ends or retries;
 * retrying starts again or gives up; waiting is decided. Terminal states go nowhere. */
static const bool step_ok[STEP_STATUS_COUNT][STEP_STATUS_COUNT] = {
    [STEP_PENDING] = {[STEP_RUNNING] = 1, [STEP_WAITING] = 1, [STEP_SUCCEEDED] = 1,
                      [STEP_CACHED] = 1, [STEP_SKIPPED] = 1, [STEP_FAILED] = 1,
                      [STEP_UPSTREAM_FAILED] = 1, [STEP_CANCELLED] = 1},
    [STEP_RUNNING] = {[STEP_SUCCEEDED] = 1, [STEP_FAILED] = 1, [STEP_RETRYING] = 1,
                      [STEP_CANCELLED] = 1, [STEP_LOST] = 1, [STEP_PENDING] = 1},
    [STEP_RETRYING] = {[STEP_RUNNING] = 1, [STEP_FAILED] = 1, [STEP_CANCELLED] = 1},
    [STEP_WAITING] = {[STEP_SUCCEEDED] = 1, [STEP_FAILED] = 1, [STEP_CANCELLED] = 1},
};

bool step_transition_ok(enum step_status from, enum step_status to)
{
    if ((unsigned)from >= STEP_STATUS_COUNT || (unsigned)to >= STEP_STATUS_COUNT)
        return false;
    return step_ok[from][to];
}

static const bool run_ok[RUN_STATUS_COUNT][RUN_STATUS_COUNT] = {
    [RUN_QUEUED] = {[RUN_RUNNING] = 1, [RUN_CANCELLED] = 1, [RUN_FAILED] = 1},
    [RUN_RUNNING] = {[RUN_WAITING] = 1, [RUN_SUCCEEDED] = 1, [RUN_FAILED] = 1,
                     [RUN_CANCELLED] = 1},
    [RUN_WAITING] = {[RUN_RUNNING] = 1, [RUN_SUCCEEDED] = 1, [RUN_FAILED] = 1,
                     [RUN_CANCELLED] = 1},
};

bool run_transition_ok(enum run_status from, enum run_status to)
{
    if ((unsigned)from >= RUN_STATUS_COUNT || (unsigned)to >= RUN_STATUS_COUNT)
        return false;
    return run_ok[from][to];
}
