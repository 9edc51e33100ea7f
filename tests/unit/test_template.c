/* Tests for templates: splitting into parts, offsets of errors in the whole text, type
 * checking, expansion, and shell quoting proven against a real /bin/sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/spec.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* ---- a pipeline's scope and a run's values ---- */

static bool scope_param(void *data, const char *name, enum expr_type *type)
{
    (void)data;
    if (!strcmp(name, "max_depth") || !strcmp(name, "lr") || !strcmp(name, "id"))
        *type = TYPE_NUMBER;
    else if (!strcmp(name, "v"))
        *type = TYPE_STRING;
    else
        return false;
    return true;
}

static bool scope_step(void *data, const char *step)
{
    (void)data;
    return !strcmp(step, "evaluate");
}

static const struct expr_scope scope = {NULL, scope_param, scope_step};

static const char *param_v; /* the value of params.v for the next expansion */

static int env_param(void *data, const char *name, struct value *out)
{
    (void)data;
    memset(out, 0, sizeof(*out));
    if (!strcmp(name, "max_depth")) {
        out->type = TYPE_NUMBER;
        out->num = 6;
        return 0;
    }
    if (!strcmp(name, "v")) {
        out->type = TYPE_STRING;
        out->str = (char *)param_v;
        return 0;
    }
    /* numbers as the engine gives them: with the text they were given */
    if (!strcmp(name, "lr") || !strcmp(name, "id")) {
        bool lr = !strcmp(name, "lr");
        out->type = TYPE_NUMBER;
        out->num = lr ? 1.1 : 12345678901234567890.0;
        out->str = lr ? "1.10" : "12345678901234567890";
        return 0;
    }
    return -1;
}

static int env_metric(void *data, const char *step, const char *metric, double *out)
{
    (void)data;
    if (!strcmp(step, "evaluate") && !strcmp(metric, "f1")) {
        *out = 0.25;
        return 0;
    }
    return -1;
}

static const struct expr_env env = {NULL, env_param, env_metric, NULL, 17};

static void parse_ok(struct tmpl *t, const char *src)
{
    int off = -1;
    char msg[256] = "";
    memset(t, 0, sizeof(*t));
    if (tmpl_parse(t, src, &off, msg, sizeof(msg)) < 0)
        fail_msg("tmpl_parse('%s') failed at %d: %s", src, off, msg);
}

/* Expand src (shell-quoted or not) and compare. */
static void assert_expands(const char *src, bool quote, const char *want)
{
    struct tmpl t;
    char msg[256] = "";
    parse_ok(&t, src);
    char *s = tmpl_expand(&t, &env, quote, msg, sizeof(msg));
    if (!s)
        fail_msg("tmpl_expand('%s') failed: %s", src, msg);
    assert_string_equal(s, want);
    free(s);
    tmpl_release(&t);
}

static void assert_parse_error(const char *src, int want_off, const char *want_msg)
{
    struct tmpl t;
    int off = -1;
    char msg[256] = "";
    memset(&t, 0, sizeof(t));
    assert_int_equal(tmpl_parse(&t, src, &off, msg, sizeof(msg)), -1);
    assert_string_equal(msg, want_msg);
    assert_int_equal(off, want_off);
    /* a failed parse leaves nothing to free, and releasing again is harmless */
    assert_null(t.src);
    assert_null(t.parts);
    assert_int_equal(t.nparts, 0);
    tmpl_release(&t);
}

/* ---- splitting ---- */

static void test_split(void **state)
{
    (void)state;
    struct tmpl t;
    const char *src = "python3 train.py --depth ${{ params.max_depth }} --run=${{run.id}}!";
    parse_ok(&t, src);
    assert_string_equal(t.src, src);
    assert_true(t.src != src);
    assert_int_equal(t.nparts, 5);
    assert_string_equal(t.parts[0].lit, "python3 train.py --depth ");
    assert_null(t.parts[0].expr);
    assert_null(t.parts[1].lit);
    assert_int_equal(t.parts[1].expr->op, EXPR_PARAM);
    assert_string_equal(t.parts[1].expr->name, "max_depth");
    assert_string_equal(t.parts[2].lit, " --run=");
    assert_int_equal(t.parts[3].expr->op, EXPR_RUN_ID);
    assert_string_equal(t.parts[4].lit, "!");
    tmpl_release(&t);
    assert_null(t.src);
    assert_int_equal(t.nparts, 0);
}

