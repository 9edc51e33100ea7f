/* Unit tests for pipeline/graph.c: edges from every source, order with ties in file order,
 * reachability, cycle messages, and a 10,000-step chain. Pipelines are filled in by hand so
 * that the graph is tested apart from the loader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/diag.h"
#include "pipeline/expr.h"
#include "pipeline/graph.h"
#include "pipeline/spec.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- building pipelines by hand ---- */

struct fixture {
    struct pipeline p;
    size_t alloc; /* of p.steps */
};

static void fx_init(struct fixture *fx)
{
    memset(fx, 0, sizeof(*fx));
    fx->p.name = xstrdup("test");
}

static size_t add_step(struct fixture *fx, const char *name)
{
    XGROW(fx->p.steps, fx->alloc, fx->p.nsteps + 1);
    struct step *s = &fx->p.steps[fx->p.nsteps];
    memset(s, 0, sizeof(*s));
    s->name = xstrdup(name);
    s->index = fx->p.nsteps;
    s->kind = KIND_TASK;
    return fx->p.nsteps++;
}

static struct step *st(struct fixture *fx, size_t i)
{
    return &fx->p.steps[i];
}

static void add_needs(struct fixture *fx, size_t i, const char *dep)
{
    struct step *s = st(fx, i);
    s->needs = xrealloc(s->needs, (s->nneeds + 1) * sizeof(*s->needs));
    s->needs[s->nneeds].s = xstrdup(dep);
    /* positions as if step i sat on line i + 1: its needs at columns 11, 12, ... */
    s->needs[s->nneeds].pos = (struct pos){(int)i + 1, 11 + (int)s->nneeds};
    s->nneeds++;
}

static void fill_ref(struct ref *r, const char *name, const char *step, const char *output)
{
    memset(r, 0, sizeof(*r));
    r->name = name ? xstrdup(name) : NULL;
    r->step = xstrdup(step);
    r->output = xstrdup(output);
}

static void add_input(struct fixture *fx, size_t i, const char *step)
{
    struct step *s = st(fx, i);
    s->inputs = xrealloc(s->inputs, (s->ninputs + 1) * sizeof(*s->inputs));
    fill_ref(&s->inputs[s->ninputs], "in", step, "out.csv");
    s->inputs[s->ninputs].pos = (struct pos){(int)i + 1, 21 + (int)s->ninputs}; /* 21, 22... */
    s->ninputs++;
}

static void set_when(struct fixture *fx, size_t i, const char *src)
{
    char msg[256];
    int off;
    struct step *s = st(fx, i);
    s->when = expr_parse(src, strlen(src), &off, msg, sizeof(msg));
    if (!s->when)
        fail_msg("cannot parse '%s': %s", src, msg);
    s->when_src = xstrdup(src);
    s->when_pos = (struct pos){(int)i + 1, 31};
}

static void parse_tmpl(struct tmpl *t, const char *src)
{
    char msg[256];
    int off;
    if (tmpl_parse(t, src, &off, msg, sizeof(msg)))
        fail_msg("cannot parse template '%s': %s", src, msg);
}

static void free_ref(struct ref *r)
{
    free(r->name);
    free(r->step);
    free(r->output);
}

static void fx_release(struct fixture *fx)
{
    for (size_t i = 0; i < fx->p.nsteps; i++) {
        struct step *s = st(fx, i);
        free(s->name);
        for (size_t k = 0; k < s->nneeds; k++)
            free(s->needs[k].s);
        free(s->needs);
        for (size_t k = 0; k < s->ninputs; k++)
            free_ref(&s->inputs[k]);
        free(s->inputs);
        if (s->input.step)
            free_ref(&s->input);
        if (s->model.step)
            free_ref(&s->model);
        expr_free(s->when);
        free(s->when_src);
        if (s->run_shell)
            tmpl_release(s->run_shell);
        free(s->run_shell);
        for (size_t k = 0; k < s->run_argc; k++)
            tmpl_release(&s->run_argv[k]);
        free(s->run_argv);
        for (size_t k = 0; k < s->nenv; k++) {
            free(s->env[k].name);
            tmpl_release(&s->env[k].value);
        }
        free(s->env);
    }
    free(fx->p.steps);
    free(fx->p.name);
}

