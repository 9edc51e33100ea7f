/* What the expression language's files share (expr_parse.c, expr_check.c, expr_eval.c,
 * expr_msg.c): message helpers, and the typing rule of the operators.
 * Private to pipeline/expr*.c; the functions are expr_* because they are no longer static. */
#ifndef SLUICE_PIPELINE_EXPR_INT_H
#define SLUICE_PIPELINE_EXPR_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "pipeline/diag.h"
#include "pipeline/expr.h"

/* ---- messages (expr_msg.c) ---- */

/* snprintf into msg[0..msgsz); does nothing when msg is NULL or msgsz is 0. */
void expr_set_msg(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- types (expr_check.c) ---- */

/* The rule shared by the checker and the evaluator: the type of op applied to operands of
 * types a and b (b ignored for a one-operand op), or false with msg set. op must not be a
 * leaf. */
bool expr_op_result(enum expr_op op, enum expr_type a, enum expr_type b, enum expr_type *res,
                    char *msg, size_t msgsz);
/* How op is written: "&&", "+", "min"; "?" for a leaf. */
const char *expr_op_name(enum expr_op op);

/* Ops with one operand (lhs): !, unary -, abs. */
static inline bool expr_op_unary(enum expr_op op)
{
    return op == EXPR_NOT || op == EXPR_NEG || op == EXPR_ABS;
}

#endif
