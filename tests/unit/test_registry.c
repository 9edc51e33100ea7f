/* Tests for the model registry and the data catalog in the store: version numbering per name,
 * registration idempotent per run and step, look-ups and their order, approval decisions
 * (won, lost, the model following the step), two processes racing for one decision,
 * deployments retiring the previous champion, catalog versions, and migration 2 over a
 * database of schema 1. Each test runs in a fresh mkdtemp folder. */

#include "store/registry.h"
#include "tests/unit/store_fixture.h"

/* ---- fixture and helpers (the store's: tests/unit/store_fixture.h) ------------------------ */

/* The call must fail with STORE_NOT_FOUND. */
#define NOT_FOUND(call)                                                                           \
    do {                                                                                          \
        struct err ok_e_ = ERR_INIT;                                                              \
        assert_int_equal((call), -1);                                                             \
        assert_int_equal(ok_e_.code, STORE_NOT_FOUND);                                            \
    } while (0)

static const char *yaml_tumour = "pipeline: tumour\nsteps:\n  train: {run: 'true'}\n"
                                  "  approve: {kind: approve, needs: [train]}\n";

/* A run of pipeline tumour with steps train, approve, deploy. */
static int64_t new_tumour_run(struct store *st)
{
    static const char *const steps[] = {"train", "approve", "deploy"};
    static const char *const kinds[] = {"train", "approve", "deploy"};
    struct run_new rn = {
        .pipeline = "tumour",
        .yaml = yaml_tumour,
        .yaml_len = strlen(yaml_tumour),
        .trigger = "cli",
        .steps = steps,
        .kinds = kinds,
        .nsteps = 3,
    };
    int64_t id = 0;
    OK(store_run_create(st, &rn, &id, E));
    return id;
}

static enum step_status step_status(struct store *st, int64_t run, const char *name,
                                    char **message)
{
    struct step_row *rows;
    size_t n;
    enum step_status s = STEP_LOST;
    bool found = false;
    OK(store_steps_load(st, run, &rows, &n, E));
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, name))
            continue;
        s = rows[i].status;
        found = true;
        if (message)
            *message = rows[i].message ? strdup(rows[i].message) : NULL;
    }
    step_rows_free(rows, n);
    assert_true(found);
    return s;
}

/* Move a run's approve step pending → waiting, as the engine does when it reaches it. */
static void make_waiting(struct store *st, int64_t run)
{
    bool changed = false;
    OK(store_step_set_status(st, step_id(st, run, "approve"), STEP_PENDING, STEP_WAITING,
                             "waiting for an approval", &changed, E));
    assert_true(changed);
}

/* An artifact with a digest made from c (64 hex digits). */
static int64_t artifact(struct store *st, char c)
{
    char digest[65];
    memset(digest, c, 64);
    digest[64] = '\0';
    int64_t id = 0;
    OK(store_artifact_put(st, digest, 1234, "file", "/x/model.pkl", &id, E));
    return id;
}

/* Register a model for run's approve step; returns its id, checks its version. */
static int64_t reg(struct store *st, const char *name, int64_t run, int want_version)
{
    struct model_row m;
    OK(store_model_register(st, name, artifact(st, 'a' + (char)(run % 6)), run, "approve",
                            "{\"evaluate.f1\": 0.9}", &m, E));
    assert_int_equal(m.version, want_version);
    int64_t id = m.id;
    model_row_release(&m);
    return id;
}

static char *model_status(struct store *st, const char *name, int version)
{
    struct model_row m;
    OK(store_model_get(st, name, version, &m, E));
    char *s = strdup(m.status);
    model_row_release(&m);
    return s;
}

#define assert_model_status(st, name, version, want)                                              \
    do {                                                                                          \
        char *got_ = model_status((st), (name), (version));                                      \
        assert_string_equal(got_, (want));                                                        \
        free(got_);                                                                               \
    } while (0)

static int count_approvals(struct store *st, int64_t run)
{
    struct approval_row *a;
    size_t n;
    OK(store_approvals_list(st, run, &a, &n, E));
    approval_rows_free(a, n);
    return (int)n;
}

/* Events of run with what "model" and this detail. */
static int count_model_events(struct store *st, int64_t run, const char *detail)
{
    struct event_row *ev;
    size_t n;
    int count = 0;
    OK(store_events_load(st, run, 0, 0, &ev, &n, E));
    for (size_t i = 0; i < n; i++)
        if (!strcmp(ev[i].what, "model") && ev[i].detail && !strcmp(ev[i].detail, detail))
            count++;
    event_rows_free(ev, n);
    return count;
}