/* Build, expecting success. */
static void build_ok(struct fixture *fx, struct graph *g)
{
    struct diag_list dl = DIAG_LIST_INIT;
    int rc = graph_build(g, &fx->p, &dl);
    for (size_t i = 0; i < dl.n; i++)
        print_message("unexpected diag: %s\n", dl.items[i].msg);
    assert_int_equal(rc, 0);
    assert_int_equal(dl.n, 0);
    diag_list_release(&dl);
}

/* Build, expecting cycles: returns the messages, one per line, each after its "LINE:COL: "
 * when at is set. */
static char *build_cycles_at(struct fixture *fx, bool at)
{
    struct diag_list dl = DIAG_LIST_INIT;
    struct graph g;
    assert_int_equal(graph_build(&g, &fx->p, &dl), -1);
    assert_null(g.nodes); /* released on failure */
    assert_null(g.order);
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < dl.n; i++) {
        if (at && dl.items[i].line)
            strbuf_addf(&sb, "%d:%d: ", dl.items[i].line, dl.items[i].col);
        strbuf_addf(&sb, "%s\n", dl.items[i].msg);
    }
    diag_list_release(&dl);
    return strbuf_detach(&sb, NULL);
}

static char *build_cycles(struct fixture *fx)
{
    return build_cycles_at(fx, false);
}

static void assert_indices(const size_t *got, size_t n, const size_t *want, size_t nwant)
{
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            fail_msg("index %zu: got %zu, want %zu", i, got[i], want[i]);
}
#define ASSERT_INDICES(got, n, ...)                                                                \
    do {                                                                                           \
        const size_t want_[] = {__VA_ARGS__};                                                      \
        assert_indices((got), (n), want_, sizeof(want_) / sizeof(want_[0]));                       \
    } while (0)

/* ---- order ---- */

static void test_independent_steps_keep_file_order(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "zeta");
    add_step(&fx, "alpha");
    add_step(&fx, "mid");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.order, g.n, 0, 1, 2);
    for (size_t i = 0; i < g.n; i++) {
        assert_int_equal(g.nodes[i].ndeps, 0);
        assert_int_equal(g.nodes[i].ndependents, 0);
    }
    graph_release(&g);
    fx_release(&fx);
}

/* A step that becomes ready runs before a later independent one: ties go by file order among
 * everything ready, not by when it became ready (a FIFO queue would give a, c, b). */
static void test_ties_broken_by_file_order(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    size_t a = add_step(&fx, "a");
    size_t b = add_step(&fx, "b");
    add_step(&fx, "c");
    add_needs(&fx, b, "a");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.order, g.n, 0, 1, 2);
    ASSERT_INDICES(g.nodes[b].deps, g.nodes[b].ndeps, a);
    graph_release(&g);
    fx_release(&fx);
}

/* A dependency written after its dependent in the file still comes first. */
static void test_forward_reference(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    size_t train = add_step(&fx, "train");
    add_step(&fx, "report");
    add_step(&fx, "prep");
    add_input(&fx, train, "prep");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.order, g.n, 1, 2, 0); /* report, prep, train */
    graph_release(&g);
    fx_release(&fx);
}

