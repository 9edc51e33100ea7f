/* Tests for the expression language: parsing and precedence, syntax errors with their offsets,
 * type checking against a scope, evaluation (short circuit, missing metrics), value text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/expr.h"
#include "util/strbuf.h"

/* ---- helpers ---- */

static struct expr *parse(const char *s)
{
    int off = -1;
    char msg[256];
    struct expr *e = expr_parse(s, strlen(s), &off, msg, sizeof(msg));
    if (!e)
        fail_msg("parse of '%s' failed at %d: %s", s, off, msg);
    return e;
}

/* The tree in fully parenthesised prefix form, to pin structure and precedence. */
static void show(struct strbuf *sb, const struct expr *e)
{
    static const char *ops[] = {
        [EXPR_NOT] = "!",  [EXPR_AND] = "&&", [EXPR_OR] = "||", [EXPR_EQ] = "==",
        [EXPR_NE] = "!=",  [EXPR_LT] = "<",   [EXPR_LE] = "<=", [EXPR_GT] = ">",
        [EXPR_GE] = ">=",  [EXPR_ADD] = "+",  [EXPR_SUB] = "-", [EXPR_MUL] = "*",
        [EXPR_DIV] = "/",  [EXPR_MIN] = "min", [EXPR_MAX] = "max", [EXPR_NEG] = "neg",
        [EXPR_ABS] = "abs",
    };
    switch (e->op) {
    case EXPR_NUMBER:
        strbuf_addf(sb, "%g", e->num + 0.0); /* -0 reads as 0, as in a template */
        break;
    case EXPR_STRING:
        strbuf_addf(sb, "\"%s\"", e->str);
        break;
    case EXPR_BOOL:
        strbuf_addstr(sb, e->b ? "true" : "false");
        break;
    case EXPR_PARAM:
        strbuf_addf(sb, "param:%s", e->name);
        break;
    case EXPR_RUN_ID:
        strbuf_addstr(sb, "run.id");
        break;
    case EXPR_STEP_METRIC:
        strbuf_addf(sb, "metric:%s:%s", e->step, e->name);
        break;
    case EXPR_STEP_STATUS:
        strbuf_addf(sb, "status:%s", e->step);
        break;
    case EXPR_NOT:
    case EXPR_NEG:
    case EXPR_ABS:
        strbuf_addf(sb, "(%s ", ops[e->op]);
        show(sb, e->lhs);
        strbuf_addch(sb, ')');
        break;
    default:
        strbuf_addf(sb, "(%s ", ops[e->op]);
        show(sb, e->lhs);
        strbuf_addch(sb, ' ');
        show(sb, e->rhs);
        strbuf_addch(sb, ')');
        break;
    }
}

static void assert_tree(const char *src, const char *want)
{
    struct expr *e = parse(src);
    struct strbuf sb = STRBUF_INIT;
    show(&sb, e);
    assert_string_equal(sb.buf, want);
    strbuf_release(&sb);
    expr_free(e);
}

/* e rendered without a run (returned, caller frees) parses back to the same tree. */
static char *render_round_trip(const struct expr *e)
{
    char *text = expr_render(e, NULL);
    struct strbuf a = STRBUF_INIT, b = STRBUF_INIT;
    struct expr *back = parse(text);
    show(&a, e);
    show(&b, back);
    assert_string_equal(b.buf, a.buf);
    strbuf_release(&a);
    strbuf_release(&b);
    expr_free(back);
    return text;
}

static void assert_syntax_error(const char *src, int want_off, const char *want_msg)
{
    int off = -1;
    char msg[256] = "";
    struct expr *e = expr_parse(src, strlen(src), &off, msg, sizeof(msg));
    if (e) {
        expr_free(e);
        fail_msg("'%s' parsed, expected error '%s'", src, want_msg);
    }
    assert_string_equal(msg, want_msg);
    assert_int_equal(off, want_off);
}

/* The scope of a small pipeline: params max_depth (number), name (string), verbose (bool),
 * steps train and evaluate. */
static bool scope_param(void *data, const char *name, enum expr_type *type)
{
    (void)data;
    if (!strcmp(name, "max_depth") || !strcmp(name, "min_f1"))
        *type = TYPE_NUMBER;
    else if (!strcmp(name, "name"))
        *type = TYPE_STRING;
    else if (!strcmp(name, "verbose"))
        *type = TYPE_BOOL;
    else
        return false;
    return true;
}

static bool scope_step(void *data, const char *step)
{
    (void)data;
    return !strcmp(step, "train") || !strcmp(step, "evaluate");
}

static const struct expr_scope scope = {NULL, scope_param, scope_step};

static void assert_type(const char *src, enum expr_type want)
{
    struct expr *e = parse(src);
    enum expr_type t;
    int off = -1;
    char msg[256] = "";
    int rc = expr_check(e, &scope, &t, &off, msg, sizeof(msg));
    expr_free(e);
    if (rc < 0)
        fail_msg("check of '%s' failed: %s", src, msg);
    assert_int_equal(t, want);
}

static void assert_type_error(const char *src, int want_off, const char *want_msg)
{
    struct expr *e = parse(src);
    enum expr_type t;
    int off = -1;
    char msg[256] = "";
    int rc = expr_check(e, &scope, &t, &off, msg, sizeof(msg));
    expr_free(e);
    assert_int_equal(rc, -1);
    assert_string_equal(msg, want_msg);
    assert_int_equal(off, want_off);
}

/* A run: train has metrics loss = 0.3, evaluate has f1 = 0.93 and nothing else. Counts the
 * metric look-ups so that short circuits can be seen. */
struct run {
    int metric_calls;
    char *name_param; /* value of params.name */
};

