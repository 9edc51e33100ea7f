/* `sluice builtin crawl --input PATH --out PATH [--expect RULE]...`: the `crawl` step's
 * process, run under the shim. Crawls the data file, checks the data-quality rules, writes
 * schema.json atomically and prints a summary into the step's log. Exit 0 when every rule
 * holds, 1 when one fails ("error: rule 'rows >= 500' is false: rows = 120" on stderr, for
 * each false rule) or on any error ("error: ..."). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/builtin.h"
#include "executor/crawl.h"
#include "pipeline/rules.h"
#include "util/err.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static void crawl_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void crawl_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Write data to path through a temporary file in the same folder and rename(), so that a
 * reader (or a crash) never sees half a schema. */
static int write_atomic(const char *path, const char *data, size_t len, struct err *e)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        err_set(e, "cannot create '%s': %s", tmp, strerror(errno));
        goto out;
    }
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            err_set(e, "cannot write '%s': %s", tmp, strerror(errno));
            close(fd);
            goto fail;
        }
        done += (size_t)n;
    }
    if (fsync(fd) < 0) {
        err_set(e, "cannot sync '%s': %s", tmp, strerror(errno));
        close(fd);
        goto fail;
    }
    if (close(fd) < 0) {
        err_set(e, "cannot write '%s': %s", tmp, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) < 0) {
        err_set(e, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto fail;
    }
    rc = 0;
    goto out;
fail:
    unlink(tmp);
out:
    free(tmp);
    return rc;
}

static void print_value(const struct crawl_value *v)
{
    if (v->is_int)
        printf("%lld", (long long)v->i);
    else
        printf("%.15g", v->f);
}

/* A text on one line of the log: control characters escaped. */
static void print_text(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

static void print_column(const struct crawl_column *col, int width)
{
    putchar(' ');
    putchar(' ');
    print_text(col->name);
    int pad = width - (int)strlen(col->name);
    printf("%*s %-9s nulls %llu, distinct %s%llu", pad > 0 ? pad : 0, "",
           crawl_type_name(col->type), (unsigned long long)col->nulls,
           col->distinct_capped ? ">=" : "", (unsigned long long)col->distinct);
    if (!col->has_values) {
        printf(", no values\n");
        return;
    }
    switch (col->type) {
    case CRAWL_INTEGER:
        printf(", min %lld, max %lld, mean %.15g", (long long)col->imin, (long long)col->imax,
               col->mean);
        break;
    case CRAWL_FLOAT:
        printf(", min %.15g, max %.15g, mean %.15g", col->fmin, col->fmax, col->mean);
        break;
    case CRAWL_BOOLEAN:
        printf(", min %s, max %s", col->bmin ? "true" : "false", col->bmax ? "true" : "false");
        break;
    case CRAWL_TIMESTAMP:
    case CRAWL_STRING:
        fputs(", min '", stdout);
        print_text(col->smin);
        fputs("', max '", stdout);
        print_text(col->smax);
        putchar('\'');
        break;
    }
    putchar('\n');
}

static void print_summary(const char *input, const struct crawl_result *res)
{
    int width = 0;
    for (size_t i = 0; i < res->ncolumns; i++) {
        size_t n = strlen(res->columns[i].name);
        if ((int)n > width)
            width = n > 24 ? 24 : (int)n;
    }
    printf("crawl '%s' (%s): %llu rows, %zu columns\n", input, crawl_format_name(res->format),
           (unsigned long long)res->rows, res->ncolumns);
    for (size_t i = 0; i < res->ncolumns; i++)
        print_column(&res->columns[i], width);
}

int builtin_crawl_main(int argc, char **argv)
{
    struct builtin_req args;
    struct crawl_result res = {0};
    struct crawl_rule_result *results = NULL;
    struct strbuf json = STRBUF_INIT;
    struct err e = ERR_INIT;
    size_t nresults = 0, failed = 0;
    int status = 1;

    int done = builtin_start(BUILTIN_CRAWL, argc, argv, &args);
    if (done >= 0) {
        status = done;
        goto out;
    }
    /* a typo in a rule should not cost a crawl of a large file */
    bool bad = false;
    for (size_t i = 0; i < args.nexpect; i++) {
        char msg[256];
        int off;
        if (rule_check(args.expect[i], &off, msg, sizeof(msg)) < 0) {
            crawl_error("rule '%s': %s at offset %d", args.expect[i], msg, off);
            bad = true;
        }
    }
    if (bad)
        goto out;
    if (crawl_file(args.input, NULL, &res, &e) < 0) {
        crawl_error("%s", e.msg);
        goto out;
    }
    results = xcalloc(args.nexpect, sizeof(*results));
    for (size_t i = 0; i < args.nexpect; i++) {
        err_clear(&e);
        if (crawl_rule_eval(&res, args.expect[i], &results[nresults], &e) < 0) {
            crawl_error("%s", e.msg);
            bad = true;
            continue;
        }
        nresults++;
    }
    print_summary(args.input, &res);
    if (bad)
        goto out;
    for (size_t i = 0; i < nresults; i++) {
        printf("%s %s (", results[i].pass ? "PASS" : "FAIL", results[i].rule);
        print_value(&results[i].value);
        printf(")\n");
        failed += !results[i].pass;
    }
    crawl_schema_json(&res, results, nresults, &json);
    err_clear(&e);
    if (write_atomic(args.out, json.buf, json.len, &e) < 0) {
        crawl_error("%s", e.msg);
        goto out;
    }
    printf("wrote '%s'\n", args.out);
    if (failed) {
        /* the log's last line, which the step's message quotes: every false rule, and why */
        struct strbuf why = STRBUF_INIT;
        for (size_t i = 0; i < nresults; i++)
            if (!results[i].pass)
                strbuf_addf(&why, "%srule '%s' is false: %s", why.len ? "; " : "",
                            results[i].rule, results[i].measured);
        fflush(stdout);
        crawl_error("%s", why.buf);
        strbuf_release(&why);
        goto out;
    }
    status = 0;
out:
    fflush(stdout);
    for (size_t i = 0; i < nresults; i++)
        crawl_rule_result_release(&results[i]);
    free(results);
    builtin_req_release(&args);
    crawl_result_release(&res);
    strbuf_release(&json);
    return status;
}
