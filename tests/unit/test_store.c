/* Tests for the SQLite store's core records: migrations and opening, runs, statuses, leases,
 * steps and attempts. Each test runs in a fresh mkdtemp folder (store_fixture.h). */
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/store_fixture.h"

#include <jansson.h>

#include "store/doc.h"

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
    assert_int_equal(store_attempt_insert(f->st, 999, 1, "/x", 0, NULL, &id, &e), -1);
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
    /* a failure of the system carries what the system said (a full disk says so) */
    snprintf(path, sizeof(path), "%s/dir", f->dir);
    snprintf(want, sizeof(want), "%s/sluice.db", path);
    assert_int_equal(mkdir(path, 0777), 0);
    assert_int_equal(mkdir(want, 0777), 0);
    err_clear(&e);
    assert_null(store_open(path, &e));
    snprintf(want, sizeof(want),
             "cannot open database '%s/sluice.db': unable to open database file (Is a directory)",
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

/* One run per fire of a schedule, however many servers fire it: the second is told so and
 * creates nothing; another time, or another pipeline, is another fire. */
static void test_schedule_fire_once(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    static const char *const steps[] = {"a"};
    struct run_new rn = {.pipeline = "alpha", .yaml = "x", .yaml_len = 1, .trigger = "schedule",
                         .steps = steps, .nsteps = 1, .fire_at = 1795568400};
    int64_t first = 0, second = -7;
    OK(store_run_create(f->st, &rn, &first, E));
    assert_true(first > 0);
    assert_int_equal(store_run_create(f->st, &rn, &second, &e), 1);
    assert_int_equal(second, -7); /* untouched */
    rn.fire_at += 60;
    OK(store_run_create(f->st, &rn, &second, E));
    assert_true(second > first);
    rn.pipeline = "beta";
    OK(store_run_create(f->st, &rn, &second, E));
    rn.fire_at = 0; /* not scheduled: never deduplicated */
    OK(store_run_create(f->st, &rn, &second, E));
    OK(store_run_create(f->st, &rn, &second, E));
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM runs"), 5);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM steps"), 5);
    assert_int_equal(raw_int(db, "SELECT count(*) FROM schedule_fires"), 3);
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

/* A batch job's record: each poll says only what changed, and NULL keeps what is there. */
static void test_attempt_job(void **state)
{
    struct fx *f = *state;
    int64_t run = new_run(f->st, "alpha");
    int64_t train = step_id(f->st, run, "train");
    int64_t a;
    OK(store_attempt_insert(f->st, train, 1, "/h/runs/1/train/1", 0, "slurm", &a, E));
    struct attempt_row r;
    OK(store_attempt_get(f->st, a, &r, E));
    assert_string_equal(r.executor, "slurm");
    assert_null(r.job_id);
    assert_null(r.node);
    assert_null(r.job_state);
    int64_t recorded = r.started_at;
    attempt_row_release(&r);

    OK(store_attempt_set_job(f->st, a, &(struct attempt_job){.job_id = "812", .state = "PENDING",
                                                             .reason = "Resources",
                                                             .queued_at = 1000}, E));
    OK(store_attempt_get(f->st, a, &r, E));
    assert_string_equal(r.job_id, "812");
    assert_string_equal(r.job_state, "PENDING");
    assert_string_equal(r.job_reason, "Resources");
    assert_int_equal(r.queued_at, 1000);
    assert_int_equal(r.started_at, recorded);
    attempt_row_release(&r);

    /* running: a node and a start, and the pending reason goes with the old state */
    OK(store_attempt_set_job(f->st, a, &(struct attempt_job){.node = "n07", .state = "RUNNING",
                                                             .started_at = 1600}, E));
    OK(store_attempt_get(f->st, a, &r, E));
    assert_string_equal(r.job_id, "812");
    assert_string_equal(r.node, "n07");
    assert_string_equal(r.job_state, "RUNNING");
    assert_null(r.job_reason);
    assert_int_equal(r.queued_at, 1000);
    assert_int_equal(r.started_at, 1600);
    attempt_row_release(&r);

    /* nothing said: nothing changes */
    OK(store_attempt_set_job(f->st, a, &(struct attempt_job){0}, E));
    OK(store_attempt_get(f->st, a, &r, E));
    assert_string_equal(r.node, "n07");
    assert_string_equal(r.job_state, "RUNNING");
    assert_int_equal(r.started_at, 1600);
    attempt_row_release(&r);

    struct err e = ERR_INIT;
    assert_int_equal(store_attempt_set_job(f->st, a + 100, &(struct attempt_job){0}, &e), -1);
    assert_int_equal(e.code, STORE_NOT_FOUND);
    err_clear(&e);
}

