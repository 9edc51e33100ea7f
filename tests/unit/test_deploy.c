/* Tests for executor/deploy.c: blue/green switching, VERSION files, rollback, the lock, the
 * health-check rollback (against a port nothing listens on), and that `current` is always a
 * valid link to a complete slot. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "executor/deploy.h"
#include "util/xalloc.h"

struct fixture {
    char dir[PATH_MAX]; /* a fresh temporary folder (its real path) */
    char *target;       /* DIR/serving */
    char *model;        /* DIR/model.pkl */
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The whole file as a string (the caller frees), or NULL when it cannot be read. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xmalloc(4096);
    size_t n = fread(buf, 1, 4095, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void assert_file(const char *path, const char *want)
{
    char *got = slurp(path);
    if (!got)
        fail_msg("cannot read '%s': %s", path, strerror(errno));
    assert_string_equal(got, want);
    free(got);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    char tmpl[] = "/tmp/sluice-deploy.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, fx->dir));
    fx->target = xasprintf("%s/serving", fx->dir);
    fx->model = xasprintf("%s/model.pkl", fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx->target);
    free(fx->model);
    free(fx);
    return 0;
}

/* TARGET/REL; the caller frees it. */
static char *in_target(const struct fixture *fx, const char *rel)
{
    return xasprintf("%s/%s", fx->target, rel);
}

/* current must be a symbolic link to "blue" or "green" whose slot is complete (has VERSION and
 * the model), and no temporary link may be left over. Returns the slot's name. */
static const char *assert_current_valid(const struct fixture *fx)
{
    char *cur = in_target(fx, "current"), *tmp = in_target(fx, ".current.tmp");
    char buf[64];
    ssize_t n = readlink(cur, buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_true(!strcmp(buf, "blue") || !strcmp(buf, "green"));
    char *version = in_target(fx, "current/VERSION"), *model = in_target(fx, "current/model.pkl");
    assert_true(exists(version));
    assert_true(exists(model));
    assert_false(exists(tmp));
    free(cur);
    free(tmp);
    free(version);
    free(model);
    return strcmp(buf, "blue") ? "green" : "blue";
}

/* Deploy the fixture's model with content text under label; returns deploy_run's result. */
static int deploy(const struct fixture *fx, const char *text, const char *label,
                  struct deploy_result *res, struct err *e)
{
    write_file(fx->model, text);
    struct deploy_options opt = {.model = fx->model, .target = fx->target, .version = label};
    return deploy_run(&opt, res, e);
}

static void test_first_deploy_goes_to_blue(void **state)
{
    struct fixture *fx = *state;
    struct deploy_result res;
    struct err e = ERR_INIT;

    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), 0);
    assert_string_equal(res.slot, "blue");
    assert_string_equal(res.previous, "");
    assert_false(res.rolled_back);
    assert_string_equal(assert_current_valid(fx), "blue");
    char *model = in_target(fx, "blue/model.pkl"), *version = in_target(fx, "blue/VERSION");
    assert_file(model, "model v1");
    assert_file(version, "v1\n");

    struct deploy_state st;
    assert_int_equal(deploy_current(fx->target, &st, &e), 0);
    assert_string_equal(st.slot, "blue");
    assert_string_equal(st.version, "v1");
    free(model);
    free(version);
}

