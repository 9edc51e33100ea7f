/* Tests for the SQLite store: migrations, runs, statuses, leases, steps, attempts, artifacts,
 * lineage, the cache look-up, metrics, events, transactions, batch mode, and two connections
 * (and two processes) sharing one database. Each test runs in a fresh mkdtemp folder. The raw
 * sqlite3 API is used only to inspect or age the database file from outside, as another tool
 * would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "util/err.h"

/* ---- fixture and helpers ----------------------------------------------------------------- */

struct fx {
    char dir[64];     /* the mkdtemp folder, removed at teardown */
    char home[96];    /* dir/home: store_open must create it */
    struct store *st;
};

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct err e = ERR_INIT;
    strcpy(f->dir, "/tmp/sluice-store.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->home, sizeof(f->home), "%s/home", f->dir);
    f->st = store_open(f->home, &e);
    if (!f->st) {
        fprintf(stderr, "store_open: %s\n", e.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->st);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* Calls pass E as their struct err *: the error of the call, printed when it fails. */
#define E (&ok_e_)
#define OK(call)                                                                                  \
    do {                                                                                          \
        struct err ok_e_ = ERR_INIT;                                                              \
        if ((call) != 0)                                                                          \
            fail_msg("%s failed: %s", #call, ok_e_.msg);                                          \
    } while (0)

static const char *yaml_a = "pipeline: alpha\nsteps:\n  prep: {run: 'true'}\n";

static int64_t new_run_with(struct store *st, const char *pipeline, const char *yaml)
{
    static const char *const steps[] = {"prep", "train", "evaluate"};
    static const char *const kinds[] = {"transform", "train", "evaluate"};
    struct run_param params[] = {{"max_depth", "4"}, {"alpha", "0.5"}, {"test_size", "0.25"}};
    struct run_new rn = {
        .pipeline = pipeline,
        .yaml = yaml,
        .yaml_len = strlen(yaml),
        .path = "/work/dags/x.yaml",
        .trigger = "cli",
        .options = "{\"parallel\":2}",
        .params = params,
        .nparams = 3,
        .steps = steps,
        .kinds = kinds,
        .nsteps = 3,
    };
    int64_t id = 0;
    OK(store_run_create(st, &rn, &id, E));
    assert_true(id > 0);
    return id;
}

static int64_t new_run(struct store *st, const char *pipeline)
{
    return new_run_with(st, pipeline, yaml_a);
}

/* The id of step `name` of run `run`. */
static int64_t step_id(struct store *st, int64_t run, const char *name)
{
    struct step_row *rows;
    size_t n;
    int64_t id = 0;
    OK(store_steps_load(st, run, &rows, &n, E));
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].name, name))
            id = rows[i].id;
    step_rows_free(rows, n);
    assert_true(id > 0);
    return id;
}

static enum run_status run_status(struct store *st, int64_t run)
{
    struct run_row r;
    OK(store_run_get(st, run, &r, E));
    enum run_status s = r.status;
    run_row_release(&r);
    return s;
}

/* How many events (step, what, detail) run `run` has; step NULL = of the run itself. */
static int count_events(struct store *st, int64_t run, const char *step, const char *what,
                        const char *detail)
{
    struct event_row *ev;
    size_t n;
    int count = 0;
    OK(store_events_load(st, run, 0, 0, &ev, &n, E));
    for (size_t i = 0; i < n; i++) {
        bool step_ok = step ? ev[i].step && !strcmp(ev[i].step, step) : !ev[i].step;
        if (step_ok && !strcmp(ev[i].what, what) && ev[i].detail && !strcmp(ev[i].detail, detail))
            count++;
    }
    event_rows_free(ev, n);
    return count;
}

static sqlite3 *raw_open(struct fx *f)
{
    char path[160];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/sluice.db", f->home);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static int raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* ---- migrations and opening ------------------------------------------------------------- */

static void test_migrations_create_schema(void **state)
{
    struct fx *f = *state;
    static const char *const tables[] = {
        "pipelines", "pipeline_versions", "runs",      "run_params",  "steps",
        "attempts",  "artifacts",         "step_io",   "metrics",     "models",
        "approvals", "deployments",       "catalog_tables", "events",
    };
    static const char *const indexes[] = {
        "runs_pipeline",   "runs_status",      "runs_pipeline_status",
        "steps_cache_key", "step_io_artifact", "events_run",
    };
    sqlite3 *db = raw_open(f);
    char sql[200];
    for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = '%s'",
                 tables[i]);
        if (raw_int(db, sql) != 1)
            fail_msg("no table '%s'", tables[i]);
    }
    for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
        snprintf(sql, sizeof(sql),
                 "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = '%s'",
                 indexes[i]);
        if (raw_int(db, sql) != 1)
            fail_msg("no index '%s'", indexes[i]);
    }
    assert_true(raw_int(db, "PRAGMA user_version") >= 1);
    /* WAL is a property of the file: another connection sees it */
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    /* the log path is derived from the attempt's folder */
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pragma_table_xinfo('attempts')"
                                 " WHERE name = 'log'"),
                     1);
    sqlite3_close(db);
    assert_string_equal(store_home(f->st), f->home);
}

static void test_foreign_keys_on(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t id;
    assert_int_equal(store_attempt_insert(f->st, 999, 1, "/x", 0, &id, &e), -1);
    assert_string_equal(e.msg, "cannot insert attempt: FOREIGN KEY constraint failed");
}

static void test_reopen_is_idempotent(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t run = new_run(f->st, "alpha");
    sqlite3 *db = raw_open(f);
    int version = raw_int(db, "PRAGMA user_version");
    sqlite3_close(db);
    for (int i = 0; i < 2; i++) {
        store_close(f->st);
        f->st = store_open(f->home, &e);
        if (!f->st)
            fail_msg("reopen: %s", e.msg);
    }
    assert_int_equal(run_status(f->st, run), RUN_QUEUED);
    db = raw_open(f);
    assert_int_equal(raw_int(db, "PRAGMA user_version"), version);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM runs"), 1);
    sqlite3_close(db);
}

