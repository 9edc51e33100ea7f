/* The pure plan: per step, a tally of how its upstream steps ended, judged by its trigger rule;
 * and a queue of ready steps. */
#include "scheduler/plan.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static void push_ready(struct plan *p, size_t i)
{
    if (p->queued[i])
        return;
    p->queued[i] = true;
    p->ready[(p->ready_head + p->ready_len) % p->n] = i;
    p->ready_len++;
}

static void set_status(struct plan *p, size_t i, enum step_status to)
{
    p->count[p->status[i]]--;
    p->status[i] = to;
    p->count[to]++;
}

enum plan_verdict plan_rule_verdict(enum trigger_rule rule, const struct plan_tally *t)
{
    bool all_done = t->ok + t->skipped + t->failed + t->cancelled == t->total;
    if (t->cancelled)
        return PLAN_CANCEL;
    if (!t->total)
        return PLAN_READY;
    switch (rule) {
    case TRIGGER_ALL_SUCCESS:
        if (t->failed)
            return PLAN_UPSTREAM_FAILED;
        if (t->skipped)
            return PLAN_SKIP;
        return t->ok == t->total ? PLAN_READY : PLAN_WAIT;
    case TRIGGER_NONE_FAILED:
    case TRIGGER_NONE_FAILED_MIN_ONE_SUCCESS:
        if (t->failed)
            return PLAN_UPSTREAM_FAILED;
        if (!all_done)
            return PLAN_WAIT;
        return rule == TRIGGER_NONE_FAILED || t->ok ? PLAN_READY : PLAN_SKIP;
    case TRIGGER_ALL_DONE:
        return all_done ? PLAN_READY : PLAN_WAIT;
    case TRIGGER_ONE_SUCCESS:
        if (!all_done)
            return PLAN_WAIT;
        if (t->ok)
            return PLAN_READY;
        return t->skipped == t->total ? PLAN_SKIP : PLAN_UPSTREAM_FAILED;
    case TRIGGER_ONE_FAILED:
        if (!all_done)
            return PLAN_WAIT;
        return t->failed ? PLAN_READY : PLAN_SKIP;
    }
    BUG("unknown trigger rule %d", (int)rule);
}

/* Count step i's end in the tallies of the steps that need it. */
static void tell_dependents(struct plan *p, size_t i)
{
    enum step_status s = p->status[i];
    const struct graph_node *nd = &p->g->nodes[i];
    for (size_t k = 0; k < nd->ndependents; k++) {
        struct plan_tally *t = &p->tally[nd->dependents[k]];
        if (step_status_ok(s))
            t->ok++;
        else if (s == STEP_SKIPPED)
            t->skipped++;
        else if (s == STEP_CANCELLED)
            t->cancelled++;
        else
            t->failed++;
        if (t->ok + t->skipped + t->failed + t->cancelled > t->total)
            BUG("step %zu heard of more ends than it has upstream steps", nd->dependents[k]);
    }
}

static enum plan_verdict verdict(const struct plan *p, size_t j)
{
    return plan_rule_verdict(p->g->nodes[j].rule, &p->tally[j]);
}

/* Judge pending step j by its rule: queue it when ready, or settle it (recorded as a change,
 * its dependents told). Returns whether it was settled. */
static bool judge(struct plan *p, size_t j)
{
    static const enum step_status settle_as[] = {
        [PLAN_SKIP] = STEP_SKIPPED,
        [PLAN_UPSTREAM_FAILED] = STEP_UPSTREAM_FAILED,
        [PLAN_CANCEL] = STEP_CANCELLED,
    };
    enum plan_verdict v = verdict(p, j);
    if (v == PLAN_READY)
        push_ready(p, j);
    if (v == PLAN_WAIT || v == PLAN_READY)
        return false;
    set_status(p, j, settle_as[v]);
    p->changed[p->nchanged++] = j;
    p->nunrun++;
    tell_dependents(p, j);
    return true;
}

/* Step i has ended. Its direct dependents alone can change at once; only when one of them is
 * settled is everything downstream judged again, in topological order, so that a step is
 * judged once all of its upstream steps settled by this end have been. */
static void settle(struct plan *p, size_t i)
{
    tell_dependents(p, i);
    const struct graph_node *nd = &p->g->nodes[i];
    bool any = false;
    for (size_t k = 0; k < nd->ndependents && !any; k++) {
        size_t j = nd->dependents[k];
        enum plan_verdict v = p->status[j] == STEP_PENDING ? verdict(p, j) : PLAN_WAIT;
        if (v == PLAN_READY)
            push_ready(p, j);
        any = v != PLAN_WAIT && v != PLAN_READY;
    }
    if (!any)
        return;
    size_t nd_down = graph_downstream(p->g, i, p->scratch);
    for (size_t k = 0; k < nd_down; k++)
        if (p->status[p->scratch[k]] == STEP_PENDING)
            judge(p, p->scratch[k]);
}