static void test_switch_blue_green_blue(void **state)
{
    struct fixture *fx = *state;
    struct deploy_result res;
    struct err e = ERR_INIT;
    char *blue_model = in_target(fx, "blue/model.pkl"),
         *green_model = in_target(fx, "green/model.pkl");
    char *blue_version = in_target(fx, "blue/VERSION"), *stray = in_target(fx, "blue/stray.txt");

    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), 0);
    write_file(stray, "left from before");

    assert_int_equal(deploy(fx, "model v2", "v2", &res, &e), 0);
    assert_string_equal(res.slot, "green");
    assert_string_equal(res.previous, "blue");
    assert_string_equal(assert_current_valid(fx), "green");
    assert_file(green_model, "model v2");
    assert_file(blue_model, "model v1"); /* the previous slot is kept for a rollback */

    assert_int_equal(deploy(fx, "model v3", "v3", &res, &e), 0);
    assert_string_equal(res.slot, "blue");
    assert_string_equal(res.previous, "green");
    assert_string_equal(assert_current_valid(fx), "blue");
    assert_file(blue_model, "model v3");
    assert_file(blue_version, "v3\n");
    assert_false(exists(stray)); /* the slot was emptied before the copy */
    assert_file(green_model, "model v2");

    struct deploy_state st;
    assert_int_equal(deploy_current(fx->target, &st, &e), 0);
    assert_string_equal(st.slot, "blue");
    assert_string_equal(st.version, "v3");

    free(blue_model);
    free(green_model);
    free(blue_version);
    free(stray);
}

static void test_rollback(void **state)
{
    struct fixture *fx = *state;
    struct deploy_result res;
    struct err e = ERR_INIT;
    char slot[8] = "";
    struct deploy_state st;

    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), -1);
    char *want = xasprintf("cannot open deploy target '%s': No such file or directory", fx->target);
    assert_string_equal(e.msg, want);
    free(want);

    assert_int_equal(deploy_current(fx->target, &st, &e), 0);
    assert_string_equal(st.slot, "");

    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), 0);
    err_clear(&e);
    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), -1);
    want = xasprintf("no previous version to roll back to in '%s': slot 'green' holds no model",
                     fx->target);
    assert_string_equal(e.msg, want);
    free(want);
    assert_string_equal(assert_current_valid(fx), "blue");

    assert_int_equal(deploy(fx, "model v2", "v2", &res, &e), 0);
    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), 0);
    assert_string_equal(slot, "blue");
    assert_string_equal(assert_current_valid(fx), "blue");
    assert_int_equal(deploy_current(fx->target, &st, &e), 0);
    assert_string_equal(st.version, "v1");
    char *cur_model = in_target(fx, "current/model.pkl");
    assert_file(cur_model, "model v1");

    /* Rolling back again goes forward to the other slot, which still holds v2. */
    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), 0);
    assert_string_equal(slot, "green");
    assert_file(cur_model, "model v2");

    /* A deploy after a rollback overwrites the slot that is not live. */
    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), 0);
    assert_int_equal(deploy(fx, "model v3", "v3", &res, &e), 0);
    assert_string_equal(res.slot, "green");
    assert_string_equal(res.previous, "blue");
    assert_file(cur_model, "model v3");
    free(cur_model);
}

static void test_rollback_with_nothing_deployed(void **state)
{
    struct fixture *fx = *state;
    struct err e = ERR_INIT;
    char slot[8] = "x";
    assert_int_equal(mkdir(fx->target, 0755), 0);
    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), -1);
    char *want = xasprintf("nothing is deployed in '%s'", fx->target);
    assert_string_equal(e.msg, want);
    assert_string_equal(slot, "x");
    free(want);
}

