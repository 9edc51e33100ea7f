/* Tests for the schema crawler's reading of a table: type inference, statistics, CSV and JSON
 * Lines reading and their errors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/crawl_helpers.h"
#include "util/strbuf.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Crawl text and insist that it fails with exactly msg. */
static void crawl_fails(const char *name, const char *text, const char *msg)
{
    struct crawl_result res;
    struct err e = ERR_INIT;
    assert_int_equal(crawl_text_capped(name, text, strlen(text), 0, &res, &e), -1);
    assert_string_equal(e.msg, msg);
    crawl_result_release(&res);
}

static const struct crawl_column *column(const struct crawl_result *res, const char *name)
{
    for (size_t i = 0; i < res->ncolumns; i++)
        if (!strcmp(res->columns[i].name, name))
            return &res->columns[i];
    fail_msg("no column '%s'", name);
    return NULL;
}

static enum crawl_type type_of(const struct crawl_result *res, const char *name)
{
    return column(res, name)->type;
}

/* The type of a one-column CSV holding the given cells. */
static enum crawl_type infer(const char *cells)
{
    struct crawl_result res;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    fprintf(m, "c\n%s\n", cells);
    fclose(m);
    crawl_ok("t.csv", text, &res);
    free(text);
    enum crawl_type t = res.columns[0].type;
    crawl_result_release(&res);
    return t;
}

/* ---- type inference --------------------------------------------------------------------- */

static void test_types_each(void **state)
{
    (void)state;
    assert_int_equal(infer("1\n-20\n+3\n007"), CRAWL_INTEGER);
    assert_int_equal(infer("1.5\n-2.\n.25\n1e3\n2.5E-2"), CRAWL_FLOAT);
    assert_int_equal(infer("true\nFalse\nTRUE"), CRAWL_BOOLEAN);
    assert_int_equal(infer("2024-01-31\n2024-01-31T10:00:00Z\n2024-02-29 23:59:60.123+05:30"),
                     CRAWL_TIMESTAMP);
    assert_int_equal(infer("2024-01-31T10:00\n2024-01-31T10:00:00.5-0800\n2024-01-31t10:00:00+01"),
                     CRAWL_TIMESTAMP);
    assert_int_equal(infer("hello\nworld"), CRAWL_STRING);
}

static void test_types_widen_and_mix(void **state)
{
    (void)state;
    assert_int_equal(infer("1\n2.5\n3"), CRAWL_FLOAT);
    assert_int_equal(infer("1\nabc"), CRAWL_STRING);
    assert_int_equal(infer("true\n1"), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01\nsoon"), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01\n3"), CRAWL_STRING);
    assert_int_equal(infer("1.5\nfalse"), CRAWL_STRING);
}

static void test_types_not_quite(void **state)
{
    (void)state;
    /* what looks like a type but is not one stays a string */
    assert_int_equal(infer("yes\nno"), CRAWL_STRING);
    assert_int_equal(infer("NaN"), CRAWL_STRING);
    assert_int_equal(infer("inf"), CRAWL_STRING);
    assert_int_equal(infer("0x10"), CRAWL_STRING);
    assert_int_equal(infer("1e999"), CRAWL_STRING);
    assert_int_equal(infer("1e"), CRAWL_STRING);
    assert_int_equal(infer("."), CRAWL_STRING);
    assert_int_equal(infer("-"), CRAWL_STRING);
    assert_int_equal(infer("\"1 \""), CRAWL_STRING); /* quoted: spaces kept */
    assert_int_equal(infer("2023-02-29"), CRAWL_STRING);
    assert_int_equal(infer("2024-13-01"), CRAWL_STRING);
    assert_int_equal(infer("2024-04-31"), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01T24:00"), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01T10:60"), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01T10"), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01T10:00:00."), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01T10:00:00+5"), CRAWL_STRING);
    assert_int_equal(infer("2024-01-01X"), CRAWL_STRING);
    assert_int_equal(infer("2024-1-01"), CRAWL_STRING);
    /* spaces around an unquoted cell are trimmed, so this is an integer */
    assert_int_equal(infer(" 12 "), CRAWL_INTEGER);
}