static int env_param(void *data, const char *name, struct value *out)
{
    struct run *r = data;
    memset(out, 0, sizeof(*out));
    if (!strcmp(name, "max_depth")) {
        out->type = TYPE_NUMBER;
        out->num = 6;
    } else if (!strcmp(name, "min_f1")) {
        out->type = TYPE_NUMBER;
        out->num = 0.9;
    } else if (!strcmp(name, "name")) {
        out->type = TYPE_STRING;
        out->str = r->name_param;
    } else if (!strcmp(name, "verbose")) {
        out->type = TYPE_BOOL;
        out->b = true;
    } else {
        return -1;
    }
    return 0;
}

static int env_metric(void *data, const char *step, const char *metric, double *out)
{
    struct run *r = data;
    r->metric_calls++;
    if (!strcmp(step, "evaluate") && !strcmp(metric, "f1")) {
        *out = 0.93;
        return 0;
    }
    if (!strcmp(step, "train") && !strcmp(metric, "loss")) {
        *out = 0.3;
        return 0;
    }
    return -1;
}

static int env_status(void *data, const char *step, const char **out)
{
    (void)data;
    if (!strcmp(step, "train")) {
        *out = "succeeded";
        return 0;
    }
    return -1;
}

static int eval_str(const char *src, struct run *r, struct value *v, char *msg, size_t msgsz)
{
    struct expr_env env = {r, env_param, env_metric, env_status, 42};
    struct expr *e = parse(src);
    int rc = expr_eval(e, &env, v, msg, msgsz);
    expr_free(e);
    return rc;
}

/* Evaluate src, which must succeed with a value of type want. */
static struct value eval_ok(const char *src, enum expr_type want)
{
    struct run r = {0, "tumour"};
    struct value v;
    char msg[256] = "";
    if (eval_str(src, &r, &v, msg, sizeof(msg)) < 0)
        fail_msg("eval of '%s' failed: %s", src, msg);
    assert_int_equal(v.type, want);
    return v;
}

static bool eval_bool(const char *src)
{
    struct value v = eval_ok(src, TYPE_BOOL);
    value_release(&v);
    return v.b;
}

static void assert_num_text(double x, const char *want)
{
    struct value v = {TYPE_NUMBER, x, false, NULL};
    char *s = value_to_string(&v);
    assert_string_equal(s, want);
    assert_true(strtod(s, NULL) == x);
    free(s);
}

/* ---- parsing ---- */

static void test_parse_literals(void **state)
{
    (void)state;
    assert_tree("42", "42");
    assert_tree("-1.5", "-1.5");
    assert_tree("+2", "2");
    assert_tree("1e3", "1000");
    assert_tree("2.5E-1", "0.25");
    assert_tree(".5", "0.5");
    assert_tree("true", "true");
    assert_tree("false", "false");
    assert_tree("'single'", "\"single\"");
    assert_tree("\"dou\\\"ble\"", "\"dou\"ble\"");
    assert_tree("'it\\'s'", "\"it's\"");
    assert_tree("  \t7\n ", "7");
}

static void test_parse_escapes(void **state)
{
    (void)state;
    struct expr *e = parse("'a\\nb\\tc\\\\d'");
    assert_int_equal(e->op, EXPR_STRING);
    assert_string_equal(e->str, "a\nb\tc\\d");
    expr_free(e);
}

static void test_parse_refs(void **state)
{
    (void)state;
    assert_tree("params.max_depth", "param:max_depth");
    assert_tree("params.test-size", "param:test-size");
    assert_tree("run.id", "run.id");
    assert_tree("steps.evaluate.metrics.f1", "metric:evaluate:f1");
    assert_tree("steps.my-step_2.metrics.val_loss", "metric:my-step_2:val_loss");
    assert_tree("steps.train.status", "status:train");
    /* step names may start with a digit; the first name of a path may not */
    assert_tree("steps.3d.status", "status:3d");
    assert_tree("steps.2nd-pass.metrics.f1", "metric:2nd-pass:f1");
}

static void test_parse_precedence(void **state)
{
    (void)state;
    /* && binds tighter than ||, both associate to the left */
    assert_tree("true || false && false", "(|| true (&& false false))");
    assert_tree("true && false || true", "(|| (&& true false) true)");
    assert_tree("true && true && false", "(&& (&& true true) false)");
    assert_tree("true || true || false", "(|| (|| true true) false)");
    /* ! binds tighter than &&, comparisons tighter than ! */
    assert_tree("!true && false", "(&& (! true) false)");
    assert_tree("!!true", "(! (! true))");
    assert_tree("!(1 < 2)", "(! (< 1 2))");
    assert_tree("1 < 2 && 3 >= 4 || 5 == 6", "(|| (&& (< 1 2) (>= 3 4)) (== 5 6))");
    assert_tree("(true || false) && false", "(&& (|| true false) false)");
    assert_tree("steps.evaluate.metrics.f1 >= params.min_f1",
                "(>= metric:evaluate:f1 param:min_f1)");
    assert_tree("1 != 2", "(!= 1 2)");
    assert_tree("1<=2", "(<= 1 2)");
    assert_tree("1>2", "(> 1 2)");
    assert_tree("((((1))))", "1");
}

