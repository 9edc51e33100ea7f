/* Tests for what the store records of a run's work: artifacts and their look-up by digest
 * prefix, step inputs and outputs and the lineage they make (and the lineage document walked
 * from it), the cache look-up, metrics and events. Each test runs in a fresh mkdtemp folder
 * (store_fixture.h). */
#include <math.h>
#include <string.h>

#include "tests/unit/store_fixture.h"

#include <jansson.h>

#include "store/doc.h"
#include "store/registry.h"

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
    OK(store_attempt_insert(f->st, prep, 1, "/p", 0, NULL, &ap, E));
    OK(store_attempt_insert(f->st, train, 1, "/t", 0, NULL, &at, E));
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
    /* each edge's attempt: number, status, cache origin, and what its work read */
    assert_int_equal(edges[0].attempt_n, 1);
    assert_string_equal(edges[0].status, "running");
    assert_int_equal(edges[0].cached_from, 0);
    char key[64];
    snprintf(key, sizeof(key), "raw=%lld", (long long)raw);
    assert_string_equal(edges[0].inputs_key, key);
    snprintf(key, sizeof(key), "train=%lld", (long long)trainset);
    assert_string_equal(edges[1].inputs_key, key);
    lineage_edges_free(edges, n);
    OK(store_lineage_edges(f->st, model, &edges, &n, E));
    assert_int_equal(n, 1);
    assert_string_equal(edges[0].dir, "out");
    lineage_edges_free(edges, n);

    assert_int_equal(store_io_add(f->st, ap, raw, "sideways", "x", &e), -1);
    assert_string_equal(e.msg, "invalid io direction 'sideways' (in or out)");
}

/* ---- lineage that tells the truth --------------------------------------------------------- */

#define SRC "5050505000000000000000000000000000000000000000000000000000000005"
#define SRC2 "5151515100000000000000000000000000000000000000000000000000000005"
#define XD "7070707000000000000000000000000000000000000000000000000000000007"

struct copy_runs {
    int64_t src, src2, x;  /* artifact ids: two sources, and the data */
    int64_t run[5];        /* runs 1-4 ingest SRC; run 5 ingests SRC2, to the same bytes */
    int64_t ingest[5], copy[5], use[5]; /* each run's attempts */
};

/* A finished attempt n of step `name` of run, succeeded. */
static int64_t done_attempt(struct store *st, int64_t run, const char *name, int n)
{
    int64_t a;
    bool changed;
    OK(store_attempt_insert(st, step_id(st, run, name), n, "/d", 0, NULL, &a, E));
    OK(store_attempt_finish(st, a, "succeeded", 0, 0, 0, 0, 0, &changed, E));
    return a;
}

/* Five runs of "ingest (prep) reads a source and writes X; copy (train) reads X and writes the
 * same bytes X; evaluate reads X" — the churn pipeline of issue #10. */
static void copy_runs(struct store *st, struct copy_runs *c)
{
    OK(store_artifact_put(st, SRC, 0, "source", "data/churn.csv", &c->src, E));
    OK(store_artifact_put(st, SRC2, 0, "source", "data/churn2.csv", &c->src2, E));
    OK(store_artifact_put(st, XD, 12, "file", "artifacts/x", &c->x, E));
    for (int i = 0; i < 5; i++) {
        c->run[i] = new_run(st, "churn");
        c->ingest[i] = done_attempt(st, c->run[i], "prep", 1);
        OK(store_io_add(st, c->ingest[i], i < 4 ? c->src : c->src2, "in", "source", E));
        OK(store_io_add(st, c->ingest[i], c->x, "out", "raw.csv", E));
        c->copy[i] = done_attempt(st, c->run[i], "train", 1);
        OK(store_io_add(st, c->copy[i], c->x, "in", "x", E));
        OK(store_io_add(st, c->copy[i], c->x, "out", "y.csv", E));
        c->use[i] = done_attempt(st, c->run[i], "evaluate", 1);
        OK(store_io_add(st, c->use[i], c->x, "in", "model", E));
    }
}