static void test_folder_model(void **state)
{
    struct fixture *fx = *state;
    char *dir = xasprintf("%s/bundle", fx->dir), *sub = xasprintf("%s/bundle/weights", fx->dir);
    char *f1 = xasprintf("%s/bundle/config.json", fx->dir);
    char *f2 = xasprintf("%s/bundle/weights/w.bin", fx->dir);
    char *script = xasprintf("%s/bundle/serve.sh", fx->dir);
    char *link = xasprintf("%s/bundle/latest", fx->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    write_file(f1, "{}");
    write_file(f2, "weights");
    write_file(script, "#!/bin/sh\n");
    assert_int_equal(chmod(script, 0555), 0);
    assert_int_equal(chmod(f2, 0444), 0);
    assert_int_equal(symlink("weights/w.bin", link), 0);

    /* A trailing slash on the folder does not change its name in the slot. */
    char *model = xasprintf("%s/", dir);
    struct deploy_options opt = {.model = model, .target = fx->target, .version = "b1"};
    struct deploy_result res;
    struct err e = ERR_INIT;
    assert_int_equal(deploy_run(&opt, &res, &e), 0);

    char *c1 = in_target(fx, "current/bundle/config.json");
    char *c2 = in_target(fx, "current/bundle/weights/w.bin");
    char *cs = in_target(fx, "current/bundle/serve.sh");
    char *cl = in_target(fx, "current/bundle/latest");
    assert_file(c1, "{}");
    assert_file(c2, "weights");
    struct stat st;
    assert_int_equal(stat(cs, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0755); /* executable kept, owner may write */
    assert_int_equal(stat(c2, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    char buf[64];
    ssize_t n = readlink(cl, buf, sizeof(buf) - 1);
    assert_int_equal(n, (ssize_t)strlen("weights/w.bin"));
    buf[n] = '\0';
    assert_string_equal(buf, "weights/w.bin");

    /* Deploy twice more: the blue slot with the read-only copy must be clearable. */
    assert_int_equal(deploy_run(&opt, &res, &e), 0);
    assert_int_equal(deploy_run(&opt, &res, &e), 0);
    assert_string_equal(res.slot, "blue");
    assert_file(c2, "weights");

    free(dir);
    free(sub);
    free(f1);
    free(f2);
    free(script);
    free(link);
    free(model);
    free(c1);
    free(c2);
    free(cs);
    free(cl);
}

static void test_current_must_be_a_link(void **state)
{
    struct fixture *fx = *state;
    char *cur = in_target(fx, "current"), *blue = in_target(fx, "blue");
    assert_int_equal(mkdir(fx->target, 0755), 0);
    assert_int_equal(mkdir(cur, 0755), 0);
    struct deploy_result res;
    struct err e = ERR_INIT;

    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), -1);
    char *want = xasprintf("'%s' is not a symbolic link: not a deployment made by sluice", cur);
    assert_string_equal(e.msg, want);
    assert_string_equal(res.slot, "");
    assert_false(exists(blue)); /* nothing was staged */
    free(want);

    assert_int_equal(rmdir(cur), 0);
    assert_int_equal(symlink("elsewhere", cur), 0);
    err_clear(&e);
    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), -1);
    want = xasprintf("'%s' points to 'elsewhere', not to 'blue' or 'green'", cur);
    assert_string_equal(e.msg, want);
    free(want);

    struct deploy_state st;
    err_clear(&e);
    assert_int_equal(deploy_current(fx->target, &st, &e), -1);
    free(cur);
    free(blue);
}

static void test_stale_temp_link_and_slot_symlink(void **state)
{
    struct fixture *fx = *state;
    struct deploy_result res;
    struct err e = ERR_INIT;
    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), 0);

    /* Left by a deploy killed between symlink() and rename(). */
    char *tmp = in_target(fx, ".current.tmp");
    assert_int_equal(symlink("green", tmp), 0);
    /* A green slot that is a link to someone else's folder: replaced, never descended into. */
    char *outside = xasprintf("%s/outside", fx->dir);
    char *outside_version = xasprintf("%s/outside/VERSION", fx->dir);
    char *green = in_target(fx, "green");
    assert_int_equal(mkdir(outside, 0755), 0);
    write_file(outside_version, "precious\n");
    assert_int_equal(symlink(outside, green), 0);

    assert_int_equal(deploy(fx, "model v2", "v2", &res, &e), 0);
    assert_string_equal(assert_current_valid(fx), "green");
    assert_file(outside_version, "precious\n");
    struct stat st;
    assert_int_equal(lstat(green, &st), 0);
    assert_true(S_ISDIR(st.st_mode));

    free(tmp);
    free(outside);
    free(outside_version);
    free(green);
}

