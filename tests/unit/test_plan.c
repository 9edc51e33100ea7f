/* The plan driven by a fake executor: no loop, no processes, no store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/graph.h"
#include "pipeline/load.h"
#include "scheduler/plan.h"

struct fixture {
    struct pipeline *p;
    struct graph g;
    struct plan plan;
};

static void setup_text(struct fixture *f, const char *yaml)
{
    struct diag_list dl = DIAG_LIST_INIT;
    f->p = pipeline_load_text("/tmp/t.yaml", yaml, strlen(yaml), &dl);
    if (!f->p) {
        for (size_t i = 0; i < dl.n; i++)
            print_error("%d:%d: %s\n", dl.items[i].line, dl.items[i].col, dl.items[i].msg);
        fail_msg("pipeline did not load");
    }
    diag_list_release(&dl);
    assert_int_equal(graph_build(&f->g, f->p, NULL), 0);
    plan_init(&f->plan, &f->g, NULL);
}

static void teardown(struct fixture *f)
{
    plan_release(&f->plan);
    graph_release(&f->g);
    pipeline_free(f->p);
}

static size_t idx(struct fixture *f, const char *name)
{
    struct step *s = pipeline_step(f->p, name);
    assert_non_null(s);
    return s->index;
}

/* Pop every ready step's name into buf, space-separated. */
static void ready(struct fixture *f, char *buf, size_t n)
{
    buf[0] = '\0';
    size_t i;
    while (plan_next_ready(&f->plan, &i)) {
        if (buf[0])
            strncat(buf, " ", n - strlen(buf) - 1);
        strncat(buf, f->p->steps[i].name, n - strlen(buf) - 1);
        plan_set(&f->plan, i, STEP_RUNNING);
    }
}

static const char diamond[] = "pipeline: d\n"
                              "steps:\n"
                              "  a: {run: 'true'}\n"
                              "  b: {run: 'true', needs: [a]}\n"
                              "  c: {run: 'true', needs: [a]}\n"
                              "  d: {run: 'true', needs: [b, c]}\n"
                              "  e: {run: 'true'}\n";

static void test_order_of_ready_steps(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    char buf[256];
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "a e");
    plan_set(&f.plan, idx(&f, "a"), STEP_SUCCEEDED);
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "b c");
    plan_set(&f.plan, idx(&f, "b"), STEP_SUCCEEDED);
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, ""); /* d still waits for c */
    plan_set(&f.plan, idx(&f, "c"), STEP_SUCCEEDED);
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "d");
    assert_false(plan_finished(&f.plan));
    plan_set(&f.plan, idx(&f, "d"), STEP_SUCCEEDED);
    plan_set(&f.plan, idx(&f, "e"), STEP_SUCCEEDED);
    assert_true(plan_finished(&f.plan));
    assert_int_equal(plan_outcome(&f.plan), RUN_SUCCEEDED);
    teardown(&f);
}

static void test_failure_propagates_but_branches_go_on(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    char buf[256];
    ready(&f, buf, sizeof(buf));
    plan_set(&f.plan, idx(&f, "a"), STEP_FAILED);
    size_t changed[8];
    size_t n = plan_changes(&f.plan, changed);
    assert_int_equal(n, 3);
    assert_int_equal(f.plan.status[idx(&f, "b")], STEP_UPSTREAM_FAILED);
    assert_int_equal(f.plan.status[idx(&f, "c")], STEP_UPSTREAM_FAILED);
    assert_int_equal(f.plan.status[idx(&f, "d")], STEP_UPSTREAM_FAILED);
    assert_int_equal(plan_changes(&f.plan, changed), 0);
    assert_false(plan_finished(&f.plan)); /* e still runs */
    plan_set(&f.plan, idx(&f, "e"), STEP_SUCCEEDED);
    assert_true(plan_finished(&f.plan));
    assert_int_equal(plan_outcome(&f.plan), RUN_FAILED);
    teardown(&f);
}

static void test_skip_propagates(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    char buf[256];
    ready(&f, buf, sizeof(buf));
    plan_set(&f.plan, idx(&f, "a"), STEP_SUCCEEDED);
    size_t i;
    /* when: is decided while the step is still pending */
    assert_true(plan_next_ready(&f.plan, &i));
    assert_int_equal(i, idx(&f, "b"));
    plan_set(&f.plan, i, STEP_SKIPPED);
    assert_int_equal(f.plan.status[idx(&f, "d")], STEP_SKIPPED);
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "c");
    plan_set(&f.plan, idx(&f, "c"), STEP_SUCCEEDED);
    plan_set(&f.plan, idx(&f, "e"), STEP_SUCCEEDED);
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "");
    assert_true(plan_finished(&f.plan));
    assert_int_equal(plan_outcome(&f.plan), RUN_SUCCEEDED);
    teardown(&f);
}

static void test_retrying_holds_dependents(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    char buf[256];
    ready(&f, buf, sizeof(buf));
    size_t a = idx(&f, "a");
    plan_set(&f.plan, a, STEP_RETRYING);
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "");
    plan_set(&f.plan, a, STEP_RUNNING);
    plan_set(&f.plan, a, STEP_SUCCEEDED);
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "b c");
    teardown(&f);
}