static void assert_runs(const struct lineage_group *g, const int64_t *want, size_t n)
{
    assert_int_equal(g->nother, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(g->other_runs[i], want[i]);
}

static void test_lineage_side_folds_repeats(void **state)
{
    struct fx *f = *state;
    struct copy_runs c;
    copy_runs(f->st, &c);
    struct lineage_group *g;
    size_t n;

    /* producers of X: one group per step and inputs, shown by the newest run */
    OK(store_lineage_side(f->st, c.x, "out", 0, 0, &g, &n, E));
    assert_int_equal(n, 3);
    assert_string_equal(g[0].edge.step, "prep"); /* from SRC: runs 1-4, shown by run 4 */
    assert_int_equal(g[0].edge.attempt_id, c.ingest[3]);
    assert_string_equal(g[0].edge.name, "raw.csv");
    assert_runs(&g[0], (int64_t[]){c.run[0], c.run[1], c.run[2]}, 3);
    assert_string_equal(g[1].edge.step, "train"); /* every copy */
    assert_int_equal(g[1].edge.attempt_id, c.copy[4]);
    assert_runs(&g[1], c.run, 4);
    assert_string_equal(g[2].edge.step, "prep"); /* from SRC2: run 5 alone */
    assert_int_equal(g[2].edge.attempt_id, c.ingest[4]);
    assert_int_equal(g[2].nother, 0);
    lineage_groups_free(g, n);

    /* a preferred run shows its own attempt; the others, earlier and later, are folded */
    OK(store_lineage_side(f->st, c.x, "out", c.run[1], 0, &g, &n, E));
    assert_int_equal(n, 3);
    assert_int_equal(g[0].edge.attempt_id, c.ingest[1]);
    assert_runs(&g[0], (int64_t[]){c.run[0], c.run[2], c.run[3]}, 3);
    assert_int_equal(g[1].edge.attempt_id, c.copy[1]);
    lineage_groups_free(g, n);

    /* consumers: the copy and evaluate, each once */
    OK(store_lineage_side(f->st, c.x, "in", 0, 0, &g, &n, E));
    assert_int_equal(n, 2);
    assert_string_equal(g[0].edge.step, "train");
    assert_string_equal(g[0].edge.name, "x");
    assert_int_equal(g[0].edge.attempt_id, c.copy[4]);
    assert_runs(&g[0], c.run, 4);
    assert_string_equal(g[1].edge.step, "evaluate");
    lineage_groups_free(g, n);

    /* only one run's attempts */
    OK(store_lineage_side(f->st, c.x, "out", 0, c.run[2], &g, &n, E));
    assert_int_equal(n, 2);
    assert_int_equal(g[0].edge.attempt_id, c.ingest[2]);
    assert_int_equal(g[1].edge.attempt_id, c.copy[2]);
    assert_int_equal(g[0].nother + g[1].nother, 0);
    lineage_groups_free(g, n);

    /* a retry in a run is shown by its latest attempt, and the run is not counted twice */
    int64_t again = done_attempt(f->st, c.run[4], "evaluate", 2);
    OK(store_io_add(f->st, again, c.x, "in", "model", E));
    OK(store_lineage_side(f->st, c.x, "in", 0, 0, &g, &n, E));
    assert_int_equal(g[1].edge.attempt_id, again);
    assert_int_equal(g[1].edge.attempt_n, 2);
    assert_runs(&g[1], c.run, 4);
    lineage_groups_free(g, n);

    struct err e = ERR_INIT;
    assert_int_equal(store_lineage_side(f->st, c.x, "up", 0, 0, &g, &n, &e), -1);
    assert_string_equal(e.msg, "invalid io direction 'up' (in or out)");
}

/* The entries of a lineage list (upstream, or an input's producers) as "RUN STEP" lines. */
static void entries(json_t *list, char *buf, size_t len)
{
    size_t i, off = 0;
    json_t *t;
    buf[0] = '\0';
    json_array_foreach(list, i, t) {
        off += (size_t)snprintf(buf + off, len - off, "%s%lld %s", i ? ", " : "",
                                (long long)json_integer_value(json_object_get(t, "run")),
                                json_string_value(json_object_get(t, "step")));
    }
}

static void test_lineage_doc_copy_and_repeats(void **state)
{
    struct fx *f = *state;
    struct copy_runs c;
    copy_runs(f->st, &c);
    struct err e = ERR_INIT;
    json_t *doc = doc_lineage(f->st, XD, &e);
    assert_non_null(doc);
    char got[256], want[256];
    json_t *up = json_object_get(doc, "upstream");
    entries(up, got, sizeof(got));
    snprintf(want, sizeof(want), "%lld prep, %lld train, %lld prep", (long long)c.run[3],
             (long long)c.run[4], (long long)c.run[4]);
    assert_string_equal(got, want); /* each run once: 3 entries, not 10 */
    assert_int_equal(json_array_size(json_object_get(json_array_get(up, 0), "other_runs")), 3);
    /* the copy's input is X itself: listed, not followed — X is not its own ancestor */
    json_t *copy = json_array_get(up, 1);
    json_t *in = json_array_get(json_object_get(copy, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "name")), "x");
    assert_true(json_is_true(json_object_get(in, "on_path")));
    assert_int_equal(json_array_size(json_object_get(in, "producers")), 0);
    /* the ingest's source: a name, no size */
    json_t *ingest = json_array_get(up, 0);
    json_t *src = json_object_get(json_array_get(json_object_get(ingest, "inputs"), 0), "artifact");
    assert_string_equal(json_string_value(json_object_get(src, "kind")), "source");
    assert_true(json_is_null(json_object_get(src, "size")));
    /* downstream: the copy's output is X again, not followed either */
    json_t *down = json_object_get(doc, "downstream");
    entries(down, got, sizeof(got));
    snprintf(want, sizeof(want), "%lld train, %lld evaluate", (long long)c.run[4],
             (long long)c.run[4]);
    assert_string_equal(got, want);
    json_t *out = json_array_get(json_object_get(json_array_get(down, 0), "outputs"), 0);
    assert_true(json_is_true(json_object_get(out, "on_path")));
    assert_false(json_is_true(json_object_get(doc, "truncated")));
    json_decref(doc);

    /* from the source down: the ingest of each run once, and below it only its own run */
    doc = doc_lineage(f->st, SRC, &e);
    assert_non_null(doc);
    down = json_object_get(doc, "downstream");
    assert_int_equal(json_array_size(down), 1);
    json_t *raw = json_array_get(json_object_get(json_array_get(down, 0), "outputs"), 0);
    entries(json_object_get(raw, "consumers"), got, sizeof(got));
    snprintf(want, sizeof(want), "%lld train, %lld evaluate", (long long)c.run[3],
             (long long)c.run[3]);
    assert_string_equal(got, want);
    json_decref(doc);
}