static void test_fan_out_fan_in(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    size_t sink = add_step(&fx, "sink");
    size_t m3 = add_step(&fx, "m3");
    size_t m1 = add_step(&fx, "m1");
    size_t src = add_step(&fx, "src");
    size_t m2 = add_step(&fx, "m2");
    add_needs(&fx, sink, "m2");
    add_needs(&fx, sink, "m3");
    add_input(&fx, sink, "m1");
    add_needs(&fx, m1, "src");
    add_needs(&fx, m2, "src");
    add_input(&fx, m3, "src");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.order, g.n, src, m3, m1, m2, sink);
    /* both lists ascending by index, whatever order they were written in */
    ASSERT_INDICES(g.nodes[sink].deps, g.nodes[sink].ndeps, m3, m1, m2);
    ASSERT_INDICES(g.nodes[src].dependents, g.nodes[src].ndependents, m3, m1, m2);
    ASSERT_INDICES(g.nodes[m1].dependents, g.nodes[m1].ndependents, sink);
    assert_int_equal(g.nodes[src].ndeps, 0);
    assert_int_equal(g.nodes[sink].ndependents, 0);
    graph_release(&g);
    fx_release(&fx);
}

/* ---- edges ---- */

static void test_deps_deduplicated(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    size_t a = add_step(&fx, "a");
    size_t b = add_step(&fx, "b");
    size_t c = add_step(&fx, "c");
    add_needs(&fx, c, "b");
    add_needs(&fx, c, "a");
    add_needs(&fx, c, "b");
    add_input(&fx, c, "a");
    add_input(&fx, c, "b");
    set_when(&fx, c, "steps.a.status == \"succeeded\" && steps.a.metrics.f1 > 0.5");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.nodes[c].deps, g.nodes[c].ndeps, a, b);
    ASSERT_INDICES(g.nodes[a].dependents, g.nodes[a].ndependents, c);
    ASSERT_INDICES(g.nodes[b].dependents, g.nodes[b].ndependents, c);
    graph_release(&g);
    fx_release(&fx);
}

/* needs, inputs, input, model, when, run (string and argv) and env each imply an edge. */
static void test_every_edge_source(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    const char *names[] = {"n", "i", "crawl_in", "model_src", "w", "sh", "argv", "envsrc", "x"};
    size_t k = sizeof(names) / sizeof(names[0]);
    for (size_t i = 0; i < k; i++)
        add_step(&fx, names[i]);
    size_t x = k - 1;
    struct step *s = st(&fx, x);
    add_needs(&fx, x, "n");
    add_input(&fx, x, "i");
    fill_ref(&s->input, NULL, "crawl_in", "raw.csv");
    fill_ref(&s->model, NULL, "model_src", "model.pkl");
    set_when(&fx, x, "steps.w.metrics.f1 >= 0.9");
    s->run_shell = xmalloc(sizeof(*s->run_shell));
    parse_tmpl(s->run_shell, "echo ${{ steps.sh.status }}");
    s->run_argc = 2;
    s->run_argv = xcalloc(2, sizeof(*s->run_argv));
    parse_tmpl(&s->run_argv[0], "echo");
    parse_tmpl(&s->run_argv[1], "--f1=${{ steps.argv.metrics.f1 }}");
    s->nenv = 1;
    s->env = xcalloc(1, sizeof(*s->env));
    s->env[0].name = xstrdup("E");
    parse_tmpl(&s->env[0].value, "${{ steps.envsrc.status }}");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.nodes[x].deps, g.nodes[x].ndeps, 0, 1, 2, 3, 4, 5, 6, 7);
    ASSERT_INDICES(g.order, g.n, 0, 1, 2, 3, 4, 5, 6, 7, 8);
    graph_release(&g);
    fx_release(&fx);
}

/* Unknown steps are the loader's to report: the graph skips them and still builds. */
static void test_unknown_references_skipped(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    size_t a = add_step(&fx, "a");
    size_t b = add_step(&fx, "b");
    add_needs(&fx, b, "ghost");
    add_input(&fx, b, "a");
    set_when(&fx, a, "steps.nobody.status == \"succeeded\"");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.nodes[b].deps, g.nodes[b].ndeps, a);
    assert_int_equal(g.nodes[a].ndeps, 0);
    graph_release(&g);
    fx_release(&fx);
}