static void test_integer_overflow_is_float(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", "n\n9223372036854775807\n99999999999999999999\n", &res);
    const struct crawl_column *c = column(&res, "n");
    assert_int_equal(c->type, CRAWL_FLOAT);
    assert_true(c->fmax == 1e20);
    crawl_result_release(&res);

    crawl_ok("t.csv", "n\n9223372036854775807\n-9223372036854775808\n", &res);
    c = column(&res, "n");
    assert_int_equal(c->type, CRAWL_INTEGER);
    assert_true(c->imax == INT64_MAX);
    assert_true(c->imin == INT64_MIN);
    crawl_result_release(&res);
}

/* ---- statistics ------------------------------------------------------------------------- */

static void test_nulls(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", "a,b,c,d\n1,,NA,\n,\"\",null,\n3,x,NaN,\n", &res);
    assert_int_equal(res.rows, 3);
    const struct crawl_column *a = column(&res, "a");
    assert_int_equal(a->type, CRAWL_INTEGER);
    assert_int_equal(a->nulls, 1);
    assert_int_equal(a->distinct, 2);
    const struct crawl_column *b = column(&res, "b");
    assert_int_equal(b->nulls, 2); /* empty, quoted or not */
    assert_int_equal(b->type, CRAWL_STRING);
    const struct crawl_column *c = column(&res, "c");
    assert_int_equal(c->nulls, 0); /* NA, null and NaN are values */
    assert_int_equal(c->distinct, 3);
    const struct crawl_column *d = column(&res, "d");
    assert_int_equal(d->nulls, 3);
    assert_int_equal(d->type, CRAWL_STRING);
    assert_false(d->has_values);
    assert_int_equal(d->distinct, 0);
    assert_null(d->smin);
    crawl_result_release(&res);
}

static void test_stats_numbers(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", "i,f,w\n3,2.5,1\n-7,0.25,2.5\n3,-1e2,4\n10,,\n", &res);
    assert_int_equal(res.rows, 4);
    const struct crawl_column *i = column(&res, "i");
    assert_int_equal(i->type, CRAWL_INTEGER);
    assert_true(i->imin == -7);
    assert_true(i->imax == 10);
    assert_int_equal(i->distinct, 3);
    assert_true(i->mean == 2.25);
    const struct crawl_column *f = column(&res, "f");
    assert_int_equal(f->type, CRAWL_FLOAT);
    assert_true(f->fmin == -100.0);
    assert_true(f->fmax == 2.5);
    assert_true(f->mean == (2.5 + 0.25 - 100.0) / 3);
    assert_int_equal(f->nulls, 1);
    /* widened: min/max/mean cover the integers seen before the first float */
    const struct crawl_column *w = column(&res, "w");
    assert_int_equal(w->type, CRAWL_FLOAT);
    assert_true(w->fmin == 1.0);
    assert_true(w->fmax == 4.0);
    assert_true(w->mean == 2.5);
    crawl_result_release(&res);
}

static void test_stats_other_types(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv",
             "b,t,s,allfalse\n"
             "true,2024-01-01T10:00:00+02:00,pear,false\n"
             "TRUE,2024-01-01T09:00:00Z,apple,false\n"
             "true,2023-12-31,Zebra,\n"
             "true,2024-01-01T09:00:00.5Z,pear,false\n",
             &res);
    const struct crawl_column *b = column(&res, "b");
    assert_int_equal(b->type, CRAWL_BOOLEAN);
    assert_true(b->bmin && b->bmax);
    assert_int_equal(b->distinct, 2); /* texts: "true" and "TRUE" */
    const struct crawl_column *t = column(&res, "t");
    assert_int_equal(t->type, CRAWL_TIMESTAMP);
    /* compared as instants: 10:00+02:00 is 08:00Z, before 09:00Z */
    assert_string_equal(t->smin, "2023-12-31");
    assert_string_equal(t->smax, "2024-01-01T09:00:00.5Z");
    const struct crawl_column *s = column(&res, "s");
    assert_string_equal(s->smin, "Zebra"); /* bytewise */
    assert_string_equal(s->smax, "pear");
    assert_int_equal(s->distinct, 3);
    const struct crawl_column *f = column(&res, "allfalse");
    assert_false(f->bmin);
    assert_false(f->bmax);
    assert_int_equal(f->nulls, 1);
    crawl_result_release(&res);
}