static void test_parse_arithmetic(void **state)
{
    (void)state;
    /* unary minus > * / > + - > comparisons > ! > && > ||, each level left-associative */
    assert_tree("1 + 2 * 3", "(+ 1 (* 2 3))");
    assert_tree("1 * 2 + 3", "(+ (* 1 2) 3)");
    assert_tree("1 - 2 - 3", "(- (- 1 2) 3)");
    assert_tree("8 / 4 / 2", "(/ (/ 8 4) 2)");
    assert_tree("8 / 4 * 2", "(* (/ 8 4) 2)");
    assert_tree("(1 + 2) * 3", "(* (+ 1 2) 3)");
    assert_tree("1-2", "(- 1 2)");
    assert_tree("1 +2", "(+ 1 2)");
    assert_tree("2*-3", "(* 2 -3)");
    assert_tree("-params.max_depth * 2", "(* (neg param:max_depth) 2)");
    assert_tree("-(1 + 2)", "(neg (+ 1 2))");
    assert_tree("- -1", "1");
    assert_tree("--params.max_depth", "(neg (neg param:max_depth))");
    assert_tree("steps.evaluate.metrics.f1 > params.min_f1 + 0.01",
                "(> metric:evaluate:f1 (+ param:min_f1 0.01))");
    assert_tree("!1 + 2 < 3", "(! (< (+ 1 2) 3))");
    assert_tree("1 < 2 || 3 + 4 == 7 && true", "(|| (< 1 2) (&& (== (+ 3 4) 7) true))");
    /* a '-' inside a name is part of it; with blanks it subtracts */
    assert_tree("steps.a-b.metrics.f1 - 1", "(- metric:a-b:f1 1)");
}

static void test_parse_functions(void **state)
{
    (void)state;
    assert_tree("min(1, 2)", "(min 1 2)");
    assert_tree("max(1, 2, 3)", "(max (max 1 2) 3)");
    assert_tree("abs(-2)", "(abs -2)");
    assert_tree("abs (params.max_depth - 8)", "(abs (- param:max_depth 8))");
    assert_tree("min(1 < 2 || false, 3)", "(min (|| (< 1 2) false) 3)");
    assert_tree("1 + max(2, 3) * 2", "(+ 1 (* (max 2 3) 2))");

    /* min(a, b, c) is a chain of one call's arguments; min(min(a, b), c) is two calls */
    struct expr *e = parse("min(1, 2, 3, 4)");
    assert_true(e->more_args && e->lhs->more_args && !e->lhs->lhs->more_args);
    assert_int_equal(e->offset, 0);
    expr_free(e);
    e = parse("min(min(1, 2), 3)");
    assert_false(e->more_args);
    assert_false(e->lhs->more_args);
    expr_free(e);
    e = parse("1 + -abs(2)");
    assert_int_equal(e->rhs->offset, 4); /* the '-' */
    assert_int_equal(e->rhs->lhs->offset, 5);
    expr_free(e);

    assert_syntax_error("min(1)", 0, "function 'min' needs at least 2 arguments");
    assert_syntax_error("max()", 0, "function 'max' needs at least 2 arguments");
    assert_syntax_error("abs()", 0, "function 'abs' takes 1 argument");
    assert_syntax_error("abs(1, 2)", 7, "function 'abs' takes 1 argument");
    assert_syntax_error("round(1.5)", 0, "unknown function 'round' (functions: min, max, abs)");
    assert_syntax_error("1 < min", 4, "function 'min' needs its arguments in parentheses");
    assert_syntax_error("min(1 2)", 6, "expected ',' or ')' after an argument of 'min', found '2'");
    assert_syntax_error("min(1, 2", 8, "expected ')' to end the arguments of 'min'");
    assert_syntax_error("min(1,)", 6, "unexpected ')'");
    assert_syntax_error("params.min(1)", 10, "unexpected '('");
}

static void test_parse_offsets(void **state)
{
    (void)state;
    struct expr *e = parse("  params.x >= 1 && !true");
    assert_int_equal(e->op, EXPR_AND);
    assert_int_equal(e->offset, 16); /* an operator node sits at its operator */
    assert_int_equal(e->lhs->offset, 11);
    assert_int_equal(e->lhs->lhs->offset, 2);
    assert_int_equal(e->lhs->rhs->offset, 14);
    assert_int_equal(e->rhs->offset, 19);
    assert_int_equal(e->rhs->lhs->offset, 20);
    expr_free(e);
}

static void test_parse_len_bounds_the_text(void **state)
{
    (void)state;
    /* the text need not be NUL-terminated: only src[0..len) counts */
    const char *s = "1 < 2 }} trailing";
    int off;
    char msg[128];
    struct expr *e = expr_parse(s, 5, &off, msg, sizeof(msg));
    assert_non_null(e);
    assert_int_equal(e->op, EXPR_LT);
    expr_free(e);
    char quote[] = {'"', 'a', 'b'};
    assert_null(expr_parse(quote, sizeof(quote), &off, msg, sizeof(msg)));
    assert_string_equal(msg, "unterminated string");
}