static void test_empty_pipeline(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    struct graph g;
    build_ok(&fx, &g);
    assert_int_equal(g.n, 0);
    graph_release(&g);
    fx_release(&fx);
}

/* ---- reachability ---- */

static void test_downstream_upstream(void **state)
{
    (void)state;
    /*   a → b → d → e
     *   a → c → d;  f alone;  g → e  (file order: e g d c b a f) */
    struct fixture fx;
    fx_init(&fx);
    size_t e = add_step(&fx, "e");
    size_t gg = add_step(&fx, "g");
    size_t d = add_step(&fx, "d");
    size_t c = add_step(&fx, "c");
    size_t b = add_step(&fx, "b");
    size_t a = add_step(&fx, "a");
    size_t f = add_step(&fx, "f");
    add_needs(&fx, b, "a");
    add_needs(&fx, c, "a");
    add_needs(&fx, d, "b");
    add_input(&fx, d, "c");
    add_needs(&fx, e, "d");
    add_needs(&fx, e, "g");
    struct graph g;
    build_ok(&fx, &g);
    ASSERT_INDICES(g.order, g.n, gg, a, c, b, d, e, f);

    size_t out[7];
    size_t n = graph_downstream(&g, a, out);
    ASSERT_INDICES(out, n, c, b, d, e); /* topological order */
    n = graph_downstream(&g, c, out);
    ASSERT_INDICES(out, n, d, e);
    n = graph_downstream(&g, e, out);
    assert_int_equal(n, 0);
    n = graph_downstream(&g, f, out);
    assert_int_equal(n, 0);

    n = graph_upstream(&g, e, out);
    ASSERT_INDICES(out, n, gg, a, c, b, d);
    n = graph_upstream(&g, d, out);
    ASSERT_INDICES(out, n, a, c, b);
    n = graph_upstream(&g, a, out);
    assert_int_equal(n, 0);
    graph_release(&g);
    fx_release(&fx);
}

/* ---- cycles ---- */

static void test_cycle_of_two(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "a");
    add_step(&fx, "b");
    add_needs(&fx, 0, "b");
    add_needs(&fx, 1, "a");
    char *msgs = build_cycles(&fx);
    assert_string_equal(msgs, "dependency cycle: a -> b -> a\n");
    free(msgs);
    fx_release(&fx);
}

/* Arrows follow the data: "x -> y" means y waits for x. */
static void test_cycle_of_three_in_flow_direction(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "a");
    add_step(&fx, "b");
    add_step(&fx, "c");
    add_needs(&fx, 0, "b"); /* b -> a */
    add_input(&fx, 1, "c"); /* c -> b */
    set_when(&fx, 2, "steps.a.metrics.f1 > 0"); /* a -> c */
    char *msgs = build_cycles(&fx);
    assert_string_equal(msgs, "dependency cycle: a -> c -> b -> a\n");
    free(msgs);
    fx_release(&fx);
}

static void test_self_loop_through_input(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "ok");
    add_step(&fx, "loop");
    add_input(&fx, 1, "loop");
    char *msgs = build_cycles(&fx);
    assert_string_equal(msgs, "dependency cycle: loop -> loop\n");
    free(msgs);
    fx_release(&fx);
}

/* Two cycles, one downstream of the other and entered at its later step: each is printed
 * once, starting at its step that comes first in the file. */
static void test_two_cycles(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "a");
    add_step(&fx, "b");
    add_step(&fx, "c");
    add_step(&fx, "d");
    add_step(&fx, "e");
    add_needs(&fx, 0, "b");
    add_needs(&fx, 1, "a");
    add_needs(&fx, 2, "d");
    add_needs(&fx, 3, "c");
    add_needs(&fx, 3, "b"); /* so the search reaches d before c */
    add_needs(&fx, 4, "c"); /* downstream of a cycle, not on one */
    char *msgs = build_cycles(&fx);
    assert_string_equal(msgs, "dependency cycle: a -> b -> a\n"
                              "dependency cycle: c -> d -> c\n");
    free(msgs);
    fx_release(&fx);
}