static void test_waiting_only(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, "pipeline: w\nsteps:\n  t: {run: 'true'}\n"
                   "  gate: {kind: approve, needs: [t]}\n  after: {run: 'true', needs: [gate]}\n");
    size_t i;
    assert_true(plan_next_ready(&f.plan, &i));
    plan_set(&f.plan, i, STEP_RUNNING);
    assert_false(plan_only_waiting(&f.plan));
    plan_set(&f.plan, i, STEP_SUCCEEDED);
    assert_true(plan_next_ready(&f.plan, &i));
    assert_int_equal(i, idx(&f, "gate"));
    plan_set(&f.plan, i, STEP_WAITING);
    assert_true(plan_only_waiting(&f.plan));
    plan_set(&f.plan, i, STEP_SUCCEEDED);
    assert_false(plan_only_waiting(&f.plan));
    teardown(&f);
}

static void test_resume_from_stored_statuses(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    plan_release(&f.plan);
    enum step_status init[5] = {STEP_SUCCEEDED, STEP_FAILED, STEP_RUNNING, STEP_PENDING,
                                STEP_PENDING};
    plan_init(&f.plan, &f.g, init);
    /* d's upstream b failed: settled at once; e is ready; c runs on. */
    assert_int_equal(f.plan.status[idx(&f, "d")], STEP_UPSTREAM_FAILED);
    size_t changed[8];
    assert_int_equal(plan_changes(&f.plan, changed), 1);
    char buf[256];
    ready(&f, buf, sizeof(buf));
    assert_string_equal(buf, "e");
    teardown(&f);
}

static void test_cancel_propagates_cancelled(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    char buf[256];
    ready(&f, buf, sizeof(buf));
    plan_set(&f.plan, idx(&f, "a"), STEP_CANCELLED);
    assert_int_equal(f.plan.status[idx(&f, "d")], STEP_CANCELLED);
    plan_set(&f.plan, idx(&f, "e"), STEP_SUCCEEDED);
    assert_int_equal(plan_outcome(&f.plan), RUN_CANCELLED);
    teardown(&f);
}

static void test_unpop_keeps_order(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    size_t i, j;
    assert_true(plan_next_ready(&f.plan, &i));
    assert_string_equal(f.p->steps[i].name, "a");
    plan_unpop(&f.plan, i);
    assert_true(plan_next_ready(&f.plan, &j));
    assert_int_equal(i, j);
    teardown(&f);
}

static void test_transition_table(void **state)
{
    (void)state;
    assert_true(step_transition_ok(STEP_PENDING, STEP_RUNNING));
    assert_true(step_transition_ok(STEP_RUNNING, STEP_RETRYING));
    assert_true(step_transition_ok(STEP_WAITING, STEP_SUCCEEDED));
    assert_false(step_transition_ok(STEP_SUCCEEDED, STEP_RUNNING));
    assert_false(step_transition_ok(STEP_FAILED, STEP_SUCCEEDED));
    assert_false(step_transition_ok(STEP_PENDING, STEP_RETRYING));
    assert_true(run_transition_ok(RUN_RUNNING, RUN_WAITING));
    assert_false(run_transition_ok(RUN_SUCCEEDED, RUN_RUNNING));
    enum step_status s;
    assert_int_equal(step_status_parse("upstream_failed", &s), 0);
    assert_int_equal(s, STEP_UPSTREAM_FAILED);
    assert_int_equal(step_status_parse("nope", &s), -1);
}

static void test_wide_plan_is_linear(void **state)
{
    (void)state;
    /* 20 layers of 50, each step needing the whole previous layer. */
    struct strbuf {
        char *b;
        size_t n, a;
    } sb = {0};
    size_t cap = 1 << 22;
    sb.b = malloc(cap);
    sb.n = (size_t)snprintf(sb.b, cap, "pipeline: l\nsteps:\n");
    for (int l = 0; l < 20; l++)
        for (int k = 0; k < 50; k++) {
            sb.n += (size_t)snprintf(sb.b + sb.n, cap - sb.n, "  s%d_%d:\n    run: 'true'\n", l, k);
            if (l) {
                sb.n += (size_t)snprintf(sb.b + sb.n, cap - sb.n, "    needs: [");
                for (int q = 0; q < 50; q++)
                    sb.n += (size_t)snprintf(sb.b + sb.n, cap - sb.n, "%ss%d_%d", q ? ", " : "",
                                             l - 1, q);
                sb.n += (size_t)snprintf(sb.b + sb.n, cap - sb.n, "]\n");
            }
        }
    struct fixture f;
    setup_text(&f, sb.b);
    free(sb.b);
    size_t i, done = 0;
    while (plan_next_ready(&f.plan, &i)) {
        plan_set(&f.plan, i, STEP_RUNNING);
        plan_set(&f.plan, i, STEP_SUCCEEDED);
        done++;
    }
    assert_int_equal(done, 1000);
    assert_true(plan_finished(&f.plan));
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_of_ready_steps),
        cmocka_unit_test(test_failure_propagates_but_branches_go_on),
        cmocka_unit_test(test_skip_propagates),
        cmocka_unit_test(test_retrying_holds_dependents),
        cmocka_unit_test(test_waiting_only),
        cmocka_unit_test(test_resume_from_stored_statuses),
        cmocka_unit_test(test_cancel_propagates_cancelled),
        cmocka_unit_test(test_unpop_keeps_order),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_wide_plan_is_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