static void test_syntax_errors(void **state)
{
    (void)state;
    assert_syntax_error("", 0, "empty expression");
    assert_syntax_error("   ", 3, "empty expression");
    assert_syntax_error("1 +", 3, "unexpected end of expression");
    assert_syntax_error("1 * * 2", 4, "unexpected '*'");
    assert_syntax_error("+params.x", 0, "unexpected '+'");
    assert_syntax_error("1 2", 2, "unexpected '2'");
    assert_syntax_error("1 < 2 x", 6, "unexpected 'x'");
    assert_syntax_error("1 < 2 3", 6, "unexpected '3'");
    assert_syntax_error("'abc", 0, "unterminated string");
    assert_syntax_error("x == \"abc", 0, "unknown reference 'x'");
    assert_syntax_error("1 == \"abc", 5, "unterminated string");
    assert_syntax_error("'a\\", 0, "unterminated string");
    assert_syntax_error("'a\\qb'", 2, "unknown escape '\\q'");
    assert_syntax_error("(1 < 2", 6, "expected ')'");
    assert_syntax_error("(1 < 2 true", 7, "expected ')', found 'true'");
    assert_syntax_error("(1 < 2))", 7, "unexpected ')'");
    assert_syntax_error("()", 1, "unexpected ')'");
    assert_syntax_error("foo.bar", 0, "unknown reference 'foo.bar'");
    assert_syntax_error("1 < foo", 4, "unknown reference 'foo'");
    assert_syntax_error("params", 0, "unknown reference 'params'");
    assert_syntax_error("params.a.b", 0, "unknown reference 'params.a.b'");
    assert_syntax_error("steps.train.metric.f1", 0, "unknown reference 'steps.train.metric.f1'");
    assert_syntax_error("steps.train.metrics.f1.x", 0,
                        "unknown reference 'steps.train.metrics.f1.x'");
    assert_syntax_error("run.number", 0, "unknown reference 'run.number'");
    assert_syntax_error("True", 0, "unknown reference 'True'");
    assert_syntax_error("params.", 7, "expected a name after 'params.'");
    assert_syntax_error("params. x", 7, "unexpected ' '");
    assert_syntax_error("params.1", 7, "unexpected '1'");
    assert_syntax_error("1 <", 3, "unexpected end of expression");
    assert_syntax_error("true &&", 7, "unexpected end of expression");
    assert_syntax_error("!", 1, "unexpected end of expression");
    assert_syntax_error("a = b", 0, "unknown reference 'a'");
    assert_syntax_error("1 = 1", 2, "unexpected '=' (use '==' to compare)");
    assert_syntax_error("true & false", 5, "unexpected '&'");
    assert_syntax_error("true | false", 5, "unexpected '|'");
    assert_syntax_error("1 < 2 < 3", 6, "comparisons cannot be chained; join them with '&&'");
    assert_syntax_error("1x", 0, "invalid number '1x'");
    assert_syntax_error("1.", 0, "invalid number '1.'");
    assert_syntax_error("1e", 0, "invalid number '1e'");
    assert_syntax_error("1.2.3", 0, "invalid number '1.2.3'");
    assert_syntax_error("1e999", 0, "number '1e999' is out of range");
    assert_syntax_error("1, 2", 1, "unexpected ','");
    assert_syntax_error("1 @ 2", 2, "unexpected '@'");
    assert_syntax_error("1 \x01", 2, "unexpected '\\x01'");
    assert_syntax_error("\xc3\xa9", 0, "unexpected '\\xc3'");
}

static void test_syntax_error_nul_byte(void **state)
{
    (void)state;
    int off = -1;
    char msg[128];
    assert_null(expr_parse("1 \0 2", 5, &off, msg, sizeof(msg)));
    assert_string_equal(msg, "unexpected '\\x00'");
    assert_int_equal(off, 2);
    assert_null(expr_parse("'a\0b'", 5, &off, msg, sizeof(msg)));
    assert_string_equal(msg, "unexpected '\\x00'");
    assert_int_equal(off, 2);
}

static void test_syntax_error_quotes_are_bounded(void **state)
{
    (void)state;
    char src[300];
    memset(src, 'a', sizeof(src) - 1);
    src[sizeof(src) - 1] = '\0';
    int off;
    char msg[256];
    assert_null(expr_parse(src, strlen(src), &off, msg, sizeof(msg)));
    assert_string_equal(msg, "unknown reference 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
    /* a tiny message buffer is truncated, not overrun */
    char tiny[8];
    assert_null(expr_parse(src, strlen(src), &off, tiny, sizeof(tiny)));
    assert_string_equal(tiny, "unknown");
    /* and no buffer at all is fine */
    assert_null(expr_parse(src, strlen(src), NULL, NULL, 0));
}

static void test_nesting_is_capped(void **state)
{
    (void)state;
    int off;
    char msg[128];
    struct strbuf sb = STRBUF_INIT;

    /* parentheses: 150 deep is fine, 100000 deep is refused without blowing the stack */
    for (int i = 0; i < 150; i++)
        strbuf_addch(&sb, '(');
    strbuf_addstr(&sb, "true");
    for (int i = 0; i < 150; i++)
        strbuf_addch(&sb, ')');
    struct expr *e = expr_parse(sb.buf, sb.len, &off, msg, sizeof(msg));
    assert_non_null(e);
    expr_free(e);
    strbuf_reset(&sb);
    for (int i = 0; i < 100000; i++)
        strbuf_addch(&sb, '(');
    assert_null(expr_parse(sb.buf, sb.len, &off, msg, sizeof(msg)));
    assert_string_equal(msg, "expression nests too deeply");
    assert_int_equal(off, 200);

    /* negations */
    strbuf_reset(&sb);
    for (int i = 0; i < 100000; i++)
        strbuf_addch(&sb, '!');
    strbuf_addstr(&sb, "true");
    assert_null(expr_parse(sb.buf, sb.len, &off, msg, sizeof(msg)));
    assert_string_equal(msg, "expression nests too deeply");

    /* a long chain builds a deep tree without deep parser recursion: capped too, so that
     * check, eval and free stay shallow */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "true");
    for (int i = 0; i < 100000; i++)
        strbuf_addstr(&sb, "&&true");
    assert_null(expr_parse(sb.buf, sb.len, &off, msg, sizeof(msg)));
    assert_string_equal(msg, "expression nests too deeply");

    /* a chain of 100 is an ordinary expression */
    strbuf_reset(&sb);
    strbuf_addstr(&sb, "true");
    for (int i = 0; i < 99; i++)
        strbuf_addstr(&sb, " && true");
    e = expr_parse(sb.buf, sb.len, &off, msg, sizeof(msg));
    assert_non_null(e);
    assert_true(eval_bool(sb.buf));
    expr_free(e);
    strbuf_release(&sb);
}

