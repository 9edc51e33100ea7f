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

/* Pop every ready step and check their names, in order. */
static void assert_ready(struct fixture *f, const char *want)
{
    char buf[256];
    ready(f, buf, sizeof(buf));
    assert_string_equal(buf, want);
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

/* Each trigger rule against how two upstream steps ended so far (and against none). Rows:
 * nothing ended; one succeeded, one still running; both succeeded; one skipped, one running;
 * one succeeded, one skipped; both skipped; one failed, one running; one succeeded, one
 * failed; one skipped, one failed; one cancelled, one running; one succeeded, one cancelled;
 * no upstream step at all. */
static void test_trigger_rule_table(void **state)
{
    (void)state;
    static const struct plan_tally rows[] = {
        {2, 0, 0, 0, 0}, {2, 1, 0, 0, 0}, {2, 2, 0, 0, 0}, {2, 0, 1, 0, 0},
        {2, 1, 1, 0, 0}, {2, 0, 2, 0, 0}, {2, 0, 0, 1, 0}, {2, 1, 0, 1, 0},
        {2, 0, 1, 1, 0}, {2, 0, 0, 0, 1}, {2, 1, 0, 0, 1}, {0, 0, 0, 0, 0},
    };
    /* W wait, R ready, S skipped, U upstream_failed, C cancelled; one letter per row */
    static const char *const want[TRIGGER_RULE_COUNT] = {
        [TRIGGER_ALL_SUCCESS] = "WWRSSSUUUCCR",
        [TRIGGER_NONE_FAILED] = "WWRWRRUUUCCR",
        [TRIGGER_NONE_FAILED_MIN_ONE_SUCCESS] = "WWRWRSUUUCCR",
        [TRIGGER_ALL_DONE] = "WWRWRRWRRCCR",
        [TRIGGER_ONE_SUCCESS] = "WWRWRSWRUCCR",
        [TRIGGER_ONE_FAILED] = "WWSWSSWRRCCR",
    };
    static const char letter[] = {[PLAN_WAIT] = 'W', [PLAN_READY] = 'R', [PLAN_SKIP] = 'S',
                                  [PLAN_UPSTREAM_FAILED] = 'U', [PLAN_CANCEL] = 'C'};
    for (int r = 0; r < TRIGGER_RULE_COUNT; r++) {
        char got[sizeof(rows) / sizeof(rows[0]) + 1] = "";
        for (size_t k = 0; k < sizeof(rows) / sizeof(rows[0]); k++)
            got[k] = letter[plan_rule_verdict((enum trigger_rule)r, &rows[k])];
        if (strcmp(got, want[r]))
            print_error("trigger_rule %s\n", trigger_rule_name((enum trigger_rule)r));
        assert_string_equal(got, want[r]);
    }
}

static const char branch[] = "pipeline: b\n"
                             "steps:\n"
                             "  start: {run: 'true'}\n"
                             "  left: {run: 'true', needs: [start]}\n"
                             "  right: {run: 'true', needs: [start]}\n"
                             "  join: {run: 'true', needs: [left, right],\n"
                             "         trigger_rule: none_failed}\n"
                             "  plain: {run: 'true', needs: [left, right]}\n"
                             "  after: {run: 'true', needs: [join]}\n";

/* The join after a branch: none_failed runs once both sides ended, one of them skipped; the
 * default rule skips at the first skipped side. */
static void test_join_after_branch(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, branch);
    assert_ready(&f, "start");
    plan_set(&f.plan, idx(&f, "start"), STEP_SUCCEEDED);
    size_t i;
    assert_true(plan_next_ready(&f.plan, &i));
    assert_int_equal(i, idx(&f, "left"));
    plan_set(&f.plan, i, STEP_SKIPPED); /* its when: was false */
    assert_int_equal(f.plan.status[idx(&f, "plain")], STEP_SKIPPED);
    assert_int_equal(f.plan.status[idx(&f, "join")], STEP_PENDING);
    assert_true(plan_next_ready(&f.plan, &i));
    assert_int_equal(i, idx(&f, "right")); /* join still waits for it */
    assert_false(plan_next_ready(&f.plan, &i));
    plan_set(&f.plan, idx(&f, "right"), STEP_CACHED); /* a cache hit counts as a success */
    assert_ready(&f, "join");
    plan_set(&f.plan, idx(&f, "join"), STEP_SUCCEEDED);
    assert_ready(&f, "after");
    plan_set(&f.plan, idx(&f, "after"), STEP_SUCCEEDED);
    assert_true(plan_finished(&f.plan));
    assert_int_equal(plan_outcome(&f.plan), RUN_SUCCEEDED);
    assert_int_equal(f.plan.nunrun, 1); /* plain; left decided itself */
    teardown(&f);
}

static const char cleanup[] = "pipeline: c\n"
                              "steps:\n"
                              "  a: {run: 'true'}\n"
                              "  b: {run: 'true', needs: [a]}\n"
                              "  c: {run: 'true'}\n"
                              "  undo: {run: 'true', needs: [b, c], trigger_rule: one_failed}\n"
                              "  report: {run: 'true', needs: [b, c], trigger_rule: all_done}\n"
                              "  any: {run: 'true', needs: [b, c], trigger_rule: one_success}\n"
                              "  after_undo: {run: 'true', needs: [undo]}\n";

/* a fails: b is upstream_failed, which counts as failed, so the one_failed step runs once c
 * has ended too, and all_done and one_success run; the run still fails. */