static void test_timestamp_fractions(void **state)
{
    (void)state;
    struct crawl_result res;
    /* .5 s is after .25 s, and a date is its midnight UTC */
    crawl_ok("t.csv", "t\n2024-01-01T00:00:00.5Z\n2024-01-01T00:00:00.25Z\n2024-01-01\n", &res);
    assert_string_equal(res.columns[0].smin, "2024-01-01");
    assert_string_equal(res.columns[0].smax, "2024-01-01T00:00:00.5Z");
    crawl_result_release(&res);
    /* across a leap day and a year, by instant: 2024-02-29T23:00-02:00 is 2024-03-01T01:00Z */
    crawl_ok("t.csv", "t\n2024-03-01T00:30Z\n2024-02-29T23:00-02:00\n1999-12-31T23:59:59Z\n", &res);
    assert_string_equal(res.columns[0].smin, "1999-12-31T23:59:59Z");
    assert_string_equal(res.columns[0].smax, "2024-02-29T23:00-02:00");
    crawl_result_release(&res);
    /* the day after a leap day, and the day after a leap year's last day */
    crawl_ok("t.csv", "t\n2024-02-29T12:00Z\n2024-03-01T00:00Z\n", &res);
    assert_string_equal(res.columns[0].smax, "2024-03-01T00:00Z");
    crawl_result_release(&res);
    crawl_ok("t.csv", "t\n2020-12-31T12:00Z\n2021-01-01T00:00Z\n", &res);
    assert_string_equal(res.columns[0].smax, "2021-01-01T00:00Z");
    crawl_result_release(&res);
}

/* M/D/YYYY and D.M.YYYY are dates, compared as instants; a column is timestamp only when each
 * of its values parses as one. */
static void test_timestamp_month_first_and_dotted(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv",
             "us,eu,both,timed\n"
             "12/31/2019,31.12.2019,2020-01-02,1/5/2020 10:00\n"
             "1/5/2020,5.1.2020,1/3/2020,1/5/2020 09:30:00Z\n"
             "02/29/2020,29.02.2020,4.1.2020,\n",
             &res);
    for (size_t i = 0; i < res.ncolumns; i++)
        if (res.columns[i].type != CRAWL_TIMESTAMP)
            fail_msg("column '%s' is %s", res.columns[i].name,
                     crawl_type_name(res.columns[i].type));
    assert_string_equal(column(&res, "us")->smin, "12/31/2019");
    assert_string_equal(column(&res, "us")->smax, "02/29/2020");
    assert_string_equal(column(&res, "eu")->smin, "31.12.2019");
    assert_string_equal(column(&res, "eu")->smax, "29.02.2020");
    assert_string_equal(column(&res, "both")->smin, "2020-01-02");
    assert_string_equal(column(&res, "both")->smax, "4.1.2020");
    assert_string_equal(column(&res, "timed")->smin, "1/5/2020 09:30:00Z");
    crawl_result_release(&res);
    /* one value that is no date makes the column string: an impossible date, a day-first date
     * with slashes, a day past the month's end, a two-digit year, a mixed separator */
    static const char *const bad[] = {"13/45/2020", "25/12/2024", "2/30/2021", "1/5/20",
                                      "1/5.2020", "1/5/2020x", "123/5/2020"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[128];
        snprintf(text, sizeof(text), "d\n1/5/2020\n%s\n12/1/2020\n", bad[i]);
        crawl_ok("t.csv", text, &res);
        if (res.columns[0].type != CRAWL_STRING)
            fail_msg("'%s' made the column %s", bad[i], crawl_type_name(res.columns[0].type));
        crawl_result_release(&res);
    }
}