/* Attempt `n` of step `name` in a run document. */
static json_t *doc_attempt(json_t *doc, const char *name, int n)
{
    size_t i, k;
    json_t *st, *a;
    json_array_foreach(json_object_get(doc, "steps"), i, st) {
        if (strcmp(json_string_value(json_object_get(st, "name")), name))
            continue;
        json_array_foreach(json_object_get(st, "attempts"), k, a)
            if (json_integer_value(json_object_get(a, "n")) == n)
                return a;
    }
    fail_msg("no attempt %d of step '%s' in the run document", n, name);
    return NULL;
}

static void assert_json_string(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        fail_msg("'%s' is not a string", key);
    assert_string_equal(json_string_value(v), want);
}

static void assert_json_null(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_null(v))
        fail_msg("'%s' is not null", key);
}

/* The same ISO text doc_time gives for ms. */
static void assert_json_time(json_t *o, const char *key, int64_t ms)
{
    json_t *want = doc_time(ms);
    assert_json_string(o, key, json_string_value(want));
    json_decref(want);
}

/* `sluice show --json` (and /api/runs/ID) says what the store holds of a batch job: its
 * executor, id, node, submission, state and reason, and how long it queued; a job still
 * queued, or one that ended in its queue, has no started_at; a local attempt has nulls. */
