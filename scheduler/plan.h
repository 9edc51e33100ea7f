/* The plan of a run: which steps are ready, given the graph and each step's status. Pure — no
 * I/O, no clock, no loop — after ninja's Plan, so it is tested with a fake executor. Every
 * status change goes through plan_set, checked against status.h's transition table. */
#ifndef SLUICE_PLAN_H
#define SLUICE_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/graph.h"
#include "store/status.h"

/* How the direct upstream steps of a step have ended so far. */
struct plan_tally {
    size_t total;     /* direct upstream steps */
    size_t ok;        /* succeeded or cached */
    size_t skipped;
    size_t failed;    /* failed, lost or upstream_failed (Airflow counts both as failed) */
    size_t cancelled;
};

/* What a pending step's trigger rule makes of its tally. */
enum plan_verdict {
    PLAN_WAIT,            /* undecided until more upstream steps end */
    PLAN_READY,           /* may start; its when: is evaluated then */
    PLAN_SKIP,            /* ends skipped without running */
    PLAN_UPSTREAM_FAILED, /* ends upstream_failed without running */
    PLAN_CANCEL,          /* ends cancelled without running: an upstream step was cancelled */
};

/* Airflow's trigger rules, applied to a step's direct upstream steps. A cancelled upstream
 * cancels the step whatever its rule (only a cancelled run cancels steps: nothing more starts,
 * not even all_done). all_success: a failed upstream makes it upstream_failed and a skipped one
 * skips it, each at once; ready when all succeeded. none_failed: upstream_failed at once on a
 * failure; ready once all ended succeeded or skipped. none_failed_min_one_success: the same,
 * but skipped when every upstream was skipped. all_done: ready once all ended, however.
 * one_success and one_failed wait until every upstream has ended (Airflow starts them as soon
 * as one qualifies; waiting starts the same steps, later, and lets when: and inputs see every
 * upstream's result): one_success is then ready when one succeeded, skipped when all were
 * skipped, else upstream_failed; one_failed is ready when one failed, else skipped. A step
 * without upstream steps is ready. Succeeded and cached both count as success. */
enum plan_verdict plan_rule_verdict(enum trigger_rule rule, const struct plan_tally *t);

struct plan {
    const struct graph *g;
    size_t n;
    enum step_status *status;
    struct plan_tally *tally; /* per step: how its direct upstream steps ended */
    bool *queued;        /* per step: in the ready queue */
    size_t *ready;       /* ring of ready step indices, in the order they became ready */
    size_t ready_head, ready_len;
    size_t *changed;     /* steps whose status plan_set changed as a consequence (propagation) */
    size_t nchanged;
    size_t *scratch;     /* n indices, for the steps downstream of an end */
    size_t count[STEP_STATUS_COUNT]; /* how many steps are in each status */
    size_t nunrun; /* steps that ended without starting: settled by the plan (their upstream
                    * steps' ends decided them) or cancelled while pending */
};

/* Start from the given statuses (all STEP_PENDING for a new run; the stored ones on resume).
 * Pending steps that their trigger rules already decide are changed at once (see
 * plan_changes). The rules come from g's nodes. */
void plan_init(struct plan *p, const struct graph *g, const enum step_status *initial);
void plan_release(struct plan *p);

/* Pop the next ready step (pending, its trigger rule met) into *i; false when none is ready
 * now. The caller then moves it with plan_set. */
bool plan_next_ready(struct plan *p, size_t *i);
/* Put a step popped by plan_next_ready back at the front of the queue (no capacity now). */
void plan_unpop(struct plan *p, size_t i);

/* Move step i to status `to`. Aborts (BUG) on a transition the table forbids. When i ends,
 * each pending step downstream is judged by its trigger rule (plan_rule_verdict): it may
 * become ready, or end skipped, upstream_failed or cancelled without running — in topological
 * order, so that a step is judged once every step before it has been. Consequential changes
 * are listed by plan_changes. */
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
