/* The expression language of `${{ }}` templates and `when:` conditions.
 *
 *   expr    := or
 *   or      := and ( "||" and )*
 *   and     := not ( "&&" not )*
 *   not     := "!" not | cmp
 *   cmp     := sum ( ("=="|"!="|"<"|"<="|">"|">=") sum )?
 *   sum     := product ( ("+"|"-") product )*
 *   product := unary ( ("*"|"/") unary )*
 *   unary   := "-" unary | primary
 *   primary := NUMBER | STRING | "true" | "false" | ref | call | "(" expr ")"
 *   call    := ("min"|"max") "(" expr ( "," expr )+ ")" | "abs" "(" expr ")"
 *   ref     := "params." NAME | "run.id" | "steps." NAME ".metrics." NAME | "steps." NAME ".status"
 *
 * So unary minus binds tightest, then * /, then + -, then comparisons, then !, && and ||;
 * binary operators associate to the left. Arithmetic and the functions take numbers only.
 * Strings are single- or double-quoted with backslash escapes (\\ \' \" \n \t). Numbers are
 * decimal (fractional, with exponent; a '+' may precede one). A '-' between name characters is
 * part of the name (step names may hold one): subtract with blanks, `a - 1`. Parsed once at
 * load time into a tree, type-checked against the pipeline's params and steps, evaluated by
 * the engine. */
#ifndef SLUICE_EXPR_H
#define SLUICE_EXPR_H

#include <stdbool.h>
#include <stddef.h>

enum expr_type { TYPE_NUMBER, TYPE_STRING, TYPE_BOOL };

enum expr_op {
    EXPR_NUMBER,      /* num */
    EXPR_STRING,      /* str */
    EXPR_BOOL,        /* b */
    EXPR_PARAM,       /* name = param name */
    EXPR_RUN_ID,      /* run.id, a number */
    EXPR_STEP_METRIC, /* step, name = metric name; a number */
    EXPR_STEP_STATUS, /* step; a string such as "succeeded" */
    EXPR_NOT,         /* lhs */
    EXPR_AND,         /* lhs, rhs */
    EXPR_OR,
    EXPR_EQ,
    EXPR_NE,
    EXPR_LT,
    EXPR_LE,
    EXPR_GT,
    EXPR_GE,
    EXPR_ADD, /* lhs, rhs: numbers */
    EXPR_SUB,
    EXPR_MUL,
    EXPR_DIV, /* a zero divisor fails the evaluation */
    EXPR_MIN, /* min(a, b, c) is MIN(MIN(a, b), c): see more_args */
    EXPR_MAX,
    EXPR_NEG, /* lhs: unary minus */
    EXPR_ABS, /* lhs */
};

struct expr {
    enum expr_op op;
    int offset;          /* byte offset of this node's first character in the source text */
    double num;
    bool b;
    char *str;           /* EXPR_STRING */
    char *step;          /* EXPR_STEP_METRIC, EXPR_STEP_STATUS */
    char *name;          /* EXPR_PARAM, EXPR_STEP_METRIC */
    struct expr *lhs, *rhs;
    bool more_args;      /* EXPR_MIN, EXPR_MAX: lhs holds the earlier arguments of the same
                          * call, not an argument of its own */
};

/* Parse src[0..len). On success returns the tree (caller frees with expr_free). On a syntax
 * error returns NULL, sets *err_offset to the byte offset of the offending character and
 * writes a message to msg (e.g. "expected ')' after expression, found 'x'"). */
struct expr *expr_parse(const char *src, size_t len, int *err_offset, char *msg, size_t msgsz);
void expr_free(struct expr *e);

/* What the type checker may ask of the pipeline. Each callback returns false when unknown. */
struct expr_scope {
    void *data;
    bool (*param_type)(void *data, const char *name, enum expr_type *type);
    bool (*has_step)(void *data, const char *step);
};

/* Type-check e. On success returns 0 and sets *type. On failure returns -1, sets *err_offset
 * (byte offset of the offending node) and msg, e.g. "unknown parameter 'max_dpth'" or
 * "operator '+' needs numbers, got string and number"; a binary operator's offset is that of
 * the operator, a function's that of its name. The steps a tree refers to are listed by
 * expr_each_step. */
int expr_check(const struct expr *e, const struct expr_scope *scope, enum expr_type *type,
               int *err_offset, char *msg, size_t msgsz);

/* Calls cb for every step named in e (for steps.X references), in order of appearance. */
void expr_each_step(const struct expr *e, void (*cb)(void *data, const char *step), void *data);

/* A value during evaluation. str is owned by the value. */
struct value {
    enum expr_type type;
    double num;
    bool b;
    char *str; /* a string's text; for a number or boolean, the text it was given when it is a
                * param's value ("1.10" for -p lr=1.10), else NULL */
};
void value_release(struct value *v);
/* Text of a value as substituted into a template: a param's value as it was given, other
 * numbers in the shortest form that reads back to the same double ("6", "0.25", "1e+100"),
 * booleans "true"/"false". Caller frees. */
char *value_to_string(const struct value *v);

/* What evaluation asks of the run. Each returns 0, or -1 when the value does not exist. */
struct expr_env {
    void *data;
    /* *out is borrowed until the next call */
    int (*param)(void *data, const char *name, struct value *out);
    int (*metric)(void *data, const char *step, const char *metric, double *out);
    int (*status)(void *data, const char *step, const char **out);
    long long run_id;
};

/* Evaluate a checked tree. Returns 0 and fills *out, or -1 with msg set
 * (e.g. "metric 'f1' of step 'evaluate' does not exist", "division by zero in
 * 'params.a / params.n' (1 / 0)"). */
int expr_eval(const struct expr *e, const struct expr_env *env, struct value *out, char *msg,
              size_t msgsz);

/* The text of e, for messages: with env, every reference replaced by its value in the run
 * ("steps.evaluate.metrics.f1 >= params.min_f1" reads "0.94 >= 0.96"; a value env does not
 * have stays the reference); with env NULL, the references themselves. Strings are quoted,
 * long ones cut; parentheses where the tree needs them. Caller frees. */
char *expr_render(const struct expr *e, const struct expr_env *env);

#endif