static void test_stats_mixed_string_minmax(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", "m,p,b\n10,abc,true\n9,ab,false\nabc,abcd,true\n", &res);
    const struct crawl_column *m = column(&res, "m");
    assert_int_equal(m->type, CRAWL_STRING);
    assert_string_equal(m->smin, "10");
    assert_string_equal(m->smax, "abc");
    /* a prefix sorts first */
    const struct crawl_column *p = column(&res, "p");
    assert_string_equal(p->smin, "ab");
    assert_string_equal(p->smax, "abcd");
    const struct crawl_column *b = column(&res, "b");
    assert_false(b->bmin);
    assert_true(b->bmax);
    crawl_result_release(&res);
}

static void test_distinct_cap(void **state)
{
    (void)state;
    struct crawl_result res;
    struct err e = ERR_INIT;
    const char *text = "n,k\n1,a\n2,a\n3,a\n1,a\n4,a\n5,a\n";
    assert_int_equal(crawl_text_capped("t.csv", text, strlen(text), 3, &res, &e), 0);
    const struct crawl_column *n = column(&res, "n");
    assert_int_equal(n->distinct, 3);
    assert_true(n->distinct_capped);
    assert_true(n->imax == 5); /* the other statistics still see every value */
    const struct crawl_column *k = column(&res, "k");
    assert_int_equal(k->distinct, 1);
    assert_false(k->distinct_capped);
    struct strbuf sb = STRBUF_INIT;
    crawl_schema_json(&res, NULL, 0, &sb);
    assert_non_null(strstr(sb.buf, "\"distinct\": 3,\n      \"distinct_capped\": true,\n"));
    assert_int_equal(strstr(strstr(sb.buf, "\"k\""), "distinct_capped") != NULL, 0);
    strbuf_release(&sb);
    crawl_result_release(&res);

    /* exactly at the cap: not capped */
    assert_int_equal(crawl_text_capped("t.csv", "n\n1\n2\n3\n", 8, 3, &res, &e), 0);
    assert_false(res.columns[0].distinct_capped);
    assert_int_equal(res.columns[0].distinct, 3);
    crawl_result_release(&res);
}

static void test_text_cleaned_and_cut(void **state)
{
    (void)state;
    struct crawl_result res;
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "a\xff"
                       "b\n"); /* an invalid byte in the name */
    for (int i = 0; i < CRAWL_TEXT_MAX - 1; i++)
        strbuf_addch(&sb, 'x');
    strbuf_addstr(&sb, "\xc3\xa9xxxx\ny\n"); /* a 2-byte é straddling the cut */
    crawl_ok("t.csv", sb.buf, &res);
    const struct crawl_column *c = &res.columns[0];
    assert_string_equal(c->name, "a\xef\xbf\xbd"
                                 "b");
    assert_string_equal(c->smax, "y");
    assert_int_equal(strlen(c->smin), CRAWL_TEXT_MAX - 1 + 3);
    assert_string_equal(c->smin + CRAWL_TEXT_MAX - 2, "x\xe2\x80\xa6");
    crawl_result_release(&res);
    strbuf_release(&sb);
}

/* ---- CSV reading ------------------------------------------------------------------------ */

static void test_csv_quoting(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv",
             "\xef\xbb\xbfname,\"note, with comma\",n\r\n"
             "\"Smith, J\",\"line one\r\nline \"\"two\"\"\",1\r\n"
             "plain,\"\",2\r\n",
             &res);
    assert_int_equal(res.format, CRAWL_FORMAT_CSV);
    assert_int_equal(res.rows, 2);
    assert_int_equal(res.ncolumns, 3);
    assert_string_equal(res.columns[0].name, "name"); /* no BOM */
    assert_string_equal(res.columns[1].name, "note, with comma");
    assert_string_equal(column(&res, "name")->smax, "plain");
    assert_string_equal(column(&res, "name")->smin, "Smith, J");
    const struct crawl_column *note = column(&res, "note, with comma");
    assert_string_equal(note->smin, "line one\r\nline \"two\"");
    assert_int_equal(note->nulls, 1);
    const struct crawl_column *n = column(&res, "n");
    assert_int_equal(n->type, CRAWL_INTEGER); /* no stray \r in the last field */
    assert_true(n->imax == 2);
    crawl_result_release(&res);
}