/* A cache hit's record: the work (and the source it read) is its original's. */
static void test_lineage_doc_cache_hit(void **state)
{
    struct fx *f = *state;
    struct copy_runs c;
    copy_runs(f->st, &c);
    int64_t run = new_run(f->st, "churn"), rec;
    OK(store_attempt_insert(f->st, step_id(f->st, run, "prep"), 0, NULL, c.ingest[4], NULL, &rec,
                            E));
    OK(store_io_add(f->st, rec, c.x, "out", "raw.csv", E));
    struct lineage_group *g;
    size_t n;
    OK(store_lineage_side(f->st, c.x, "out", 0, run, &g, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(g[0].edge.attempt_n, 0);
    assert_int_equal(g[0].edge.cached_from, c.ingest[4]);
    char key[64];
    snprintf(key, sizeof(key), "source=%lld", (long long)c.src2); /* its original's inputs */
    assert_string_equal(g[0].edge.inputs_key, key);
    lineage_groups_free(g, n);
    struct err e = ERR_INIT;
    json_t *doc = doc_lineage(f->st, XD, &e);
    assert_non_null(doc);
    /* grouped with the run it reused, shown by the newer record, with the original's source */
    json_t *rec_node = json_array_get(json_object_get(doc, "upstream"), 2);
    assert_int_equal(json_integer_value(json_object_get(rec_node, "run")), run);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rec_node, "reused"),
                                                        "run")), c.run[4]);
    json_t *in = json_array_get(json_object_get(rec_node, "inputs"), 0);
    assert_string_equal(json_string_value(json_object_get(in, "name")), "source");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(in, "artifact"), "uri")),
        "data/churn2.csv");
    json_decref(doc);
}

