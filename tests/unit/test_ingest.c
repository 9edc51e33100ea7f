/* Tests for executor/ingest.c (local paths and file:// URLs, digests, the size cap, the
 * metadata file) and the failure paths of executor/http.c that need no server. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "executor/http.h"
#include "executor/ingest.h"
#include "util/xalloc.h"

#define ABC_SHA256 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct fixture {
    char dir[PATH_MAX]; /* a fresh temporary folder (its real path) */
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

/* The whole file as a string (the caller frees), or NULL when it does not exist. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xmalloc(1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
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
    char tmpl[] = "/tmp/sluice-ingest.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    assert_non_null(realpath(tmpl, fx->dir));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    nftw(fx->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(fx);
    return 0;
}

/* A path under the fixture's folder; the caller frees it. */
static char *at(const struct fixture *fx, const char *name)
{
    return xasprintf("%s/%s", fx->dir, name);
}

static void test_local_relative_copy_and_digest(void **state)
{
    struct fixture *fx = *state;
    char *in = at(fx, "in.csv"), *out = at(fx, "out.csv"), *tmp = at(fx, "out.csv.tmp");
    write_file(in, "abc");
    struct ingest_options opt = {.source = "in.csv", .base = fx->dir, .out = out};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), 0);
    assert_int_equal(res.size, 3);
    assert_string_equal(res.sha256, ABC_SHA256);
    assert_int_equal(res.http_status, 0);
    assert_null(res.effective_url);
    char *want_url = xasprintf("file://%s/in.csv", fx->dir);
    assert_string_equal(res.url, want_url);
    char *got = slurp(out);
    assert_non_null(got);
    assert_string_equal(got, "abc");
    assert_false(exists(tmp));

    free(want_url);
    free(got);
    ingest_result_release(&res);
    free(in);
    free(out);
    free(tmp);
}

static void test_output_folders_are_made(void **state)
{
    struct fixture *fx = *state;
    char *in = at(fx, "in.csv"), *out = at(fx, "out/sub/raw.csv");
    write_file(in, "abc");
    struct ingest_options opt = {.source = "in.csv", .base = fx->dir, .out = out};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), 0);
    char *got = slurp(out);
    assert_non_null(got);
    assert_string_equal(got, "abc");
    free(got);
    ingest_result_release(&res);
    free(in);
    free(out);
}

static void test_file_url_with_escapes(void **state)
{
    struct fixture *fx = *state;
    char *in = at(fx, "a b%.csv"), *out = at(fx, "out.csv");
    write_file(in, "abc");
    char *src = xasprintf("file://%s/a%%20b%%25.csv", fx->dir);
    struct ingest_options opt = {.source = src, .base = "/nonexistent", .out = out};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), 0);
    assert_string_equal(res.sha256, ABC_SHA256);
    /* The url recorded for lineage is escaped again, the same way. */
    assert_string_equal(res.url, src);
    ingest_result_release(&res);

    char *src2 = xasprintf("file://localhost%s/a%%20b%%25.csv", fx->dir);
    opt.source = src2;
    assert_int_equal(ingest_run(&opt, &res, &e), 0);
    assert_int_equal(res.size, 3);
    ingest_result_release(&res);

    free(src);
    free(src2);
    free(in);
    free(out);
}

static void test_file_url_must_be_absolute(void **state)
{
    struct fixture *fx = *state;
    char *out = at(fx, "out.csv");
    struct ingest_options opt = {.source = "file://in.csv", .base = fx->dir, .out = out};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg,
                        "file url 'file://in.csv' must name an absolute path (file:///path)");
    assert_false(res.transient);
    ingest_result_release(&res);

    err_clear(&e);
    opt.source = "file:///tmp/%00x";
    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg, "bad escape in file url 'file:///tmp/%00x'");
    assert_false(exists(out));
    ingest_result_release(&res);
    free(out);
}

static void test_sha256_match_any_case(void **state)
{
    struct fixture *fx = *state;
    char *in = at(fx, "in.csv"), *out = at(fx, "out.csv");
    write_file(in, "abc");
    struct ingest_options opt = {
        .source = in,
        .out = out,
        .sha256 = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), 0);
    assert_string_equal(res.sha256, ABC_SHA256);
    assert_true(exists(out));
    ingest_result_release(&res);
    free(in);
    free(out);
}

