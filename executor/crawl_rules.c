/* The data-quality rule language of the crawl step's expect: list: parse a rule such as
 * `rows >= 500 && nulls(id) == 0`, check its syntax at load time, and evaluate it against a
 * crawl (crawl.h has the grammar). */
#include "executor/crawl_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

#define RULE_DEPTH_MAX 64

/* ---- rules ------------------------------------------------------------------------------ */

enum rule_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

enum term_kind { TERM_NUMBER, TERM_ROWS, TERM_NULLS, TERM_DISTINCT, TERM_MIN, TERM_MAX, TERM_MEAN };

struct term {
    enum term_kind kind;
    struct crawl_value num; /* TERM_NUMBER */
    char *col;              /* the functions' column */
};

enum rnode_kind { RN_OR, RN_AND, RN_CMP };

struct rnode {
    enum rnode_kind kind;
    struct rnode *l, *r; /* RN_OR, RN_AND */
    struct term a, b;    /* RN_CMP: a op b */
    enum rule_op op;
};

struct rparser {
    const char *s;
    size_t pos;
    int depth;
    bool failed;
    size_t err_pos;
    char msg[256];
};

static const struct {
    const char *name;
    enum term_kind kind;
} rule_functions[] = {
    {"nulls", TERM_NULLS}, {"distinct", TERM_DISTINCT}, {"min", TERM_MIN},
    {"max", TERM_MAX},     {"mean", TERM_MEAN},
};

static void rparser_fail(struct rparser *rp, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rparser_fail(struct rparser *rp, size_t pos, const char *fmt, ...)
{
    if (rp->failed)
        return;
    rp->failed = true;
    rp->err_pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rp->msg, sizeof(rp->msg), fmt, ap);
    va_end(ap);
}

static void rnode_free(struct rnode *n)
{
    if (!n)
        return;
    rnode_free(n->l);
    rnode_free(n->r);
    free(n->a.col);
    free(n->b.col);
    free(n);
}

static void skip_space(struct rparser *rp)
{
    while (rp->s[rp->pos] == ' ' || rp->s[rp->pos] == '\t')
        rp->pos++;
}

static bool is_ident_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && is_digit(c));
}

static const char expect_term[] = "expected 'rows', a number or a function such as nulls(COLUMN)";

/* The argument of a function, up to and including its ')'. */
static char *parse_column(struct rparser *rp)
{
    const char *s = rp->s;
    skip_space(rp);
    size_t start = rp->pos;
    char *name = NULL;
    if (s[start] == '\'' || s[start] == '"') {
        const char *close = strchr(s + start + 1, s[start]);
        if (!close) {
            rparser_fail(rp, start, "unterminated quoted column name");
            return NULL;
        }
        size_t len = (size_t)(close - s) - start - 1;
        if (!len) {
            rparser_fail(rp, start, "empty column name");
            return NULL;
        }
        name = xstrndup(s + start + 1, len);
        rp->pos = (size_t)(close - s) + 1;
        skip_space(rp);
    } else {
        size_t end = start;
        while (s[end] && s[end] != ')') {
            if (s[end] == '(' || s[end] == '\'' || s[end] == '"') {
                rparser_fail(rp, end, "unexpected '%c' in a column name (quote the name)", s[end]);
                return NULL;
            }
            end++;
        }
        size_t trim = end;
        while (trim > start && (s[trim - 1] == ' ' || s[trim - 1] == '\t'))
            trim--;
        if (trim == start) {
            rparser_fail(rp, start, "expected a column name");
            return NULL;
        }
        name = xstrndup(s + start, trim - start);
        rp->pos = end;
    }
    if (s[rp->pos] != ')') {
        rparser_fail(rp, rp->pos, "expected ')'");
        free(name);
        return NULL;
    }
    rp->pos++;
    return name;
}

static bool parse_term(struct rparser *rp, struct term *t)
{
    const char *s = rp->s;
    skip_space(rp);
    size_t start = rp->pos;
    char c = s[start];
    memset(t, 0, sizeof(*t));
    if (is_digit(c) || c == '.' || c == '-' || c == '+') {
        size_t end = start + 1;
        while (is_digit(s[end]) || s[end] == '.' ||
               ((s[end] == 'e' || s[end] == 'E') && end > start) ||
               ((s[end] == '+' || s[end] == '-') && (s[end - 1] == 'e' || s[end - 1] == 'E')))
            end++;
        struct value v;
        if (!crawl_parse_number(s + start, end - start, &v)) {
            rparser_fail(rp, start, "bad number '%.*s'", (int)(end - start), s + start);
            return false;
        }
        t->kind = TERM_NUMBER;
        t->num.is_int = v.type == CRAWL_INTEGER;
        t->num.i = v.i;
        t->num.f = v.f;
        rp->pos = end;
        return true;
    }
    if (!is_ident_char(c, true)) {
        if (c)
            rparser_fail(rp, start, "%s, not '%c'", expect_term, c);
        else
            rparser_fail(rp, start, "%s", expect_term);
        return false;
    }
    size_t end = start;
    while (is_ident_char(s[end], end == start))
        end++;
    int len = (int)(end - start);
    rp->pos = end;
    if (len == 4 && !strncmp(s + start, "rows", 4)) {
        t->kind = TERM_ROWS;
        return true;
    }
    skip_space(rp);
    bool call = s[rp->pos] == '(';
    for (size_t k = 0; k < sizeof(rule_functions) / sizeof(rule_functions[0]); k++) {
        if ((size_t)len != strlen(rule_functions[k].name) ||
            strncmp(s + start, rule_functions[k].name, (size_t)len))
            continue;
        if (!call) {
            rparser_fail(rp, rp->pos, "expected '(' after '%.*s'", len, s + start);
            return false;
        }
        rp->pos++;
        t->kind = rule_functions[k].kind;
        t->col = parse_column(rp);
        return t->col != NULL;
    }
    if (call)
        rparser_fail(rp, start, "unknown function '%.*s'", len, s + start);
    else
        rparser_fail(rp, start, "unknown name '%.*s' (%s)", len, s + start, expect_term);
    return false;
}

