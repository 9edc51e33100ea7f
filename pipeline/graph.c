/* The dependency graph of a pipeline: edges from needs, inputs and steps.X references,
 * a topological order (Kahn, ties in file order) and, when that fails, the cycles.
 * A cycle is written in the direction data flows: "a -> b" means b waits for a. */
#include "pipeline/graph.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/strmap.h"
#include "util/xalloc.h"

/* Past this many cycles a hostile file could make the messages quadratic in its size. */
#define MAX_CYCLES_SHOWN 20

/* A growable array of step indices. */
struct ivec {
    size_t *v;
    size_t n, alloc;
};

static void ivec_push(struct ivec *a, size_t x)
{
    XGROW(a->v, a->alloc, a->n + 1);
    a->v[a->n++] = x;
}

/* State while collecting the dependencies of one step. */
struct collect {
    const struct strmap *names; /* step name → index */
    struct ivec *deps;          /* every step's deps, one step after another */
    size_t *seen;               /* seen[j] == cur + 1: j is already a dep of cur */
    size_t cur;                 /* the step being collected */
};

static void add_dep(struct collect *c, const char *name)
{
    size_t j;
    if (!name || !strmap_get(c->names, name, &j) || c->seen[j] == c->cur + 1)
        return;
    c->seen[j] = c->cur + 1;
    ivec_push(c->deps, j);
}

static void add_dep_cb(void *data, const char *name)
{
    add_dep(data, name);
}

static void add_tmpl_deps(struct collect *c, const struct tmpl *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].expr)
            expr_each_step(t->parts[i].expr, add_dep_cb, c);
}

static void collect_step(struct collect *c, const struct step *s)
{
    for (size_t i = 0; i < s->nneeds; i++)
        add_dep(c, s->needs[i].s);
    for (size_t i = 0; i < s->ninputs; i++)
        add_dep(c, s->inputs[i].step);
    add_dep(c, s->input.step);
    add_dep(c, s->model.step);
    if (s->when)
        expr_each_step(s->when, add_dep_cb, c);
    if (s->run_shell)
        add_tmpl_deps(c, s->run_shell);
    for (size_t i = 0; s->run_argv && i < s->run_argc; i++)
        add_tmpl_deps(c, &s->run_argv[i]);
    for (size_t i = 0; i < s->nenv; i++)
        add_tmpl_deps(c, &s->env[i].value);
}

static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* A binary min-heap of step indices: the ready step that comes first in the file pops first. */
struct heap {
    size_t *v;
    size_t n;
};

static void heap_push(struct heap *h, size_t x)
{
    size_t i = h->n++;
    while (i > 0 && h->v[(i - 1) / 2] > x) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
}

static size_t heap_pop(struct heap *h)
{
    size_t top = h->v[0], last = h->v[--h->n], i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c])
            c++;
        if (h->v[c] >= last)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n)
        h->v[i] = last;
    return top;
}

/* Kahn's algorithm. Fills g->order and returns how many steps it could order (n unless
 * there is a cycle); done[i] is set for each ordered step. */
static size_t topo_sort(struct graph *g, bool *done)
{
    size_t *missing = xmalloc(g->n * sizeof(*missing)); /* deps not yet ordered */
    struct heap h = {xmalloc(g->n * sizeof(size_t)), 0};
    size_t k = 0;
    for (size_t i = 0; i < g->n; i++) {
        missing[i] = g->nodes[i].ndeps;
        if (!missing[i])
            heap_push(&h, i);
    }
    while (h.n) {
        size_t i = heap_pop(&h);
        g->order[k++] = i;
        done[i] = true;
        for (size_t d = 0; d < g->nodes[i].ndependents; d++) {
            size_t j = g->nodes[i].dependents[d];
            if (!--missing[j])
                heap_push(&h, j);
        }
    }
    free(h.v);
    free(missing);
    return k;
}

static bool expr_names(const struct expr *e, const char *step)
{
    if (!e)
        return false;
    if ((e->op == EXPR_STEP_METRIC || e->op == EXPR_STEP_STATUS) && !strcmp(e->step, step))
        return true;
    return expr_names(e->lhs, step) || expr_names(e->rhs, step);
}

static bool tmpl_names(const struct tmpl *t, const char *step)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (expr_names(t->parts[i].expr, step))
            return true;
    return false;
}