static void test_parse_garbage_never_crashes(void **state)
{
    (void)state;
    /* a cheap in-test fuzz: random sequences of the language's pieces and stray bytes */
    static const char *const pieces[] = {
        "(", ")", "!", "&&", "||", "==", "!=", "<", ">=", "1", "-2.5e3", "'a'", "\"b\\\"\"",
        "true", "false", "params.max_depth", "params.name", "params.nope", "run.id",
        "steps.train.status", "steps.evaluate.metrics.f1", "steps.evaluate.metrics.x", " ",
        "'", "\\", ".", "=", "&", "x", "\x01", "+", "-", "*", "/", "min(", "max(", "abs(", ",",
        "0",
    };
    const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
    unsigned seed = 12345;
    struct strbuf sb = STRBUF_INIT;
    int parsed = 0, checked = 0;
    for (int round = 0; round < 20000; round++) {
        strbuf_reset(&sb);
        seed = seed * 1103515245u + 12345u;
        int n = (int)((seed >> 16) % 8);
        for (int i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            strbuf_addstr(&sb, pieces[(seed >> 16) % npieces]);
        }
        int off = -1;
        char msg[128] = "";
        struct expr *e = expr_parse(sb.buf, sb.len, &off, msg, sizeof(msg));
        if (e) {
            parsed++;
            /* the text for messages parses back to the same tree (a control byte in a
             * string reads \xNN there, which the language has no escape for) */
            if (!strchr(sb.buf, '\x01'))
                free(render_round_trip(e));
            enum expr_type t;
            if (expr_check(e, &scope, &t, &off, msg, sizeof(msg)) == 0) {
                checked++;
                struct run r = {0, "x"};
                struct expr_env env = {&r, env_param, env_metric, env_status, 1};
                struct value v;
                if (expr_eval(e, &env, &v, msg, sizeof(msg)) == 0) {
                    assert_int_equal(v.type, t);
                    value_release(&v);
                }
            }
            expr_free(e);
        } else {
            assert_true(off >= 0 && (size_t)off <= sb.len);
            assert_true(msg[0] != '\0');
        }
    }
    strbuf_release(&sb);
    assert_true(parsed > 100);
    assert_true(checked > 100);
}

/* ---- type checking ---- */

static void test_check_types(void **state)
{
    (void)state;
    assert_type("1", TYPE_NUMBER);
    assert_type("'x'", TYPE_STRING);
    assert_type("true", TYPE_BOOL);
    assert_type("params.max_depth", TYPE_NUMBER);
    assert_type("params.name", TYPE_STRING);
    assert_type("params.verbose", TYPE_BOOL);
    assert_type("run.id", TYPE_NUMBER);
    assert_type("steps.evaluate.metrics.f1", TYPE_NUMBER);
    assert_type("steps.train.status", TYPE_STRING);
    assert_type("steps.evaluate.metrics.f1 >= params.min_f1", TYPE_BOOL);
    assert_type("steps.train.status == 'succeeded'", TYPE_BOOL);
    assert_type("params.name < 'm'", TYPE_BOOL);
    assert_type("params.verbose == true", TYPE_BOOL);
    assert_type("!params.verbose || run.id != 3", TYPE_BOOL);
}

static void test_check_errors(void **state)
{
    (void)state;
    assert_type_error("params.max_dpth", 0, "unknown parameter 'max_dpth'");
    assert_type_error("1 < 2 && params.x > 1", 9, "unknown parameter 'x'");
    assert_type_error("steps.trian.status", 0, "unknown step 'trian'");
    assert_type_error("true || steps.nope.metrics.f1 > 0", 8, "unknown step 'nope'");
    assert_type_error("1 && true", 2, "operator '&&' needs booleans, got number and boolean");
    assert_type_error("true || 'x'", 5, "operator '||' needs booleans, got boolean and string");
    assert_type_error("!1", 0, "operator '!' needs a boolean, got number");
    assert_type_error("params.name < 3", 12, "operator '<' needs numbers, got string and number");
    assert_type_error("true >= false", 5, "operator '>=' needs numbers, got boolean and boolean");
    assert_type_error("params.max_depth == '6'", 17,
                      "operator '==' needs operands of the same type, got number and string");
    assert_type_error("steps.train.status != 0", 19,
                      "operator '!=' needs operands of the same type, got string and number");
    /* the first error in reading order wins */
    assert_type_error("params.a == params.b", 0, "unknown parameter 'a'");
}

static void test_check_arithmetic(void **state)
{
    (void)state;
    assert_type("1 + 2", TYPE_NUMBER);
    assert_type("-params.max_depth", TYPE_NUMBER);
    assert_type("min(1, 2) < 3", TYPE_BOOL);
    assert_type("abs(steps.evaluate.metrics.f1 - params.min_f1) <= 0.1", TYPE_BOOL);
    assert_type("run.id / 2 * max(1, run.id)", TYPE_NUMBER);
    /* at the operator, or at the function's name */
    assert_type_error("'a' + 1", 4, "operator '+' needs numbers, got string and number");
    assert_type_error("1 - true", 2, "operator '-' needs numbers, got number and boolean");
    assert_type_error("params.name * 2", 12, "operator '*' needs numbers, got string and number");
    assert_type_error("1 / params.verbose", 2,
                      "operator '/' needs numbers, got number and boolean");
    assert_type_error("-'a'", 0, "operator '-' needs a number, got string");
    assert_type_error("abs(params.name)", 0, "function 'abs' needs a number, got string");
    assert_type_error("min(1, 'x')", 0, "function 'min' needs numbers, got number and string");
    assert_type_error("2 * max(1, 2, true)", 4,
                      "function 'max' needs numbers, got number and boolean");
    assert_type_error("1 + 2 && true", 6, "operator '&&' needs booleans, got number and boolean");
    assert_type_error("1 + params.nope", 4, "unknown parameter 'nope'");
}

