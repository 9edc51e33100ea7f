/* executor/builtin.c: the built-ins' command lines. What builtin_argv writes for the engine,
 * builtin_parse reads back as the same fields; the engine's argv is pinned (it is part of a
 * step's cache key); a bad command line is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/builtin.h"
#include "util/strbuf.h"

static size_t count(char **argv)
{
    size_t n = 0;
    while (argv[n])
        n++;
    return n;
}

static void free_argv(char **argv)
{
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

/* The arguments after `SELF builtin NAME`, one line, space-separated. */
static char *joined(char **argv)
{
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 3; argv[i]; i++)
        strbuf_addf(&sb, "%s%s", i > 3 ? " " : "", argv[i]);
    return strbuf_detach(&sb, NULL);
}

static void str_same(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

/* Build req's argv, check its head and tail, parse it back and compare every field. */
static void round_trip(const struct builtin_req *req, const char *name, const char *tail)
{
    struct err e = ERR_INIT;
    char **argv = builtin_argv(req, &e);
    if (!argv)
        fail_msg("builtin_argv: %s", e.msg);
    assert_string_equal(argv[0], req->self);
    assert_string_equal(argv[1], "builtin");
    assert_string_equal(argv[2], name);
    char *got = joined(argv);
    assert_string_equal(got, tail);
    free(got);
    struct builtin_req back;
    assert_int_equal(builtin_parse(req->kind, (int)count(argv) - 2, argv + 2, &back), 0);
    assert_int_equal(back.kind, req->kind);
    assert_null(back.self);
    str_same(back.out, req->out);
    str_same(back.source, req->source);
    str_same(back.base, req->base);
    assert_int_equal(back.max_size, req->max_size);
    str_same(back.sha256, req->sha256);
    str_same(back.meta, req->meta);
    assert_int_equal(back.connect_timeout_ms, req->connect_timeout_ms);
    assert_int_equal(back.timeout_ms, req->timeout_ms);
    str_same(back.input, req->input);
    assert_int_equal(back.nexpect, req->nexpect);
    for (size_t i = 0; i < req->nexpect; i++)
        assert_string_equal(back.expect[i], req->expect[i]);
    str_same(back.model, req->model);
    str_same(back.target, req->target);
    str_same(back.name, req->name);
    str_same(back.version, req->version);
    str_same(back.health, req->health);
    assert_int_equal(back.health_timeout_ms, req->health_timeout_ms);
    builtin_req_release(&back);
    free_argv(argv);
}

static void test_ingest(void **state)
{
    (void)state;
    struct builtin_req r = {
        .kind = BUILTIN_INGEST,
        .self = "/usr/bin/sluice",
        .source = "data/raw data.csv",
        .base = "/p",
        .out = "/h/runs/1/in/1/out/raw.csv",
        .max_size = (int64_t)10 << 30,
        .sha256 = "9f2c",
        .meta = "/h/runs/1/in/1/ingest.json",
    };
    round_trip(&r, "ingest",
               "--source data/raw data.csv --base /p --out /h/runs/1/in/1/out/raw.csv "
               "--max-size 10737418240 --sha256 9f2c --meta /h/runs/1/in/1/ingest.json");
    r.sha256 = NULL;
    r.base = NULL;
    r.meta = NULL;
    r.connect_timeout_ms = 5000;
    r.timeout_ms = 60000;
    round_trip(&r, "ingest",
               "--source data/raw data.csv --out /h/runs/1/in/1/out/raw.csv --max-size "
               "10737418240 --connect-timeout 5000 --timeout 60000");
}

static void test_crawl(void **state)
{
    (void)state;
    const char *rules[] = {"rows >= 500", "nulls('a b') == 0", "--expect"};
    struct builtin_req r = {
        .kind = BUILTIN_CRAWL,
        .self = "sluice",
        .input = "/h/artifacts/ab/cd",
        .out = "/h/runs/1/crawl/1/out/schema.json",
        .expect = rules,
        .nexpect = 3,
    };
    round_trip(&r, "crawl",
               "--input /h/artifacts/ab/cd --out /h/runs/1/crawl/1/out/schema.json "
               "--expect rows >= 500 --expect nulls('a b') == 0 --expect --expect");
    r.nexpect = 0;
    round_trip(&r, "crawl", "--input /h/artifacts/ab/cd --out /h/runs/1/crawl/1/out/schema.json");
}

static void test_deploy(void **state)
{
    (void)state;
    struct builtin_req r = {
        .kind = BUILTIN_DEPLOY,
        .self = "sluice",
        .model = "/h/artifacts/ef/01",
        .target = "/srv/tumour",
        .name = "model.pkl",
        .version = "tumour:v3",
        .health = "http://127.0.0.1:8501/health",
        .health_timeout_ms = 30000,
    };
    round_trip(&r, "deploy",
               "--model /h/artifacts/ef/01 --target /srv/tumour --name model.pkl --version "
               "tumour:v3 --health http://127.0.0.1:8501/health --health-timeout 30000");
    /* without a health check, its timeout is not passed: the default holds */
    r.health = NULL;
    r.health_timeout_ms = 0;
    r.name = NULL;
    round_trip(&r, "deploy", "--model /h/artifacts/ef/01 --target /srv/tumour --version tumour:v3");
}

static void test_missing_field(void **state)
{
    (void)state;
    struct err e = ERR_INIT;
    struct builtin_req r = {.kind = BUILTIN_DEPLOY, .self = "sluice", .model = "m", .target = "t"};
    assert_null(builtin_argv(&r, &e));
    assert_string_equal(e.msg, "built-in deploy: no --version");
    err_clear(&e);
    struct builtin_req c = {.kind = BUILTIN_CRAWL, .self = "sluice", .input = "i"};
    assert_null(builtin_argv(&c, &e));
    assert_string_equal(e.msg, "built-in crawl: no --out");
}

/* The built-in's side refuses what the engine never writes (the message goes to stderr). */
static void test_parse_refuses(void **state)
{
    (void)state;
    struct builtin_req r;
    char *bad_size[] = {"ingest", "--source", "s", "--out", "o", "--max-size", "-1", NULL};
    assert_int_equal(builtin_parse(BUILTIN_INGEST, 7, bad_size, &r), -1);
    builtin_req_release(&r);
    char *no_out[] = {"crawl", "--input", "i", "--expect", "rows > 1", NULL};
    assert_int_equal(builtin_parse(BUILTIN_CRAWL, 5, no_out, &r), -1);
    builtin_req_release(&r);
    char *equals[] = {"crawl", "--input=i", "--out=o", "--expect=rows > 1", NULL};
    assert_int_equal(builtin_parse(BUILTIN_CRAWL, 4, equals, &r), 0);
    assert_string_equal(r.input, "i");
    assert_int_equal(r.nexpect, 1);
    assert_string_equal(r.expect[0], "rows > 1");
    builtin_req_release(&r);
    char *help[] = {"deploy", "--help", NULL};
    assert_int_equal(builtin_parse(BUILTIN_DEPLOY, 2, help, &r), 1);
    builtin_req_release(&r);
    char *dangling[] = {"deploy", "--model", NULL};
    assert_int_equal(builtin_parse(BUILTIN_DEPLOY, 2, dangling, &r), -1);
    builtin_req_release(&r);
    assert_non_null(strstr(builtin_usage(BUILTIN_INGEST), "usage: sluice builtin ingest"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingest),
        cmocka_unit_test(test_crawl),
        cmocka_unit_test(test_deploy),
        cmocka_unit_test(test_missing_field),
        cmocka_unit_test(test_parse_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