/* Where s names step, in the order collect_step reads its references: the needs: entry, the
 * input, or the start of the when: or template that refers to it. */
static struct pos dep_pos(const struct step *s, const char *step)
{
    struct pos none = {0, 0};
    for (size_t i = 0; i < s->nneeds; i++)
        if (!strcmp(s->needs[i].s, step))
            return s->needs[i].pos;
    for (size_t i = 0; i < s->ninputs; i++)
        if (!strcmp(s->inputs[i].step, step))
            return s->inputs[i].pos;
    if (s->input.step && !strcmp(s->input.step, step))
        return s->input.pos;
    if (s->model.step && !strcmp(s->model.step, step))
        return s->model.pos;
    if (expr_names(s->when, step))
        return s->when_pos;
    if (s->run_shell && tmpl_names(s->run_shell, step))
        return s->run_shell->pos;
    for (size_t i = 0; s->run_argv && i < s->run_argc; i++)
        if (tmpl_names(&s->run_argv[i], step))
            return s->run_argv[i].pos;
    for (size_t i = 0; i < s->nenv; i++)
        if (tmpl_names(&s->env[i].value, step))
            return s->env[i].value.pos;
    return none;
}

/* Add "dependency cycle: ..." for the cycle path[0] -> ... -> path[len-1] -> path[0],
 * rotated to start at the step that comes first in the file, at the reference that closes
 * it: where that step names the one before it. */
static void report_cycle(const struct pipeline *p, const size_t *path, size_t len,
                         struct diag_list *diags)
{
    size_t first = 0;
    for (size_t i = 1; i < len; i++)
        if (path[i] < path[first])
            first = i;
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "dependency cycle: ");
    for (size_t i = 0; i <= len; i++)
        strbuf_addf(&sb, "%s%s", i ? " -> " : "", p->steps[path[(first + i) % len]].name);
    const struct step *closer = &p->steps[path[first]];
    struct pos at = dep_pos(closer, p->steps[path[(first + len - 1) % len]].name);
    diag_add(diags, at.line, at.col, "%s", sb.buf);
    strbuf_release(&sb);
}

enum mark { WHITE, GREY, BLACK }; /* not visited, on the DFS stack, finished */

/* An iterative DFS along dependents (a chain of 10,000 steps must not overflow the C stack),
 * from each unordered step in file order. Every edge to a step on the stack closes a cycle:
 * the stack from that step up. Each such edge is seen once, so no cycle is printed twice.
 * Tangled cycles may not all be listed, but while any cycle is left one is found, so fixing
 * what is printed and validating again converges. Steps in done[] are on no cycle; skipped. */
static void find_cycles(const struct graph *g, const struct pipeline *p, const bool *done,
                        struct diag_list *diags)
{
    unsigned char *mark = xcalloc(g->n, 1);
    size_t *stack = xmalloc(g->n * sizeof(*stack)); /* the current path */
    size_t *next = xmalloc(g->n * sizeof(*next));   /* stack[k]'s next dependent to visit */
    size_t *depth = xmalloc(g->n * sizeof(*depth)); /* a GREY step's position in stack */
    size_t shown = 0, more = 0;

    for (size_t root = 0; root < g->n; root++) {
        if (done[root] || mark[root] != WHITE)
            continue;
        size_t sp = 0;
        stack[sp] = root;
        next[sp] = 0;
        depth[root] = sp++;
        mark[root] = GREY;
        while (sp) {
            size_t u = stack[sp - 1];
            const struct graph_node *nu = &g->nodes[u];
            if (next[sp - 1] == nu->ndependents) {
                mark[u] = BLACK;
                sp--;
                continue;
            }
            size_t v = nu->dependents[next[sp - 1]++];
            if (done[v] || mark[v] == BLACK)
                continue;
            if (mark[v] == GREY) {
                if (shown < MAX_CYCLES_SHOWN) {
                    report_cycle(p, &stack[depth[v]], sp - depth[v], diags);
                    shown++;
                } else {
                    more++;
                }
                continue;
            }
            mark[v] = GREY;
            stack[sp] = v;
            next[sp] = 0;
            depth[v] = sp++;
        }
    }
    if (more)
        diag_add(diags, 0, 0, "%zu more dependency cycles not shown", more);
    free(depth);
    free(next);
    free(stack);
    free(mark);
}

