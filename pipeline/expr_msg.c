/* The expression language's messages, shared by the parser, the checker and the evaluator
 * (they quote hostile text through diag_excerpt), and the text of a tree for messages, with
 * or without a run's values in place of its references. */
#include "pipeline/expr_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

/* A string value is cut after this many bytes in a rendered expression. */
#define RENDER_STR_MAX 60

void expr_set_msg(char *msg, size_t msgsz, const char *fmt, ...)
{
    if (!msg || !msgsz)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, msgsz, fmt, ap);
    va_end(ap);
}

/* How tightly an op binds, as the grammar in expr.h says; leaves and calls bind tightest. */
enum prec { P_OR = 1, P_AND, P_NOT, P_CMP, P_SUM, P_PRODUCT, P_NEG, P_ATOM };

static enum prec prec(const struct expr *e)
{
    switch (e->op) {
    case EXPR_OR: return P_OR;
    case EXPR_AND: return P_AND;
    case EXPR_NOT: return P_NOT;
    case EXPR_EQ:
    case EXPR_NE:
    case EXPR_LT:
    case EXPR_LE:
    case EXPR_GT:
    case EXPR_GE: return P_CMP;
    case EXPR_ADD:
    case EXPR_SUB: return P_SUM;
    case EXPR_MUL:
    case EXPR_DIV: return P_PRODUCT;
    case EXPR_NEG: return P_NEG;
    default: return P_ATOM;
    }
}

/* A string in the language's own quotes and escapes; control bytes as \xNN, cut when long. */
static void add_quoted(struct strbuf *sb, const char *s)
{
    strbuf_addch(sb, '\'');
    size_t i = 0;
    for (; s[i]; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= RENDER_STR_MAX && (c & 0xc0) != 0x80) {
            strbuf_addstr(sb, "...");
            break;
        }
        if (c == '\\' || c == '\'')
            strbuf_addf(sb, "\\%c", c);
        else if (c == '\n')
            strbuf_addstr(sb, "\\n");
        else if (c == '\t')
            strbuf_addstr(sb, "\\t");
        else if (c < 0x20 || c == 0x7f)
            strbuf_addf(sb, "\\x%02x", c);
        else
            strbuf_addch(sb, (char)c);
    }
    strbuf_addch(sb, '\'');
}

static void add_value(struct strbuf *sb, const struct value *v)
{
    if (v->type == TYPE_STRING) {
        add_quoted(sb, v->str ? v->str : "");
        return;
    }
    char *s = value_to_string(v);
    strbuf_addstr(sb, s);
    free(s);
}

/* A reference: its value in env when there is one, else as written. */
static void add_ref(struct strbuf *sb, const struct expr *e, const struct expr_env *env)
{
    struct value v = {0};
    const char *status = NULL;
    switch (e->op) {
    case EXPR_PARAM:
        if (env && env->param && env->param(env->data, e->name, &v) == 0) {
            add_value(sb, &v); /* borrowed: not released */
            return;
        }
        strbuf_addf(sb, "params.%s", e->name);
        return;
    case EXPR_RUN_ID:
        if (env)
            strbuf_addf(sb, "%lld", env->run_id);
        else
            strbuf_addstr(sb, "run.id");
        return;
    case EXPR_STEP_METRIC:
        v.type = TYPE_NUMBER;
        if (env && env->metric && env->metric(env->data, e->step, e->name, &v.num) == 0)
            add_value(sb, &v);
        else
            strbuf_addf(sb, "steps.%s.metrics.%s", e->step, e->name);
        return;
    case EXPR_STEP_STATUS:
        if (env && env->status && env->status(env->data, e->step, &status) == 0 && status)
            add_quoted(sb, status);
        else
            strbuf_addf(sb, "steps.%s.status", e->step);
        return;
    default:
        BUG("not a reference (%d)", (int)e->op);
    }
}

static void render(struct strbuf *sb, const struct expr *e, const struct expr_env *env);

static void render_in_parens(struct strbuf *sb, const struct expr *e, const struct expr_env *env,
                             bool parens)
{
    if (parens)
        strbuf_addch(sb, '(');
    render(sb, e, env);
    if (parens)
        strbuf_addch(sb, ')');
}

/* The arguments of min/max: the chain MIN(MIN(a, b), c) reads "a, b, c". */
static void render_args(struct strbuf *sb, const struct expr *e, const struct expr_env *env)
{
    if (e->more_args)
        render_args(sb, e->lhs, env);
    else
        render(sb, e->lhs, env);
    strbuf_addstr(sb, ", ");
    render(sb, e->rhs, env);
}

static void render(struct strbuf *sb, const struct expr *e, const struct expr_env *env)
{
    struct value v = {0};
    switch (e->op) {
    case EXPR_NUMBER:
        v.type = TYPE_NUMBER;
        v.num = e->num;
        add_value(sb, &v);
        return;
    case EXPR_STRING:
        add_quoted(sb, e->str);
        return;
    case EXPR_BOOL:
        strbuf_addstr(sb, e->b ? "true" : "false");
        return;
    case EXPR_PARAM:
    case EXPR_RUN_ID:
    case EXPR_STEP_METRIC:
    case EXPR_STEP_STATUS:
        add_ref(sb, e, env);
        return;
    case EXPR_MIN:
    case EXPR_MAX:
        strbuf_addf(sb, "%s(", expr_op_name(e->op));
        render_args(sb, e, env);
        strbuf_addch(sb, ')');
        return;
    case EXPR_ABS:
        strbuf_addstr(sb, "abs(");
        render(sb, e->lhs, env);
        strbuf_addch(sb, ')');
        return;
    case EXPR_NOT:
        /* "!(a < b)", though '!' binds looser than '<': as a reader expects it */
        strbuf_addch(sb, '!');
        render_in_parens(sb, e->lhs, env, prec(e->lhs) != P_NOT && prec(e->lhs) < P_NEG);
        return;
    case EXPR_NEG: {
        /* "-(-2)", not "--2", when the operand's value is negative */
        struct strbuf sub = STRBUF_INIT;
        render(&sub, e->lhs, env);
        bool parens = prec(e->lhs) < P_NEG || sub.buf[0] == '-';
        strbuf_addf(sb, parens ? "-(%s)" : "-%s", sub.buf);
        strbuf_release(&sub);
        return;
    }
    default:
        break;
    }
    /* a binary operator: left-associative, and comparisons do not chain */
    enum prec p = prec(e);
    render_in_parens(sb, e->lhs, env, prec(e->lhs) < p || (p == P_CMP && prec(e->lhs) == P_CMP));
    strbuf_addf(sb, " %s ", expr_op_name(e->op));
    render_in_parens(sb, e->rhs, env, prec(e->rhs) <= p);
}

char *expr_render(const struct expr *e, const struct expr_env *env)
{
    struct strbuf sb = STRBUF_INIT;
    if (e)
        render(&sb, e, env);
    return strbuf_detach(&sb, NULL);
}