/* ---- models ------------------------------------------------------------------------------ */

static void test_register_numbers_versions_per_name(void **state)
{
    struct fx *f = *state;
    int64_t r1 = new_tumour_run(f->st), r2 = new_tumour_run(f->st), r3 = new_tumour_run(f->st);
    struct model_row m;
    int64_t art = artifact(f->st, 'c');
    OK(store_model_register(f->st, "tumour", art, r1, "approve", "{\"evaluate.f1\": 0.91}", &m,
                            E));
    assert_int_equal(m.version, 1);
    assert_string_equal(m.name, "tumour");
    assert_string_equal(m.status, "pending");
    assert_int_equal(m.run_id, r1);
    assert_string_equal(m.step, "approve");
    assert_int_equal(m.artifact_id, art);
    assert_string_equal(m.digest,
                        "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
    assert_int_equal(m.size, 1234);
    assert_string_equal(m.metrics, "{\"evaluate.f1\": 0.91}");
    assert_true(m.created_at > 0);
    int64_t first = m.id;
    model_row_release(&m);

    reg(f->st, "tumour", r2, 2);
    reg(f->st, "other", r3, 1); /* numbering is per name */
    assert_int_equal(count_model_events(f->st, r1, "tumour version 1: registered, pending"), 1);

    /* the same run and step again (a restarted engine): the same version, no new row */
    OK(store_model_register(f->st, "tumour", art, r1, "approve", "{}", &m, E));
    assert_int_equal(m.id, first);
    assert_int_equal(m.version, 1);
    assert_string_equal(m.metrics, "{\"evaluate.f1\": 0.91}");
    model_row_release(&m);
    struct model_row *rows;
    size_t n;
    OK(store_model_list(f->st, "tumour", &rows, &n, E));
    assert_int_equal(n, 2);
    model_rows_free(rows, n);

    /* a model needs an existing artifact and a name */
    struct err e = ERR_INIT;
    int64_t r4 = new_tumour_run(f->st);
    assert_int_equal(store_model_register(f->st, "tumour", 999999, r4, "approve", NULL, &m, &e),
                     -1);
    assert_non_null(strstr(e.msg, "model 'tumour'"));
    assert_null(m.name);
    assert_int_equal(store_model_register(f->st, "", art, r4, "approve", NULL, &m, &e), -1);
    /* the failed attempt took no version number */
    reg(f->st, "tumour", r4, 3);
}

static void test_get_and_list_order(void **state)
{
    struct fx *f = *state;
    int64_t runs[4];
    for (int i = 0; i < 4; i++)
        runs[i] = new_tumour_run(f->st);
    reg(f->st, "tumour", runs[0], 1);
    reg(f->st, "lungs", runs[1], 1);
    reg(f->st, "tumour", runs[2], 2);
    reg(f->st, "tumour", runs[3], 3);

    struct model_row m;
    OK(store_model_get(f->st, "tumour", 0, &m, E)); /* 0: the newest */
    assert_int_equal(m.version, 3);
    assert_int_equal(m.run_id, runs[3]);
    model_row_release(&m);
    OK(store_model_get(f->st, "tumour", 2, &m, E));
    assert_int_equal(m.version, 2);
    assert_int_equal(m.run_id, runs[2]);
    model_row_release(&m);
    NOT_FOUND(store_model_get(f->st, "tumour", 4, &m, E));
    NOT_FOUND(store_model_get(f->st, "nothing", 0, &m, E));

    OK(store_model_for_step(f->st, runs[1], "approve", &m, E));
    assert_string_equal(m.name, "lungs");
    model_row_release(&m);
    NOT_FOUND(store_model_for_step(f->st, runs[1], "train", &m, E));

    struct model_row *rows;
    size_t n;
    OK(store_model_list(f->st, NULL, &rows, &n, E)); /* every model, newest first */
    assert_int_equal(n, 4);
    assert_true(rows[0].run_id == runs[3] && rows[1].run_id == runs[2]);
    assert_true(rows[2].run_id == runs[1] && rows[3].run_id == runs[0]);
    model_rows_free(rows, n);
    OK(store_model_list(f->st, "tumour", &rows, &n, E));
    assert_int_equal(n, 3);
    assert_true(rows[0].version == 3 && rows[1].version == 2 && rows[2].version == 1);
    model_rows_free(rows, n);
    OK(store_model_list(f->st, "nothing", &rows, &n, E));
    assert_int_equal(n, 0);
    assert_null(rows);
}

static void test_set_status_is_conditional(void **state)
{
    struct fx *f = *state;
    int64_t run = new_tumour_run(f->st);
    int64_t id = reg(f->st, "tumour", run, 1);
    bool changed = true;
    OK(store_model_set_status(f->st, id, "approved", "deployed", &changed, E));
    assert_false(changed); /* it is pending */
    assert_model_status(f->st, "tumour", 1, "pending");
    OK(store_model_set_status(f->st, id, "pending", "approved", &changed, E));
    assert_true(changed);
    assert_model_status(f->st, "tumour", 1, "approved");
    assert_int_equal(count_model_events(f->st, run, "tumour version 1: pending -> approved"), 1);
    OK(store_model_set_status(f->st, id, NULL, "retired", &changed, E)); /* unconditional */
    assert_true(changed);
    assert_model_status(f->st, "tumour", 1, "retired");
    assert_int_equal(count_model_events(f->st, run, "tumour version 1: approved -> retired"), 1);
    OK(store_model_set_status(f->st, id, NULL, "retired", &changed, E));
    assert_false(changed); /* already there: no event */

    struct err e = ERR_INIT;
    assert_int_equal(store_model_set_status(f->st, id, NULL, "gone", &changed, &e), -1);
    assert_string_equal(e.msg, "unknown model status 'gone'");
    NOT_FOUND(store_model_set_status(f->st, id + 100, NULL, "approved", &changed, E));
}

/* ---- approvals --------------------------------------------------------------------------- */

static void test_decide_approve(void **state)
{
    struct fx *f = *state;
    int64_t run = new_tumour_run(f->st);
    reg(f->st, "tumour", run, 1);
    bool won = true;
    /* not reached yet: the step is pending, nothing is decided */
    OK(store_approval_decide(f->st, run, "approve", true, "alice", "ok", &won, E));
    assert_false(won);
    assert_int_equal(step_status(f->st, run, "approve", NULL), STEP_PENDING);
    assert_int_equal(count_approvals(f->st, run), 0);
    assert_model_status(f->st, "tumour", 1, "pending");

    make_waiting(f->st, run);
    OK(store_approval_decide(f->st, run, "approve", true, "alice", "looks good", &won, E));
    assert_true(won);
    char *msg = NULL;
    assert_int_equal(step_status(f->st, run, "approve", &msg), STEP_SUCCEEDED);
    assert_string_equal(msg, "approved by 'alice': looks good");
    free(msg);
    assert_model_status(f->st, "tumour", 1, "approved");
    struct approval_row *a;
    size_t n;
    OK(store_approvals_list(f->st, run, &a, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(a[0].run_id, run);
    assert_string_equal(a[0].step, "approve");
    assert_string_equal(a[0].decision, "approved");
    assert_string_equal(a[0].by, "alice");
    assert_string_equal(a[0].comment, "looks good");
    assert_true(a[0].at > 0);
    approval_rows_free(a, n);

    /* a second decision, either way, loses and changes nothing */
    OK(store_approval_decide(f->st, run, "approve", false, "bob", NULL, &won, E));
    assert_false(won);
    assert_int_equal(step_status(f->st, run, "approve", NULL), STEP_SUCCEEDED);
    assert_int_equal(count_approvals(f->st, run), 1);
    assert_model_status(f->st, "tumour", 1, "approved");

    NOT_FOUND(store_approval_decide(f->st, run, "nope", true, "alice", NULL, &won, E));
    NOT_FOUND(store_approval_decide(f->st, run + 100, "approve", true, "alice", NULL, &won, E));
}

static void test_decide_reject_and_plain_gate(void **state)
{
    struct fx *f = *state;
    int64_t run = new_tumour_run(f->st);
    reg(f->st, "tumour", run, 1);
    make_waiting(f->st, run);
    bool won = false;
    OK(store_approval_decide(f->st, run, "approve", false, "carol", "", &won, E));
    assert_true(won);
    char *msg = NULL;
    assert_int_equal(step_status(f->st, run, "approve", &msg), STEP_FAILED);
    assert_string_equal(msg, "rejected by 'carol'");
    free(msg);
    assert_model_status(f->st, "tumour", 1, "rejected");
    assert_int_equal(count_model_events(f->st, run, "tumour version 1: pending -> rejected"), 1);

    /* an approve step without model: a plain gate */
    int64_t gate = new_tumour_run(f->st);
    make_waiting(f->st, gate);
    OK(store_approval_decide(f->st, gate, "approve", true, "dave", NULL, &won, E));
    assert_true(won);
    assert_int_equal(step_status(f->st, gate, "approve", NULL), STEP_SUCCEEDED);
    assert_int_equal(count_approvals(f->st, gate), 1);

    /* a model no longer pending (say, retired by hand) keeps its status */
    int64_t r3 = new_tumour_run(f->st);
    int64_t id = reg(f->st, "tumour", r3, 2);
    bool changed;
    OK(store_model_set_status(f->st, id, NULL, "retired", &changed, E));
    make_waiting(f->st, r3);
    OK(store_approval_decide(f->st, r3, "approve", true, "erin", NULL, &won, E));
    assert_true(won);
    assert_model_status(f->st, "tumour", 2, "retired");
}

/* Inside a caller's transaction the decision is a savepoint: rolling back the caller's
 * transaction undoes it. */
static void test_decide_inside_a_transaction(void **state)
{
    struct fx *f = *state;
    int64_t run = new_tumour_run(f->st);
    reg(f->st, "tumour", run, 1);
    make_waiting(f->st, run);
    bool won = false;
    OK(store_begin(f->st, E));
    OK(store_approval_decide(f->st, run, "approve", true, "alice", NULL, &won, E));
    assert_true(won);
    store_rollback(f->st);
    assert_int_equal(step_status(f->st, run, "approve", NULL), STEP_WAITING);
    assert_int_equal(count_approvals(f->st, run), 0);
    assert_model_status(f->st, "tumour", 1, "pending");
}

enum { DECIDE_RACE_RUNS = 20 };

/* A child of the decision race: odd children reject, even ones approve, half of them from the
 * last run backwards, so that they meet. */
static int decide_runs(struct store *st, int child, void *data)
{
    const int64_t *runs = data;
    struct err e = ERR_INIT;
    int wins = 0;
    for (int k = 0; k < DECIDE_RACE_RUNS; k++) {
        int i = child % 2 ? DECIDE_RACE_RUNS - 1 - k : k;
        bool won = false;
        /* the winner's decision must stick */
        if (store_approval_decide(st, runs[i], "approve", child % 2 == 0,
                                  child % 2 ? "rej" : "app", NULL, &won, &e) < 0) {
            fprintf(stderr, "child %d: %s\n", child, e.msg);
            return -1;
        }
        wins += won;
    }
    return wins;
}

/* Processes race for the same decisions (as two `sluice approve` would): each is won once. */
static void test_two_processes_race_to_decide(void **state)
{
    struct fx *f = *state;
    enum { NRUNS = DECIDE_RACE_RUNS, NPROC = 4 };
    int64_t runs[NRUNS];
    for (int i = 0; i < NRUNS; i++) {
        runs[i] = new_tumour_run(f->st);
        reg(f->st, "tumour", runs[i], i + 1);
        make_waiting(f->st, runs[i]);
    }
    race(f, NPROC, decide_runs, runs, NRUNS);
    for (int i = 0; i < NRUNS; i++) {
        struct approval_row *a;
        size_t n;
        OK(store_approvals_list(f->st, runs[i], &a, &n, E));
        assert_int_equal(n, 1);
        bool approved = !strcmp(a[0].decision, "approved");
        assert_string_equal(a[0].by, approved ? "app" : "rej");
        assert_int_equal(step_status(f->st, runs[i], "approve", NULL),
                         approved ? STEP_SUCCEEDED : STEP_FAILED);
        assert_model_status(f->st, "tumour", i + 1, approved ? "approved" : "rejected");
        approval_rows_free(a, n);
    }
}

/* ---- deployments ------------------------------------------------------------------------- */

static void test_deployments(void **state)
{
    struct fx *f = *state;
    int64_t r1 = new_tumour_run(f->st), r2 = new_tumour_run(f->st), r3 = new_tumour_run(f->st);
    int64_t v1 = reg(f->st, "tumour", r1, 1), v2 = reg(f->st, "tumour", r2, 2);
    int64_t other = reg(f->st, "lungs", r3, 1);
    struct model_row m;
    NOT_FOUND(store_model_deployed(f->st, "tumour", &m, E));

    OK(store_deployment_add(f->st, v1, r1, "/srv/tumour", "blue", "deployed", E));
    OK(store_deployment_add(f->st, other, r3, "/srv/lungs", "blue", "deployed", E));
    assert_model_status(f->st, "tumour", 1, "deployed");
    OK(store_model_deployed(f->st, "tumour", &m, E));
    assert_int_equal(m.id, v1);
    model_row_release(&m);

    /* a failed deployment changes no model */
    OK(store_deployment_add(f->st, v2, r2, "/srv/tumour", "green", "failed", E));
    assert_model_status(f->st, "tumour", 1, "deployed");
    assert_model_status(f->st, "tumour", 2, "pending");

    /* v2 deployed: v1 retires, its row is superseded; the other model is untouched */
    OK(store_deployment_add(f->st, v2, r2, "/srv/tumour", "green", "deployed", E));
    assert_model_status(f->st, "tumour", 2, "deployed");
    assert_model_status(f->st, "tumour", 1, "retired");
    assert_model_status(f->st, "lungs", 1, "deployed");
    assert_int_equal(count_model_events(f->st, r1, "tumour version 1: deployed -> retired"), 1);
    OK(store_model_deployed(f->st, "tumour", &m, E));
    assert_int_equal(m.id, v2);
    model_row_release(&m);

    /* a rollback (no run) back to v1 */
    OK(store_deployment_add(f->st, v1, 0, "/srv/tumour", "blue", "deployed", E));
    assert_model_status(f->st, "tumour", 1, "deployed");
    assert_model_status(f->st, "tumour", 2, "retired");

    struct deployment_row *d;
    size_t n;
    OK(store_deployments_list(f->st, "tumour", &d, &n, E)); /* newest first */
    assert_int_equal(n, 4);
    assert_int_equal(d[0].model_id, v1);
    assert_int_equal(d[0].run_id, 0);
    assert_string_equal(d[0].status, "deployed");
    assert_string_equal(d[0].slot, "blue");
    assert_string_equal(d[0].target, "/srv/tumour");
    assert_string_equal(d[0].name, "tumour");
    assert_int_equal(d[0].version, 1);
    assert_true(d[0].at > 0);
    assert_int_equal(d[1].model_id, v2);
    assert_int_equal(d[1].run_id, r2);
    assert_int_equal(d[1].version, 2);
    assert_string_equal(d[1].status, "superseded");
    assert_string_equal(d[2].status, "failed");
    assert_int_equal(d[3].model_id, v1);
    assert_string_equal(d[3].status, "superseded");
    deployment_rows_free(d, n);
    OK(store_deployments_list(f->st, NULL, &d, &n, E));
    assert_int_equal(n, 5);
    /* the other target's row stays deployed */
    assert_string_equal(d[3].target, "/srv/lungs");
    assert_string_equal(d[3].status, "deployed");
    deployment_rows_free(d, n);

    struct err e = ERR_INIT;
    assert_int_equal(store_deployment_add(f->st, v1, 0, "/srv/tumour", "blue", "gone", &e), -1);
    assert_string_equal(e.msg, "unknown deployment status 'gone'");
    NOT_FOUND(store_deployment_add(f->st, v1 + 100, 0, "/srv/tumour", "blue", "deployed", E));
    OK(store_deployments_list(f->st, NULL, &d, &n, E));
    assert_int_equal(n, 5); /* the failed calls left nothing behind */
    deployment_rows_free(d, n);
}

/* ---- the catalog ------------------------------------------------------------------------- */

static void test_catalog(void **state)
{
    struct fx *f = *state;
    int64_t r1 = new_tumour_run(f->st), r2 = new_tumour_run(f->st);
    int64_t art = artifact(f->st, 'd');
    struct catalog_row c;
    NOT_FOUND(store_catalog_latest(f->st, "tumours", &c, E));

    int version = 0;
    OK(store_catalog_add(f->st, "tumours", "{\"rows\": 10, \"columns\": []}", 10, art, r1,
                         &version, E));
    assert_int_equal(version, 1);
    OK(store_catalog_add(f->st, "events", "{\"rows\": 3}", 3, 0, 0, &version, E));
    assert_int_equal(version, 1); /* numbering is per table */
    OK(store_catalog_add(f->st, "tumours", "{\"rows\": 12}", 12, 0, r2, &version, E));
    assert_int_equal(version, 2);

    OK(store_catalog_latest(f->st, "tumours", &c, E));
    assert_int_equal(c.version, 2);
    assert_int_equal(c.rows, 12);
    assert_int_equal(c.run_id, r2);
    assert_int_equal(c.artifact_id, 0);
    assert_string_equal(c.schema, "{\"rows\": 12}");
    assert_string_equal(c.name, "tumours");
    assert_true(c.created_at > 0);
    catalog_row_release(&c);

    struct catalog_row *rows;
    size_t n;
    OK(store_catalog_list(f->st, NULL, &rows, &n, E)); /* each table's newest, by name */
    assert_int_equal(n, 2);
    assert_string_equal(rows[0].name, "events");
    assert_int_equal(rows[0].version, 1);
    assert_int_equal(rows[0].run_id, 0);
    assert_string_equal(rows[1].name, "tumours");
    assert_int_equal(rows[1].version, 2);
    catalog_rows_free(rows, n);
    OK(store_catalog_list(f->st, "tumours", &rows, &n, E)); /* every version, newest first */
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].version, 2);
    assert_int_equal(rows[1].version, 1);
    assert_int_equal(rows[1].artifact_id, art);
    assert_int_equal(rows[1].run_id, r1);
    assert_string_equal(rows[1].schema, "{\"rows\": 10, \"columns\": []}");
    catalog_rows_free(rows, n);
    OK(store_catalog_list(f->st, "nothing", &rows, &n, E));
    assert_int_equal(n, 0);

    struct err e = ERR_INIT;
    assert_int_equal(store_catalog_add(f->st, "tumours", "{}", 1, 999999, 0, &version, &e), -1);
    OK(store_catalog_add(f->st, "tumours", "{}", 1, 0, 0, &version, E));
    assert_int_equal(version, 3); /* the failed add took no number */
}

/* ---- migration 2 ------------------------------------------------------------------------- */

static void raw_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
}

