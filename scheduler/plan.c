/* The pure plan: counts of unfinished dependencies per step and a queue of ready steps. */
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

/* Steps downstream of a bad end that have not started are settled without running. Only
 * pending steps change: nothing downstream can be running while i had not succeeded. */
static void propagate(struct plan *p, size_t i, enum step_status to)
{
    size_t *down = xmalloc(p->n * sizeof(*down));
    size_t nd = graph_downstream(p->g, i, down);
    for (size_t k = 0; k < nd; k++) {
        size_t j = down[k];
        if (p->status[j] != STEP_PENDING)
            continue;
        set_status(p, j, to);
        p->changed[p->nchanged++] = j;
    }
    free(down);
}

static void settle(struct plan *p, size_t i)
{
    enum step_status s = p->status[i];
    if (step_status_ok(s)) {
        const struct graph_node *nd = &p->g->nodes[i];
        for (size_t k = 0; k < nd->ndependents; k++) {
            size_t j = nd->dependents[k];
            if (p->waiting_on[j] == 0)
                BUG("step %zu has no unfinished dependency left", j);
            if (--p->waiting_on[j] == 0 && p->status[j] == STEP_PENDING)
                push_ready(p, j);
        }
    } else if (s == STEP_SKIPPED || s == STEP_CANCELLED) {
        propagate(p, i, s);
    } else if (step_status_terminal(s)) {
        propagate(p, i, STEP_UPSTREAM_FAILED);
    }
}

void plan_init(struct plan *p, const struct graph *g, const enum step_status *initial)
{
    memset(p, 0, sizeof(*p));
    p->g = g;
    p->n = g->n;
    size_t n = g->n ? g->n : 1;
    p->status = xcalloc(n, sizeof(*p->status));
    p->waiting_on = xcalloc(n, sizeof(*p->waiting_on));
    p->queued = xcalloc(n, sizeof(*p->queued));
    p->ready = xcalloc(n, sizeof(*p->ready));
    p->changed = xcalloc(n, sizeof(*p->changed));
    for (size_t i = 0; i < p->n; i++) {
        p->status[i] = initial ? initial[i] : STEP_PENDING;
        p->count[p->status[i]]++;
        p->waiting_on[i] = g->nodes[i].ndeps;
    }
    /* Settle in topological order so that propagation sees upstream results first. */
    for (size_t k = 0; k < p->n; k++) {
        size_t i = g->order[k];
        if (step_status_terminal(p->status[i]))
            settle(p, i);
    }
    for (size_t k = 0; k < p->n; k++) {
        size_t i = g->order[k];
        if (p->status[i] == STEP_PENDING && p->waiting_on[i] == 0)
            push_ready(p, i);
    }
}

void plan_release(struct plan *p)
{
    free(p->status);
    free(p->waiting_on);
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
        if (p->status[i] == STEP_PENDING && p->waiting_on[i] == 0) {
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
    if (step_status_terminal(to))
        settle(p, i);
    else if (to == STEP_PENDING && p->waiting_on[i] == 0)
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