static void test_csv_blank_lines_and_no_final_newline(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", "a,b\n\n1,2\n  \n\n3,4", &res);
    assert_int_equal(res.rows, 2);
    assert_true(column(&res, "b")->imax == 4);
    crawl_result_release(&res);

    crawl_ok("t.csv", "a,b\n", &res); /* a header only */
    assert_int_equal(res.rows, 0);
    assert_int_equal(res.ncolumns, 2);
    assert_int_equal(res.columns[1].type, CRAWL_STRING);
    assert_false(res.columns[1].has_values);
    crawl_result_release(&res);
}

static void test_csv_ragged(void **state)
{
    (void)state;
    crawl_fails("t.csv", "a,b,c,d\n1,2,3,4\n\n1,2,3,4,5\n",
                "'t.csv' line 4: row 2 has 5 fields, header has 4");
    crawl_fails("t.csv", "a,b\n1,2\n3\n", "'t.csv' line 3: row 2 has 1 fields, header has 2");
    /* the line a record starts on, past embedded newlines */
    crawl_fails("t.csv", "a,b\n\"x\ny\",1\n\"p\nq\"\n",
                "'t.csv' line 4: row 2 has 1 fields, header has 2");
    /* no final newline */
    crawl_fails("t.csv", "a,b\r\n1,2\r\n1,2,3", "'t.csv' line 3: row 2 has 3 fields, header has 2");
}

static void test_csv_ragged_far(void **state)
{
    (void)state;
    /* past the 64 KiB read blocks, with a quoted newline across a block boundary */
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "id,text\n");
    for (int i = 1; i <= 9000; i++)
        strbuf_addf(&sb, "%d,\"a\nb\"\n", i);
    strbuf_addstr(&sb, "9001\n");
    crawl_fails("big.csv", sb.buf, "'big.csv' line 18002: row 9001 has 1 fields, header has 2");
    strbuf_release(&sb);
}

static void test_csv_header_errors(void **state)
{
    (void)state;
    crawl_fails("t.csv", "a,b,a\n1,2,3\n", "'t.csv' line 1: duplicate column name 'a'");
    crawl_fails("t.csv", "\n\na,,c\n1,2,3\n", "'t.csv' line 3: header column 2 has an empty name");
    crawl_fails("t.csv", "a,\"\"\n1,2\n", "'t.csv' line 1: header column 2 has an empty name");
}

static void test_csv_wide(void **state)
{
    (void)state;
    /* past the first growth of the column index */
    struct strbuf sb = STRBUF_INIT;
    for (int i = 0; i < 150; i++)
        strbuf_addf(&sb, "%sc%d", i ? "," : "", i);
    strbuf_addch(&sb, '\n');
    for (int i = 0; i < 150; i++)
        strbuf_addf(&sb, "%s%d", i ? "," : "", i);
    strbuf_addch(&sb, '\n');
    struct crawl_result res;
    crawl_ok("wide.csv", sb.buf, &res);
    assert_int_equal(res.ncolumns, 150);
    assert_true(column(&res, "c149")->imin == 149);
    crawl_result_release(&res);

    strbuf_reset(&sb);
    for (int i = 0; i < 150; i++)
        strbuf_addf(&sb, "c%d,", i);
    strbuf_addstr(&sb, "c7\n");
    crawl_fails("wide.csv", sb.buf, "'wide.csv' line 1: duplicate column name 'c7'");
    strbuf_release(&sb);
}

static void test_csv_malformed(void **state)
{
    (void)state;
    crawl_fails("t.csv", "a,b\n1,2\n3,x\"y\n",
                "'t.csv' line 3: malformed CSV: a quote inside an unquoted field, or text after "
                "a closing quote");
    crawl_fails("t.csv", "a,b\n1,2\n3,\"open\nstill open\n",
                "'t.csv' line 3: unterminated quoted field");
}