/* A database written by a sluice of schema 1 (deployments without run_id, attempts without
 * step_pid, executor or a batch job's fields, no workspace id) is brought up to date and keeps
 * its rows. */
static void test_migration_from_schema_1(void **state)
{
    struct fx *f = *state;
    int64_t run = new_tumour_run(f->st);
    int64_t id = reg(f->st, "tumour", run, 1);
    OK(store_deployment_add(f->st, id, run, "/srv/t", "blue", "deployed", E));
    store_close(f->st);
    f->st = NULL;

    char path[160];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/sluice.db", f->home);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    raw_exec(db, "DROP INDEX models_run_step; CREATE INDEX models_run ON models (run_id);"
                 "ALTER TABLE deployments DROP COLUMN run_id;"
                 "ALTER TABLE attempts DROP COLUMN step_pid;"
                 "ALTER TABLE attempts DROP COLUMN step_pid_start; DROP TABLE schedule_fires;"
                 "ALTER TABLE attempts DROP COLUMN executor;"
                 "ALTER TABLE attempts DROP COLUMN node;"
                 "ALTER TABLE attempts DROP COLUMN queued_at;"
                 "ALTER TABLE attempts DROP COLUMN job_state;"
                 "ALTER TABLE attempts DROP COLUMN job_reason; DROP TABLE workspace;"
                 "PRAGMA user_version = 1");
    sqlite3_close(db);

    struct err e = ERR_INIT;
    f->st = store_open(f->home, &e);
    assert_non_null(f->st);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_true(raw_int(db, "PRAGMA user_version") >= 4);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                 " 'schedule_fires'"),
                     1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('attempts')"
                                 " WHERE name IN ('step_pid', 'step_pid_start', 'executor', 'node',"
                                 " 'queued_at', 'job_state', 'job_reason')"),
                     7);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM workspace WHERE length(id) = 16"), 1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_info('deployments')"
                                 " WHERE name = 'run_id'"),
                     1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name ="
                                 " 'models_run_step'"),
                     1);
    sqlite3_close(db);
    struct deployment_row *d;
    size_t n;
    OK(store_deployments_list(f->st, "tumour", &d, &n, E));
    assert_int_equal(n, 1);
    assert_int_equal(d[0].run_id, 0); /* unknown for an old row */
    assert_string_equal(d[0].status, "deployed");
    deployment_rows_free(d, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_register_numbers_versions_per_name),
        T(test_get_and_list_order),
        T(test_set_status_is_conditional),
        T(test_decide_approve),
        T(test_decide_reject_and_plain_gate),
        T(test_decide_inside_a_transaction),
        T(test_two_processes_race_to_decide),
        T(test_deployments),
        T(test_catalog),
        T(test_migration_from_schema_1),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