static void test_one_failed_and_all_done_after_a_failure(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, cleanup);
    assert_ready(&f, "a c");
    plan_set(&f.plan, idx(&f, "a"), STEP_LOST);
    assert_int_equal(f.plan.status[idx(&f, "b")], STEP_UPSTREAM_FAILED);
    assert_ready(&f, ""); /* c has not ended: sluice waits for every upstream */
    plan_set(&f.plan, idx(&f, "c"), STEP_SUCCEEDED);
    assert_ready(&f, "undo report any");
    plan_set(&f.plan, idx(&f, "undo"), STEP_SUCCEEDED);
    plan_set(&f.plan, idx(&f, "report"), STEP_SUCCEEDED);
    plan_set(&f.plan, idx(&f, "any"), STEP_SUCCEEDED);
    assert_ready(&f, "after_undo");
    plan_set(&f.plan, idx(&f, "after_undo"), STEP_SUCCEEDED);
    assert_true(plan_finished(&f.plan));
    assert_int_equal(plan_outcome(&f.plan), RUN_FAILED);
    teardown(&f);
}

/* Nothing failed: the one_failed step and what needs it are skipped, without running. */
static void test_one_failed_skipped_when_all_succeed(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, cleanup);
    assert_ready(&f, "a c");
    plan_set(&f.plan, idx(&f, "a"), STEP_SUCCEEDED);
    plan_set(&f.plan, idx(&f, "c"), STEP_SUCCEEDED);
    assert_ready(&f, "b");
    plan_set(&f.plan, idx(&f, "b"), STEP_SUCCEEDED);
    size_t changed[16];
    assert_int_equal(plan_changes(&f.plan, changed), 2);
    assert_int_equal(f.plan.status[idx(&f, "undo")], STEP_SKIPPED);
    assert_int_equal(f.plan.status[idx(&f, "after_undo")], STEP_SKIPPED);
    assert_ready(&f, "report any");
    plan_set(&f.plan, idx(&f, "report"), STEP_SUCCEEDED);
    plan_set(&f.plan, idx(&f, "any"), STEP_SUCCEEDED);
    assert_true(plan_finished(&f.plan));
    assert_int_equal(plan_outcome(&f.plan), RUN_SUCCEEDED);
    assert_int_equal(f.plan.nunrun, 2);
    teardown(&f);
}

/* One end settles several steps: each is judged once every step before it in topological
 * order has been, whatever the order of the file. y fails; then x is skipped, which skips
 * left (all_success) and leaves right (one_success) with no success: upstream_failed. last
 * needs both: a failed upstream outweighs a skipped one, as in Airflow. */
static void test_settled_in_topological_order(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, "pipeline: t\n"
                   "steps:\n"
                   "  last: {run: 'true', needs: [left, right]}\n"
                   "  x: {run: 'true'}\n"
                   "  y: {run: 'true'}\n"
                   "  left: {run: 'true', needs: [x]}\n"
                   "  right: {run: 'true', needs: [x, y], trigger_rule: one_success}\n");
    size_t x, y;
    assert_true(plan_next_ready(&f.plan, &x));
    assert_true(plan_next_ready(&f.plan, &y));
    assert_int_equal(x, idx(&f, "x"));
    assert_int_equal(y, idx(&f, "y"));
    plan_set(&f.plan, y, STEP_RUNNING);
    plan_set(&f.plan, y, STEP_FAILED);
    assert_int_equal(f.plan.status[idx(&f, "right")], STEP_PENDING);
    plan_set(&f.plan, x, STEP_SKIPPED); /* its when: was false */
    assert_int_equal(f.plan.status[idx(&f, "left")], STEP_SKIPPED);
    assert_int_equal(f.plan.status[idx(&f, "right")], STEP_UPSTREAM_FAILED);
    assert_int_equal(f.plan.status[idx(&f, "last")], STEP_UPSTREAM_FAILED);
    size_t changed[8];
    assert_int_equal(plan_changes(&f.plan, changed), 3);
    assert_true(plan_finished(&f.plan));
    teardown(&f);
}

/* Steps that never start are counted apart: settled by the plan, or cancelled while pending;
 * a step cancelled while running did start. */
static void test_unrun_steps_counted(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, diamond);
    assert_ready(&f, "a e");
    plan_set(&f.plan, idx(&f, "a"), STEP_FAILED);
    assert_int_equal(f.plan.nunrun, 3);
    plan_set(&f.plan, idx(&f, "e"), STEP_CANCELLED);
    assert_int_equal(f.plan.nunrun, 3);
    teardown(&f);

    setup_text(&f, diamond);
    plan_set(&f.plan, idx(&f, "e"), STEP_CANCELLED);
    assert_int_equal(f.plan.nunrun, 1);
    teardown(&f);
}

/* On resume the stored statuses are judged by each step's rule, with every upstream known. */
static void test_resume_judges_rules(void **state)
{
    (void)state;
    struct fixture f;
    setup_text(&f, branch);
    plan_release(&f.plan);
    /* start, left, right, join, plain, after */
    enum step_status init[6] = {STEP_SUCCEEDED, STEP_SKIPPED, STEP_SUCCEEDED,
                                STEP_PENDING,   STEP_PENDING, STEP_PENDING};
    plan_init(&f.plan, &f.g, init);
    assert_int_equal(f.plan.status[idx(&f, "plain")], STEP_SKIPPED);
    assert_ready(&f, "join");
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
        cmocka_unit_test(test_trigger_rule_table),
        cmocka_unit_test(test_join_after_branch),
        cmocka_unit_test(test_one_failed_and_all_done_after_a_failure),
        cmocka_unit_test(test_one_failed_skipped_when_all_succeed),
        cmocka_unit_test(test_settled_in_topological_order),
        cmocka_unit_test(test_unrun_steps_counted),
        cmocka_unit_test(test_resume_judges_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
