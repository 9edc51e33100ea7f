/* Tests for what the schema crawler says of a crawled table: the rule language (evaluation and
 * syntax errors), schema.json, and the drift report between two schemas. */
#include <stdio.h>
#include <string.h>

#include "pipeline/rules.h"
#include "tests/unit/crawl_helpers.h"
#include "util/strbuf.h"

/* ---- helpers ---------------------------------------------------------------------------- */

/* Evaluate rule; it must evaluate, pass as told, and report value (an exact decimal). */
static void rule_is(const struct crawl_result *res, const char *rule, bool pass, const char *value)
{
    struct crawl_rule_result rr;
    struct err e = ERR_INIT;
    if (crawl_rule_eval(res, rule, &rr, &e) < 0)
        fail_msg("rule '%s' failed: %s", rule, e.msg);
    char got[64];
    if (rr.value.is_int)
        snprintf(got, sizeof(got), "%lld", (long long)rr.value.i);
    else
        snprintf(got, sizeof(got), "%.15g", rr.value.f);
    if (rr.pass != pass)
        fail_msg("rule '%s': expected %s, got %s (value %s)", rule, pass ? "pass" : "fail",
                 rr.pass ? "pass" : "fail", got);
    assert_string_equal(got, value);
    assert_string_equal(rr.rule, rule);
    crawl_rule_result_release(&rr);
}

static void rule_error(const struct crawl_result *res, const char *rule, const char *msg)
{
    struct crawl_rule_result rr;
    struct err e = ERR_INIT;
    assert_int_equal(crawl_rule_eval(res, rule, &rr, &e), -1);
    assert_string_equal(e.msg, msg);
    assert_null(rr.rule);
}

static void syntax_error(const char *rule, int offset, const char *msg)
{
    char got[256] = "";
    int off = -1;
    assert_int_equal(rule_check(rule, &off, got, sizeof(got)), -1);
    assert_string_equal(got, msg);
    if (off != offset)
        fail_msg("rule '%s': offset %d, expected %d", rule, off, offset);
}

/* ---- rules ------------------------------------------------------------------------------ */

static const char rules_csv[] = "id,name,score,ok,when\n"
                                "1,ann,2.5,true,2024-01-01\n"
                                "2,,3.5,false,2024-01-02\n"
                                "3,bob,,true,\n"
                                "4,ann,6,true,2024-01-03\n";

static void test_rules_each_kind(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", rules_csv, &res);
    rule_is(&res, "rows >= 4", true, "4");
    rule_is(&res, "rows > 4", false, "4");
    rule_is(&res, "nulls(name) == 1", true, "1");
    rule_is(&res, "nulls(id) != 0", false, "0");
    rule_is(&res, "distinct(name) == 2", true, "2");
    rule_is(&res, "distinct(id) < 4", false, "4");
    rule_is(&res, "min(id) == 1", true, "1");
    rule_is(&res, "min(score) >= 3", false, "2.5");
    rule_is(&res, "max(score) <= 6.0", true, "6");
    rule_is(&res, "max(id) < 4", false, "4");
    rule_is(&res, "mean(score) == 4", true, "4");
    rule_is(&res, "mean(id) > 2.5", false, "2.5");
    rule_is(&res, "mean(id)>=2.5", true, "2.5");
    rule_is(&res, "distinct(id) == rows", true, "4");
    rule_is(&res, "nulls(when) <= -1", false, "1");
    /* the measured side is reported even when it is on the right */
    rule_is(&res, "500 <= rows", false, "4");
    rule_is(&res, "1e1 > max(score)", true, "6");
    crawl_result_release(&res);
}

static void test_rules_compound(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", rules_csv, &res);
    rule_is(&res, "rows == 4 && nulls(id) == 0", true, "4");
    rule_is(&res, "rows == 4 && nulls(name) == 0", false, "4");
    rule_is(&res, "nulls(name) == 0 || rows == 4", true, "1");
    rule_is(&res, "nulls(name) == 0 || rows == 5", false, "1");
    /* && binds tighter than || */
    rule_is(&res, "rows == 4 || rows == 5 && rows == 6", true, "4");
    rule_is(&res, "(rows == 4 || rows == 5) && rows == 6", false, "4");
    rule_is(&res, "((max(id) == 4)) && (min(score) < 3 || mean(score) > 100)", true, "4");
    crawl_result_release(&res);
}

