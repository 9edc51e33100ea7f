/* The crawl step's expect: rules evaluated against a crawl: `rows >= 500 && nulls(id) == 0`
 * measured on the crawled columns. The language and its parser are pipeline/rules.h. */
#include "executor/crawl_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/rules.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static const struct crawl_column *result_column(const struct crawl_result *res, const char *name)
{
    for (size_t i = 0; i < res->ncolumns; i++)
        if (!strcmp(res->columns[i].name, name))
            return &res->columns[i];
    return NULL;
}

static int term_eval(const struct crawl_result *res, const char *rule, const struct rule_term *t,
                     struct crawl_value *v, struct err *e)
{
    if (t->kind == RULE_NUMBER) {
        if (t->is_int)
            value_int(v, t->i);
        else
            value_real(v, t->f);
        return 0;
    }
    if (t->kind == RULE_ROWS) {
        value_int(v, (int64_t)res->rows);
        return 0;
    }
    const struct crawl_column *col = result_column(res, t->col);
    if (!col)
        return err_set(e, "rule '%s': no column '%s'", rule, t->col);
    if (t->kind == RULE_NULLS) {
        value_int(v, (int64_t)col->nulls);
        return 0;
    }
    if (t->kind == RULE_DISTINCT) {
        value_int(v, (int64_t)col->distinct);
        return 0;
    }
    if (col->type != CRAWL_INTEGER && col->type != CRAWL_FLOAT)
        return err_set(e, "rule '%s': column '%s' is %s, not numeric", rule, t->col,
                       crawl_type_name(col->type));
    if (t->kind == RULE_MEAN)
        value_real(v, col->mean);
    else if (col->type == CRAWL_INTEGER)
        value_int(v, t->kind == RULE_MIN ? col->imin : col->imax);
    else
        value_real(v, t->kind == RULE_MIN ? col->fmin : col->fmax);
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
    case RULE_EQ:
        return c == 0;
    case RULE_NE:
        return c != 0;
    case RULE_LT:
        return c < 0;
    case RULE_LE:
        return c <= 0;
    case RULE_GT:
        return c > 0;
    case RULE_GE:
        return c >= 0;
    }
    BUG("bad rule operator %d", (int)op);
}

/* Add "TERM = VALUE" of a measured term to sb, unless it is already there. */
static void term_measured(struct strbuf *sb, const struct rule_term *t, const struct crawl_value *v)
{
    if (t->kind == RULE_NUMBER)
        return;
    struct strbuf one = STRBUF_INIT;
    if (t->kind == RULE_ROWS)
        strbuf_addstr(&one, "rows");
    else
        strbuf_addf(&one, "%s(%s)", rule_function_name(t->kind), t->col);
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
static int node_eval(const struct crawl_result *res, const char *rule, const struct rule_node *n,
                      bool *result, struct crawl_rule_result *out, bool *have_value,
                      struct strbuf *measured, struct err *e)
{
    if (n->kind == RULE_CMP) {
        struct crawl_value a, b;
        if (term_eval(res, rule, &n->a, &a, e) < 0 || term_eval(res, rule, &n->b, &b, e) < 0)
            return -1;
        *result = value_compare(&a, n->op, &b);
        if (!*have_value) {
            out->value = n->a.kind == RULE_NUMBER ? b : a;
            *have_value = true;
        }
        term_measured(measured, &n->a, &a);
        term_measured(measured, &n->b, &b);
        return 0;
    }
    bool l, r;
    if (node_eval(res, rule, n->l, &l, out, have_value, measured, e) < 0 ||
        node_eval(res, rule, n->r, &r, out, have_value, measured, e) < 0)
        return -1;
    *result = n->kind == RULE_AND ? l && r : l || r;
    return 0;
}

int crawl_rule_eval(const struct crawl_result *res, const char *rule, struct crawl_rule_result *out,
                    struct err *e)
{
    memset(out, 0, sizeof(*out));
    char msg[256];
    int off = 0;
    struct rule_node *n = rule_parse(rule, &off, msg, sizeof(msg));
    if (!n)
        return err_set(e, "rule '%s': %s at offset %d", rule, msg, off);
    bool have_value = false, pass = false;
    struct strbuf measured = STRBUF_INIT;
    int rc = node_eval(res, rule, n, &pass, out, &have_value, &measured, e);
    rule_free(n);
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