static void test_split_edges(void **state)
{
    (void)state;
    struct tmpl t;

    parse_ok(&t, "");
    assert_int_equal(t.nparts, 0);
    tmpl_release(&t);

    parse_ok(&t, "no holes here } }} {{ $ {");
    assert_int_equal(t.nparts, 1);
    assert_string_equal(t.parts[0].lit, "no holes here } }} {{ $ {");
    tmpl_release(&t);

    /* adjacent holes, no literal between them */
    parse_ok(&t, "${{1}}${{ 2 }}");
    assert_int_equal(t.nparts, 2);
    assert_true(t.parts[0].expr->num == 1);
    assert_true(t.parts[1].expr->num == 2);
    tmpl_release(&t);

    /* "$${{" is not an escape: the second '$' starts a hole */
    parse_ok(&t, "$${{ run.id }}");
    assert_int_equal(t.nparts, 2);
    assert_string_equal(t.parts[0].lit, "$");
    assert_int_equal(t.parts[1].expr->op, EXPR_RUN_ID);
    tmpl_release(&t);

    /* a "}}" inside a string does not close the hole */
    parse_ok(&t, "a ${{ '}}' }} b ${{ \"x\\\"}}\" }}");
    assert_int_equal(t.nparts, 4);
    assert_string_equal(t.parts[1].expr->str, "}}");
    assert_string_equal(t.parts[2].lit, " b ");
    assert_string_equal(t.parts[3].expr->str, "x\"}}");
    tmpl_release(&t);

    /* blanks inside the braces, including newlines */
    parse_ok(&t, "${{\n\tparams.v\n}}");
    assert_int_equal(t.nparts, 1);
    assert_int_equal(t.parts[0].expr->op, EXPR_PARAM);
    tmpl_release(&t);
}

static void test_offsets_are_in_the_whole_text(void **state)
{
    (void)state;
    struct tmpl t;
    parse_ok(&t, "ab ${{ params.v == 'x' }}");
    struct expr *e = t.parts[1].expr;
    assert_int_equal(e->op, EXPR_EQ);
    assert_int_equal(e->offset, 16);
    assert_int_equal(e->lhs->offset, 7);
    assert_int_equal(e->rhs->offset, 19);
    tmpl_release(&t);
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_parse_error("echo ${{ params.v", 5, "unterminated '${{'");
    assert_parse_error("${{", 0, "unterminated '${{'");
    assert_parse_error("a ${{ 1 }} b ${{ 2 }", 13, "unterminated '${{'");
    assert_parse_error("x ${{ }}", 6, "empty expression");
    assert_parse_error("x ${{}}", 5, "empty expression");
    assert_parse_error("run ${{ params.v + }}", 19, "unexpected end of expression");
    assert_parse_error("run ${{ min(1) }}", 8, "function 'min' needs at least 2 arguments");
    assert_parse_error("a ${{ 1 }} b ${{ foo }}", 17, "unknown reference 'foo'");
    assert_parse_error("${{ 'abc }}", 4, "unterminated string");
    assert_parse_error("${{ (1 < 2 }}", 11, "expected ')'");
}