static void test_check_without_scope(void **state)
{
    (void)state;
    struct expr *e = parse("params.x");
    enum expr_type t;
    int off;
    char msg[128];
    assert_int_equal(expr_check(e, NULL, &t, &off, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "unknown parameter 'x'");
    expr_free(e);
    e = parse("1 < 2");
    assert_int_equal(expr_check(e, NULL, &t, &off, msg, sizeof(msg)), 0);
    assert_int_equal(t, TYPE_BOOL);
    expr_free(e);
}

static void collect(void *data, const char *step)
{
    struct strbuf *sb = data;
    strbuf_addf(sb, "%s;", step);
}

static void test_each_step(void **state)
{
    (void)state;
    struct expr *e = parse("steps.a.status == 'x' && (steps.b.metrics.m > params.p || "
                           "!(steps.a.metrics.n < run.id))");
    struct strbuf sb = STRBUF_INIT;
    expr_each_step(e, collect, &sb);
    assert_string_equal(sb.buf, "a;b;a;");
    strbuf_release(&sb);
    expr_free(e);
    e = parse("1 < 2");
    expr_each_step(e, collect, &sb);
    assert_string_equal(sb.buf, "");
    expr_free(e);
}

/* ---- evaluation ---- */

static void test_eval_comparisons(void **state)
{
    (void)state;
    assert_true(eval_bool("steps.evaluate.metrics.f1 >= params.min_f1"));
    assert_false(eval_bool("steps.evaluate.metrics.f1 < params.min_f1"));
    assert_true(eval_bool("params.max_depth == 6"));
    assert_true(eval_bool("params.max_depth != 6.5"));
    assert_true(eval_bool("params.max_depth <= 6"));
    assert_false(eval_bool("params.max_depth > 6"));
    assert_true(eval_bool("run.id == 42"));
    assert_true(eval_bool("params.name == 'tumour'"));
    assert_true(eval_bool("params.name != \"tumor\""));
    assert_true(eval_bool("'abc' < 'abd'"));
    assert_true(eval_bool("'b' > 'abc'"));
    assert_true(eval_bool("'a' <= 'a'"));
    assert_true(eval_bool("steps.train.status == 'succeeded'"));
    assert_true(eval_bool("true == params.verbose"));
    assert_true(eval_bool("false != true"));
}

static void test_eval_logic(void **state)
{
    (void)state;
    assert_true(eval_bool("true && true"));
    assert_false(eval_bool("true && false"));
    assert_true(eval_bool("false || true"));
    assert_false(eval_bool("false || false"));
    assert_true(eval_bool("!false"));
    assert_false(eval_bool("!!false"));
    assert_true(eval_bool("true || false && false"));
    assert_false(eval_bool("(true || false) && false"));
}

static double eval_num(const char *src)
{
    struct value v = eval_ok(src, TYPE_NUMBER);
    value_release(&v);
    return v.num;
}

static void assert_eval_error(const char *src, const char *want_msg)
{
    struct run r = {0, "tumour"};
    struct value v;
    char msg[256] = "";
    assert_int_equal(eval_str(src, &r, &v, msg, sizeof(msg)), -1);
    assert_string_equal(msg, want_msg);
}

static void test_eval_arithmetic(void **state)
{
    (void)state;
    assert_true(eval_num("1 + 2 * 3") == 7);
    assert_true(eval_num("(1 + 2) * 3") == 9);
    assert_true(eval_num("10 - 4 - 3") == 3);
    assert_true(eval_num("8 / 4 / 2") == 1);
    assert_true(eval_num("7 / 2") == 3.5);
    assert_true(eval_num("-params.max_depth + 1") == -5);
    assert_true(eval_num("- -params.max_depth") == 6);
    assert_true(eval_num("abs(-2.5)") == 2.5);
    assert_true(eval_num("abs(params.max_depth - 10)") == 4);
    assert_true(eval_num("min(3, 1, 2)") == 1);
    assert_true(eval_num("max(3, 1, 2)") == 3);
    assert_true(eval_num("max(run.id, params.max_depth) / 2") == 21);
    assert_true(eval_bool("steps.evaluate.metrics.f1 > params.min_f1 + 0.02"));
    assert_false(eval_bool("steps.evaluate.metrics.f1 > params.min_f1 + 0.05"));
    assert_true(eval_bool("abs(steps.evaluate.metrics.f1 - 0.9) < 0.05"));
}

static void test_eval_division_by_zero(void **state)
{
    (void)state;
    assert_eval_error("params.max_depth / (run.id - 42)",
                      "division by zero in 'params.max_depth / (run.id - 42)' (6 / (42 - 42))");
    assert_eval_error("1 / 0", "division by zero in '1 / 0'");
    assert_eval_error("0 / 0", "division by zero in '0 / 0'");
    assert_eval_error("true && 1 / (params.max_depth - 6) > 0",
                      "division by zero in '1 / (params.max_depth - 6)' (1 / (6 - 6))");
    /* short circuit: a division never reached is no error */
    assert_false(eval_bool("false && 1 / 0 > 0"));
}

static void test_eval_short_circuit(void **state)
{
    (void)state;
    struct run r = {0, "x"};
    struct value v;
    char msg[256] = "";
    /* the right side names a metric that does not exist: never looked up */
    assert_int_equal(eval_str("false && steps.evaluate.metrics.auc > 0", &r, &v, msg,
                              sizeof(msg)), 0);
    assert_false(v.b);
    assert_int_equal(r.metric_calls, 0);
    assert_int_equal(eval_str("true || steps.evaluate.metrics.auc > 0", &r, &v, msg,
                              sizeof(msg)), 0);
    assert_true(v.b);
    assert_int_equal(r.metric_calls, 0);
    /* but it is when the left side does not decide */
    assert_int_equal(eval_str("true && steps.evaluate.metrics.f1 > 0", &r, &v, msg,
                              sizeof(msg)), 0);
    assert_true(v.b);
    assert_int_equal(r.metric_calls, 1);
}

static void test_eval_missing_values(void **state)
{
    (void)state;
    struct run r = {0, "x"};
    struct value v = {TYPE_STRING, 0, false, NULL};
    char msg[256] = "";
    assert_int_equal(eval_str("steps.evaluate.metrics.auc >= 0.5", &r, &v, msg, sizeof(msg)),
                     -1);
    assert_string_equal(msg, "metric 'auc' of step 'evaluate' does not exist");
    assert_null(v.str);
    assert_int_equal(eval_str("true && steps.train.metrics.f1 > 0", &r, &v, msg, sizeof(msg)),
                     -1);
    assert_string_equal(msg, "metric 'f1' of step 'train' does not exist");
    assert_int_equal(eval_str("steps.evaluate.status == 'ok'", &r, &v, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "status of step 'evaluate' is not known");
    assert_int_equal(eval_str("params.ghost == 1", &r, &v, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "parameter 'ghost' has no value");
}

static void test_eval_values(void **state)
{
    (void)state;
    struct run r = {0, NULL};
    struct value v;
    char msg[256];
    /* the env's string is borrowed; the result owns a copy */
    char name[] = "first";
    r.name_param = name;
    assert_int_equal(eval_str("params.name", &r, &v, msg, sizeof(msg)), 0);
    assert_int_equal(v.type, TYPE_STRING);
    name[0] = 'F';
    assert_string_equal(v.str, "first");
    assert_true(v.str != name);
    value_release(&v);
    assert_null(v.str);

    assert_int_equal(eval_str("run.id", &r, &v, msg, sizeof(msg)), 0);
    assert_int_equal(v.type, TYPE_NUMBER);
    assert_true(v.num == 42);
    assert_int_equal(eval_str("steps.evaluate.metrics.f1", &r, &v, msg, sizeof(msg)), 0);
    assert_true(v.num == 0.93);
    assert_int_equal(eval_str("'lit'", &r, &v, msg, sizeof(msg)), 0);
    assert_string_equal(v.str, "lit");
    value_release(&v);
}

/* An env whose value disagrees with the declared type: the evaluator refuses, not crashes. */
static int env_param_wrong(void *data, const char *name, struct value *out)
{
    (void)data;
    (void)name;
    out->type = TYPE_STRING;
    out->num = 0;
    out->b = false;
    out->str = "6";
    return 0;
}

static void test_eval_dynamic_type_error(void **state)
{
    (void)state;
    struct expr_env env = {NULL, env_param_wrong, NULL, NULL, 1};
    struct expr *e = parse("params.max_depth > 3");
    struct value v;
    char msg[256];
    assert_int_equal(expr_eval(e, &env, &v, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "operator '>' needs numbers, got string and number");
    expr_free(e);
    /* and a null callback is a missing value, not a crash */
    e = parse("steps.evaluate.metrics.f1 > 0");
    assert_int_equal(expr_eval(e, &env, &v, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "metric 'f1' of step 'evaluate' does not exist");
    expr_free(e);
}

/* ---- value text ---- */

/* A number param given as "1.10" (as -p lr=1.10 or `lr: 1.10` give it). */
static int env_param_text(void *data, const char *name, struct value *out)
{
    (void)data;
    memset(out, 0, sizeof(*out));
    out->type = TYPE_NUMBER;
    if (!strcmp(name, "lr")) {
        out->num = 1.1;
        out->str = "1.10";
    } else if (!strcmp(name, "id")) {
        out->num = 12345678901234567890.0;
        out->str = "12345678901234567890";
    } else {
        return -1;
    }
    return 0;
}

/* The text src's value substitutes into a template, params as env_param_text gives them. */
static void assert_eval_text(const char *src, const char *want)
{
    struct expr_env env = {NULL, env_param_text, NULL, NULL, 1};
    struct expr *e = parse(src);
    struct value v;
    char msg[256] = "";
    if (expr_eval(e, &env, &v, msg, sizeof(msg)) < 0)
        fail_msg("eval of '%s' failed: %s", src, msg);
    expr_free(e);
    char *s = value_to_string(&v);
    value_release(&v);
    assert_string_equal(s, want);
    free(s);
}

static void test_eval_param_text(void **state)
{
    (void)state;
    /* a param substitutes the text it was given, never its number's shortest form */
    assert_eval_text("params.lr", "1.10");
    assert_eval_text("(params.id)", "12345678901234567890");
    /* used in arithmetic, it is a number */
    assert_eval_text("params.lr * 2", "2.2");
    assert_eval_text("params.lr + 0", "1.1");
    assert_eval_text("-params.lr", "-1.1");
    assert_eval_text("params.lr == 1.1", "true");
}

static void test_value_to_string(void **state)
{
    (void)state;
    assert_num_text(6, "6");
    assert_num_text(-6, "-6");
    assert_num_text(0.25, "0.25");
    assert_num_text(0.1, "0.1");
    assert_num_text(1.0 / 3, "0.3333333333333333");
    assert_num_text(0.1 + 0.2, "0.30000000000000004");
    assert_num_text(1e100, "1e+100");
    assert_num_text(1e-7, "1e-07");
    assert_num_text(123456789012.0, "123456789012");
    assert_num_text(1e15, "1000000000000000");
    assert_num_text(9007199254740991.0, "9007199254740991");
    assert_num_text(1.5, "1.5");
    assert_num_text(-0.0, "0");

    struct value v = {TYPE_BOOL, 0, true, NULL};
    char *s = value_to_string(&v);
    assert_string_equal(s, "true");
    free(s);
    v.b = false;
    s = value_to_string(&v);
    assert_string_equal(s, "false");
    free(s);
    v.type = TYPE_STRING;
    v.str = "a b'c";
    s = value_to_string(&v);
    assert_string_equal(s, "a b'c");
    assert_true(s != v.str);
    free(s);
    v.str = NULL;
    s = value_to_string(&v);
    assert_string_equal(s, "");
    free(s);
    value_release(NULL);
    expr_free(NULL);
}

/* ---- rendering for messages ---- */

/* Rendered without a run, src reads as want and parses back to the same tree. */
static void assert_render(const char *src, const char *want)
{
    struct expr *e = parse(src);
    char *text = render_round_trip(e);
    assert_string_equal(text, want);
    expr_free(e);
    free(text);
}

static void test_render_source(void **state)
{
    (void)state;
    assert_render("steps.evaluate.metrics.f1>=params.min_f1",
                  "steps.evaluate.metrics.f1 >= params.min_f1");
    assert_render("steps.train.status == \"ok\" && run.id != 3",
                  "steps.train.status == 'ok' && run.id != 3");
    assert_render("1 + 2 * 3", "1 + 2 * 3");
    assert_render("(1 + 2) * 3", "(1 + 2) * 3");
    assert_render("1 - (2 - 3)", "1 - (2 - 3)");
    assert_render("(1 - 2) - 3", "1 - 2 - 3");
    assert_render("2 * -3", "2 * -3");
    assert_render("-(1 + params.max_depth)", "-(1 + params.max_depth)");
    assert_render("--params.max_depth", "-(-params.max_depth)");
    assert_render("!(1 < 2)", "!(1 < 2)");
    assert_render("!1 < 2", "!(1 < 2)");
    assert_render("!!true && false", "!!true && false");
    assert_render("!(true && false)", "!(true && false)");
    assert_render("(1 < 2) == true", "(1 < 2) == true");
    assert_render("true == (1 < 2)", "true == (1 < 2)");
    assert_render("true || false && false", "true || false && false");
    assert_render("(true || false) && false", "(true || false) && false");
    assert_render("true && (false && true)", "true && (false && true)");
    assert_render("min(1, 2, 3) + max(min(1, 2), 3)", "min(1, 2, 3) + max(min(1, 2), 3)");
    assert_render("abs(-params.max_depth)", "abs(-params.max_depth)");
    assert_render("0.1 + 1e-7 + 1e20 + +5", "0.1 + 1e-07 + 1e+20 + 5");
    assert_render("'it\\'s' < \"a\\\\b\\n\"", "'it\\'s' < 'a\\\\b\\n'");
}

static void test_render_values(void **state)
{
    (void)state;
    struct run r = {0, "it's"};
    struct expr_env env = {&r, env_param, env_metric, env_status, 42};
    static const struct {
        const char *src, *want;
    } cases[] = {
        {"steps.evaluate.metrics.f1 >= params.min_f1", "0.93 >= 0.9"},
        {"steps.evaluate.metrics.f1 > params.min_f1 + 0.05", "0.93 > 0.9 + 0.05"},
        /* && and ||: the whole expression; a value the run does not have stays a reference */
        {"steps.train.status == 'failed' || steps.evaluate.metrics.auc > 0.5",
         "'succeeded' == 'failed' || steps.evaluate.metrics.auc > 0.5"},
        {"params.name == 'x' && run.id > 3", "'it\\'s' == 'x' && 42 > 3"},
        {"steps.evaluate.status == 'ok'", "steps.evaluate.status == 'ok'"},
        {"!params.verbose", "!true"},
        {"-params.max_depth < -7", "-6 < -7"},
        {"min(params.max_depth, steps.train.metrics.loss) > 1", "min(6, 0.3) > 1"},
        {"params.ghost == 1", "params.ghost == 1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct expr *e = parse(cases[i].src);
        char *text = expr_render(e, &env);
        assert_string_equal(text, cases[i].want);
        free(text);
        expr_free(e);
    }
    /* a negative value under unary minus keeps its own sign readable */
    struct expr_env neg = {NULL, env_param_text, NULL, NULL, -3};
    struct expr *e = parse("-run.id");
    char *text = expr_render(e, &neg);
    assert_string_equal(text, "-(-3)");
    free(text);
    expr_free(e);
    /* a param's value as it was given */
    e = parse("params.lr > 1");
    text = expr_render(e, &neg);
    assert_string_equal(text, "1.10 > 1");
    free(text);
    expr_free(e);
    /* hostile strings: control bytes escaped, long ones cut */
    char long_name[200];
    memset(long_name, 'x', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    long_name[3] = '\x1b';
    r.name_param = long_name;
    e = parse("params.name");
    text = expr_render(e, &env);
    assert_string_equal(text, "'xxx\\x1b"
                              "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'");
    free(text);
    expr_free(e);
    text = expr_render(NULL, &env);
    assert_string_equal(text, "");
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_literals),
        cmocka_unit_test(test_parse_escapes),
        cmocka_unit_test(test_parse_refs),
        cmocka_unit_test(test_parse_precedence),
        cmocka_unit_test(test_parse_arithmetic),
        cmocka_unit_test(test_parse_functions),
        cmocka_unit_test(test_parse_offsets),
        cmocka_unit_test(test_parse_len_bounds_the_text),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_syntax_error_nul_byte),
        cmocka_unit_test(test_syntax_error_quotes_are_bounded),
        cmocka_unit_test(test_nesting_is_capped),
        cmocka_unit_test(test_parse_garbage_never_crashes),
        cmocka_unit_test(test_check_types),
        cmocka_unit_test(test_check_errors),
        cmocka_unit_test(test_check_arithmetic),
        cmocka_unit_test(test_check_without_scope),
        cmocka_unit_test(test_each_step),
        cmocka_unit_test(test_eval_comparisons),
        cmocka_unit_test(test_eval_logic),
        cmocka_unit_test(test_eval_arithmetic),
        cmocka_unit_test(test_eval_division_by_zero),
        cmocka_unit_test(test_eval_short_circuit),
        cmocka_unit_test(test_eval_missing_values),
        cmocka_unit_test(test_eval_values),
        cmocka_unit_test(test_eval_dynamic_type_error),
        cmocka_unit_test(test_render_source),
        cmocka_unit_test(test_render_values),
        cmocka_unit_test(test_eval_param_text),
        cmocka_unit_test(test_value_to_string),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