/* Evaluate rule; what it says it measured must be measured. */
static void rule_measured(const struct crawl_result *res, const char *rule, const char *measured)
{
    struct crawl_rule_result rr;
    struct err e = ERR_INIT;
    if (crawl_rule_eval(res, rule, &rr, &e) < 0)
        fail_msg("rule '%s' failed: %s", rule, e.msg);
    assert_string_equal(rr.measured, measured);
    crawl_rule_result_release(&rr);
}

/* What a false rule says it saw: each measured term once, in reading order. */
static void test_rules_measured(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", rules_csv, &res);
    rule_measured(&res, "rows >= 500", "rows = 4");
    rule_measured(&res, "500 <= rows", "rows = 4");
    rule_measured(&res, "mean(score) > 5", "mean(score) = 4");
    rule_measured(&res, "distinct(id) == rows", "distinct(id) = 4, rows = 4");
    rule_measured(&res, "rows > 4 || nulls(name) == 0 && rows < 9",
                  "rows = 4, nulls(name) = 1");
    rule_measured(&res, "min(score) >= 3 && max(score) < 6", "min(score) = 2.5, max(score) = 6");
    crawl_result_release(&res);
}

static void test_rules_quoted_columns(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", "mean radius,it's\n1.5,a\n2.5,\n", &res);
    rule_is(&res, "mean(\"mean radius\") == 2", true, "2");
    rule_is(&res, "max( mean radius ) == 2.5", true, "2.5");
    rule_is(&res, "nulls(\"it's\") == 1", true, "1");
    crawl_result_release(&res);
}

static void test_rules_errors(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", rules_csv, &res);
    rule_error(&res, "nulls(x) == 0", "rule 'nulls(x) == 0': no column 'x'");
    /* every comparison is checked, even where the result is already known */
    rule_error(&res, "rows > 0 || distinct(nope) > 1",
               "rule 'rows > 0 || distinct(nope) > 1': no column 'nope'");
    rule_error(&res, "mean(name) > 1",
               "rule 'mean(name) > 1': column 'name' is string, not numeric");
    rule_error(&res, "min(ok) == 0", "rule 'min(ok) == 0': column 'ok' is boolean, not numeric");
    rule_error(&res, "max(when) > 0",
               "rule 'max(when) > 0': column 'when' is timestamp, not numeric");
    rule_error(&res, "rows >",
               "rule 'rows >': expected 'rows', a number or a function such as "
               "nulls(COLUMN) at offset 6");
    crawl_result_release(&res);
}

static void test_rule_syntax(void **state)
{
    (void)state;
    assert_int_equal(rule_check("rows >= 500", NULL, NULL, 0), 0);
    assert_int_equal(
        rule_check(" ( nulls(a) == 0 ) && (rows>1||mean('x y')<=-2.5e3) ", NULL, NULL, 0), 0);
    syntax_error("", 0, "empty rule");
    syntax_error("   ", 3, "empty rule");
    syntax_error("rows", 4, "expected a comparison (== != < <= > >=)");
    syntax_error("rows = 5", 5, "expected a comparison (== != < <= > >=)");
    syntax_error("rows >= ", 8, "expected 'rows', a number or a function such as nulls(COLUMN)");
    syntax_error("rows >= %", 8,
                 "expected 'rows', a number or a function such as nulls(COLUMN), not '%'");
    syntax_error("size(a) > 1", 0, "unknown function 'size'");
    syntax_error("row > 1", 0,
                 "unknown name 'row' (expected 'rows', a number or a function "
                 "such as nulls(COLUMN))");
    syntax_error("nulls > 1", 6, "expected '(' after 'nulls'");
    syntax_error("nulls() == 0", 6, "expected a column name");
    syntax_error("nulls(a == 0", 12, "expected ')'");
    syntax_error("nulls(a(b)) == 0", 7, "unexpected '(' in a column name (quote the name)");
    syntax_error("nulls('a) == 0", 6, "unterminated quoted column name");
    syntax_error("nulls('') == 0", 6, "empty column name");
    syntax_error("nulls('a' x) == 0", 10, "expected ')'");
    syntax_error("1 < 2", 0, "a comparison needs 'rows' or a function on one side");
    syntax_error("rows > 1 < 2", 9, "expected '&&', '||' or the end of the rule, not '<'");
    syntax_error("rows > 1 &&", 11,
                 "expected 'rows', a number or a function such as nulls(COLUMN)");
    syntax_error("rows > 1 & rows < 2", 9, "expected '&&', '||' or the end of the rule, not '&'");
    syntax_error("(rows > 1", 9, "expected ')' to close the '(' at offset 0");
    syntax_error("rows > 1)", 8, "expected '&&', '||' or the end of the rule, not ')'");
    syntax_error("rows > 1e", 7, "bad number '1e'");
    syntax_error("rows > 1.2.3", 7, "bad number '1.2.3'");

    char deep[300];
    memset(deep, '(', 100);
    strcpy(deep + 100, "rows > 1");
    syntax_error(deep, 64, "parentheses nested too deeply");
    /* msg may be short */
    char small[8];
    int off;
    assert_int_equal(rule_check("size(a) > 1", &off, small, sizeof(small)), -1);
    assert_string_equal(small, "unknown");
}