int graph_build(struct graph *g, const struct pipeline *p, struct diag_list *diags)
{
    size_t n = p->nsteps;
    struct strmap names = STRMAP_INIT;
    strmap_reserve(&names, n);
    for (size_t i = 0; i < n; i++)
        strmap_add(&names, p->steps[i].name, i, NULL); /* a duplicate is the loader's error */

    /* Gather each step's deps into one array (step i's at start[i]..start[i+1]), then place
     * nodes and both edge lists in a single block, so graph_release frees one pointer. */
    struct ivec deps = {NULL, 0, 0};
    size_t *start = xmalloc((n + 1) * sizeof(*start));
    size_t *seen = xcalloc(n ? n : 1, sizeof(*seen));
    struct collect c = {&names, &deps, seen, 0};
    for (size_t i = 0; i < n; i++) {
        start[i] = deps.n;
        c.cur = i;
        collect_step(&c, &p->steps[i]);
        if (deps.n - start[i] > 1)
            qsort(deps.v + start[i], deps.n - start[i], sizeof(size_t), cmp_size);
    }
    start[n] = deps.n;
    strmap_release(&names);

    size_t ne = deps.n;
    g->n = n;
    g->nodes = xmalloc(n * sizeof(*g->nodes) + 2 * ne * sizeof(size_t));
    size_t *dep_pool = (size_t *)(g->nodes + n), *rev_pool = dep_pool + ne;
    if (ne)
        memcpy(dep_pool, deps.v, ne * sizeof(size_t));
    free(deps.v);

    /* Dependents by counting sort: count, prefix-sum, fill. Sources are visited in ascending
     * order, so each dependents list comes out ascending. seen[] is reused as the counts. */
    memset(seen, 0, n * sizeof(*seen));
    for (size_t e = 0; e < ne; e++)
        seen[dep_pool[e]]++;
    for (size_t i = 0, off = 0; i < n; i++) {
        g->nodes[i].deps = dep_pool + start[i];
        g->nodes[i].ndeps = start[i + 1] - start[i];
        g->nodes[i].dependents = rev_pool + off;
        g->nodes[i].ndependents = 0;
        g->nodes[i].rule = p->steps[i].trigger_rule;
        off += seen[i];
    }
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < g->nodes[i].ndeps; d++) {
            struct graph_node *up = &g->nodes[g->nodes[i].deps[d]];
            up->dependents[up->ndependents++] = i;
        }
    free(seen);
    free(start);

    g->order = xmalloc((n ? n : 1) * sizeof(*g->order));
    bool *done = xcalloc(n ? n : 1, sizeof(*done));
    int rc = 0;
    if (topo_sort(g, done) < n) {
        find_cycles(g, p, done, diags);
        graph_release(g);
        rc = -1;
    }
    free(done);
    return rc;
}

void graph_release(struct graph *g)
{
    free(g->nodes); /* the edge lists live in the same block */
    free(g->order);
    g->nodes = NULL;
    g->order = NULL;
    g->n = 0;
}

/* Every step reachable from i along the given direction, in topological order. out doubles
 * as the BFS queue, then is overwritten in order. */
static size_t reach(const struct graph *g, size_t i, size_t *out, bool down)
{
    if (i >= g->n)
        BUG("step index %zu out of range (%zu steps)", i, g->n);
    bool *hit = xcalloc(g->n, sizeof(*hit));
    size_t n = 0;
    hit[i] = true;
    for (size_t k = 0, u = i;; u = out[k++]) {
        const struct graph_node *nu = &g->nodes[u];
        const size_t *next = down ? nu->dependents : nu->deps;
        size_t nnext = down ? nu->ndependents : nu->ndeps;
        for (size_t d = 0; d < nnext; d++)
            if (!hit[next[d]]) {
                hit[next[d]] = true;
                out[n++] = next[d];
            }
        if (k == n)
            break;
    }
    size_t m = 0;
    for (size_t k = 0; k < g->n && m < n; k++)
        if (g->order[k] != i && hit[g->order[k]])
            out[m++] = g->order[k];
    free(hit);
    return m;
}

size_t graph_downstream(const struct graph *g, size_t i, size_t *out)
{
    return reach(g, i, out, true);
}

size_t graph_upstream(const struct graph *g, size_t i, size_t *out)
{
    return reach(g, i, out, false);
}
