/* The built-ins' command lines, both sides: the engine's argv (builtin_argv) and each
 * built-in's reading of it (builtin_parse), with the usage texts and the way a bad command
 * line is refused. One file, so that an option cannot be written one way and read another. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "executor/builtin.h"
#include "util/xalloc.h"

static const char ingest_usage[] =
    "usage: sluice builtin ingest --source SRC --out PATH [--base DIR] [--max-size BYTES]\n"
    "                             [--sha256 HEX] [--connect-timeout MS] [--timeout MS]\n"
    "                             [--meta FILE]\n"
    "\n"
    "  --source SRC          a path (relative to --base), file:///path, http:// or https://\n"
    "  --out PATH            where the data goes (written to PATH.tmp, then renamed)\n"
    "  --base DIR            the pipeline's folder (default: the current folder)\n"
    "  --max-size BYTES      refuse a source larger than this (default and 0: 10 GiB)\n"
    "  --sha256 HEX          the data must have this digest\n"
    "  --connect-timeout MS  http(s): give up connecting after MS ms (default and 0: 30000)\n"
    "  --timeout MS          http(s): give up the whole transfer after MS ms (default: none)\n"
    "  --meta FILE           write {source, url, size, sha256, http_status} as JSON to FILE\n";

static const char crawl_usage[] =
    "usage: sluice builtin crawl --input PATH --out PATH [--expect RULE]...\n"
    "internal: run by the engine for a `kind: crawl` step\n"
    "  --input PATH    the CSV or JSON Lines file (.jsonl/.ndjson, else sniffed)\n"
    "  --out PATH      where to write schema.json\n"
    "  --expect RULE   a data-quality rule, e.g. 'rows >= 500', 'nulls(id) == 0'\n";

static const char deploy_usage[] =
    "usage: sluice builtin deploy --model PATH --target DIR --version LABEL [--name NAME]\n"
    "                             [--health URL]\n"
    "                             [--health-timeout MS]\n"
    "\n"
    "  --model PATH         the model file or folder to deploy\n"
    "  --target DIR         deployment folder: DIR/blue, DIR/green, DIR/current -> live slot\n"
    "  --version LABEL      written to the slot's VERSION file\n"
    "  --name NAME          the model's file name in the slot (default: that of --model)\n"
    "  --health URL         must answer 2xx after the switch, else the switch is undone\n"
    "  --health-timeout MS  how long to keep trying the health check (default and 0: 30000)\n";

const char *builtin_usage(enum builtin_kind kind)
{
    switch (kind) {
    case BUILTIN_INGEST:
        return ingest_usage;
    case BUILTIN_CRAWL:
        return crawl_usage;
    case BUILTIN_DEPLOY:
        return deploy_usage;
    }
    BUG("unknown built-in %d", (int)kind);
}

/* ---- the engine's side ---- */

struct args {
    char **v;
    size_t n, alloc;
};

/* Append "--name value" (value copied), keeping v NULL-terminated. */
static void add(struct args *a, const char *name, const char *value)
{
    XGROW(a->v, a->alloc, a->n + 3);
    if (name)
        a->v[a->n++] = xstrdup(name);
    a->v[a->n++] = xstrdup(value);
    a->v[a->n] = NULL;
}

static void add_number(struct args *a, const char *name, long long value)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%lld", value);
    add(a, name, buf);
}

/* An option left out when value is NULL. */
static void add_opt(struct args *a, const char *name, const char *value)
{
    if (value)
        add(a, name, value);
}

static const char *missing(const struct builtin_req *r)
{
    switch (r->kind) {
    case BUILTIN_INGEST:
        return !r->source ? "--source" : !r->out ? "--out" : NULL;
    case BUILTIN_CRAWL:
        return !r->input ? "--input" : !r->out ? "--out" : NULL;
    case BUILTIN_DEPLOY:
        return !r->model ? "--model" : !r->target ? "--target" : !r->version ? "--version" : NULL;
    }
    BUG("unknown built-in %d", (int)r->kind);
}

char **builtin_argv(const struct builtin_req *r, struct err *e)
{
    static const char *const names[] = {"ingest", "crawl", "deploy"};
    const char *lack = missing(r);
    if (lack || !r->self) {
        err_set(e, "built-in %s: no %s", names[r->kind], lack ? lack : "program");
        return NULL;
    }
    struct args a = {0};
    add(&a, NULL, r->self);
    add(&a, NULL, "builtin");
    add(&a, NULL, names[r->kind]);
    switch (r->kind) {
    case BUILTIN_INGEST:
        add(&a, "--source", r->source);
        add_opt(&a, "--base", r->base);
        add(&a, "--out", r->out);
        add_number(&a, "--max-size", (long long)r->max_size);
        add_opt(&a, "--sha256", r->sha256);
        if (r->connect_timeout_ms)
            add_number(&a, "--connect-timeout", r->connect_timeout_ms);
        if (r->timeout_ms)
            add_number(&a, "--timeout", r->timeout_ms);
        add_opt(&a, "--meta", r->meta);
        break;
    case BUILTIN_CRAWL:
        add(&a, "--input", r->input);
        add(&a, "--out", r->out);
        for (size_t i = 0; i < r->nexpect; i++)
            add(&a, "--expect", r->expect[i]);
        break;
    case BUILTIN_DEPLOY:
        add(&a, "--model", r->model);
        add(&a, "--target", r->target);
        add_opt(&a, "--name", r->name);
        add(&a, "--version", r->version);
        if (r->health) {
            add(&a, "--health", r->health);
            add_number(&a, "--health-timeout", (long long)r->health_timeout_ms);
        }
        break;
    }
    return a.v;
}

