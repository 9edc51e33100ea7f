/* scheduler/schedule.c: which pipelines of a folder have a schedule, when each fires, and
 * that a fire is recorded once however many servers check it. */
#include "tests/unit/store_fixture.h"

#include "scheduler/schedule.h"

#define T0 1767225600 /* 2026-01-01T00:00:00Z */

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *dags_with(struct fx *f, const char *cron)
{
    static char dir[128];
    char path[160];
    snprintf(dir, sizeof(dir), "%s/dags", f->dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/nightly.yaml", dir);
    char text[256];
    snprintf(text, sizeof(text),
             "pipeline: nightly\nschedule: \"%s\"\nsteps:\n  a: {run: 'true'}\n", cron);
    write_file(path, text);
    snprintf(path, sizeof(path), "%s/plain.yaml", dir);
    write_file(path, "pipeline: plain\nsteps:\n  a: {run: 'true'}\n");
    snprintf(path, sizeof(path), "%s/broken.yml", dir);
    write_file(path, "pipeline: broken\nschedule: \"0 3 * * *\"\nsteps: {}\nbogus: 1\n");
    return dir;
}

static int runs_with(struct fx *f, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM runs WHERE %s", where);
    sqlite3 *db = raw_open(f);
    int n = raw_int(db, sql);
    sqlite3_close(db);
    return n;
}

/* The first check reads the folder and fires nothing; the fire at 03:00 records one run
 * (trigger schedule, the cron time in schedule_fires) and the next is a day later. */
static void test_fires_at_cron_time(void **state)
{
    struct fx *f = *state;
    struct engine_opts opts = {.parallel = 1};
    struct schedule *s = schedule_new(dags_with(f, "0 3 * * *"));
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0), 0);
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 3 * 3600 - 1), 0);
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 3 * 3600 + 5), 1);
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 3 * 3600 + 6), 0);
    assert_int_equal(runs_with(f, "trigger = 'schedule'"), 1);
    sqlite3 *db = raw_open(f);
    assert_int_equal(raw_int(db, "SELECT fire_at FROM schedule_fires WHERE pipeline = 'nightly'"),
                     T0 + 3 * 3600);
    sqlite3_close(db);
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 27 * 3600), 1);
    assert_int_equal(runs_with(f, "trigger = 'schedule'"), 2);
    schedule_free(s);
}

/* Two servers on one workspace: the fire is the first one's, the other records nothing. */
static void test_fire_recorded_once(void **state)
{
    struct fx *f = *state;
    struct engine_opts opts = {0};
    const char *dir = dags_with(f, "*/5 * * * *");
    struct schedule *a = schedule_new(dir), *b = schedule_new(dir);
    assert_int_equal(schedule_check(a, f->st, NULL, &opts, T0 + 1), 0);
    assert_int_equal(schedule_check(b, f->st, NULL, &opts, T0 + 2), 0);
    assert_int_equal(schedule_check(a, f->st, NULL, &opts, T0 + 300), 1);
    assert_int_equal(schedule_check(b, f->st, NULL, &opts, T0 + 301), 0);
    assert_int_equal(runs_with(f, "1"), 1);
    schedule_free(a);
    schedule_free(b);
}

/* A changed schedule is read at the next reload (every tenth check); an unchanged one keeps
 * its computed fire. */
static void test_reload_sees_change(void **state)
{
    struct fx *f = *state;
    struct engine_opts opts = {0};
    const char *dir = dags_with(f, "0 3 * * *");
    struct schedule *s = schedule_new(dir);
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0), 0);
    dags_with(f, "0 1 * * *");
    for (int i = 1; i < 10; i++) /* no reload yet: 01:00 is not a fire of the old schedule */
        assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 3600 + i), 0);
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 3600 + 10), 0); /* reload */
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 3 * 3600 + 1), 0);
    assert_int_equal(schedule_check(s, f->st, NULL, &opts, T0 + 25 * 3600), 1);
    assert_int_equal(runs_with(f, "trigger = 'schedule'"), 1);
    schedule_free(s);
    schedule_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fires_at_cron_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fire_recorded_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_sees_change, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