static void test_one_brace(void **state)
{
    (void)state;
    /* "${ params.x }" is a hole with a brace missing: no shell variable has a '.' */
    assert_parse_error("python3 train.py --lr ${ params.lr }", 22,
                       "'${ params.lr }' has one brace; a template is written '${{ params.lr }}'");
    assert_parse_error("x ${{ 1 }} ${steps.evaluate.metrics.f1}", 11,
                       "'${steps.evaluate.metrics.f1}' has one brace; a template is written "
                       "'${{ steps.evaluate.metrics.f1 }}'");
    assert_parse_error("echo \"${ run.id\" done", 6,
                       "'${ run.id' has one brace; a template is written '${{ run.id }}'");
    assert_parse_error("echo ${params.a + 1 }\n}", 5,
                       "'${params.a + 1 }' has one brace; a template is written "
                       "'${{ params.a + 1 }}'");
    /* shell's own ${VAR} forms stay literal text */
    struct tmpl t;
    parse_ok(&t, "echo ${HOME} ${PARAMS:-x} ${params} ${ steps} $params.x ${#x} ${{ params.v }}");
    assert_int_equal(t.nparts, 2);
    tmpl_release(&t);
}

/* ---- checking ---- */

static void test_check(void **state)
{
    (void)state;
    struct tmpl t;
    int off = -1;
    char msg[256] = "";

    /* any type is fine in a template */
    parse_ok(&t, "${{ 'x' }} ${{ 1 }} ${{ true }} ${{ params.max_depth > 3 }} "
                 "${{ steps.evaluate.metrics.f1 }}");
    assert_int_equal(tmpl_check(&t, &scope, &off, msg, sizeof(msg)), 0);
    tmpl_release(&t);

    parse_ok(&t, "python3 x.py ${{ params.max_dpth }}");
    assert_int_equal(tmpl_check(&t, &scope, &off, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "unknown parameter 'max_dpth'");
    assert_int_equal(off, 17);
    tmpl_release(&t);

    parse_ok(&t, "${{ 1 }} ${{ steps.train.status }}");
    assert_int_equal(tmpl_check(&t, &scope, &off, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "unknown step 'train'");
    assert_int_equal(off, 13);
    tmpl_release(&t);

    parse_ok(&t, "--x ${{ params.v < 3 }}");
    assert_int_equal(tmpl_check(&t, &scope, &off, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "operator '<' needs numbers, got string and number");
    assert_int_equal(off, 17);
    tmpl_release(&t);

    parse_ok(&t, "--x ${{ 'a' + 1 }}");
    assert_int_equal(tmpl_check(&t, &scope, &off, msg, sizeof(msg)), -1);
    assert_string_equal(msg, "operator '+' needs numbers, got string and number");
    assert_int_equal(off, 12);
    tmpl_release(&t);

    parse_ok(&t, "literal only");
    assert_int_equal(tmpl_check(&t, &scope, &off, msg, sizeof(msg)), 0);
    tmpl_release(&t);
}

/* ---- expansion ---- */

static void test_expand(void **state)
{
    (void)state;
    param_v = "hello world";
    assert_expands("", false, "");
    assert_expands("plain", true, "plain");
    assert_expands("--depth ${{ params.max_depth }}", false, "--depth 6");
    assert_expands("--depth ${{ params.max_depth }}", true, "--depth '6'");
    assert_expands("--f1=${{ steps.evaluate.metrics.f1 }} run ${{run.id}}", false,
                   "--f1=0.25 run 17");
    assert_expands("${{ params.max_depth >= 6 }}/${{ false }}", false, "true/false");
    assert_expands("echo ${{ params.v }}", false, "echo hello world");
    assert_expands("echo ${{ params.v }}", true, "echo 'hello world'");
    assert_expands("echo ${{ 'it\\'s' }}", true, "echo 'it'\\''s'");
    param_v = "";
    assert_expands("[${{ params.v }}]", true, "['']");
}

static void test_expand_numbers(void **state)
{
    (void)state;
    /* a param is substituted as the text it was given */
    assert_expands("--lr ${{ params.lr }}", false, "--lr 1.10");
    assert_expands("--lr ${{ params.lr }}", true, "--lr '1.10'");
    assert_expands("--id=${{ params.id }}", false, "--id=12345678901234567890");
    /* a computed number in its shortest form, integers without ".0" */
    assert_expands("${{ params.lr * 2 }}", false, "2.2");
    assert_expands("${{ params.max_depth * 2 }}", false, "12");
    assert_expands("${{ 2.0 * 3 }} ${{ 10 / 4 }} ${{ 1 / 3 }}", false,
                   "6 2.5 0.3333333333333333");
    assert_expands("${{ -params.max_depth }} ${{ abs(1 - params.max_depth) }}", false, "-6 5");
    assert_expands("${{ min(params.max_depth, 4) }}-${{ max(params.max_depth, 4, 8) }}", false,
                   "4-8");
    assert_expands("${{ steps.evaluate.metrics.f1 * 100 }}%", false, "25%");
}

static void test_expand_error(void **state)
{
    (void)state;
    struct tmpl t;
    char msg[256] = "";
    parse_ok(&t, "a ${{ run.id }} ${{ steps.evaluate.metrics.auc }}");
    assert_null(tmpl_expand(&t, &env, true, msg, sizeof(msg)));
    assert_string_equal(msg, "metric 'auc' of step 'evaluate' does not exist");
    tmpl_release(&t);
    parse_ok(&t, "--per-depth ${{ 1 / (params.max_depth - 6) }}");
    assert_null(tmpl_expand(&t, &env, true, msg, sizeof(msg)));
    assert_string_equal(msg,
                        "division by zero in '1 / (params.max_depth - 6)' (1 / (6 - 6))");
    tmpl_release(&t);
}

/* Run cmd under /bin/sh -c in dir and return what it printed. */
static char *sh_output(const char *dir, const char *cmd)
{
    struct strbuf full = STRBUF_INIT, out = STRBUF_INIT;
    strbuf_addstr(&full, "cd ");
    strbuf_add_shell_quoted(&full, dir);
    strbuf_addf(&full, " && %s", cmd);
    FILE *f = popen(full.buf, "r");
    assert_non_null(f);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        strbuf_add(&out, buf, n);
    assert_int_equal(pclose(f), 0);
    strbuf_release(&full);
    return strbuf_detach(&out, NULL);
}

static void test_quoting_defeats_injection(void **state)
{
    (void)state;
    static const char *const hostile[] = {
        "x'; touch injected #",
        "x'; rm -rf \"$HOME/sluice-never-created\" #",
        "$(touch injected)",
        "`touch injected`",
        "a\"b\\c$HOME${HOME}",
        "';touch injected;'",
        "'\\''",
        "line1\nline2; touch injected",
        "*",
        "-n",
        " lead and trail ",
        "",
    };
    char dir[] = "/tmp/sluice-test-template.XXXXXX";
    assert_non_null(mkdtemp(dir));
    struct tmpl t;
    parse_ok(&t, "printf %s ${{ params.v }}");
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        char msg[256];
        param_v = hostile[i];
        char *cmd = tmpl_expand(&t, &env, true, msg, sizeof(msg));
        assert_non_null(cmd);
        char *got = sh_output(dir, cmd);
        /* the shell saw one word, exactly the value */
        assert_string_equal(got, hostile[i]);
        free(got);
        free(cmd);
        struct stat st;
        char *marker = xasprintf("%s/injected", dir);
        assert_int_equal(stat(marker, &st), -1);
        free(marker);
    }
    tmpl_release(&t);

    /* the control: without quoting the same value does run the injected command */
    param_v = "x'; touch injected #";
    parse_ok(&t, "printf %s '${{ params.v }}'");
    char msg[256];
    char *cmd = tmpl_expand(&t, &env, false, msg, sizeof(msg));
    char *got = sh_output(dir, cmd);
    assert_string_equal(got, "x");
    free(got);
    free(cmd);
    tmpl_release(&t);
    char *marker = xasprintf("%s/injected", dir);
    struct stat st;
    assert_int_equal(stat(marker, &st), 0);
    assert_int_equal(unlink(marker), 0);
    free(marker);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_split_edges),
        cmocka_unit_test(test_offsets_are_in_the_whole_text),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_one_brace),
        cmocka_unit_test(test_check),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_expand_numbers),
        cmocka_unit_test(test_expand_error),
        cmocka_unit_test(test_quoting_defeats_injection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