/* A cycle with an acyclic part upstream: the acyclic steps are not named. */
static void test_cycle_below_acyclic_steps(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "x");
    add_step(&fx, "p");
    add_step(&fx, "q");
    add_needs(&fx, 1, "x");
    add_needs(&fx, 1, "q");
    add_needs(&fx, 2, "p");
    char *msgs = build_cycles(&fx);
    assert_string_equal(msgs, "dependency cycle: p -> q -> p\n");
    free(msgs);
    fx_release(&fx);
}

/* Overlapping cycles through one step: each closing edge gives its own cycle. */
static void test_overlapping_cycles(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "a");
    add_step(&fx, "b");
    add_step(&fx, "c");
    add_needs(&fx, 1, "a");
    add_needs(&fx, 2, "a");
    add_needs(&fx, 0, "b");
    add_needs(&fx, 0, "c");
    char *msgs = build_cycles(&fx);
    assert_string_equal(msgs, "dependency cycle: a -> b -> a\n"
                              "dependency cycle: a -> c -> a\n");
    free(msgs);
    fx_release(&fx);
}

/* A cycle is reported where the step that comes first in the file names the one before it
 * in the cycle: the last arrow printed. */
static void test_cycle_points_at_closing_reference(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    add_step(&fx, "a");
    add_step(&fx, "b");
    add_step(&fx, "c");
    add_needs(&fx, 0, "x");
    add_needs(&fx, 0, "c"); /* line 1, column 12 */
    add_needs(&fx, 1, "a");
    add_input(&fx, 2, "b");
    char *msgs = build_cycles_at(&fx, true);
    assert_string_equal(msgs, "1:12: dependency cycle: a -> b -> c -> a\n");
    free(msgs);
    fx_release(&fx);

    /* an input, the when:, a template: whichever names it, in that order */
    fx_init(&fx);
    add_step(&fx, "p");
    add_step(&fx, "q");
    add_step(&fx, "r");
    add_step(&fx, "t");
    add_needs(&fx, 1, "p");
    add_needs(&fx, 2, "p");
    add_needs(&fx, 3, "p");
    add_input(&fx, 0, "q");                            /* q -> p at 1:21 */
    set_when(&fx, 0, "steps.r.status == 'x'");         /* r -> p at 1:31 */
    struct step *s = st(&fx, 0);
    s->run_shell = xmalloc(sizeof(*s->run_shell));
    parse_tmpl(s->run_shell, "echo ${{ steps.t.status }}"); /* t -> p at 1:41 */
    s->run_shell->pos = (struct pos){1, 41};
    msgs = build_cycles_at(&fx, true);
    assert_string_equal(msgs, "1:21: dependency cycle: p -> q -> p\n"
                              "1:31: dependency cycle: p -> r -> p\n"
                              "1:41: dependency cycle: p -> t -> p\n");
    free(msgs);
    fx_release(&fx);

    /* a self-loop: where the step names itself */
    fx_init(&fx);
    add_step(&fx, "ok");
    add_step(&fx, "loop");
    set_when(&fx, 1, "steps.loop.status == 'x'");
    msgs = build_cycles_at(&fx, true);
    assert_string_equal(msgs, "2:31: dependency cycle: loop -> loop\n");
    free(msgs);
    fx_release(&fx);
}

