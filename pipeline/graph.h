/* The dependency graph of a pipeline: edges = needs ∪ steps named by inputs, input, model and
 * by steps.X references in when: and templates. Plain arrays of step indices. */
#ifndef SLUICE_GRAPH_H
#define SLUICE_GRAPH_H

#include <stddef.h>

#include "pipeline/diag.h"
#include "pipeline/spec.h"

struct graph_node {
    size_t *deps; /* indices of the steps this one waits for, ascending, no duplicates */
    size_t ndeps;
    size_t *dependents; /* indices of the steps that wait for this one, ascending */
    size_t ndependents;
    enum trigger_rule rule; /* how the ends of deps decide this step (the step's trigger_rule) */
};

struct graph {
    size_t n;
    struct graph_node *nodes; /* nodes[i] is pipeline.steps[i] */
    size_t *order;            /* a topological order (dependencies first; ties in file order) */
};

/* Build the graph. Unknown step references are the loader's to report; they are skipped
 * here. Returns 0, or -1 when there is a cycle: each cycle is added to diags as
 * "dependency cycle: a -> b -> c -> a", at the reference that closes it (where a, the step
 * that comes first in the file, names c: its needs: entry, its input, or the when: or
 * template that refers to c), and g is released. */
int graph_build(struct graph *g, const struct pipeline *p, struct diag_list *diags);
void graph_release(struct graph *g);

/* All steps that transitively depend on i (not including i), in topological order. Writes up
 * to g->n indices to out, returns the count. */
size_t graph_downstream(const struct graph *g, size_t i, size_t *out);
/* All steps that i transitively depends on, in topological order. */
size_t graph_upstream(const struct graph *g, size_t i, size_t *out);

#endif