static void test_older_database_is_migrated(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    char home2[80];
    /* a database file from before any migration: user_version 0, a foreign table */
    snprintf(home2, sizeof(home2), "%s/old", f->dir);
    assert_int_equal(mkdir(home2, 0777), 0);
    struct fx g = *f;
    snprintf(g.home, sizeof(g.home), "%s", home2);
    sqlite3 *db = raw_open(&g);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes (x)", NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(raw_int(db, "PRAGMA user_version"), 0);
    sqlite3_close(db);
    struct store *st = store_open(home2, &e);
    if (!st)
        fail_msg("open old: %s", e.msg);
    new_run(st, "alpha");
    store_close(st);
    db = raw_open(&g);
    assert_true(raw_int(db, "PRAGMA user_version") >= 1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM runs"), 1);
    sqlite3_close(db);
}

static void test_newer_schema_is_refused(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    sqlite3 *db = raw_open(f);
    int known = raw_int(db, "PRAGMA user_version");
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 9", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    char want[400];
    snprintf(want, sizeof(want),
             "database '%s/sluice.db' is from a newer sluice (schema 9, this one knows %d)",
             f->home, known);
    assert_null(store_open(f->home, &e));
    assert_string_equal(e.msg, want);
}

static void test_open_paths(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    char path[160], want[300];
    /* --home a/b/c: every level is created */
    snprintf(path, sizeof(path), "%s/a/b//c/", f->dir);
    struct store *st = store_open(path, &e);
    if (!st)
        fail_msg("nested home: %s", e.msg);
    store_close(st);
    snprintf(path, sizeof(path), "%s/a/b/c/sluice.db", f->dir);
    assert_int_equal(access(path, R_OK | W_OK), 0);
    assert_null(store_open("", &e));
    assert_string_equal(e.msg, "cannot create folder '': No such file or directory");
    err_clear(&e);
    /* a HOME that is a file */
    snprintf(path, sizeof(path), "%s/file", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("not a folder\n", fp);
    fclose(fp);
    assert_null(store_open(path, &e));
    snprintf(want, sizeof(want), "cannot open database '%s/sluice.db': ", path);
    assert_memory_equal(e.msg, want, strlen(want));
    /* a sluice.db that is not a database */
    snprintf(path, sizeof(path), "%s/junk", f->dir);
    assert_int_equal(mkdir(path, 0777), 0);
    snprintf(want, sizeof(want), "%s/sluice.db", path);
    fp = fopen(want, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an sqlite database at all\n", fp);
    fclose(fp);
    err_clear(&e);
    assert_null(store_open(path, &e));
    snprintf(want, sizeof(want), "cannot open database '%s/sluice.db': file is not a database",
             path);
    assert_string_equal(e.msg, want);
}

/* ---- runs ------------------------------------------------------------------------------- */

static void test_run_create_get(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t before = store_now_ms();
    int64_t id = new_run_with(f->st, "alpha", "abc");
    struct run_row r;
    OK(store_run_get(f->st, id, &r, E));
    assert_int_equal(r.id, id);
    assert_string_equal(r.pipeline, "alpha");
    /* the version is the SHA-256 of the exact text (FIPS 180-2 test vector for "abc") */
    assert_string_equal(r.version,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(r.yaml, "abc");
    assert_string_equal(r.path, "/work/dags/x.yaml");
    assert_int_equal(r.status, RUN_QUEUED);
    assert_string_equal(r.trigger, "cli");
    assert_string_equal(r.options, "{\"parallel\":2}");
    assert_null(r.message);
    assert_null(r.lease_owner);
    assert_false(r.cancel_requested);
    assert_int_equal(r.parent_run, 0);
    assert_true(r.created_at >= before && r.created_at <= store_now_ms());
    assert_int_equal(r.started_at, 0);
    assert_int_equal(r.ended_at, 0);
    /* params in the order given */
    assert_int_equal(r.nparams, 3);
    assert_string_equal(r.params[0].name, "max_depth");
    assert_string_equal(r.params[0].value, "4");
    assert_string_equal(r.params[1].name, "alpha");
    assert_string_equal(r.params[2].name, "test_size");
    assert_string_equal(r.params[2].value, "0.25");
    run_row_release(&r);
    assert_null(r.pipeline);

    /* steps: pending, in file order, with their kinds */
    struct step_row *steps;
    size_t n;
    OK(store_steps_load(f->st, id, &steps, &n, E));
    assert_int_equal(n, 3);
    assert_string_equal(steps[0].name, "prep");
    assert_string_equal(steps[0].kind, "transform");
    assert_string_equal(steps[2].name, "evaluate");
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(steps[i].status, STEP_PENDING);
        assert_int_equal(steps[i].run_id, id);
        assert_false(steps[i].cached);
        assert_null(steps[i].cache_key);
    }
    step_rows_free(steps, n);
    assert_int_equal(count_events(f->st, id, NULL, "created", "queued, trigger cli"), 1);

    /* same text: same version row; a retry run records its parent */
    struct run_new rn = {.pipeline = "alpha", .yaml = "abc", .yaml_len = 3, .trigger = "retry",
                         .parent_run = id};
    int64_t id2;
    OK(store_run_create(f->st, &rn, &id2, E));
    OK(store_run_get(f->st, id2, &r, E));
    assert_string_equal(r.version,
                        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(r.parent_run, id);
    assert_string_equal(r.trigger, "retry");
    assert_int_equal(r.nparams, 0);
    run_row_release(&r);
    char detail[100];
    snprintf(detail, sizeof(detail), "queued, trigger retry, retry of run %" PRId64, id);
    assert_int_equal(count_events(f->st, id2, NULL, "created", detail), 1);
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pipeline_versions"), 1);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pipelines"), 1);
    sqlite3_close(db);

    int64_t last;
    OK(store_run_last(f->st, &last, E));
    assert_int_equal(last, id2);

    assert_int_equal(store_run_get(f->st, 4242, &r, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    assert_string_equal(e.msg, "no run 4242");
}

static void test_run_create_is_atomic(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    static const char *const steps[] = {"a", "a"}; /* duplicate: the second insert fails */
    struct run_new rn = {.pipeline = "alpha", .yaml = "x", .yaml_len = 1, .steps = steps,
                         .nsteps = 2};
    int64_t id = -1;
    assert_int_equal(store_run_create(f->st, &rn, &id, &e), -1);
    assert_string_equal(e.msg,
                        "cannot insert step 'a': UNIQUE constraint failed: steps.run_id, "
                        "steps.name");
    assert_int_equal(id, -1);
    err_clear(&e);
    assert_int_equal(store_run_last(f->st, &id, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    struct run_param twice[] = {{"x", "1"}, {"x", "2"}};
    rn = (struct run_new){.pipeline = "alpha", .yaml = "x", .yaml_len = 1, .params = twice,
                          .nparams = 2};
    err_clear(&e);
    assert_int_equal(store_run_create(f->st, &rn, &id, &e), -1);
    assert_string_equal(e.msg, "cannot insert parameter 'x': UNIQUE constraint failed: "
                               "run_params.run_id, run_params.name");
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM pipelines"), 0);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM runs"), 0);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM steps"), 0);
    sqlite3_close(db);
}

static void test_run_list(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t ids[12];
    bool changed;
    /* 12 runs: even ones of alpha, odd ones of beta; every third one running */
    for (int i = 0; i < 12; i++) {
        ids[i] = new_run(f->st, i % 2 ? "beta" : "alpha");
        if (i % 3 == 0)
            OK(store_run_set_status(f->st, ids[i], RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    }
    struct run_row *rows;
    size_t n;
    OK(store_run_list(f->st, NULL, &rows, &n, E));
    assert_int_equal(n, 12);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(rows[i].id, ids[11 - i]); /* newest first */
        assert_null(rows[i].yaml);
        assert_null(rows[i].params);
        assert_string_equal(rows[i].pipeline, (11 - i) % 2 ? "beta" : "alpha");
    }
    run_rows_free(rows, n);

    struct run_filter fl = {"beta", -1, 0, 0};
    OK(store_run_list(f->st, &fl, &rows, &n, E));
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].id, ids[11 - 2 * i]);
    run_rows_free(rows, n);

    fl = (struct run_filter){NULL, RUN_RUNNING, 0, 0};
    OK(store_run_list(f->st, &fl, &rows, &n, E));
    assert_int_equal(n, 4); /* 0, 3, 6, 9 */
    assert_int_equal(rows[0].id, ids[9]);
    assert_int_equal(rows[3].id, ids[0]);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(rows[i].status, RUN_RUNNING);
    run_rows_free(rows, n);

    fl = (struct run_filter){"beta", RUN_RUNNING, 0, 0};
    OK(store_run_list(f->st, &fl, &rows, &n, E));
    assert_int_equal(n, 2); /* 3, 9 */
    assert_int_equal(rows[0].id, ids[9]);
    assert_int_equal(rows[1].id, ids[3]);
    run_rows_free(rows, n);

    fl = (struct run_filter){"nosuch", -1, 0, 0};
    OK(store_run_list(f->st, &fl, &rows, &n, E));
    assert_int_equal(n, 0);
    run_rows_free(rows, n);

    /* keyset pagination: pages of 5 through all 12 */
    int64_t before = 0;
    size_t seen = 0;
    for (int page = 0; page < 3; page++) {
        fl = (struct run_filter){NULL, -1, before, 5};
        OK(store_run_list(f->st, &fl, &rows, &n, E));
        assert_int_equal(n, page < 2 ? 5 : 2);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(rows[i].id, ids[11 - seen - i]);
        seen += n;
        before = rows[n - 1].id;
        run_rows_free(rows, n);
    }
    assert_int_equal(seen, 12);

    fl = (struct run_filter){NULL, 99, 0, 0};
    assert_int_equal(store_run_list(f->st, &fl, &rows, &n, &e), -1);
    assert_string_equal(e.msg, "unknown run status 99");
}

static void test_run_list_uses_an_index(void **state)
{
    struct fx *f = *state;
    const struct run_filter filters[] = {
        {NULL, -1, 0, 0}, {"alpha", -1, 0, 0}, {NULL, RUN_FAILED, 100, 0}, {"a", RUN_FAILED, 0, 5}};
    for (size_t i = 0; i < 4; i++) {
        char *plan;
        OK(store_run_list_plan(f->st, &filters[i], &plan, E));
        /* runs is searched through an index (or the rowid range), never scanned or sorted */
        if (!strstr(plan, "SEARCH r USING") || strstr(plan, "SCAN r") ||
            strstr(plan, "TEMP B-TREE"))
            fail_msg("filter %zu: plan does not walk an index:\n%s", i, plan);
        free(plan);
    }
}

static void test_run_status_is_conditional(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t id = new_run(f->st, "alpha");
    bool changed = false;
    OK(store_run_set_status(f->st, id, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    assert_true(changed);
    /* the identical transition again: the run is no longer queued */
    OK(store_run_set_status(f->st, id, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    assert_false(changed);
    struct run_row r;
    OK(store_run_get(f->st, id, &r, E));
    assert_int_equal(r.status, RUN_RUNNING);
    int64_t started = r.started_at;
    assert_true(started > 0);
    assert_int_equal(r.ended_at, 0);
    run_row_release(&r);

    OK(store_run_set_status(f->st, id, RUN_RUNNING, RUN_WAITING, "approval of 'approve'",
                            &changed, E));
    assert_true(changed);
    OK(store_run_set_status(f->st, id, RUN_WAITING, RUN_RUNNING, NULL, &changed, E));
    OK(store_run_get(f->st, id, &r, E));
    assert_int_equal(r.started_at, started); /* only the first move to running */
    assert_string_equal(r.message, "approval of 'approve'"); /* NULL keeps the message */
    run_row_release(&r);

    OK(store_run_set_status(f->st, id, RUN_RUNNING, RUN_FAILED, "step 'train' failed", &changed,
                            E));
    assert_true(changed);
    OK(store_run_get(f->st, id, &r, E));
    assert_int_equal(r.status, RUN_FAILED);
    assert_true(r.ended_at >= started);
    assert_string_equal(r.message, "step 'train' failed");
    run_row_release(&r);

    /* from == to changes nothing */
    OK(store_run_set_status(f->st, id, RUN_FAILED, RUN_FAILED, NULL, &changed, E));
    assert_false(changed);

    assert_int_equal(count_events(f->st, id, NULL, "status", "queued -> running"), 1);
    assert_int_equal(count_events(f->st, id, NULL, "status", "waiting -> running"), 1);
    assert_int_equal(
        count_events(f->st, id, NULL, "status", "running -> failed: step 'train' failed"), 1);

    assert_int_equal(store_run_set_status(f->st, 999, RUN_QUEUED, RUN_RUNNING, NULL, &changed, &e),
                     -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    assert_false(changed);
}

static void test_run_cancel(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t id = new_run(f->st, "alpha");
    struct run_row r;
    OK(store_run_request_cancel(f->st, id, E));
    OK(store_run_request_cancel(f->st, id, E));
    OK(store_run_get(f->st, id, &r, E));
    assert_true(r.cancel_requested);
    run_row_release(&r);
    assert_int_equal(count_events(f->st, id, NULL, "cancel", "requested"), 1);
    assert_int_equal(store_run_request_cancel(f->st, 77, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
}

static void test_leases(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t id = new_run(f->st, "alpha");
    const char *a = "host:100:5555", *b = "host:200:6666", *c = "other:300:7777";
    bool got, kept;
    struct run_row r;

    OK(store_lease_acquire(f->st, id, a, NULL, 1000, 11000, &got, E));
    assert_true(got); /* free */
    OK(store_lease_acquire(f->st, id, b, NULL, 5000, 15000, &got, E));
    assert_false(got); /* a's lease is live */
    OK(store_lease_acquire(f->st, id, b, c, 5000, 15000, &got, E));
    assert_false(got); /* b expected a stale c, but a holds it */
    OK(store_run_get(f->st, id, &r, E));
    assert_string_equal(r.lease_owner, a);
    assert_int_equal(r.lease_expires, 11000);
    run_row_release(&r);

    OK(store_lease_renew(f->st, id, a, 21000, &kept, E));
    assert_true(kept);
    OK(store_lease_acquire(f->st, id, b, NULL, 20000, 30000, &got, E));
    assert_false(got); /* renewed: still live at 20000 */
    OK(store_lease_acquire(f->st, id, b, NULL, 21000, 31000, &got, E));
    assert_true(got); /* expired */
    OK(store_lease_renew(f->st, id, a, 40000, &kept, E));
    assert_false(kept); /* a lost it */

    /* c decided b is dead (same host, process gone) and names it: taken at once */
    OK(store_lease_acquire(f->st, id, c, b, 22000, 32000, &got, E));
    assert_true(got);
    OK(store_lease_acquire(f->st, id, c, NULL, 23000, 33000, &got, E));
    assert_true(got); /* the owner again: extends */

    OK(store_lease_release(f->st, id, a, E)); /* not the owner: nothing happens */
    OK(store_run_get(f->st, id, &r, E));
    assert_string_equal(r.lease_owner, c);
    assert_int_equal(r.lease_expires, 33000);
    run_row_release(&r);
    OK(store_lease_release(f->st, id, c, E));
    OK(store_run_get(f->st, id, &r, E));
    assert_null(r.lease_owner);
    assert_int_equal(r.lease_expires, 0);
    run_row_release(&r);
    OK(store_lease_acquire(f->st, id, a, NULL, 24000, 34000, &got, E));
    assert_true(got);

    assert_int_equal(count_events(f->st, id, NULL, "lease", "acquired by host:100:5555"), 2);
    assert_int_equal(
        count_events(f->st, id, NULL, "lease", "taken by host:200:6666 from host:100:5555"), 1);
    assert_int_equal(
        count_events(f->st, id, NULL, "lease", "taken by other:300:7777 from host:200:6666"), 1);
    assert_int_equal(count_events(f->st, id, NULL, "lease", "released by other:300:7777"), 1);

    assert_int_equal(store_lease_acquire(f->st, 555, a, NULL, 0, 1, &got, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
}

/* ---- steps and attempts ----------------------------------------------------------------- */

static void test_step_status_retry_cache(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t run = new_run(f->st, "alpha");
    int64_t prep = step_id(f->st, run, "prep"), train = step_id(f->st, run, "train");
    bool changed;
    OK(store_step_set_status(f->st, prep, STEP_PENDING, STEP_RUNNING, NULL, &changed, E));
    assert_true(changed);
    OK(store_step_set_status(f->st, prep, STEP_PENDING, STEP_RUNNING, NULL, &changed, E));
    assert_false(changed);
    OK(store_step_set_retry(f->st, prep, 1, 123456, E));
    OK(store_step_set_status(f->st, prep, STEP_RUNNING, STEP_RETRYING, "exit 1", &changed, E));
    assert_true(changed);
    OK(store_step_set_status(f->st, prep, STEP_RETRYING, STEP_RUNNING, NULL, &changed, E));
    OK(store_step_set_status(f->st, prep, STEP_RUNNING, STEP_SUCCEEDED, NULL, &changed, E));
    assert_true(changed);
    OK(store_step_set_cache(f->st, train, "k1", "{\"cmd\":\"x\"}", E));
    OK(store_step_set_status(f->st, train, STEP_PENDING, STEP_CACHED, NULL, &changed, E));
    assert_true(changed);

    struct step_row *rows;
    size_t n;
    OK(store_steps_load(f->st, run, &rows, &n, E));
    assert_int_equal(rows[0].status, STEP_SUCCEEDED);
    assert_int_equal(rows[0].attempts, 1);
    assert_int_equal(rows[0].next_attempt_at, 123456);
    assert_string_equal(rows[0].message, "exit 1");
    assert_true(rows[0].started_at > 0);
    assert_true(rows[0].ended_at >= rows[0].started_at);
    assert_false(rows[0].cached);
    assert_int_equal(rows[1].status, STEP_CACHED);
    assert_true(rows[1].cached);
    assert_string_equal(rows[1].cache_key, "k1");
    assert_string_equal(rows[1].cache_info, "{\"cmd\":\"x\"}");
    assert_true(rows[1].ended_at > 0);
    assert_int_equal(rows[2].status, STEP_PENDING);
    assert_int_equal(rows[2].started_at, 0);
    step_rows_free(rows, n);

    assert_int_equal(count_events(f->st, run, "prep", "status", "pending -> running"), 1);
    assert_int_equal(count_events(f->st, run, "prep", "status", "running -> retrying: exit 1"),
                     1);
    assert_int_equal(count_events(f->st, run, "train", "status", "pending -> cached"), 1);

    assert_int_equal(store_step_set_retry(f->st, 9999, 1, 0, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    err_clear(&e);
    assert_int_equal(store_step_set_status(f->st, 9999, STEP_PENDING, STEP_RUNNING, NULL,
                                           &changed, &e),
                     -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
}

static void test_step_previous(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t r1 = new_run(f->st, "alpha");
    int64_t other = new_run(f->st, "beta");
    int64_t r2 = new_run(f->st, "alpha");
    int64_t r3 = new_run(f->st, "alpha");
    OK(store_step_set_cache(f->st, step_id(f->st, r1, "train"), "k1", "{\"v\":1}", E));
    OK(store_step_set_cache(f->st, step_id(f->st, other, "train"), "kb", "{\"v\":\"b\"}", E));
    OK(store_step_set_cache(f->st, step_id(f->st, r3, "train"), "k3", "{\"v\":3}", E));
    (void)r2; /* no cache_info: skipped over */
    struct step_row s;
    OK(store_step_previous(f->st, "alpha", "train", r3, &s, E));
    assert_int_equal(s.run_id, r1);
    assert_string_equal(s.cache_info, "{\"v\":1}");
    step_row_release(&s);
    OK(store_step_previous(f->st, "alpha", "train", 0, &s, E));
    assert_int_equal(s.run_id, r3);
    step_row_release(&s);
    assert_int_equal(store_step_previous(f->st, "alpha", "train", r1, &s, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    err_clear(&e);
    assert_int_equal(store_step_previous(f->st, "alpha", "prep", 0, &s, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
}

static void test_attempts(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t run = new_run(f->st, "alpha");
    int64_t prep = step_id(f->st, run, "prep"), train = step_id(f->st, run, "train");
    int64_t a1, a2, hit;
    bool changed;
    OK(store_attempt_insert(f->st, prep, 1, "/h/runs/1/prep/1", 0, &a1, E));
    OK(store_attempt_set_pid(f->st, a1, 4242, 987654321ULL, NULL, E));
    OK(store_attempt_finish(f->st, a1, "failed", 3, 0, 1.5, 2048, 5000, &changed, E));
    assert_true(changed);
    /* the engine and the adopter both see the exit: only the first records it */
    OK(store_attempt_finish(f->st, a1, "succeeded", 0, 0, 9, 9, 6000, &changed, E));
    assert_false(changed);
    OK(store_attempt_insert(f->st, prep, 2, "/h/runs/1/prep/2", 0, &a2, E));
    OK(store_attempt_set_pid(f->st, a2, 0, 0, "slurm-77", E));
    OK(store_attempt_finish(f->st, a2, "lost", -1, 9, 0, 0, 0, &changed, E));
    assert_true(changed);
    OK(store_attempt_insert(f->st, train, 0, NULL, a1, &hit, E));
    OK(store_attempt_finish(f->st, hit, "succeeded", 0, 0, 0, 0, 0, &changed, E));
    assert_false(changed); /* a cache hit is recorded finished */

    /* attempt n is recorded once */
    int64_t dup;
    assert_int_equal(store_attempt_insert(f->st, prep, 2, "/x", 0, &dup, &e), -1);
    assert_string_equal(e.msg,
                        "cannot insert attempt: UNIQUE constraint failed: attempts.step_id, "
                        "attempts.n");
    err_clear(&e);
    assert_int_equal(store_attempt_finish(f->st, a1, "running", 0, 0, 0, 0, 0, &changed, &e), -1);
    char want[100];
    snprintf(want, sizeof(want), "cannot finish attempt %" PRId64 ": unknown status 'running'",
             a1);
    assert_string_equal(e.msg, want);

    struct attempt_row *rows;
    size_t n;
    OK(store_attempts_load(f->st, prep, &rows, &n, E));
    assert_int_equal(n, 2);
    assert_int_equal(rows[0].id, a1);
    assert_int_equal(rows[0].n, 1);
    assert_string_equal(rows[0].status, "failed");
    assert_int_equal(rows[0].pid, 4242);
    assert_true(rows[0].pid_start == 987654321ULL);
    assert_null(rows[0].job_id);
    assert_int_equal(rows[0].exit_code, 3);
    assert_int_equal(rows[0].signal, 0);
    assert_true(rows[0].cpu_s == 1.5);
    assert_int_equal(rows[0].max_rss_kb, 2048);
    assert_string_equal(rows[0].dir, "/h/runs/1/prep/1");
    assert_int_equal(rows[0].ended_at, 5000);
    assert_true(rows[0].started_at > 0);
    assert_int_equal(rows[0].cached_from, 0);
    assert_string_equal(rows[1].status, "lost");
    assert_string_equal(rows[1].job_id, "slurm-77");
    assert_int_equal(rows[1].signal, 9);
    assert_true(rows[1].ended_at > 0); /* 0 = now */
    attempt_rows_free(rows, n);

    OK(store_run_attempts_load(f->st, run, &rows, &n, E));
    assert_int_equal(n, 3);
    assert_int_equal(rows[0].id, a1);
    assert_int_equal(rows[1].id, a2);
    assert_int_equal(rows[2].id, hit);
    assert_int_equal(rows[2].n, 0);
    assert_string_equal(rows[2].status, "cached");
    assert_int_equal(rows[2].exit_code, 0);
    assert_int_equal(rows[2].cached_from, a1);
    assert_true(rows[2].ended_at > 0);
    attempt_rows_free(rows, n);

    int64_t origin_run;
    char *origin_step;
    OK(store_attempt_origin(f->st, hit, &origin_run, &origin_step, E));
    assert_int_equal(origin_run, run);
    assert_string_equal(origin_step, "train");
    free(origin_step);
    assert_int_equal(store_attempt_origin(f->st, 999, &origin_run, &origin_step, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    assert_null(origin_step);

    assert_int_equal(count_events(f->st, run, "prep", "attempt", "1 running"), 1);
    assert_int_equal(count_events(f->st, run, "prep", "attempt", "failed, exit 3"), 1);
    assert_int_equal(count_events(f->st, run, "prep", "attempt", "lost, signal 9"), 1);
    char detail[64];
    snprintf(detail, sizeof(detail), "0 cached from attempt %" PRId64, a1);
    assert_int_equal(count_events(f->st, run, "train", "attempt", detail), 1);

    err_clear(&e);
    assert_int_equal(store_attempt_finish(f->st, 999, "failed", 1, 0, 0, 0, 0, &changed, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    err_clear(&e);
    assert_int_equal(store_attempt_set_pid(f->st, 999, 1, 1, NULL, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
}

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

/* ---- transactions and sharing ------------------------------------------------------------ */

static void test_transactions(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t run = new_run(f->st, "alpha");
    int64_t prep = step_id(f->st, run, "prep");
    bool changed;

    OK(store_begin(f->st, E));
    OK(store_run_set_status(f->st, run, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    OK(store_metric_put(f->st, run, "prep", "x", -1, 1, E));
    store_rollback(f->st);
    assert_int_equal(run_status(f->st, run), RUN_QUEUED);
    assert_int_equal(count_events(f->st, run, NULL, "status", "queued -> running"), 0);

    /* inside a batch, a failing call undoes only itself */
    int64_t a1, dup;
    OK(store_begin(f->st, E));
    OK(store_run_set_status(f->st, run, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    OK(store_attempt_insert(f->st, prep, 1, "/d", 0, &a1, E));
    assert_int_equal(store_attempt_insert(f->st, prep, 1, "/d", 0, &dup, &e), -1);
    OK(store_step_set_status(f->st, prep, STEP_PENDING, STEP_RUNNING, NULL, &changed, E));
    OK(store_commit(f->st, E));
    assert_int_equal(run_status(f->st, run), RUN_RUNNING);
    struct attempt_row *rows;
    size_t n;
    OK(store_attempts_load(f->st, prep, &rows, &n, E));
    assert_int_equal(n, 1);
    attempt_rows_free(rows, n);
    assert_int_equal(count_events(f->st, run, "prep", "attempt", "1 running"), 1);
    assert_int_equal(count_events(f->st, run, "prep", "status", "pending -> running"), 1);

    /* a run created inside a batch is there after the commit */
    OK(store_begin(f->st, E));
    int64_t run2 = new_run(f->st, "beta");
    OK(store_commit(f->st, E));
    assert_int_equal(run_status(f->st, run2), RUN_QUEUED);
    store_rollback(f->st); /* nothing open: nothing happens */
}

static void test_two_connections(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    struct store *b = store_open(f->home, &e);
    if (!b)
        fail_msg("second open: %s", e.msg);
    int64_t run = new_run(f->st, "alpha");
    assert_int_equal(run_status(b, run), RUN_QUEUED); /* b sees a's write */
    bool won_a = false, won_b = false;
    OK(store_run_set_status(b, run, RUN_QUEUED, RUN_RUNNING, NULL, &won_b, E));
    OK(store_run_set_status(f->st, run, RUN_QUEUED, RUN_RUNNING, NULL, &won_a, E));
    assert_true(won_b);
    assert_false(won_a);
    assert_int_equal(run_status(f->st, run), RUN_RUNNING); /* a sees b's write */
    assert_int_equal(count_events(f->st, run, NULL, "status", "queued -> running"), 1);

    /* a's batch holds the write lock; b's reads go on meanwhile (WAL) */
    OK(store_begin(f->st, E));
    OK(store_metric_put(f->st, run, "prep", "x", -1, 1, E));
    assert_int_equal(run_status(b, run), RUN_RUNNING);
    struct metric_row *m;
    size_t n;
    OK(store_metrics_load(b, run, NULL, &m, &n, E));
    assert_int_equal(n, 0); /* not committed yet */
    metric_rows_free(m, n);
    OK(store_commit(f->st, E));
    OK(store_metrics_load(b, run, NULL, &m, &n, E));
    assert_int_equal(n, 1);
    metric_rows_free(m, n);
    store_close(b);
}

/* Two processes race to start the same runs; each run must be started exactly once. */
static void test_two_processes_race(void **state)
{
    struct fx *f = *state;
    enum { NRUNS = 200 }; /* wins are exit statuses: at most 255 */
    int64_t ids[NRUNS];
    for (int i = 0; i < NRUNS; i++)
        ids[i] = new_run(f->st, "alpha");
    /* no connection crosses fork(): close ours, each child opens its own */
    store_close(f->st);
    f->st = NULL;
    /* a start line: both children open their store, say so on `ready`, and wait for `go` to
     * close, so that their loops overlap */
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pids[2];
    for (int c = 0; c < 2; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] == 0) {
            struct err e = ERR_INIT;
            char byte = 'r';
            close(ready[0]);
            close(go[1]);
            struct store *st = store_open(f->home, &e);
            int wins = 0;
            if (!st)
                _exit(255);
            if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 0)
                _exit(253);
            /* opposite orders: they meet in the middle, where both go for the same runs */
            for (int k = 0; k < NRUNS; k++) {
                int i = c ? NRUNS - 1 - k : k;
                bool changed;
                if (store_run_set_status(st, ids[i], RUN_QUEUED, RUN_RUNNING, NULL, &changed,
                                         &e) < 0) {
                    fprintf(stderr, "child %d: %s\n", c, e.msg);
                    _exit(254);
                }
                wins += changed;
            }
            store_close(st);
            _exit(wins);
        }
    }
    close(ready[1]);
    close(go[0]);
    char bytes[2];
    assert_int_equal(read(ready[0], bytes, 1), 1);
    assert_int_equal(read(ready[0], bytes + 1, 1), 1);
    close(go[1]);
    close(ready[0]);
    int total = 0;
    for (int c = 0; c < 2; c++) {
        int status;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) <= NRUNS);
        total += WEXITSTATUS(status);
    }
    assert_int_equal(total, NRUNS);
    struct err e = ERR_INIT;
    f->st = store_open(f->home, &e);
    assert_non_null(f->st);
    for (int i = 0; i < NRUNS; i++) {
        assert_int_equal(run_status(f->st, ids[i]), RUN_RUNNING);
        assert_int_equal(count_events(f->st, ids[i], NULL, "status", "queued -> running"), 1);
    }
}

/* ---- batch mode -------------------------------------------------------------------------- */

/* A second connection to the fixture's database, as another process would have. */
static struct store *other_open(struct fx *f)
{
    struct err e = ERR_INIT;
    struct store *b = store_open(f->home, &e);
    if (!b)
        fail_msg("second open: %s", e.msg);
    return b;
}

/* Whether connection b sees run `run` (committed). */
static bool run_visible(struct store *b, int64_t run)
{
    struct err e = ERR_INIT;
    struct run_row r;
    if (store_run_get(b, run, &r, &e) == 0) {
        run_row_release(&r);
        return true;
    }
    if (e.code != STORE_NOT_FOUND)
        fail_msg("store_run_get: %s", e.msg);
    return false;
}

static size_t metric_count(struct store *st, int64_t run)
{
    struct metric_row *m;
    size_t n;
    OK(store_metrics_load(st, run, NULL, &m, &n, E));
    metric_rows_free(m, n);
    return n;
}

static void test_batch_commits_at_flush(void **state)
{
    struct fx *f = *state;
    struct store *b = other_open(f);
    int64_t run = new_run(f->st, "alpha"); /* before batch mode: committed at once */
    int64_t prep = step_id(f->st, run, "prep");
    assert_true(run_visible(b, run));

    store_batch_set(f->st, true);
    assert_false(store_batch_open(f->st));
    /* a one-statement call (store_exec_tx) opens the batch ... */
    OK(store_metric_put(f->st, run, "prep", "x", -1, 1, E));
    assert_true(store_batch_open(f->st));
    /* ... and a call with its own transaction (store_tx_begin) joins it */
    int64_t run2 = new_run(f->st, "beta");
    OK(store_step_set_retry(f->st, prep, 1, 1234, E));
    assert_true(store_batch_open(f->st));
    /* the batch's own connection reads its writes; the other one sees none of them */
    assert_int_equal(metric_count(f->st, run), 1);
    assert_true(run_visible(f->st, run2));
    assert_int_equal(metric_count(b, run), 0);
    assert_false(run_visible(b, run2));

    OK(store_batch_flush(f->st, E));
    assert_false(store_batch_open(f->st));
    assert_int_equal(metric_count(b, run), 1);
    assert_true(run_visible(b, run2));
    assert_int_equal(count_events(b, run2, NULL, "created", "queued, trigger cli"), 1);
    struct step_row *rows;
    size_t n;
    OK(store_steps_load(b, run, &rows, &n, E));
    assert_int_equal(rows[0].attempts, 1);
    assert_int_equal(rows[0].next_attempt_at, 1234);
    step_rows_free(rows, n);

    /* the next write opens the next batch */
    OK(store_metric_put(f->st, run, "prep", "y", -1, 2, E));
    assert_true(store_batch_open(f->st));
    assert_int_equal(metric_count(b, run), 1);
    OK(store_batch_flush(f->st, E));
    assert_int_equal(metric_count(b, run), 2);
    store_close(b);
}

static void test_batch_reads_open_nothing(void **state)
{
    struct fx *f = *state;
    int64_t run = new_run(f->st, "alpha");
    store_batch_set(f->st, true);
    struct run_row r;
    OK(store_run_get(f->st, run, &r, E));
    run_row_release(&r);
    struct run_row *rows;
    size_t n;
    OK(store_run_list(f->st, &(struct run_filter){.status = -1}, &rows, &n, E));
    assert_int_equal(n, 1);
    run_rows_free(rows, n);
    assert_int_equal(count_events(f->st, run, NULL, "created", "queued, trigger cli"), 1);
    assert_false(store_batch_open(f->st));
    /* no write lock is held: another connection writes and sees its write committed */
    struct store *b = other_open(f);
    bool changed = false;
    OK(store_run_set_status(b, run, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    assert_true(changed);
    assert_int_equal(run_status(f->st, run), RUN_RUNNING);
    assert_false(store_batch_open(f->st));
    store_close(b);
}

static void test_batch_rollback_undoes_own_part(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    bool changed;
    store_batch_set(f->st, true);
    int64_t run = new_run(f->st, "alpha"); /* opens the batch */
    int64_t prep = step_id(f->st, run, "prep");
    assert_true(store_batch_open(f->st));

    OK(store_begin(f->st, E));
    OK(store_run_set_status(f->st, run, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    int64_t run2 = new_run(f->st, "beta");
    OK(store_metric_put(f->st, run, "prep", "x", -1, 1, E));
    store_rollback(f->st);
    assert_true(store_batch_open(f->st)); /* the batch outlives the caller's part */
    assert_int_equal(run_status(f->st, run), RUN_QUEUED);
    assert_false(run_visible(f->st, run2));
    assert_int_equal(metric_count(f->st, run), 0);

    /* a failing call undoes only itself too */
    int64_t a1, dup;
    OK(store_attempt_insert(f->st, prep, 1, "/d", 0, &a1, E));
    assert_int_equal(store_attempt_insert(f->st, prep, 1, "/d", 0, &dup, &e), -1);
    assert_true(store_batch_open(f->st));

    OK(store_batch_flush(f->st, E));
    struct store *b = other_open(f);
    assert_true(run_visible(b, run));
    assert_false(run_visible(b, run2));
    assert_int_equal(run_status(b, run), RUN_QUEUED);
    assert_int_equal(count_events(b, run, NULL, "status", "queued -> running"), 0);
    assert_int_equal(count_events(b, run, "prep", "attempt", "1 running"), 1);
    assert_int_equal(metric_count(b, run), 0);
    store_close(b);
}

static void test_batch_commit_waits_for_flush(void **state)
{
    struct fx *f = *state;
    struct store *b = other_open(f);
    store_batch_set(f->st, true);
    /* store_begin with nothing open opens the batch */
    OK(store_begin(f->st, E));
    assert_true(store_batch_open(f->st));
    int64_t run = new_run(f->st, "alpha");
    OK(store_commit(f->st, E));
    assert_true(store_batch_open(f->st));
    assert_true(run_visible(f->st, run));
    assert_false(run_visible(b, run));

    /* store_begin inside the open batch */
    bool changed = false;
    OK(store_begin(f->st, E));
    OK(store_run_set_status(f->st, run, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    OK(store_commit(f->st, E));
    assert_true(changed);
    assert_false(run_visible(b, run));

    OK(store_batch_flush(f->st, E));
    assert_true(run_visible(b, run));
    assert_int_equal(run_status(b, run), RUN_RUNNING);
    store_close(b);
}

static void test_batch_flush_without_batch(void **state)
{
    struct fx *f = *state;
    /* batch mode off, nothing open */
    OK(store_batch_flush(f->st, E));
    store_batch_set(f->st, true);
    OK(store_batch_flush(f->st, E));
    assert_false(store_batch_open(f->st));
    /* after a flush, a second one has nothing left to commit */
    int64_t run = new_run(f->st, "alpha");
    OK(store_batch_flush(f->st, E));
    OK(store_batch_flush(f->st, E));
    assert_false(store_batch_open(f->st));
    /* an explicit transaction of batch mode off is not the batch's to commit */
    store_batch_set(f->st, false);
    OK(store_begin(f->st, E));
    store_batch_set(f->st, true);
    bool changed = false;
    OK(store_run_set_status(f->st, run, RUN_QUEUED, RUN_RUNNING, NULL, &changed, E));
    assert_false(store_batch_open(f->st));
    OK(store_batch_flush(f->st, E));
    store_rollback(f->st);
    assert_int_equal(run_status(f->st, run), RUN_QUEUED);
}

static void test_batch_off_commits_each_call(void **state)
{
    struct fx *f = *state;
    struct store *b = other_open(f);
    int64_t run = new_run(f->st, "alpha");
    assert_false(store_batch_open(f->st));
    assert_true(run_visible(b, run));
    OK(store_metric_put(f->st, run, "prep", "x", -1, 1, E));
    assert_int_equal(metric_count(b, run), 1);
    /* on, then off again: back to one commit per call */
    store_batch_set(f->st, true);
    OK(store_metric_put(f->st, run, "prep", "y", -1, 1, E));
    OK(store_batch_flush(f->st, E));
    store_batch_set(f->st, false);
    OK(store_metric_put(f->st, run, "prep", "z", -1, 1, E));
    assert_false(store_batch_open(f->st));
    assert_int_equal(metric_count(b, run), 3);
    int64_t run2 = new_run(f->st, "beta");
    assert_true(run_visible(b, run2));
    store_close(b);
}

static void test_batch_close_drops_unflushed(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t run = new_run(f->st, "alpha");
    store_batch_set(f->st, true);
    int64_t run2 = new_run(f->st, "beta");
    OK(store_metric_put(f->st, run, "prep", "x", -1, 1, E));
    store_close(f->st);
    f->st = store_open(f->home, &e);
    if (!f->st)
        fail_msg("reopen: %s", e.msg);
    assert_true(run_visible(f->st, run));
    assert_false(run_visible(f->st, run2));
    assert_int_equal(metric_count(f->st, run), 0);
}

/* Misuse aborts with BUG(): run in a child with its own connection, expect SIGABRT. */
static void misuse_nested_begin(struct store *st)
{
    struct err e = ERR_INIT;
    store_batch_set(st, true);
    if (store_begin(st, &e) == 0)
        store_begin(st, &e);
}

static void misuse_off_while_open(struct store *st)
{
    struct err e = ERR_INIT;
    store_batch_set(st, true);
    if (store_metric_put(st, 1, "prep", "x", -1, 1, &e) == 0)
        store_batch_set(st, false);
}

static void misuse_flush_inside_begin(struct store *st)
{
    struct err e = ERR_INIT;
    store_batch_set(st, true);
    if (store_begin(st, &e) == 0)
        store_batch_flush(st, &e);
}

static void test_batch_misuse_is_a_bug(void **state)
{
    struct fx *f = *state;
    void (*const misuse[])(struct store *) = {misuse_nested_begin, misuse_off_while_open,
                                              misuse_flush_inside_begin};
    new_run(f->st, "alpha"); /* run 1, for the metric */
    for (size_t i = 0; i < sizeof(misuse) / sizeof(misuse[0]); i++) {
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            /* no connection crosses fork(): the child opens its own; BUG's message is
             * expected, so it goes nowhere */
            struct err e = ERR_INIT;
            if (!freopen("/dev/null", "w", stderr))
                _exit(2);
            struct store *st = store_open(f->home, &e);
            if (!st)
                _exit(3);
            misuse[i](st);
            store_close(st);
            _exit(0);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT)
            fail_msg("misuse %zu: not a BUG (status %#x)", i, status);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_migrations_create_schema),
        T(test_foreign_keys_on),
        T(test_reopen_is_idempotent),
        T(test_older_database_is_migrated),
        T(test_newer_schema_is_refused),
        T(test_open_paths),
        T(test_run_create_get),
        T(test_run_create_is_atomic),
        T(test_run_list),
        T(test_run_list_uses_an_index),
        T(test_run_status_is_conditional),
        T(test_run_cancel),
        T(test_leases),
        T(test_step_status_retry_cache),
        T(test_step_previous),
        T(test_attempts),
        T(test_artifacts),
        T(test_io_and_lineage),
        T(test_cache_lookup),
        T(test_metrics),
        T(test_events),
        T(test_transactions),
        T(test_two_connections),
        T(test_two_processes_race),
        T(test_batch_commits_at_flush),
        T(test_batch_reads_open_nothing),
        T(test_batch_rollback_undoes_own_part),
        T(test_batch_commit_waits_for_flush),
        T(test_batch_flush_without_batch),
        T(test_batch_off_commits_each_call),
        T(test_batch_close_drops_unflushed),
        T(test_batch_misuse_is_a_bug),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
