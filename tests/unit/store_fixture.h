/* The store tests' fixture and helpers: a store opened in a fresh mkdtemp folder, a run of three
 * steps, and raw sqlite3 look-ups of the database file from outside, as another tool would.
 * Included by each tests/unit/test_store*.c; the functions are static inline, as each test
 * binary is built from its one .c file (see the Makefile). */
#ifndef SLUICE_TESTS_UNIT_STORE_FIXTURE_H
#define SLUICE_TESTS_UNIT_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store/store.h"
#include "util/err.h"

struct fx {
    char dir[64];     /* the mkdtemp folder, removed at teardown */
    char home[96];    /* dir/home: store_open must create it */
    struct store *st;
};

static inline int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline int setup(void **state)
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

static inline int teardown(void **state)
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

static inline int64_t new_run_with(struct store *st, const char *pipeline, const char *yaml)
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

static inline int64_t new_run(struct store *st, const char *pipeline)
{
    return new_run_with(st, pipeline, yaml_a);
}

/* The id of step `name` of run `run`. */
static inline int64_t step_id(struct store *st, int64_t run, const char *name)
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

static inline enum run_status run_status(struct store *st, int64_t run)
{
    struct run_row r;
    OK(store_run_get(st, run, &r, E));
    enum run_status s = r.status;
    run_row_release(&r);
    return s;
}

/* How many events (step, what, detail) run `run` has; step NULL = of the run itself. */
static inline int count_events(struct store *st, int64_t run, const char *step, const char *what,
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

static inline sqlite3 *raw_open(struct fx *f)
{
    char path[160];
    sqlite3 *db;
    snprintf(path, sizeof(path), "%s/sluice.db", f->home);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    return db;
}

static inline int raw_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(s), SQLITE_ROW);
    int v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return v;
}

/* One child's part of a race: the wins it scored with its own connection st, or -1 after
 * printing why it failed. */
typedef int (*race_cb)(struct store *st, int child, void *data);

/* nproc processes race with body, each on a connection of its own opened before a common start
 * line, so that their loops overlap; their wins must add up to want. No connection crosses
 * fork(): f->st is closed first and opened again afterwards. Wins travel as exit statuses, so
 * each child scores at most 252. */
static inline void race(struct fx *f, int nproc, race_cb body, void *data, int want)
{
    store_close(f->st);
    f->st = NULL;
    int ready[2], go[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pids[16];
    assert_true(nproc > 0 && nproc <= 16);
    for (int c = 0; c < nproc; c++) {
        pids[c] = fork();
        assert_true(pids[c] >= 0);
        if (pids[c] != 0)
            continue;
        struct err e = ERR_INIT;
        char byte = 'r';
        close(ready[0]);
        close(go[1]);
        struct store *st = store_open(f->home, &e);
        if (!st)
            _exit(255);
        if (write(ready[1], &byte, 1) != 1 || read(go[0], &byte, 1) != 0)
            _exit(253);
        int wins = body(st, c, data);
        store_close(st);
        _exit(wins < 0 ? 254 : wins);
    }
    close(ready[1]);
    close(go[0]);
    char byte;
    for (int c = 0; c < nproc; c++)
        assert_int_equal(read(ready[0], &byte, 1), 1);
    close(go[1]); /* the start: every child's read returns */
    close(ready[0]);
    int total = 0;
    for (int c = 0; c < nproc; c++) {
        int status;
        assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
        assert_true(WIFEXITED(status));
        assert_true(WEXITSTATUS(status) <= 252);
        total += WEXITSTATUS(status);
    }
    assert_int_equal(total, want);
    struct err e = ERR_INIT;
    f->st = store_open(f->home, &e);
    assert_non_null(f->st);
}

#endif
