/* The expression language's type checker: at load time, a parsed tree is checked against the
 * pipeline's params and steps (struct expr_scope), so that a typo or a comparison of a string
 * with a number is a validation error, not a failed run. Also the typing rule of the operators,
 * which the evaluator applies again to a run's values, and the steps a tree refers to. */
#include "pipeline/expr_int.h"

#include <string.h>

#include "util/xalloc.h"

static const char *type_name(enum expr_type t)
{
    switch (t) {
    case TYPE_NUMBER: return "number";
    case TYPE_STRING: return "string";
    case TYPE_BOOL: return "boolean";
    }
    return "unknown";
}

/* Declared in expr_int.h: also how the renderer writes an operator. */
const char *expr_op_name(enum expr_op op)
{
    switch (op) {
    case EXPR_NOT: return "!";
    case EXPR_AND: return "&&";
    case EXPR_OR: return "||";
    case EXPR_EQ: return "==";
    case EXPR_NE: return "!=";
    case EXPR_LT: return "<";
    case EXPR_LE: return "<=";
    case EXPR_GT: return ">";
    case EXPR_GE: return ">=";
    case EXPR_ADD: return "+";
    case EXPR_SUB: return "-";
    case EXPR_MUL: return "*";
    case EXPR_DIV: return "/";
    case EXPR_MIN: return "min";
    case EXPR_MAX: return "max";
    case EXPR_NEG: return "-";
    case EXPR_ABS: return "abs";
    default: return "?";
    }
}

/* Declared in expr_int.h: the evaluator applies the same rule to a run's values. */
bool expr_op_result(enum expr_op op, enum expr_type a, enum expr_type b, enum expr_type *res,
                    char *msg, size_t msgsz)
{
    switch (op) {
    case EXPR_NOT:
        if (a != TYPE_BOOL) {
            expr_set_msg(msg, msgsz, "operator '!' needs a boolean, got %s", type_name(a));
            return false;
        }
        break;
    case EXPR_AND:
    case EXPR_OR:
        if (a != TYPE_BOOL || b != TYPE_BOOL) {
            expr_set_msg(msg, msgsz, "operator '%s' needs booleans, got %s and %s",
                         expr_op_name(op), type_name(a), type_name(b));
            return false;
        }
        break;
    case EXPR_EQ:
    case EXPR_NE:
        if (a != b) {
            expr_set_msg(msg, msgsz,
                         "operator '%s' needs operands of the same type, got %s and %s",
                         expr_op_name(op), type_name(a), type_name(b));
            return false;
        }
        break;
    case EXPR_LT:
    case EXPR_LE:
    case EXPR_GT:
    case EXPR_GE:
        if (!(a == b && (a == TYPE_NUMBER || a == TYPE_STRING))) {
            expr_set_msg(msg, msgsz, "operator '%s' needs numbers, got %s and %s",
                         expr_op_name(op), type_name(a), type_name(b));
            return false;
        }
        break;
    case EXPR_ADD:
    case EXPR_SUB:
    case EXPR_MUL:
    case EXPR_DIV:
    case EXPR_MIN:
    case EXPR_MAX:
        if (a != TYPE_NUMBER || b != TYPE_NUMBER) {
            expr_set_msg(msg, msgsz, "%s '%s' needs numbers, got %s and %s",
                         op == EXPR_MIN || op == EXPR_MAX ? "function" : "operator",
                         expr_op_name(op), type_name(a), type_name(b));
            return false;
        }
        *res = TYPE_NUMBER;
        return true;
    case EXPR_NEG:
    case EXPR_ABS:
        if (a != TYPE_NUMBER) {
            expr_set_msg(msg, msgsz, "%s '%s' needs a number, got %s",
                         op == EXPR_ABS ? "function" : "operator", expr_op_name(op),
                         type_name(a));
            return false;
        }
        *res = TYPE_NUMBER;
        return true;
    default:
        BUG("expr_op_result on a leaf (%d)", (int)op);
    }
    *res = TYPE_BOOL;
    return true;
}

int expr_check(const struct expr *e, const struct expr_scope *scope, enum expr_type *type,
               int *err_offset, char *msg, size_t msgsz)
{
    enum expr_type a, b = TYPE_BOOL, t;
    int off = e ? e->offset : 0;
    if (!e) {
        expr_set_msg(msg, msgsz, "empty expression");
        goto fail;
    }
    switch (e->op) {
    case EXPR_NUMBER:
    case EXPR_RUN_ID:
    case EXPR_STEP_METRIC:
        t = TYPE_NUMBER;
        break;
    case EXPR_STRING:
    case EXPR_STEP_STATUS:
        t = TYPE_STRING;
        break;
    case EXPR_BOOL:
        t = TYPE_BOOL;
        break;
    case EXPR_PARAM:
        if (!scope || !scope->param_type || !scope->param_type(scope->data, e->name, &t)) {
            char q[DIAG_QUOTE_SIZE];
            expr_set_msg(msg, msgsz, "unknown parameter '%s'",
                         diag_excerpt(q, e->name, strlen(e->name)));
            goto fail;
        }
        break;
    default:
        if (expr_check(e->lhs, scope, &a, err_offset, msg, msgsz) < 0)
            return -1;
        if (!expr_op_unary(e->op) && expr_check(e->rhs, scope, &b, err_offset, msg, msgsz) < 0)
            return -1;
        if (!expr_op_result(e->op, a, b, &t, msg, msgsz))
            goto fail;
        break;
    }
    if (e->op == EXPR_STEP_METRIC || e->op == EXPR_STEP_STATUS) {
        if (!scope || !scope->has_step || !scope->has_step(scope->data, e->step)) {
            char q[DIAG_QUOTE_SIZE];
            expr_set_msg(msg, msgsz, "unknown step '%s'",
                         diag_excerpt(q, e->step, strlen(e->step)));
            goto fail;
        }
    }
    if (type)
        *type = t;
    return 0;
fail:
    if (err_offset)
        *err_offset = off;
    return -1;
}

void expr_each_step(const struct expr *e, void (*cb)(void *data, const char *step), void *data)
{
    if (!e)
        return;
    if (e->op == EXPR_STEP_METRIC || e->op == EXPR_STEP_STATUS)
        cb(data, e->step);
    expr_each_step(e->lhs, cb, data);
    expr_each_step(e->rhs, cb, data);
}