/* ---- schema.json and drift -------------------------------------------------------------- */

static void test_schema_json(void **state)
{
    (void)state;
    struct crawl_result res;
    crawl_ok("t.csv", "n,x,b,e\n1,0.1,true,\n2,,false,\n", &res);
    struct crawl_rule_result rr[2];
    struct err e = ERR_INIT;
    assert_int_equal(crawl_rule_eval(&res, "rows >= 2", &rr[0], &e), 0);
    assert_int_equal(crawl_rule_eval(&res, "mean(n) > 2", &rr[1], &e), 0);
    struct strbuf sb = STRBUF_INIT;
    crawl_schema_json(&res, rr, 2, &sb);
    assert_string_equal(sb.buf, "{\n"
                                "  \"rows\": 2,\n"
                                "  \"columns\": [\n"
                                "    {\n"
                                "      \"name\": \"n\",\n"
                                "      \"type\": \"integer\",\n"
                                "      \"nulls\": 0,\n"
                                "      \"min\": 1,\n"
                                "      \"max\": 2,\n"
                                "      \"distinct\": 2,\n"
                                "      \"mean\": 1.5\n"
                                "    },\n"
                                "    {\n"
                                "      \"name\": \"x\",\n"
                                "      \"type\": \"float\",\n"
                                "      \"nulls\": 1,\n"
                                "      \"min\": 0.1,\n"
                                "      \"max\": 0.1,\n"
                                "      \"distinct\": 1,\n"
                                "      \"mean\": 0.1\n"
                                "    },\n"
                                "    {\n"
                                "      \"name\": \"b\",\n"
                                "      \"type\": \"boolean\",\n"
                                "      \"nulls\": 0,\n"
                                "      \"min\": false,\n"
                                "      \"max\": true,\n"
                                "      \"distinct\": 2\n"
                                "    },\n"
                                "    {\n"
                                "      \"name\": \"e\",\n"
                                "      \"type\": \"string\",\n"
                                "      \"nulls\": 2,\n"
                                "      \"min\": null,\n"
                                "      \"max\": null,\n"
                                "      \"distinct\": 0\n"
                                "    }\n"
                                "  ],\n"
                                "  \"rules\": [\n"
                                "    {\n"
                                "      \"rule\": \"rows >= 2\",\n"
                                "      \"value\": 2,\n"
                                "      \"pass\": true\n"
                                "    },\n"
                                "    {\n"
                                "      \"rule\": \"mean(n) > 2\",\n"
                                "      \"value\": 1.5,\n"
                                "      \"pass\": false\n"
                                "    }\n"
                                "  ]\n"
                                "}\n");
    strbuf_release(&sb);
    crawl_rule_result_release(&rr[0]);
    crawl_rule_result_release(&rr[1]);
    crawl_result_release(&res);
}