void plan_init(struct plan *p, const struct graph *g, const enum step_status *initial)
{
    memset(p, 0, sizeof(*p));
    p->g = g;
    p->n = g->n;
    size_t n = g->n ? g->n : 1;
    p->status = xcalloc(n, sizeof(*p->status));
    p->tally = xcalloc(n, sizeof(*p->tally));
    p->queued = xcalloc(n, sizeof(*p->queued));
    p->ready = xcalloc(n, sizeof(*p->ready));
    p->changed = xcalloc(n, sizeof(*p->changed));
    p->scratch = xcalloc(n, sizeof(*p->scratch));
    for (size_t i = 0; i < p->n; i++) {
        p->status[i] = initial ? initial[i] : STEP_PENDING;
        p->count[p->status[i]]++;
        p->tally[i].total = g->nodes[i].ndeps;
        if (p->status[i] == STEP_UPSTREAM_FAILED)
            p->nunrun++;
    }
    for (size_t i = 0; i < p->n; i++)
        if (step_status_terminal(p->status[i]))
            tell_dependents(p, i);
    /* In topological order, each pending step is judged knowing how all its upstream steps
     * ended, those settled here included. */
    for (size_t k = 0; k < p->n; k++) {
        size_t i = g->order[k];
        if (p->status[i] == STEP_PENDING)
            judge(p, i);
    }
}

void plan_release(struct plan *p)
{
    free(p->status);
    free(p->tally);
    free(p->scratch);
    free(p->queued);
    free(p->ready);
    free(p->changed);
    memset(p, 0, sizeof(*p));
}

bool plan_next_ready(struct plan *p, size_t *out)
{
    while (p->ready_len) {
        size_t i = p->ready[p->ready_head];
        p->ready_head = (p->ready_head + 1) % p->n;
        p->ready_len--;
        p->queued[i] = false;
        /* A queued step may have been settled meanwhile (cancelled, for one). */
        if (p->status[i] == STEP_PENDING) {
            *out = i;
            return true;
        }
    }
    return false;
}

void plan_unpop(struct plan *p, size_t i)
{
    if (p->queued[i])
        return;
    p->queued[i] = true;
    p->ready_head = (p->ready_head + p->n - 1) % p->n;
    p->ready[p->ready_head] = i;
    p->ready_len++;
}

void plan_set(struct plan *p, size_t i, enum step_status to)
{
    if (i >= p->n)
        BUG("step index %zu out of range", i);
    enum step_status from = p->status[i];
    if (!step_transition_ok(from, to))
        BUG("illegal step transition %s -> %s", step_status_name(from), step_status_name(to));
    set_status(p, i, to);
    if (from == STEP_PENDING && to == STEP_CANCELLED)
        p->nunrun++;
    if (step_status_terminal(to))
        settle(p, i);
    else if (to == STEP_PENDING && verdict(p, i) == PLAN_READY)
        push_ready(p, i);
}

size_t plan_changes(struct plan *p, size_t *out)
{
    size_t n = p->nchanged;
    memcpy(out, p->changed, n * sizeof(*out));
    p->nchanged = 0;
    return n;
}

bool plan_finished(const struct plan *p)
{
    size_t live = p->count[STEP_PENDING] + p->count[STEP_RUNNING] + p->count[STEP_RETRYING] +
                  p->count[STEP_WAITING];
    return live == 0;
}

bool plan_only_waiting(const struct plan *p)
{
    if (!p->count[STEP_WAITING] || p->count[STEP_RUNNING] || p->count[STEP_RETRYING])
        return false;
    for (size_t k = 0; k < p->ready_len; k++) {
        size_t i = p->ready[(p->ready_head + k) % p->n];
        if (p->status[i] == STEP_PENDING)
            return false;
    }
    return true;
}

enum run_status plan_outcome(const struct plan *p)
{
    if (p->count[STEP_FAILED] || p->count[STEP_LOST])
        return RUN_FAILED;
    if (p->count[STEP_CANCELLED])
        return RUN_CANCELLED;
    if (p->count[STEP_UPSTREAM_FAILED])
        return RUN_FAILED;
    return RUN_SUCCEEDED;
}
