/* The expression language's evaluator: a checked tree against a run (struct expr_env) gives
 * a value, and the values' own helpers (release, the text a template substitutes). Called by
 * the engine at run time, when a metric may turn out not to exist. */
#include "pipeline/expr_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void value_release(struct value *v)
{
    if (!v)
        return;
    free(v->str);
    v->str = NULL;
}

char *value_to_string(const struct value *v)
{
    if (v->str) /* a string, or a param's value as it was given */
        return xstrdup(v->str);
    switch (v->type) {
    case TYPE_STRING:
        return xstrdup("");
    case TYPE_BOOL:
        return xstrdup(v->b ? "true" : "false");
    case TYPE_NUMBER:
        break;
    }
    double x = v->num;
    if (isnan(x))
        return xstrdup("nan");
    if (isinf(x))
        return xstrdup(x < 0 ? "-inf" : "inf");
    if (x == 0)
        return xstrdup("0"); /* also for -0, which no user means */
    /* whole numbers print in full, not as 1e+15, up to where doubles stop being exact
     * integers anyway */
    if (x == floor(x) && fabs(x) < 9007199254740992.0)
        return xasprintf("%.0f", x);
    char buf[64];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return xstrdup(buf);
}

/* a OP b for two values of one type (numbers compared as doubles, strings bytewise). */
static bool compare(enum expr_op op, const struct value *a, const struct value *b)
{
    int c;
    if (a->type == TYPE_NUMBER) /* not via c: every comparison with NaN is false */
        switch (op) {
        case EXPR_EQ: return a->num == b->num;
        case EXPR_NE: return a->num != b->num;
        case EXPR_LT: return a->num < b->num;
        case EXPR_LE: return a->num <= b->num;
        case EXPR_GT: return a->num > b->num;
        case EXPR_GE: return a->num >= b->num;
        default: BUG("not a comparison (%d)", (int)op);
        }
    if (a->type == TYPE_STRING)
        c = strcmp(a->str ? a->str : "", b->str ? b->str : "");
    else
        c = (int)a->b - (int)b->b;
    switch (op) {
    case EXPR_EQ: return c == 0;
    case EXPR_NE: return c != 0;
    case EXPR_LT: return c < 0;
    case EXPR_LE: return c <= 0;
    case EXPR_GT: return c > 0;
    case EXPR_GE: return c >= 0;
    default: BUG("not a comparison (%d)", (int)op);
    }
}

/* "division by zero in 'params.a / params.n' (1 / 0)": the division as written, and with the
 * run's values when they say more. */
static void division_by_zero(const struct expr *e, const struct expr_env *env, char *msg,
                             size_t msgsz)
{
    char *src = expr_render(e, NULL), *vals = expr_render(e, env);
    if (strcmp(src, vals))
        expr_set_msg(msg, msgsz, "division by zero in '%s' (%s)", src, vals);
    else
        expr_set_msg(msg, msgsz, "division by zero in '%s'", src);
    free(src);
    free(vals);
}

static int eval(const struct expr *e, const struct expr_env *env, struct value *out, char *msg,
                size_t msgsz)
{
    memset(out, 0, sizeof(*out));
    struct value a = {0}, b = {0};
    int rc = -1;
    char q1[DIAG_QUOTE_SIZE], q2[DIAG_QUOTE_SIZE];
    switch (e->op) {
    case EXPR_NUMBER:
        out->type = TYPE_NUMBER;
        out->num = e->num;
        return 0;
    case EXPR_STRING:
        out->type = TYPE_STRING;
        out->str = xstrdup(e->str);
        return 0;
    case EXPR_BOOL:
        out->type = TYPE_BOOL;
        out->b = e->b;
        return 0;
    case EXPR_RUN_ID:
        out->type = TYPE_NUMBER;
        out->num = (double)env->run_id;
        return 0;
    case EXPR_PARAM: {
        struct value v = {0};
        if (!env->param || env->param(env->data, e->name, &v) < 0) {
            expr_set_msg(msg, msgsz, "parameter '%s' has no value",
                         diag_excerpt(q1, e->name, strlen(e->name)));
            return -1;
        }
        /* the env's value is borrowed: keep a copy (of a number's text too) */
        *out = v;
        out->str = v.str ? xstrdup(v.str) : v.type == TYPE_STRING ? xstrdup("") : NULL;
        return 0;
    }
    case EXPR_STEP_METRIC:
        out->type = TYPE_NUMBER;
        if (!env->metric || env->metric(env->data, e->step, e->name, &out->num) < 0) {
            expr_set_msg(msg, msgsz, "metric '%s' of step '%s' does not exist",
                         diag_excerpt(q1, e->name, strlen(e->name)),
                         diag_excerpt(q2, e->step, strlen(e->step)));
            return -1;
        }
        return 0;
    case EXPR_STEP_STATUS: {
        const char *s = NULL;
        if (!env->status || env->status(env->data, e->step, &s) < 0 || !s) {
            expr_set_msg(msg, msgsz, "status of step '%s' is not known",
                         diag_excerpt(q1, e->step, strlen(e->step)));
            return -1;
        }
        out->type = TYPE_STRING;
        out->str = xstrdup(s);
        return 0;
    }
    default:
        break;
    }

    enum expr_type t;
    if (eval(e->lhs, env, &a, msg, msgsz) < 0)
        goto out;
    if (expr_op_unary(e->op)) {
        if (!expr_op_result(e->op, a.type, a.type, &t, msg, msgsz))
            goto out;
        out->type = t;
        if (e->op == EXPR_NOT)
            out->b = !a.b;
        else
            out->num = e->op == EXPR_NEG ? -a.num : fabs(a.num);
        rc = 0;
        goto out;
    }
    /* short circuit: the right side may name a metric that only exists when the left holds */
    if ((e->op == EXPR_AND || e->op == EXPR_OR) && a.type == TYPE_BOOL &&
        a.b == (e->op == EXPR_OR)) {
        out->type = TYPE_BOOL;
        out->b = a.b;
        rc = 0;
        goto out;
    }
    if (eval(e->rhs, env, &b, msg, msgsz) < 0)
        goto out;
    /* the tree was checked against declared types; a run's values may still disagree */
    if (!expr_op_result(e->op, a.type, b.type, &t, msg, msgsz))
        goto out;
    out->type = t;
    switch (e->op) {
    case EXPR_AND:
    case EXPR_OR:
        out->b = b.b;
        break;
    case EXPR_ADD:
        out->num = a.num + b.num;
        break;
    case EXPR_SUB:
        out->num = a.num - b.num;
        break;
    case EXPR_MUL:
        out->num = a.num * b.num;
        break;
    case EXPR_DIV:
        if (b.num == 0) {
            division_by_zero(e, env, msg, msgsz);
            goto out;
        }
        out->num = a.num / b.num;
        break;
    case EXPR_MIN:
        out->num = fmin(a.num, b.num);
        break;
    case EXPR_MAX:
        out->num = fmax(a.num, b.num);
        break;
    default:
        out->b = compare(e->op, &a, &b);
        break;
    }
    rc = 0;
out:
    value_release(&a);
    value_release(&b);
    return rc;
}

int expr_eval(const struct expr *e, const struct expr_env *env, struct value *out, char *msg,
              size_t msgsz)
{
    if (msg && msgsz)
        msg[0] = '\0';
    if (!e) {
        memset(out, 0, sizeof(*out));
        expr_set_msg(msg, msgsz, "empty expression");
        return -1;
    }
    if (eval(e, env, out, msg, msgsz) < 0) {
        value_release(out);
        return -1;
    }
    return 0;
}