static void test_lineage_doc_model(void **state)
{
    struct fx *f = *state;
    struct copy_runs c;
    copy_runs(f->st, &c);
    struct model_row m[3];
    for (int i = 0; i < 3; i++)
        OK(store_model_register(f->st, "churn", c.x, c.run[i], "approve", "{}", &m[i], E));
    struct err e = ERR_INIT;
    /* none deployed: MODEL is the newest version, and says so */
    json_t *doc = doc_lineage(f->st, "churn", &e);
    assert_non_null(doc);
    json_t *model = json_object_get(doc, "model");
    assert_int_equal(json_integer_value(json_object_get(model, "version")), 3);
    assert_string_equal(json_string_value(json_object_get(model, "picked")), "newest");
    json_decref(doc);
    /* version 2 deployed: MODEL is version 2, made in its own run (not the newest run) */
    OK(store_deployment_add(f->st, m[1].id, c.run[1], "/srv/churn", "blue", "deployed", E));
    doc = doc_lineage(f->st, "churn", &e);
    assert_non_null(doc);
    model = json_object_get(doc, "model");
    assert_int_equal(json_integer_value(json_object_get(model, "version")), 2);
    assert_string_equal(json_string_value(json_object_get(model, "picked")), "deployed");
    assert_int_equal(json_integer_value(json_object_get(model, "run")), c.run[1]);
    json_t *first = json_array_get(json_object_get(doc, "upstream"), 0);
    assert_int_equal(json_integer_value(json_object_get(first, "run")), c.run[1]);
    json_decref(doc);
    /* MODEL:VERSION is that version */
    doc = doc_lineage(f->st, "churn:v1", &e);
    assert_non_null(doc);
    model = json_object_get(doc, "model");
    assert_int_equal(json_integer_value(json_object_get(model, "version")), 1);
    assert_string_equal(json_string_value(json_object_get(model, "picked")), "version");
    json_decref(doc);
    /* a digest is no model */
    doc = doc_lineage(f->st, XD, &e);
    assert_null(json_object_get(doc, "model"));
    json_decref(doc);
    assert_null(doc_lineage(f->st, "nope", &e));
    assert_int_equal(e.code, STORE_NOT_FOUND);
    assert_string_equal(e.msg, "no artifact or model 'nope'");
    for (int i = 0; i < 3; i++)
        model_row_release(&m[i]);
}

/* A run of `pipeline` whose step `step` has cache key `key` and one attempt ending `status`. */
static int64_t cached_attempt(struct store *st, const char *pipeline, const char *step,
                              const char *key, const char *status)
{
    int64_t run = new_run(st, pipeline), a;
    int64_t sid = step_id(st, run, step);
    bool changed;
    OK(store_step_set_cache(st, sid, key, "{}", E));
    OK(store_attempt_insert(st, sid, 1, "/d", 0, NULL, &a, E));
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
    OK(store_attempt_insert(f->st, sid, 0, NULL, newest, NULL, &rec, E));

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
        T(test_lineage_side_folds_repeats),
        T(test_lineage_doc_copy_and_repeats),
        T(test_lineage_doc_cache_hit),
        T(test_lineage_doc_model),
        T(test_cache_lookup),
        T(test_metrics),
        T(test_events),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
