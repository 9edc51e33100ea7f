/* Tests for the store's transactions: explicit ones, batch mode (one transaction across calls,
 * committed at a flush), and two connections and two processes sharing one database. Each
 * test runs in a fresh mkdtemp folder (store_fixture.h). */
#include <signal.h>
#include <stdio.h>

#include "tests/unit/store_fixture.h"

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
    OK(store_attempt_insert(f->st, prep, 1, "/d", 0, NULL, &a1, E));
    assert_int_equal(store_attempt_insert(f->st, prep, 1, "/d", 0, NULL, &dup, &e), -1);
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

enum { START_RACE_RUNS = 200 };

/* A child of the start race: every run, from one end or the other. */
static int start_runs(struct store *st, int child, void *data)
{
    const int64_t *ids = data;
    struct err e = ERR_INIT;
    int wins = 0;
    /* opposite orders: they meet in the middle, where both go for the same runs */
    for (int k = 0; k < START_RACE_RUNS; k++) {
        int i = child ? START_RACE_RUNS - 1 - k : k;
        bool changed;
        if (store_run_set_status(st, ids[i], RUN_QUEUED, RUN_RUNNING, NULL, &changed, &e) < 0) {
            fprintf(stderr, "child %d: %s\n", child, e.msg);
            return -1;
        }
        wins += changed;
    }
    return wins;
}

/* Two processes race to start the same runs; each run must be started exactly once. */
static void test_two_processes_race(void **state)
{
    struct fx *f = *state;
    enum { NRUNS = START_RACE_RUNS };
    int64_t ids[NRUNS];
    for (int i = 0; i < NRUNS; i++)
        ids[i] = new_run(f->st, "alpha");
    race(f, 2, start_runs, ids, NRUNS);
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
    OK(store_attempt_insert(f->st, prep, 1, "/d", 0, NULL, &a1, E));
    assert_int_equal(store_attempt_insert(f->st, prep, 1, "/d", 0, NULL, &dup, &e), -1);
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
