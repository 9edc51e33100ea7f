/* Tests for what the store records of a run's work: artifacts and their look-up by digest
 * prefix, step inputs and outputs and the lineage they make, the cache look-up, metrics and
 * events. Each test runs in a fresh mkdtemp folder (store_fixture.h). */
#include <math.h>
#include <string.h>

#include "tests/unit/store_fixture.h"

/* ---- artifacts, lineage, cache ---------------------------------------------------------- */

#define D1 "abc123ff00000000000000000000000000000000000000000000000000000001"
#define D2 "abc123ff00000000000000000000000000000000000000000000000000000002"
#define D3 "abc124aa00000000000000000000000000000000000000000000000000000003"
#define D4 "abc1290000000000000000000000000000000000000000000000000000000004"

static void test_artifacts(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t id1, id1b, id2, id3, id4;
    OK(store_artifact_put(f->st, D1, 10, "file", "artifacts/sha256/ab/c1", &id1, E));
    OK(store_artifact_put(f->st, D1, 10, "file", "somewhere/else", &id1b, E));
    assert_int_equal(id1, id1b);
    OK(store_artifact_put(f->st, D2, 20, "dir", "artifacts/sha256/ab/c2", &id2, E));
    OK(store_artifact_put(f->st, D3, 30, "source", "https://example.org/x.csv", &id3, E));
    OK(store_artifact_put(f->st, D4, 40, "file", "artifacts/sha256/ab/c4", &id4, E));
    assert_true(id1 != id2 && id2 != id3);

    struct artifact_row a;
    OK(store_artifact_find(f->st, D1, &a, E));
    assert_int_equal(a.id, id1);
    assert_string_equal(a.digest, D1);
    assert_int_equal(a.size, 10);
    assert_string_equal(a.kind, "file");
    assert_string_equal(a.uri, "artifacts/sha256/ab/c1"); /* the first uri wins */
    artifact_row_release(&a);
    OK(store_artifact_find(f->st, "abc124", &a, E));
    assert_int_equal(a.id, id3);
    artifact_row_release(&a);
    OK(store_artifact_find(f->st, "ABC124AA", &a, E)); /* case does not matter */
    assert_int_equal(a.id, id3);
    artifact_row_release(&a);
    /* the last digit of the prefix at the edges of the hex range */
    OK(store_artifact_find(f->st, "abc129", &a, E));
    assert_int_equal(a.id, id4);
    artifact_row_release(&a);
    assert_int_equal(store_artifact_find(f->st, D1, &a, &e), 0);
    artifact_row_release(&a);
    char absent[] = D1, want[100];
    absent[63] = '9';
    assert_int_equal(store_artifact_find(f->st, absent, &a, &e), -1); /* a full digest */
    assert_int_equal(e.code, STORE_NOT_FOUND);
    snprintf(want, sizeof(want), "no artifact '%s'", absent);
    assert_string_equal(e.msg, want);

    err_clear(&e);
    assert_int_equal(store_artifact_find(f->st, "abc123", &a, &e), -1);
    assert_string_equal(e.msg, "artifact prefix 'abc123' is ambiguous");
    assert_null(a.digest);
    err_clear(&e);
    assert_int_equal(store_artifact_find(f->st, "abc125", &a, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    err_clear(&e);
    assert_int_equal(store_artifact_find(f->st, "abc12", &a, &e), -1);
    assert_string_equal(e.msg, "invalid artifact digest 'abc12' (6 to 64 hex digits)");
    err_clear(&e);
    assert_int_equal(store_artifact_find(f->st, "abc12z", &a, &e), -1);
    assert_string_equal(e.msg, "invalid artifact digest 'abc12z' (6 to 64 hex digits)");
}

static void test_io_and_lineage(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t run = new_run(f->st, "alpha");
    int64_t prep = step_id(f->st, run, "prep"), train = step_id(f->st, run, "train");
    int64_t ap, at, raw, trainset, model;
    OK(store_attempt_insert(f->st, prep, 1, "/p", 0, &ap, E));
    OK(store_attempt_insert(f->st, train, 1, "/t", 0, &at, E));
    OK(store_artifact_put(f->st, D1, 1, "file", "u1", &raw, E));
    OK(store_artifact_put(f->st, D2, 2, "file", "u2", &trainset, E));
    OK(store_artifact_put(f->st, D3, 3, "file", "u3", &model, E));
    OK(store_io_add(f->st, ap, raw, "in", "raw", E));
    OK(store_io_add(f->st, ap, trainset, "out", "train.csv", E));
    OK(store_io_add(f->st, ap, trainset, "out", "train.csv", E)); /* idempotent */
    OK(store_io_add(f->st, at, trainset, "in", "train", E));
    OK(store_io_add(f->st, at, model, "out", "model.pkl", E));

    struct artifact_row *rows;
    size_t n;
    OK(store_io_list(f->st, ap, "out", &rows, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(rows[0].id, trainset);
    assert_string_equal(rows[0].name, "train.csv");
    assert_string_equal(rows[0].digest, D2);
    assert_int_equal(rows[0].size, 2);
    assert_int_equal(rows[0].attempt_id, ap);
    artifact_rows_free(rows, n);
    OK(store_io_list(f->st, ap, "in", &rows, &n, E));
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].name, "raw");
    artifact_rows_free(rows, n);

    OK(store_run_io_list(f->st, run, "out", &rows, &n, E));
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].attempt_id, ap);
    assert_string_equal(rows[0].name, "train.csv");
    assert_int_equal(rows[1].attempt_id, at);
    assert_string_equal(rows[1].name, "model.pkl");
    artifact_rows_free(rows, n);
    OK(store_run_io_list(f->st, run, NULL, &rows, &n, E));
    assert_int_equal(n, 4);
    artifact_rows_free(rows, n);

    /* the training set: produced by prep, consumed by train; producers first */
    struct lineage_edge *edges;
    OK(store_lineage_edges(f->st, trainset, &edges, &n, E));
    assert_int_equal(n, 2);
    assert_int_equal(edges[0].attempt_id, ap);
    assert_int_equal(edges[0].run_id, run);
    assert_string_equal(edges[0].step, "prep");
    assert_string_equal(edges[0].name, "train.csv");
    assert_string_equal(edges[0].dir, "out");
    assert_int_equal(edges[1].attempt_id, at);
    assert_string_equal(edges[1].step, "train");
    assert_string_equal(edges[1].name, "train");
    assert_string_equal(edges[1].dir, "in");
    lineage_edges_free(edges, n);
    OK(store_lineage_edges(f->st, model, &edges, &n, E));
    assert_int_equal(n, 1);
    assert_string_equal(edges[0].dir, "out");
    lineage_edges_free(edges, n);

    assert_int_equal(store_io_add(f->st, ap, raw, "sideways", "x", &e), -1);
    assert_string_equal(e.msg, "invalid io direction 'sideways' (in or out)");
}