static void test_sha256_mismatch_keeps_old_output(void **state)
{
    struct fixture *fx = *state;
    char *in = at(fx, "in.csv"), *out = at(fx, "out.csv"), *tmp = at(fx, "out.csv.tmp");
    write_file(in, "abc");
    write_file(out, "old");
    struct ingest_options opt = {
        .source = "in.csv",
        .base = fx->dir,
        .out = out,
        .sha256 = "00000000000000000000000000000000000000000000000000000000000000FF"};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg, "sha256 mismatch: expected "
                               "'00000000000000000000000000000000000000000000000000000000000000ff'"
                               ", got '" ABC_SHA256 "'");
    assert_false(res.transient);
    char *got = slurp(out);
    assert_string_equal(got, "old");
    assert_false(exists(tmp));
    free(got);
    ingest_result_release(&res);
    free(in);
    free(out);
    free(tmp);
}

static void test_invalid_sha256_refused_before_io(void **state)
{
    struct fixture *fx = *state;
    char *out = at(fx, "out.csv"), *tmp = at(fx, "out.csv.tmp");
    struct ingest_options opt = {
        .source = "missing.csv", .base = fx->dir, .out = out, .sha256 = "abc"};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg, "invalid sha256 'abc': expected 64 hex digits");
    assert_false(exists(tmp));
    ingest_result_release(&res);
    free(out);
    free(tmp);
}

static void test_size_cap(void **state)
{
    struct fixture *fx = *state;
    char *in = at(fx, "in.csv"), *out = at(fx, "out.csv"), *tmp = at(fx, "out.csv.tmp");
    write_file(in, "abc");
    struct ingest_options opt = {.source = "in.csv", .base = fx->dir, .out = out, .max_size = 2};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    char *want = xasprintf("source '%s' is larger than the size cap of 2 bytes (3 bytes)", in);
    assert_string_equal(e.msg, want);
    assert_false(res.transient);
    assert_false(exists(out));
    assert_false(exists(tmp));
    ingest_result_release(&res);

    /* Exactly at the cap is allowed. */
    opt.max_size = 3;
    assert_int_equal(ingest_run(&opt, &res, &e), 0);
    assert_int_equal(res.size, 3);
    ingest_result_release(&res);

    free(want);
    free(in);
    free(out);
    free(tmp);
}

static void test_bad_sources(void **state)
{
    struct fixture *fx = *state;
    char *out = at(fx, "out.csv"), *fifo = at(fx, "fifo"), *sub = at(fx, "sub");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    struct ingest_options opt = {.base = fx->dir, .out = out};
    struct ingest_result res;
    struct err e = ERR_INIT;
    char *want;

    opt.source = "missing.csv";
    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    want = xasprintf("cannot open source '%s/missing.csv': No such file or directory", fx->dir);
    assert_string_equal(e.msg, want);
    free(want);
    ingest_result_release(&res);

    /* A FIFO would block a read forever: it is refused without opening for good. */
    opt.source = "fifo";
    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    want = xasprintf("source '%s' is not a regular file", fifo);
    assert_string_equal(e.msg, want);
    free(want);
    ingest_result_release(&res);

    opt.source = "sub";
    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    want = xasprintf("source '%s' is a directory, not a file", sub);
    assert_string_equal(e.msg, want);
    free(want);
    ingest_result_release(&res);

    opt.source = "s3://bucket/key";
    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg, "unsupported source scheme 's3' in 's3://bucket/key' (use a path, "
                               "file://, http:// or https://)");
    ingest_result_release(&res);

    opt.source = "";
    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    assert_string_equal(e.msg, "empty source");
    ingest_result_release(&res);

    assert_false(exists(out));
    free(out);
    free(fifo);
    free(sub);
}