/* ---- the built-in's side ---- */

/* "error: MSG\n" and the usage to stderr; returns -1. */
static int usage_error(enum builtin_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(enum builtin_kind kind, const char *fmt, ...)
{
    va_list ap;
    fputs("error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(builtin_usage(kind), stderr);
    return -1;
}

/* A non-negative decimal integer, all of s. */
static int parse_count(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*s || *end || errno || v < 0 || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return -1;
    *out = v;
    return 0;
}

/* The options of ingest and deploy: NAME VALUE pairs, each handed to set, which returns 0,
 * -1 (refused and said why) or 1 (no such option). */
static int parse_pairs(int argc, char **argv, struct builtin_req *r,
                       int (*set)(struct builtin_req *r, const char *a, const char *v))
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help"))
            return 1;
        if (i + 1 >= argc)
            return usage_error(r->kind, "unknown option or missing value '%s'", a);
        int rc = set(r, a, argv[++i]);
        if (rc > 0)
            return usage_error(r->kind, "unknown option '%s'", a);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static int set_ingest(struct builtin_req *r, const char *a, const char *v)
{
    long long n = 0;
    if (!strcmp(a, "--source")) {
        r->source = v;
    } else if (!strcmp(a, "--out")) {
        r->out = v;
    } else if (!strcmp(a, "--base")) {
        r->base = v;
    } else if (!strcmp(a, "--sha256")) {
        r->sha256 = v;
    } else if (!strcmp(a, "--meta")) {
        r->meta = v;
    } else if (!strcmp(a, "--max-size")) {
        if (parse_count(v, &n))
            return usage_error(r->kind, "bad --max-size '%s': expected a number of bytes", v);
        r->max_size = n;
    } else if (!strcmp(a, "--connect-timeout") || !strcmp(a, "--timeout")) {
        if (parse_count(v, &n) || n > 24LL * 3600 * 1000 * 365)
            return usage_error(r->kind, "bad timeout '%s': expected milliseconds", v);
        if (!strcmp(a, "--timeout"))
            r->timeout_ms = (long)n;
        else
            r->connect_timeout_ms = (long)n;
    } else {
        return 1;
    }
    return 0;
}

static int parse_ingest(int argc, char **argv, struct builtin_req *r)
{
    int rc = parse_pairs(argc, argv, r, set_ingest);
    if (rc)
        return rc;
    if (!r->source)
        return usage_error(r->kind, "missing %s", "--source");
    if (!r->out)
        return usage_error(r->kind, "missing %s", "--out");
    return 0;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 matched (*i moved past it), 0 not this
 * option, -1 the value is missing. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n))
        return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n])
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

static int parse_crawl(int argc, char **argv, struct builtin_req *r)
{
    static const char *const names[] = {"--input", "--out", "--expect"};
    size_t alloc = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
        const char *value = NULL;
        size_t k;
        int rc = 0;
        for (k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if ((rc = option_value(argc, argv, &i, names[k], &value)) != 0)
                break;
        if (rc < 0)
            return usage_error(r->kind, "option '%s' needs a value", names[k]);
        if (!rc)
            return usage_error(r->kind, "unknown argument '%s'", argv[i]);
        if (k == 0) {
            r->input = value;
        } else if (k == 1) {
            r->out = value;
        } else {
            XGROW(r->expect, alloc, r->nexpect + 1);
            r->expect[r->nexpect++] = value;
        }
    }
    if (!r->input || !r->out)
        return usage_error(r->kind, "%s is required", r->input ? "--out" : "--input");
    return 0;
}

static int set_deploy(struct builtin_req *r, const char *a, const char *v)
{
    if (!strcmp(a, "--model")) {
        r->model = v;
    } else if (!strcmp(a, "--target")) {
        r->target = v;
    } else if (!strcmp(a, "--version")) {
        r->version = v;
    } else if (!strcmp(a, "--name")) {
        r->name = v;
    } else if (!strcmp(a, "--health")) {
        r->health = v;
    } else if (!strcmp(a, "--health-timeout")) {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        if (v[0] < '0' || v[0] > '9' || *end || errno || n < 0)
            return usage_error(r->kind, "bad --health-timeout '%s': expected milliseconds", v);
        r->health_timeout_ms = n;
    } else {
        return 1;
    }
    return 0;
}

static int parse_deploy(int argc, char **argv, struct builtin_req *r)
{
    int rc = parse_pairs(argc, argv, r, set_deploy);
    if (rc)
        return rc;
    if (!r->model)
        return usage_error(r->kind, "missing --model");
    if (!r->target)
        return usage_error(r->kind, "missing --target");
    if (!r->version)
        return usage_error(r->kind, "missing --version");
    return 0;
}

int builtin_parse(enum builtin_kind kind, int argc, char **argv, struct builtin_req *req)
{
    memset(req, 0, sizeof(*req));
    req->kind = kind;
    switch (kind) {
    case BUILTIN_INGEST:
        return parse_ingest(argc, argv, req);
    case BUILTIN_CRAWL:
        return parse_crawl(argc, argv, req);
    case BUILTIN_DEPLOY:
        return parse_deploy(argc, argv, req);
    }
    BUG("unknown built-in %d", (int)kind);
}

int builtin_start(enum builtin_kind kind, int argc, char **argv, struct builtin_req *req)
{
    int rc = builtin_parse(kind, argc, argv, req);
    if (rc > 0)
        fputs(builtin_usage(kind), stdout);
    return rc == 0 ? -1 : rc > 0 ? 0 : 1;
}

void builtin_req_release(struct builtin_req *req)
{
    free(req->expect);
    req->expect = NULL;
    req->nexpect = 0;
}