/* A run of `pipeline` whose step `step` has cache key `key` and one attempt ending `status`. */
static int64_t cached_attempt(struct store *st, const char *pipeline, const char *step,
                              const char *key, const char *status)
{
    int64_t run = new_run(st, pipeline), a;
    int64_t sid = step_id(st, run, step);
    bool changed;
    OK(store_step_set_cache(st, sid, key, "{}", E));
    OK(store_attempt_insert(st, sid, 1, "/d", 0, &a, E));
    OK(store_attempt_finish(st, a, status, 0, 0, 0, 0, 0, &changed, E));
    return a;
}

static void test_cache_lookup(void **state)
{
    struct fx *f = *state;
    int64_t hit;
    OK(store_cache_lookup(f->st, "alpha", "train", "k", &hit, E));
    assert_int_equal(hit, 0);
    int64_t old = cached_attempt(f->st, "alpha", "train", "k", "succeeded");
    int64_t newest = cached_attempt(f->st, "alpha", "train", "k", "succeeded");
    cached_attempt(f->st, "alpha", "train", "k", "failed");        /* newer, failed */
    cached_attempt(f->st, "beta", "train", "k", "succeeded");      /* other pipeline */
    cached_attempt(f->st, "alpha", "prep", "k", "succeeded");      /* other step */
    cached_attempt(f->st, "alpha", "train", "other", "succeeded"); /* other key */
    /* a later cache-hit record of the same key is not itself a source */
    int64_t run = new_run(f->st, "alpha"), rec;
    int64_t sid = step_id(f->st, run, "train");
    OK(store_step_set_cache(f->st, sid, "k", "{}", E));
    OK(store_attempt_insert(f->st, sid, 0, NULL, newest, &rec, E));

    OK(store_cache_lookup(f->st, "alpha", "train", "k", &hit, E));
    assert_int_equal(hit, newest);
    assert_true(old < newest);
    OK(store_cache_lookup(f->st, "alpha", "train", "nope", &hit, E));
    assert_int_equal(hit, 0);
    OK(store_cache_lookup(f->st, "gamma", "train", "k", &hit, E));
    assert_int_equal(hit, 0);
}