static void test_meta_json(void **state)
{
    struct fixture *fx = *state;
    char *in = at(fx, "in.csv"), *out = at(fx, "out.csv"), *meta = at(fx, "meta.json");
    write_file(in, "abc");
    struct ingest_options opt = {.source = "in.csv", .base = fx->dir, .out = out};
    struct ingest_result res;
    struct err e = ERR_INIT;
    assert_int_equal(ingest_run(&opt, &res, &e), 0);
    assert_int_equal(ingest_write_meta(meta, "in.csv", &res, &e), 0);

    json_error_t je;
    json_t *o = json_load_file(meta, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "source")), "in.csv");
    assert_string_equal(json_string_value(json_object_get(o, "url")), res.url);
    assert_int_equal(json_integer_value(json_object_get(o, "size")), 3);
    assert_string_equal(json_string_value(json_object_get(o, "sha256")), ABC_SHA256);
    assert_true(json_is_null(json_object_get(o, "http_status")));
    assert_null(json_object_get(o, "effective_url"));
    json_decref(o);

    /* A download's status and final address are recorded. */
    res.http_status = 200;
    res.effective_url = xstrdup("http://example.com/final");
    assert_int_equal(ingest_write_meta(meta, "http://example.com/start", &res, &e), 0);
    o = json_load_file(meta, 0, &je);
    assert_non_null(o);
    assert_int_equal(json_integer_value(json_object_get(o, "http_status")), 200);
    assert_string_equal(json_string_value(json_object_get(o, "effective_url")),
                        "http://example.com/final");
    json_decref(o);

    ingest_result_release(&res);
    free(in);
    free(out);
    free(meta);
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

static void test_http_refused_is_transient(void **state)
{
    struct fixture *fx = *state;
    char *out = at(fx, "out.csv"), *tmp = at(fx, "out.csv.tmp");
    char *url = xasprintf("http://127.0.0.1:%d/data.csv", dead_port());
    struct ingest_options opt = {.source = url, .out = out, .connect_timeout_ms = 2000};
    struct ingest_result res;
    struct err e = ERR_INIT;

    assert_int_equal(ingest_run(&opt, &res, &e), -1);
    assert_true(res.transient);
    assert_int_equal(res.http_status, 0);
    char *prefix = xasprintf("cannot download '%s': ", url);
    assert_memory_equal(e.msg, prefix, strlen(prefix));
    assert_false(exists(out));
    assert_false(exists(tmp));

    free(prefix);
    ingest_result_release(&res);
    free(url);
    free(out);
    free(tmp);
}

static void test_http_refuses_other_schemes(void **state)
{
    (void)state;
    struct http_result res;
    struct err e = ERR_INIT;
    long status = -1;

    assert_int_equal(http_fetch("file:///etc/passwd", -1, NULL, &res, &e), -1);
    assert_string_equal(e.msg, "not an http or https address 'file:///etc/passwd'");
    assert_false(res.transient);

    err_clear(&e);
    assert_int_equal(http_get_status("ftp://127.0.0.1/", 1000, &status, &e), -1);
    assert_string_equal(e.msg, "not an http or https address 'ftp://127.0.0.1/'");
    assert_int_equal(status, 0);
}

static void test_http_get_status_connection_refused(void **state)
{
    (void)state;
    char *url = xasprintf("http://127.0.0.1:%d/health", dead_port());
    struct err e = ERR_INIT;
    long status = -1;
    assert_int_equal(http_get_status(url, 2000, &status, &e), -1);
    char *prefix = xasprintf("cannot reach '%s': ", url);
    assert_memory_equal(e.msg, prefix, strlen(prefix));
    assert_int_equal(e.code, HTTP_ERR_CONNECT); /* nothing listens, as a health check sees */
    assert_int_equal(status, 0);
    free(prefix);
    free(url);
}

/* Progress lines: sizes for people, and at most one line a second. */
static void test_progress_helpers(void **state)
{
    (void)state;
    char b[32];
    static const struct {
        int64_t n;
        const char *want;
    } sizes[] = {{0, "0 B"},           {512, "512 B"},       {1023, "1023 B"},
                 {1024, "1.0 KiB"},    {1536, "1.5 KiB"},    {3 << 20, "3.0 MiB"},
                 {5LL << 30, "5.0 GiB"}, {2048LL << 40, "2048.0 TiB"}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        http_format_bytes(sizes[i].n, b, sizeof(b));
        assert_string_equal(b, sizes[i].want);
    }
    double last = http_clock_s();
    assert_false(http_progress_due(&last)); /* not a second yet */
    double before = last - 2;
    last = before;
    assert_true(http_progress_due(&last));
    assert_true(last >= before + 2); /* moved to now */
    assert_false(http_progress_due(&last));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_helpers),
        cmocka_unit_test_setup_teardown(test_local_relative_copy_and_digest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_folders_are_made, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_url_with_escapes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_url_must_be_absolute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256_match_any_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sha256_mismatch_keeps_old_output, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_sha256_refused_before_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_sources, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_refused_is_transient, setup, teardown),
        cmocka_unit_test(test_http_refuses_other_schemes),
        cmocka_unit_test(test_http_get_status_connection_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