static void test_empty_and_unreadable(void **state)
{
    (void)state;
    crawl_fails("t.csv", "", "'t.csv' is empty");
    crawl_fails("t.csv", "\xef\xbb\xbf", "'t.csv' is empty");
    crawl_fails("t.csv", "\n\r\n\n", "'t.csv' is empty");
    crawl_fails("t.jsonl", "\n  \n", "'t.jsonl' is empty");

    struct crawl_result res;
    struct err e = ERR_INIT;
    assert_int_equal(crawl_file("/nonexistent/d.csv", NULL, &res, &e), -1);
    assert_string_equal(e.msg, "cannot open '/nonexistent/d.csv': No such file or directory");
    crawl_result_release(&res);
    err_clear(&e);
    assert_int_equal(crawl_file("/", NULL, &res, &e), -1);
    assert_string_equal(e.msg, "cannot read '/': Is a directory");
    crawl_result_release(&res);
}

static void test_crawl_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_crawl_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *fp = fdopen(fd, "w");
    fputs("{\"a\": 1}\n", fp);
    fclose(fp);
    struct crawl_result res;
    struct err e = ERR_INIT;
    /* no extension: sniffed */
    assert_int_equal(crawl_file(path, NULL, &res, &e), 0);
    assert_int_equal(res.format, CRAWL_FORMAT_JSONL);
    assert_int_equal(res.rows, 1);
    crawl_result_release(&res);
    /* forced: read as CSV, the quotes are misplaced */
    struct crawl_opts opts = {CRAWL_FORMAT_CSV, 0};
    assert_int_equal(crawl_file(path, &opts, &res, &e), -1);
    char want[256];
    snprintf(want, sizeof(want),
             "'%s' line 1: malformed CSV: a quote inside an unquoted field, or text after a "
             "closing quote",
             path);
    assert_string_equal(e.msg, want);
    crawl_result_release(&res);
    unlink(path);
}

static void test_format_choice(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("data.NDJSON", "{\"a\": 1}\n", &res);
    assert_int_equal(res.format, CRAWL_FORMAT_JSONL);
    crawl_result_release(&res);
    crawl_ok("data", "  {\"a\": 1}\n", &res);
    assert_int_equal(res.format, CRAWL_FORMAT_JSONL);
    crawl_result_release(&res);
    crawl_ok("data.txt", "a\n1\n", &res);
    assert_int_equal(res.format, CRAWL_FORMAT_CSV);
    crawl_result_release(&res);
    /* the extension wins over the content */
    crawl_ok("data.csv", "{a}\n1\n", &res);
    assert_int_equal(res.format, CRAWL_FORMAT_CSV);
    assert_string_equal(res.columns[0].name, "{a}");
    crawl_result_release(&res);
    crawl_fails("data.json", "[{\"a\": 1}]\n",
                "'data.json' line 1: expected a JSON object, not an array");
}

/* ---- JSON Lines ------------------------------------------------------------------------- */