static void diff_is(const char *old, const char *new, bool changed, const char *report)
{
    struct strbuf sb = STRBUF_INIT;
    struct err e = ERR_INIT;
    bool ch = !changed;
    assert_int_equal(crawl_schema_diff(old, new, &sb, &ch, &e), 0);
    assert_string_equal(sb.buf, report);
    assert_int_equal(ch, changed);
    strbuf_release(&sb);
}

#define COL(n, t) "{\"name\": \"" n "\", \"type\": \"" t "\", \"nulls\": 0}"

static void test_schema_diff(void **state)
{
    (void)state;
    const char *base = "{\"rows\": 5, \"columns\": [" COL("id", "integer") ", " COL(
        "x", "string") ", " COL("y", "integer") "]}";
    diff_is(base, base, false, "");
    /* statistics and order do not count */
    diff_is(base,
            "{\"rows\": 9, \"columns\": [" COL("y", "integer") ", " COL(
                "id", "integer") ", "
                                 "{\"name\": \"x\", \"type\": \"string\", \"nulls\": 7}]}",
            false, "");
    diff_is(base,
            "{\"rows\": 5, \"columns\": [" COL("id", "integer") ", " COL("x", "string") ", " COL(
                "y", "integer") ", " COL("age", "integer") "]}",
            true, "column 'age' added (integer)\n");
    diff_is(base, "{\"rows\": 5, \"columns\": [" COL("id", "integer") ", " COL("y", "integer") "]}",
            true, "column 'x' removed\n");
    diff_is(base,
            "{\"rows\": 5, \"columns\": [" COL("id", "integer") ", " COL("x", "string") ", " COL(
                "y", "float") "]}",
            true, "column 'y' type integer -> float\n");
    diff_is(base,
            "{\"rows\": 5, \"columns\": [" COL("b", "boolean") ", " COL("y", "string") ", " COL(
                "id", "integer") ", " COL("a", "float") "]}",
            true,
            "column 'x' removed\n"
            "column 'y' type integer -> string\n"
            "column 'b' added (boolean)\n"
            "column 'a' added (float)\n");
}

static void test_schema_diff_of_crawls(void **state)
{
    (void)state;
    struct crawl_result a, b;
    crawl_ok("t.csv", "id,v\n1,2\n", &a);
    crawl_ok("t.csv", "id,v,w\n1,2.5,x\n", &b);
    struct strbuf ja = STRBUF_INIT, jb = STRBUF_INIT;
    crawl_schema_json(&a, NULL, 0, &ja);
    crawl_schema_json(&b, NULL, 0, &jb);
    diff_is(ja.buf, jb.buf, true, "column 'v' type integer -> float\ncolumn 'w' added (string)\n");
    diff_is(jb.buf, ja.buf, true, "column 'v' type float -> integer\ncolumn 'w' removed\n");
    strbuf_release(&ja);
    strbuf_release(&jb);
    crawl_result_release(&a);
    crawl_result_release(&b);
}

static void test_schema_diff_errors(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    struct err e = ERR_INIT;
    bool ch;
    const char *ok = "{\"columns\": []}";
    assert_int_equal(crawl_schema_diff("{", ok, &sb, &ch, &e), -1);
    assert_string_equal(e.msg, "old schema: invalid JSON at line 1: string or '}' expected near "
                               "end of file");
    err_clear(&e);
    assert_int_equal(crawl_schema_diff(ok, "{\"rows\": 1}", &sb, &ch, &e), -1);
    assert_string_equal(e.msg, "new schema: no 'columns' array");
    err_clear(&e);
    assert_int_equal(crawl_schema_diff(ok, "{\"columns\": [{\"name\": \"a\"}]}", &sb, &ch, &e), -1);
    assert_string_equal(e.msg, "new schema: column 1 has no name or type");
    assert_int_equal(sb.len, 0);
    strbuf_release(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_each_kind),
        cmocka_unit_test(test_rules_compound),
        cmocka_unit_test(test_rules_measured),
        cmocka_unit_test(test_rules_quoted_columns),
        cmocka_unit_test(test_rules_errors),
        cmocka_unit_test(test_rule_syntax),
        cmocka_unit_test(test_schema_json),
        cmocka_unit_test(test_schema_diff),
        cmocka_unit_test(test_schema_diff_of_crawls),
        cmocka_unit_test(test_schema_diff_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