/* ---- metrics and events ------------------------------------------------------------------ */

static void test_metrics(void **state)
{
    struct fx *f = *state;
    int64_t run = new_run(f->st, "alpha"), other = new_run(f->st, "alpha");
    OK(store_metric_put(f->st, run, "train", "loss", 2, 0.31, E));
    OK(store_metric_put(f->st, run, "train", "loss", 0, 0.9, E));
    OK(store_metric_put(f->st, run, "train", "loss", 1, 0.5, E));
    OK(store_metric_put(f->st, run, "evaluate", "f1", -1, 0.8, E));
    OK(store_metric_put(f->st, run, "evaluate", "f1", -1, 0.93, E)); /* replaces */
    OK(store_metric_put(f->st, run, "evaluate", "auc", -1, NAN, E));
    OK(store_metric_put(f->st, other, "evaluate", "f1", -1, 0.1, E));

    struct metric_row *m;
    size_t n;
    OK(store_metrics_load(f->st, run, NULL, &m, &n, E));
    assert_int_equal(n, 5);
    /* by step, name, idx */
    assert_string_equal(m[0].step, "evaluate");
    assert_string_equal(m[0].name, "auc");
    assert_true(isnan(m[0].value));
    assert_string_equal(m[1].name, "f1");
    assert_int_equal(m[1].idx, -1);
    assert_true(m[1].value == 0.93);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(m[2 + i].step, "train");
        assert_string_equal(m[2 + i].name, "loss");
        assert_int_equal(m[2 + i].idx, i);
    }
    assert_true(m[2].value == 0.9 && m[3].value == 0.5 && m[4].value == 0.31);
    metric_rows_free(m, n);

    OK(store_metrics_load(f->st, run, "evaluate", &m, &n, E));
    assert_int_equal(n, 2);
    metric_rows_free(m, n);
    OK(store_metrics_delete(f->st, run, "train", E));
    OK(store_metrics_load(f->st, run, "train", &m, &n, E));
    assert_int_equal(n, 0);
    metric_rows_free(m, n);
    OK(store_metrics_load(f->st, other, NULL, &m, &n, E));
    assert_int_equal(n, 1);
    assert_true(m[0].value == 0.1);
    metric_rows_free(m, n);
}

static void test_events(void **state)
{
    struct fx *f = *state;
    int64_t r1 = new_run(f->st, "alpha"), r2 = new_run(f->st, "alpha");
    OK(store_event(f->st, r1, "approve", "approval", "approved by ann", E));
    OK(store_event(f->st, 0, NULL, "schedule", "alpha fired", E));
    bool changed;
    OK(store_run_set_status(f->st, r2, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));

    struct event_row *ev;
    size_t n;
    OK(store_events_load(f->st, r1, 0, 0, &ev, &n, E));
    assert_int_equal(n, 2);
    assert_string_equal(ev[0].what, "created");
    assert_null(ev[0].step);
    assert_string_equal(ev[1].step, "approve");
    assert_string_equal(ev[1].what, "approval");
    assert_string_equal(ev[1].detail, "approved by ann");
    assert_true(ev[1].at > 0);
    assert_true(ev[1].id > ev[0].id);
    event_rows_free(ev, n);

    /* everything, then only what came after a given id, with a limit */
    OK(store_events_load(f->st, 0, 0, 0, &ev, &n, E));
    assert_int_equal(n, 5); /* created ×2, approval, schedule, status */
    assert_int_equal(ev[3].run_id, 0);
    assert_string_equal(ev[3].what, "schedule");
    int64_t after = ev[2].id;
    event_rows_free(ev, n);
    OK(store_events_load(f->st, 0, after, 1, &ev, &n, E));
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].what, "schedule");
    event_rows_free(ev, n);
    OK(store_events_load(f->st, r2, after, 0, &ev, &n, E));
    assert_int_equal(n, 1);
    assert_string_equal(ev[0].detail, "queued -> running");
    event_rows_free(ev, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_artifacts),
        T(test_io_and_lineage),
        T(test_cache_lookup),
        T(test_metrics),
        T(test_events),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