static void test_attempt_job_in_run_doc(void **state)
{
    struct fx *f = *state;
    bool changed;
    int64_t run = new_run(f->st, "alpha");
    int64_t prep_a, train_a, eval_a;
    OK(store_attempt_insert(f->st, step_id(f->st, run, "prep"), 1, "/h/p/1", 0, "local", &prep_a,
                            E));
    OK(store_attempt_finish(f->st, prep_a, "succeeded", 0, 0, 0.5, 100, store_now_ms(), &changed,
                            E));
    OK(store_attempt_insert(f->st, step_id(f->st, run, "train"), 1, "/h/t/1", 0, "slurm",
                            &train_a, E));
    OK(store_attempt_insert(f->st, step_id(f->st, run, "evaluate"), 1, "/h/e/1", 0, "slurm",
                            &eval_a, E));
    struct attempt_row r;
    OK(store_attempt_get(f->st, train_a, &r, E));
    int64_t t0 = r.started_at + 30; /* submitted after it was recorded */
    attempt_row_release(&r);

    /* pending: no start yet, the reason, and the wait so far */
    OK(store_attempt_set_job(f->st, train_a, &(struct attempt_job){.job_id = "8123",
                                                                   .state = "PENDING",
                                                                   .reason = "Resources",
                                                                   .queued_at = t0}, E));
    /* evaluate's job ends in its queue, cancelled after 5 s */
    OK(store_attempt_set_job(f->st, eval_a, &(struct attempt_job){.job_id = "8124",
                                                                  .state = "CANCELLED",
                                                                  .queued_at = t0}, E));
    OK(store_attempt_finish(f->st, eval_a, "cancelled", -1, 0, 0, 0, t0 + 5000, &changed, E));
    struct err e = ERR_INIT;
    json_t *doc = doc_run(f->st, run, &e);
    assert_non_null(doc);
    json_t *a = doc_attempt(doc, "train", 1);
    assert_json_string(a, "executor", "slurm");
    assert_json_string(a, "job_id", "8123");
    assert_json_null(a, "node");
    assert_json_time(a, "queued_at", t0);
    assert_json_null(a, "started_at");
    assert_true(json_real_value(json_object_get(a, "queue_s")) >= 0);
    assert_json_string(a, "job_state", "PENDING");
    assert_json_string(a, "job_reason", "Resources");

    a = doc_attempt(doc, "evaluate", 1);
    assert_json_null(a, "started_at");
    assert_json_time(a, "ended_at", t0 + 5000);
    assert_true(json_real_value(json_object_get(a, "queue_s")) == 5.0);
    assert_json_string(a, "job_state", "CANCELLED");
    assert_json_null(a, "job_reason");

    a = doc_attempt(doc, "prep", 1);
    assert_json_string(a, "executor", "local");
    assert_non_null(json_string_value(json_object_get(a, "started_at")));
    static const char *const nulls[] = {"job_id", "node", "queued_at", "queue_s", "job_state",
                                        "job_reason"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        assert_json_null(a, nulls[i]);
    json_decref(doc);

    /* running on a node after 400 ms in the queue: its start, the reason gone */
    OK(store_attempt_set_job(f->st, train_a, &(struct attempt_job){.node = "n07",
                                                                   .state = "RUNNING",
                                                                   .started_at = t0 + 400}, E));
    doc = doc_run(f->st, run, &e);
    assert_non_null(doc);
    a = doc_attempt(doc, "train", 1);
    assert_json_string(a, "node", "n07");
    assert_json_time(a, "started_at", t0 + 400);
    assert_true(json_real_value(json_object_get(a, "queue_s")) == 0.4);
    assert_json_string(a, "job_state", "RUNNING");
    assert_json_null(a, "job_reason");
    json_decref(doc);
}

static void test_attempts(void **state)
{
    struct fx *f = *state;
    struct err e = ERR_INIT;
    int64_t run = new_run(f->st, "alpha");
    int64_t prep = step_id(f->st, run, "prep"), train = step_id(f->st, run, "train");
    int64_t a1, a2, hit;
    bool changed;
    OK(store_attempt_insert(f->st, prep, 1, "/h/runs/1/prep/1", 0, NULL, &a1, E));
    OK(store_attempt_set_pid(f->st, a1, 4242, 987654321ULL, NULL, E));
    OK(store_attempt_finish(f->st, a1, "failed", 3, 0, 1.5, 2048, 5000, &changed, E));
    assert_true(changed);
    /* the engine and the adopter both see the exit: only the first records it */
    OK(store_attempt_finish(f->st, a1, "succeeded", 0, 0, 9, 9, 6000, &changed, E));
    assert_false(changed);
    OK(store_attempt_insert(f->st, prep, 2, "/h/runs/1/prep/2", 0, NULL, &a2, E));
    OK(store_attempt_set_pid(f->st, a2, 0, 0, "slurm-77", E));
    OK(store_attempt_finish(f->st, a2, "lost", -1, 9, 0, 0, 0, &changed, E));
    assert_true(changed);
    OK(store_attempt_insert(f->st, train, 0, NULL, a1, NULL, &hit, E));
    OK(store_attempt_finish(f->st, hit, "succeeded", 0, 0, 0, 0, 0, &changed, E));
    assert_false(changed); /* a cache hit is recorded finished */

    /* attempt n is recorded once */
    int64_t dup;
    assert_int_equal(store_attempt_insert(f->st, prep, 2, "/x", 0, NULL, &dup, &e), -1);
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
        T(test_schedule_fire_once),
        T(test_run_list),
        T(test_run_list_uses_an_index),
        T(test_run_status_is_conditional),
        T(test_run_cancel),
        T(test_leases),
        T(test_step_status_retry_cache),
        T(test_step_previous),
        T(test_attempt_job),
        T(test_attempt_job_in_run_doc),
        T(test_attempts),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