static void test_jsonl(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok(
        "t.jsonl",
        "\xef\xbb\xbf{\"id\": 1, \"name\": \"ann\", \"tags\": [\"x\", 1], \"score\": 2}\r\n"
        "\n"
        "{\"name\": null, \"id\": 2, \"when\": \"2024-01-31\", \"score\": 2.5}\n"
        "{\"id\": 3, \"meta\": {\"k\": [1, 2]}, \"ok\": true, \"num\": \"42\", \"name\": \"\"}\n",
        &res);
    assert_int_equal(res.format, CRAWL_FORMAT_JSONL);
    assert_int_equal(res.rows, 3);
    const char *order[] = {"id", "name", "tags", "score", "when", "meta", "ok", "num"};
    assert_int_equal(res.ncolumns, 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(res.columns[i].name, order[i]);
    const struct crawl_column *c = column(&res, "id");
    assert_int_equal(c->type, CRAWL_INTEGER);
    assert_int_equal(c->nulls, 0);
    assert_true(c->imax == 3);
    c = column(&res, "name");
    assert_int_equal(c->nulls, 2); /* null, and "" */
    assert_int_equal(c->type, CRAWL_STRING);
    c = column(&res, "tags");
    assert_int_equal(c->type, CRAWL_STRING);
    assert_string_equal(c->smin, "[\"x\",1]");
    assert_int_equal(c->nulls, 2); /* missing keys */
    c = column(&res, "score");
    assert_int_equal(c->type, CRAWL_FLOAT);
    assert_true(c->mean == 2.25);
    assert_int_equal(type_of(&res, "when"), CRAWL_TIMESTAMP);
    c = column(&res, "meta");
    assert_string_equal(c->smax, "{\"k\":[1,2]}");
    assert_int_equal(c->nulls, 2);
    assert_int_equal(type_of(&res, "ok"), CRAWL_BOOLEAN);
    /* a JSON string is not re-read as a number */
    assert_int_equal(type_of(&res, "num"), CRAWL_STRING);
    crawl_result_release(&res);
}

static void test_jsonl_mixed(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.jsonl", "{\"x\": 1, \"y\": 0.1}\n{\"x\": \"a\", \"y\": 3}\n{\"y\": 1e300}", &res);
    const struct crawl_column *x = column(&res, "x");
    assert_int_equal(x->type, CRAWL_STRING);
    assert_string_equal(x->smin, "1");
    assert_string_equal(x->smax, "a");
    const struct crawl_column *y = column(&res, "y");
    assert_int_equal(y->type, CRAWL_FLOAT);
    assert_true(y->fmin == 0.1);
    assert_true(y->fmax == 1e300);
    assert_int_equal(y->distinct, 3);
    crawl_result_release(&res);
}

static void test_jsonl_errors(void **state)
{
    (void)state;
    crawl_fails("t.jsonl", "{\"a\": 1}\n\n{\"a\": 2\n",
                "'t.jsonl' line 3: invalid JSON at column 7: '}' expected near end of file");
    crawl_fails("t.jsonl", "{\"a\": 1}\n[1]\n",
                "'t.jsonl' line 2: expected a JSON object, not an array");
    crawl_fails("t.jsonl", "{\"a\": 1}\n42\n",
                "'t.jsonl' line 2: expected a JSON object, not a number");
    crawl_fails("t.jsonl", "{\"a\": 1, \"a\": 2}\n",
                "'t.jsonl' line 1: invalid JSON at column 12: duplicate object key near '\"a\"'");
    crawl_fails("t.jsonl", "{\"\": 1}\n", "'t.jsonl' line 1: empty key");
    crawl_fails("t.jsonl", "{\"a\": 1} {\"a\": 2}\n",
                "'t.jsonl' line 1: invalid JSON at column 10: end of file expected near '{'");
}

static void test_jsonl_empty_objects(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.jsonl", "{}\n{}\n", &res);
    assert_int_equal(res.rows, 2);
    assert_int_equal(res.ncolumns, 0);
    crawl_result_release(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_each),
        cmocka_unit_test(test_types_widen_and_mix),
        cmocka_unit_test(test_types_not_quite),
        cmocka_unit_test(test_integer_overflow_is_float),
        cmocka_unit_test(test_nulls),
        cmocka_unit_test(test_stats_numbers),
        cmocka_unit_test(test_stats_other_types),
        cmocka_unit_test(test_timestamp_fractions),
        cmocka_unit_test(test_timestamp_month_first_and_dotted),
        cmocka_unit_test(test_stats_mixed_string_minmax),
        cmocka_unit_test(test_distinct_cap),
        cmocka_unit_test(test_text_cleaned_and_cut),
        cmocka_unit_test(test_csv_quoting),
        cmocka_unit_test(test_csv_blank_lines_and_no_final_newline),
        cmocka_unit_test(test_csv_ragged),
        cmocka_unit_test(test_csv_ragged_far),
        cmocka_unit_test(test_csv_header_errors),
        cmocka_unit_test(test_csv_wide),
        cmocka_unit_test(test_csv_malformed),
        cmocka_unit_test(test_empty_and_unreadable),
        cmocka_unit_test(test_crawl_file),
        cmocka_unit_test(test_format_choice),
        cmocka_unit_test(test_jsonl),
        cmocka_unit_test(test_jsonl_mixed),
        cmocka_unit_test(test_jsonl_errors),
        cmocka_unit_test(test_jsonl_empty_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