/* A hostile file with many cycles gets a bounded report. */
static void test_many_cycles_capped(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    char name[32];
    for (int i = 0; i < 30; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        size_t k = add_step(&fx, name);
        add_needs(&fx, k, name);
    }
    char *msgs = build_cycles(&fx);
    size_t lines = 0;
    for (const char *s = msgs; *s; s++)
        lines += *s == '\n';
    assert_int_equal(lines, 21);
    assert_non_null(strstr(msgs, "dependency cycle: s0 -> s0\n"));
    assert_non_null(strstr(msgs, "dependency cycle: s19 -> s19\n"));
    assert_null(strstr(msgs, "s20 -> s20"));
    assert_non_null(strstr(msgs, "\n10 more dependency cycles not shown\n"));
    free(msgs);
    fx_release(&fx);
}

/* ---- scale ---- */

#define CHAIN 10000

/* s0 ← s1 ← … written last to first, so every step is ready only after the one below it in
 * the file: the order is the reverse of the file. */
static void test_long_chain(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    char name[32], dep[32];
    for (int i = 0; i < CHAIN; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        size_t k = add_step(&fx, name);
        if (i + 1 < CHAIN) {
            snprintf(dep, sizeof(dep), "s%d", i + 1);
            add_needs(&fx, k, dep);
        }
    }
    struct graph g;
    build_ok(&fx, &g);
    for (size_t k = 0; k < CHAIN; k++)
        if (g.order[k] != CHAIN - 1 - k)
            fail_msg("order[%zu] = %zu", k, g.order[k]);
    size_t *out = xmalloc(CHAIN * sizeof(*out));
    size_t n = graph_downstream(&g, CHAIN - 1, out);
    assert_int_equal(n, CHAIN - 1);
    assert_int_equal(out[0], CHAIN - 2);
    assert_int_equal(out[n - 1], 0);
    n = graph_upstream(&g, 0, out);
    assert_int_equal(n, CHAIN - 1);
    assert_int_equal(out[0], CHAIN - 1);
    free(out);
    graph_release(&g);
    fx_release(&fx);
}

/* Closing the chain into one cycle of 10,000 steps: the search must not recurse. */
static void test_long_cycle(void **state)
{
    (void)state;
    struct fixture fx;
    fx_init(&fx);
    char name[32], dep[32];
    for (int i = 0; i < CHAIN; i++) {
        snprintf(name, sizeof(name), "s%d", i);
        size_t k = add_step(&fx, name);
        snprintf(dep, sizeof(dep), "s%d", (i + CHAIN - 1) % CHAIN);
        add_needs(&fx, k, dep);
    }
    char *msgs = build_cycles(&fx);
    const char *head = "dependency cycle: s0 -> s1 -> s2 -> ", *tail = " -> s9999 -> s0\n";
    assert_memory_equal(msgs, head, strlen(head));
    size_t len = strlen(msgs);
    assert_true(len > strlen(tail));
    assert_string_equal(msgs + len - strlen(tail), tail);
    assert_ptr_equal(strchr(msgs, '\n'), msgs + len - 1); /* one message */
    free(msgs);
    fx_release(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_independent_steps_keep_file_order),
        cmocka_unit_test(test_ties_broken_by_file_order),
        cmocka_unit_test(test_forward_reference),
        cmocka_unit_test(test_fan_out_fan_in),
        cmocka_unit_test(test_deps_deduplicated),
        cmocka_unit_test(test_every_edge_source),
        cmocka_unit_test(test_unknown_references_skipped),
        cmocka_unit_test(test_empty_pipeline),
        cmocka_unit_test(test_downstream_upstream),
        cmocka_unit_test(test_cycle_of_two),
        cmocka_unit_test(test_cycle_of_three_in_flow_direction),
        cmocka_unit_test(test_self_loop_through_input),
        cmocka_unit_test(test_two_cycles),
        cmocka_unit_test(test_cycle_points_at_closing_reference),
        cmocka_unit_test(test_cycle_below_acyclic_steps),
        cmocka_unit_test(test_overlapping_cycles),
        cmocka_unit_test(test_many_cycles_capped),
        cmocka_unit_test(test_long_chain),
        cmocka_unit_test(test_long_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
