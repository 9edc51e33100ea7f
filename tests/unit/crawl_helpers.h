/* What the crawler tests share: crawling text held in memory, as a file of a given name would be
 * crawled. Included by tests/unit/test_crawl.c and test_crawl_rules.c; static inline, as each
 * test binary is built from its one .c file (see the Makefile). */
#ifndef SLUICE_TESTS_UNIT_CRAWL_HELPERS_H
#define SLUICE_TESTS_UNIT_CRAWL_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "executor/crawl.h"
#include "util/err.h"

static inline int crawl_text_capped(const char *name, const char *text, size_t len, size_t cap,
                                    struct crawl_result *res, struct err *e)
{
    FILE *fp = tmpfile();
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    rewind(fp);
    struct crawl_opts opts = {CRAWL_FORMAT_AUTO, cap};
    int rc = crawl_stream(fp, name, &opts, res, e);
    fclose(fp);
    return rc;
}

/* Crawl text (as a file called name) and insist that it works. */
static inline void crawl_ok(const char *name, const char *text, struct crawl_result *res)
{
    struct err e = ERR_INIT;
    int rc = crawl_text_capped(name, text, strlen(text), 0, res, &e);
    if (rc)
        fail_msg("crawl of '%s' failed: %s", name, e.msg);
}

#endif
