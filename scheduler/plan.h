/* The plan of a run: which steps are ready, given the graph and each step's status. Pure — no
 * I/O, no clock, no loop — after ninja's Plan, so it is tested with a fake executor. Every
 * status change goes through plan_set, checked against status.h's transition table. */
#ifndef SLUICE_PLAN_H
#define SLUICE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/graph.h"
#include "scheduler/status.h"

struct plan {
    const struct graph *g;
    size_t n;
    enum step_status *status;
    size_t *waiting_on;  /* per step: dependencies not yet succeeded/cached */
    bool *queued;        /* per step: in the ready queue */
    size_t *ready;       /* ring of ready step indices, in the order they became ready */
    size_t ready_head, ready_len;
    size_t *changed;     /* steps whose status plan_set changed as a consequence (propagation) */
    size_t nchanged;
    size_t count[STEP_STATUS_COUNT]; /* how many steps are in each status */
};

/* Start from the given statuses (all STEP_PENDING for a new run; the stored ones on resume).
 * Pending steps whose upstream already failed or was skipped are changed at once (see
 * plan_changes). */
void plan_init(struct plan *p, const struct graph *g, const enum step_status *initial);
void plan_release(struct plan *p);

/* Pop the next ready step (pending, all dependencies succeeded or cached) into *i; false when
 * none is ready now. The caller then moves it with plan_set. */
bool plan_next_ready(struct plan *p, size_t *i);
/* Put a step popped by plan_next_ready back at the front of the queue (no capacity now). */
void plan_unpop(struct plan *p, size_t i);

/* Move step i to status `to`. Aborts (BUG) on a transition the table forbids. A step that
 * ends badly (failed, lost, cancelled, upstream_failed) makes every pending step downstream
 * upstream_failed; a skipped step makes them skipped; a succeeded/cached one may make
 * dependents ready. Consequential changes are listed by plan_changes. */
void plan_set(struct plan *p, size_t i, enum step_status to);
/* The steps changed by propagation since the last call (their new status is p->status[i]);
 * returns the count and clears the list. out must hold p->n entries. */
size_t plan_changes(struct plan *p, size_t *out);

/* Every step is in a terminal status. */
bool plan_finished(const struct plan *p);
/* Nothing can make progress without outside input: no ready, running or retrying step, but
 * some step waits for an approval. */
bool plan_only_waiting(const struct plan *p);
/* The run's outcome once finished: failed if any step failed or was lost (a --fail-fast run
 * that cancelled the rest failed), else cancelled if any step was cancelled, else failed if
 * any is upstream_failed, else succeeded. */
enum run_status plan_outcome(const struct plan *p);

#endif