static void test_busy_target(void **state)
{
    struct fixture *fx = *state;
    struct deploy_result res;
    struct err e = ERR_INIT;
    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), 0);
    assert_int_equal(deploy(fx, "model v2", "v2", &res, &e), 0);

    /* Another process's deploy, as far as flock is concerned: a separate open file. */
    char *lock = in_target(fx, ".lock");
    int fd = open(lock, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX), 0);

    assert_int_equal(deploy(fx, "model v3", "v3", &res, &e), -1);
    assert_int_equal(e.code, DEPLOY_ERR_BUSY);
    char *want =
        xasprintf("deploy target '%s' is busy: another deploy or rollback is running", fx->target);
    assert_string_equal(e.msg, want);
    err_clear(&e);
    char slot[8];
    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), -1);
    assert_int_equal(e.code, DEPLOY_ERR_BUSY);
    assert_string_equal(assert_current_valid(fx), "green");

    close(fd);
    err_clear(&e);
    assert_int_equal(deploy(fx, "model v3", "v3", &res, &e), 0);
    free(lock);
    free(want);
}

static void test_bad_arguments(void **state)
{
    struct fixture *fx = *state;
    struct deploy_result res;
    struct err e = ERR_INIT;
    struct deploy_options opt = {.model = fx->model, .target = fx->target, .version = "a\nb"};
    write_file(fx->model, "m");

    assert_int_equal(deploy_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg, "bad version label 'a\nb': it must be one non-empty line");

    opt.version = "v1";
    opt.model = "/nonexistent/model.pkl";
    assert_int_equal(deploy_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg,
                        "cannot deploy model '/nonexistent/model.pkl': No such file or directory");

    char *named_version = xasprintf("%s/VERSION", fx->dir);
    write_file(named_version, "m");
    opt.model = named_version;
    assert_int_equal(deploy_run(&opt, &res, &e), -1);
    char *want =
        xasprintf("model '%s' cannot be called 'VERSION': the slot's label file has that name",
                  named_version);
    assert_string_equal(e.msg, want);
    assert_false(exists(fx->target));
    free(want);
    free(named_version);
}

/* A port on 127.0.0.1 nothing listens on (bound, then released). */
static int dead_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    return ntohs(a.sin_port);
}

static void test_failed_health_check_rolls_back(void **state)
{
    struct fixture *fx = *state;
    struct deploy_result res;
    struct err e = ERR_INIT;
    assert_int_equal(deploy(fx, "model v1", "v1", &res, &e), 0);

    char *url = xasprintf("http://127.0.0.1:%d/health", dead_port());
    write_file(fx->model, "model v2");
    struct deploy_options opt = {.model = fx->model,
                                 .target = fx->target,
                                 .version = "v2",
                                 .health = url,
                                 .health_timeout_ms = 1200};
    assert_int_equal(deploy_run(&opt, &res, &e), -1);
    assert_int_equal(e.code, DEPLOY_ERR_HEALTH);
    char *prefix = xasprintf("health check '%s' failed: cannot reach '%s': ", url, url);
    assert_memory_equal(e.msg, prefix, strlen(prefix));
    const char *suffix = "; rolled back to version 'v1' (slot 'blue')";
    assert_true(strlen(e.msg) > strlen(suffix));
    assert_string_equal(e.msg + strlen(e.msg) - strlen(suffix), suffix);
    assert_true(res.rolled_back);
    assert_string_equal(res.slot, "green");
    assert_string_equal(res.previous, "blue");

    assert_string_equal(assert_current_valid(fx), "blue");
    char *cur_model = in_target(fx, "current/model.pkl");
    assert_file(cur_model, "model v1");
    /* The failed version is not something to roll back to. */
    char *green_version = in_target(fx, "green/VERSION");
    assert_false(exists(green_version));
    char slot[8];
    err_clear(&e);
    assert_int_equal(deploy_rollback(fx->target, slot, sizeof(slot), &e), -1);

    free(url);
    free(prefix);
    free(cur_model);
    free(green_version);
}