static struct rnode *parse_or(struct rparser *rp);

static struct rnode *parse_cmp(struct rparser *rp)
{
    static const struct {
        const char *text;
        enum rule_op op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
               {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
    struct rnode *n = xcalloc(1, sizeof(*n));
    n->kind = RN_CMP;
    skip_space(rp);
    size_t start = rp->pos;
    if (!parse_term(rp, &n->a))
        goto fail;
    skip_space(rp);
    size_t k;
    for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
        if (!strncmp(rp->s + rp->pos, ops[k].text, strlen(ops[k].text)))
            break;
    if (k == sizeof(ops) / sizeof(ops[0])) {
        rparser_fail(rp, rp->pos, "expected a comparison (== != < <= > >=)");
        goto fail;
    }
    n->op = ops[k].op;
    rp->pos += strlen(ops[k].text);
    if (!parse_term(rp, &n->b))
        goto fail;
    if (n->a.kind == TERM_NUMBER && n->b.kind == TERM_NUMBER) {
        rparser_fail(rp, start, "a comparison needs 'rows' or a function on one side");
        goto fail;
    }
    return n;
fail:
    rnode_free(n);
    return NULL;
}

static struct rnode *parse_primary(struct rparser *rp)
{
    skip_space(rp);
    if (rp->s[rp->pos] != '(')
        return parse_cmp(rp);
    size_t open = rp->pos++;
    if (++rp->depth > RULE_DEPTH_MAX) {
        rparser_fail(rp, open, "parentheses nested too deeply");
        return NULL;
    }
    struct rnode *n = parse_or(rp);
    rp->depth--;
    if (!n)
        return NULL;
    skip_space(rp);
    if (rp->s[rp->pos] != ')') {
        rparser_fail(rp, rp->pos, "expected ')' to close the '(' at offset %zu", open);
        rnode_free(n);
        return NULL;
    }
    rp->pos++;
    return n;
}

static struct rnode *parse_binary(struct rparser *rp, enum rnode_kind kind)
{
    const char *tok = kind == RN_OR ? "||" : "&&";
    struct rnode *l = kind == RN_OR ? parse_binary(rp, RN_AND) : parse_primary(rp);
    while (l) {
        skip_space(rp);
        if (strncmp(rp->s + rp->pos, tok, 2))
            break;
        rp->pos += 2;
        struct rnode *r = kind == RN_OR ? parse_binary(rp, RN_AND) : parse_primary(rp);
        if (!r) {
            rnode_free(l);
            return NULL;
        }
        struct rnode *n = xcalloc(1, sizeof(*n));
        n->kind = kind;
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

static struct rnode *parse_or(struct rparser *rp)
{
    return parse_binary(rp, RN_OR);
}

static struct rnode *rule_parse(const char *rule, struct rparser *rp)
{
    memset(rp, 0, sizeof(*rp));
    rp->s = rule;
    skip_space(rp);
    if (!rule[rp->pos]) {
        rparser_fail(rp, rp->pos, "empty rule");
        return NULL;
    }
    struct rnode *n = parse_or(rp);
    if (!n)
        return NULL;
    skip_space(rp);
    if (rule[rp->pos]) {
        rparser_fail(rp, rp->pos, "expected '&&', '||' or the end of the rule, not '%c'",
                     rule[rp->pos]);
        rnode_free(n);
        return NULL;
    }
    return n;
}

int crawl_rule_check(const char *rule, int *err_offset, char *msg, size_t msgsz)
{
    struct rparser rp;
    struct rnode *n = rule_parse(rule, &rp);
    if (n) {
        rnode_free(n);
        return 0;
    }
    if (err_offset)
        *err_offset = (int)rp.err_pos;
    if (msg && msgsz)
        snprintf(msg, msgsz, "%s", rp.msg);
    return -1;
}

static const struct crawl_column *result_column(const struct crawl_result *res, const char *name)
{
    for (size_t i = 0; i < res->ncolumns; i++)
        if (!strcmp(res->columns[i].name, name))
            return &res->columns[i];
    return NULL;
}

static int term_eval(const struct crawl_result *res, const char *rule, const struct term *t,
                     struct crawl_value *v, struct err *e)
{
    if (t->kind == TERM_NUMBER) {
        *v = t->num;
        return 0;
    }
    if (t->kind == TERM_ROWS) {
        value_int(v, (int64_t)res->rows);
        return 0;
    }
    const struct crawl_column *col = result_column(res, t->col);
    if (!col)
        return err_set(e, "rule '%s': no column '%s'", rule, t->col);
    if (t->kind == TERM_NULLS) {
        value_int(v, (int64_t)col->nulls);
        return 0;
    }
    if (t->kind == TERM_DISTINCT) {
        value_int(v, (int64_t)col->distinct);
        return 0;
    }
    if (col->type != CRAWL_INTEGER && col->type != CRAWL_FLOAT)
        return err_set(e, "rule '%s': column '%s' is %s, not numeric", rule, t->col,
                       crawl_type_name(col->type));
    if (t->kind == TERM_MEAN)
        value_real(v, col->mean);
    else if (col->type == CRAWL_INTEGER)
        value_int(v, t->kind == TERM_MIN ? col->imin : col->imax);
    else
        value_real(v, t->kind == TERM_MIN ? col->fmin : col->fmax);
    return 0;
}

static bool value_compare(const struct crawl_value *a, enum rule_op op, const struct crawl_value *b)
{
    int c;
    if (a->is_int && b->is_int)
        c = (a->i > b->i) - (a->i < b->i);
    else
        c = (a->f > b->f) - (a->f < b->f);
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    case OP_GT:
        return c > 0;
    case OP_GE:
        return c >= 0;
    }
    BUG("bad rule operator %d", (int)op);
}

/* Add "TERM = VALUE" of a measured term to sb, unless it is already there. */
static void term_measured(struct strbuf *sb, const struct term *t, const struct crawl_value *v)
{
    if (t->kind == TERM_NUMBER)
        return;
    struct strbuf one = STRBUF_INIT;
    if (t->kind == TERM_ROWS)
        strbuf_addstr(&one, "rows");
    for (size_t k = 0; k < sizeof(rule_functions) / sizeof(rule_functions[0]); k++)
        if (rule_functions[k].kind == t->kind)
            strbuf_addf(&one, "%s(%s)", rule_functions[k].name, t->col);
    if (v->is_int)
        strbuf_addf(&one, " = %lld", (long long)v->i);
    else
        strbuf_addf(&one, " = %.15g", v->f);
    char *list = xasprintf(", %s, ", sb->buf), *item = xasprintf(", %s, ", one.buf);
    if (!strstr(list, item))
        strbuf_addf(sb, "%s%s", sb->len ? ", " : "", one.buf);
    free(list);
    free(item);
    strbuf_release(&one);
}

/* Every comparison is evaluated (no short cut), so that a rule naming a missing column fails
 * whatever the data; the first one met, reading left to right, gives the reported value. */
static int rnode_eval(const struct crawl_result *res, const char *rule, const struct rnode *n,
                      bool *result, struct crawl_rule_result *out, bool *have_value,
                      struct strbuf *measured, struct err *e)
{
    if (n->kind == RN_CMP) {
        struct crawl_value a, b;
        if (term_eval(res, rule, &n->a, &a, e) < 0 || term_eval(res, rule, &n->b, &b, e) < 0)
            return -1;
        *result = value_compare(&a, n->op, &b);
        if (!*have_value) {
            out->value = n->a.kind == TERM_NUMBER ? b : a;
            *have_value = true;
        }
        term_measured(measured, &n->a, &a);
        term_measured(measured, &n->b, &b);
        return 0;
    }
    bool l, r;
    if (rnode_eval(res, rule, n->l, &l, out, have_value, measured, e) < 0 ||
        rnode_eval(res, rule, n->r, &r, out, have_value, measured, e) < 0)
        return -1;
    *result = n->kind == RN_AND ? l && r : l || r;
    return 0;
}

int crawl_rule_eval(const struct crawl_result *res, const char *rule, struct crawl_rule_result *out,
                    struct err *e)
{
    memset(out, 0, sizeof(*out));
    struct rparser rp;
    struct rnode *n = rule_parse(rule, &rp);
    if (!n)
        return err_set(e, "rule '%s': %s at offset %zu", rule, rp.msg, rp.err_pos);
    bool have_value = false, pass = false;
    struct strbuf measured = STRBUF_INIT;
    int rc = rnode_eval(res, rule, n, &pass, out, &have_value, &measured, e);
    rnode_free(n);
    if (rc < 0) {
        strbuf_release(&measured);
        return -1;
    }
    out->rule = crawl_text_clean(rule, strlen(rule), 0);
    out->measured = crawl_text_clean(measured.buf, measured.len, 0);
    strbuf_release(&measured);
    out->pass = pass;
    return 0;
}

void crawl_rule_result_release(struct crawl_rule_result *rr)
{
    free(rr->rule);
    rr->rule = NULL;
    free(rr->measured);
    rr->measured = NULL;
}