/* A socket that listens but never answers: connections succeed, requests time out. */
static int silent_server(int *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(s, 16), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return s;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Deploy v2 over v1 with a health check of url; returns how long deploy_run took (ms). */
static int64_t deploy_checked(const struct fixture *fx, const char *url, int64_t timeout_ms,
                              int64_t refused_ms, struct err *e)
{
    struct deploy_result res;
    assert_int_equal(deploy(fx, "model v1", "v1", &res, e), 0);
    write_file(fx->model, "model v2");
    struct deploy_options opt = {.model = fx->model,
                                 .target = fx->target,
                                 .version = "v2",
                                 .health = url,
                                 .health_timeout_ms = timeout_ms,
                                 .refused_ms = refused_ms};
    int64_t start = mono_ms();
    assert_int_equal(deploy_run(&opt, &res, e), -1);
    assert_int_equal(e->code, DEPLOY_ERR_HEALTH);
    assert_true(res.rolled_back);
    assert_string_equal(assert_current_valid(fx), "blue");
    return mono_ms() - start;
}

/* Nothing listens: the check stops once connections were refused for refused_ms, long before
 * health_timeout. */
static void test_refused_health_check_gives_up_early(void **state)
{
    struct fixture *fx = *state;
    struct err e = ERR_INIT;
    char *url = xasprintf("http://127.0.0.1:%d/health", dead_port());
    int64_t took = deploy_checked(fx, url, 60000, 800, &e);
    if (took < 800 || took > 10000)
        fail_msg("took %lld ms: %s", (long long)took, e.msg);
    assert_non_null(strstr(e.msg, ": nothing listens); rolled back to version 'v1' (slot 'blue')"));
    free(url);
}

/* A server that listens but is slow is waited for until health_timeout, whatever refused_ms. */
static void test_slow_health_check_waits_for_the_timeout(void **state)
{
    struct fixture *fx = *state;
    struct err e = ERR_INIT;
    int port;
    int s = silent_server(&port);
    char *url = xasprintf("http://127.0.0.1:%d/health", port);
    int64_t took = deploy_checked(fx, url, 1500, 200, &e);
    close(s);
    if (took < 1400 || strstr(e.msg, "nothing listens"))
        fail_msg("took %lld ms: %s", (long long)took, e.msg);
    free(url);
}

static void test_failed_first_health_check_removes_current(void **state)
{
    struct fixture *fx = *state;
    char *url = xasprintf("http://127.0.0.1:%d/health", dead_port());
    write_file(fx->model, "model v1");
    struct deploy_options opt = {.model = fx->model,
                                 .target = fx->target,
                                 .version = "v1",
                                 .health = url,
                                 .health_timeout_ms = 300};
    struct deploy_result res;
    struct err e = ERR_INIT;
    assert_int_equal(deploy_run(&opt, &res, &e), -1);
    assert_int_equal(e.code, DEPLOY_ERR_HEALTH);
    const char *suffix = "; rolled back: nothing was deployed before, 'current' removed";
    assert_true(strlen(e.msg) > strlen(suffix));
    assert_string_equal(e.msg + strlen(e.msg) - strlen(suffix), suffix);
    assert_true(res.rolled_back);
    char *cur = in_target(fx, "current");
    assert_false(exists(cur));

    struct deploy_state st;
    assert_int_equal(deploy_current(fx->target, &st, &e), 0);
    assert_string_equal(st.slot, "");
    free(cur);
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_first_deploy_goes_to_blue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_switch_blue_green_blue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_with_nothing_deployed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folder_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_current_must_be_a_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_temp_link_and_slot_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_busy_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_health_check_rolls_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_first_health_check_removes_current, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refused_health_check_gives_up_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_health_check_waits_for_the_timeout, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
