/* The expression language's text to tree: a hand-written lexer and a recursive-descent
 * parser (grammar in expr.h), and expr_free. Hostile input (fuzzed pipeline files) must never
 * crash it, so nesting is capped and every message quotes at most a short, escaped excerpt. */
#include "pipeline/expr_int.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

/* Deeper than this is never written by a person; the cap keeps every recursive walk of the
 * tree (check, eval, free) far from the end of the stack. */
#define EXPR_MAX_DEPTH 200

enum tok_kind {
    TOK_END,
    TOK_NUMBER,
    TOK_STRING,
    TOK_NAME, /* a dotted path such as params.x or true */
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_NOT,
    TOK_AND,
    TOK_OR,
    TOK_EQ,
    TOK_NE,
    TOK_LT,
    TOK_LE,
    TOK_GT,
    TOK_GE,
    TOK_PLUS,
    TOK_MINUS,
    TOK_STAR,
    TOK_SLASH,
    TOK_COMMA,
    TOK_ERROR, /* the lexer already wrote the message */
};

struct token {
    enum tok_kind kind;
    size_t start, len; /* the lexeme in src */
    double num;        /* TOK_NUMBER */
    char *str;         /* TOK_STRING: the unescaped text, owned by the parser */
};

struct parser {
    const char *src;
    size_t len;
    size_t pos;     /* next byte the lexer reads */
    struct token tok; /* the current token */
    int nest;       /* current recursion depth of the parser */
    bool failed;
    int err_offset;
    char *msg;
    size_t msgsz;
};

/* Only the first error counts: later ones are consequences of it. */
static void fail(struct parser *p, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct parser *p, size_t offset, const char *fmt, ...)
{
    if (p->failed)
        return;
    p->failed = true;
    p->err_offset = (int)offset;
    if (p->msg && p->msgsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->msg, p->msgsz, fmt, ap);
        va_end(ap);
    }
}

static bool is_name_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9') || c == '-';
}

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static int peek_at(const struct parser *p, size_t i)
{
    return i < p->len ? (unsigned char)p->src[i] : -1;
}

/* An unsigned number: a '-' or '+' before it is an operator of its own. */
static void lex_number(struct parser *p)
{
    size_t i = p->pos;
    while (is_digit(peek_at(p, i)))
        i++;
    if (peek_at(p, i) == '.' && is_digit(peek_at(p, i + 1))) {
        i++;
        while (is_digit(peek_at(p, i)))
            i++;
    }
    if (peek_at(p, i) == 'e' || peek_at(p, i) == 'E') {
        size_t j = i + 1;
        if (peek_at(p, j) == '-' || peek_at(p, j) == '+')
            j++;
        if (is_digit(peek_at(p, j))) {
            while (is_digit(peek_at(p, j)))
                j++;
            i = j;
        }
    }
    size_t n = i - p->pos;
    char q[DIAG_QUOTE_SIZE];
    /* "1x" or "2.foo" is a typo, not a number followed by something; "1-2" subtracts */
    if ((is_name_char(peek_at(p, i)) && peek_at(p, i) != '-') || peek_at(p, i) == '.') {
        size_t j = i;
        while (is_name_char(peek_at(p, j)) || peek_at(p, j) == '.')
            j++;
        fail(p, p->pos, "invalid number '%s'", diag_excerpt(q, p->src + p->pos, j - p->pos));
        p->tok.kind = TOK_ERROR;
        return;
    }
    char *text = xstrndup(p->src + p->pos, n);
    errno = 0;
    double v = strtod(text, NULL);
    free(text);
    if (errno == ERANGE && isinf(v)) {
        fail(p, p->pos, "number '%s' is out of range", diag_excerpt(q, p->src + p->pos, n));
        p->tok.kind = TOK_ERROR;
        return;
    }
    p->tok.kind = TOK_NUMBER;
    p->tok.num = v;
    p->tok.len = n;
    p->pos = i;
}

static void lex_string(struct parser *p)
{
    char quote = p->src[p->pos];
    struct strbuf sb = STRBUF_INIT;
    size_t i = p->pos + 1;
    for (;;) {
        int c = peek_at(p, i);
        if (c < 0) {
            fail(p, p->pos, "unterminated string");
            goto error;
        }
        if (c == quote)
            break;
        if (c == '\0') {
            fail(p, i, "unexpected '\\x00'");
            goto error;
        }
        if (c == '\\') {
            int e = peek_at(p, i + 1);
            switch (e) {
            case '\\': case '\'': case '"':
                strbuf_addch(&sb, e);
                break;
            case 'n':
                strbuf_addch(&sb, '\n');
                break;
            case 't':
                strbuf_addch(&sb, '\t');
                break;
            case -1:
                fail(p, p->pos, "unterminated string");
                goto error;
            default: {
                char q[DIAG_QUOTE_SIZE];
                fail(p, i, "unknown escape '\\%s'", diag_excerpt(q, p->src + i + 1, 1));
                goto error;
            }
            }
            i += 2;
            continue;
        }
        strbuf_addch(&sb, c);
        i++;
    }
    p->tok.kind = TOK_STRING;
    p->tok.str = strbuf_detach(&sb, NULL);
    p->tok.len = i + 1 - p->pos;
    p->pos = i + 1;
    return;
error:
    strbuf_release(&sb);
    p->tok.kind = TOK_ERROR;
}

/* A dotted path: NAME ( "." NAME )*, with no blanks around the dots. The name after "steps."
 * may start with a digit, as step names may ("steps.3d.status"). */
static void lex_name(struct parser *p)
{
    size_t i = p->pos;
    for (;;) {
        while (is_name_char(peek_at(p, i)))
            i++;
        if (peek_at(p, i) != '.')
            break;
        bool step_name = i - p->pos == 5 && !memcmp(p->src + p->pos, "steps", 5);
        if (!is_name_start(peek_at(p, i + 1)) && !(step_name && is_digit(peek_at(p, i + 1)))) {
            char q[DIAG_QUOTE_SIZE];
            if (i + 1 >= p->len)
                fail(p, i + 1, "expected a name after '%s'",
                     diag_excerpt(q, p->src + p->pos, i + 1 - p->pos));
            else
                fail(p, i + 1, "unexpected '%s'", diag_excerpt(q, p->src + i + 1, 1));
            p->tok.kind = TOK_ERROR;
            return;
        }
        i++;
    }
    p->tok.kind = TOK_NAME;
    p->tok.len = i - p->pos;
    p->pos = i;
}

static void next(struct parser *p)
{
    free(p->tok.str);
    p->tok.str = NULL;
    if (p->failed) {
        p->tok.kind = TOK_ERROR;
        return;
    }
    while (p->pos < p->len && p->src[p->pos] && strchr(" \t\r\n", p->src[p->pos]))
        p->pos++;
    p->tok.start = p->pos;
    p->tok.len = 1;
    int c = peek_at(p, p->pos), c2 = peek_at(p, p->pos + 1);
    enum tok_kind two = TOK_END;
    switch (c) {
    case -1:
        p->tok.kind = TOK_END;
        p->tok.len = 0;
        return;
    case '(':
    case ')':
    case '+':
    case '-':
    case '*':
    case '/':
    case ',': {
        static const char singles[] = "()+-*/,";
        static const enum tok_kind kinds[] = {TOK_LPAREN, TOK_RPAREN, TOK_PLUS, TOK_MINUS,
                                              TOK_STAR,   TOK_SLASH,  TOK_COMMA};
        p->tok.kind = kinds[strchr(singles, c) - singles];
        p->pos++;
        return;
    }
    case '\'':
    case '"':
        lex_string(p);
        return;
    case '&':
        two = c2 == '&' ? TOK_AND : TOK_END;
        break;
    case '|':
        two = c2 == '|' ? TOK_OR : TOK_END;
        break;
    case '=':
        two = c2 == '=' ? TOK_EQ : TOK_END;
        break;
    case '!':
        two = c2 == '=' ? TOK_NE : TOK_END;
        if (two == TOK_END) {
            p->tok.kind = TOK_NOT;
            p->pos++;
            return;
        }
        break;
    case '<':
    case '>':
        if (c2 == '=') {
            two = c == '<' ? TOK_LE : TOK_GE;
        } else {
            p->tok.kind = c == '<' ? TOK_LT : TOK_GT;
            p->pos++;
            return;
        }
        break;
    case '.':
        if (is_digit(c2)) {
            lex_number(p);
            return;
        }
        break;
    default:
        if (is_digit(c)) {
            lex_number(p);
            return;
        }
        if (is_name_start(c)) {
            lex_name(p);
            return;
        }
        break;
    }
    if (two != TOK_END) {
        p->tok.kind = two;
        p->tok.len = 2;
        p->pos += 2;
        return;
    }
    char q[DIAG_QUOTE_SIZE];
    if (c == '=')
        fail(p, p->pos, "unexpected '=' (use '==' to compare)");
    else
        fail(p, p->pos, "unexpected '%s'", diag_excerpt(q, p->src + p->pos, 1));
    p->tok.kind = TOK_ERROR;
}

/* "unexpected 'x'" for the current token, or the end of the text. */
static void fail_unexpected(struct parser *p)
{
    char q[DIAG_QUOTE_SIZE];
    if (p->tok.kind == TOK_END)
        fail(p, p->tok.start, "unexpected end of expression");
    else
        fail(p, p->tok.start, "unexpected '%s'",
             diag_excerpt(q, p->src + p->tok.start, p->tok.len));
}

static struct expr *node_new(enum expr_op op, size_t offset)
{
    struct expr *e = xcalloc(1, sizeof(*e));
    e->op = op;
    e->offset = (int)offset;
    return e;
}

void expr_free(struct expr *e)
{
    if (!e)
        return;
    expr_free(e->lhs);
    expr_free(e->rhs);
    free(e->str);
    free(e->step);
    free(e->name);
    free(e);
}

static struct expr *parse_or(struct parser *p, int *depth);

/* The functions: min and max take two or more numbers, abs one. */
static bool function_op(const char *s, size_t n, enum expr_op *op)
{
    static const struct {
        const char *name;
        enum expr_op op;
    } fns[] = {{"min", EXPR_MIN}, {"max", EXPR_MAX}, {"abs", EXPR_ABS}};
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++)
        if (n == strlen(fns[i].name) && !memcmp(s, fns[i].name, n)) {
            *op = fns[i].op;
            return true;
        }
    return false;
}

/* Turn a dotted path into a reference node, or fail. */
static struct expr *make_ref(struct parser *p)
{
    const char *s = p->src + p->tok.start;
    size_t n = p->tok.len;
    /* split into at most 5 segments; more is always an unknown reference */
    const char *seg[5];
    size_t seglen[5];
    size_t nseg = 0;
    size_t i = 0;
    while (i <= n && nseg < 5) {
        size_t j = i;
        while (j < n && s[j] != '.')
            j++;
        seg[nseg] = s + i;
        seglen[nseg] = j - i;
        nseg++;
        i = j + 1;
    }
    bool more = i <= n;
#define SEG_IS(k, lit) (seglen[k] == sizeof(lit) - 1 && !memcmp(seg[k], lit, sizeof(lit) - 1))
    struct expr *e = NULL;
    enum expr_op fn;
    if (!more && nseg == 1 && (SEG_IS(0, "true") || SEG_IS(0, "false"))) {
        e = node_new(EXPR_BOOL, p->tok.start);
        e->b = SEG_IS(0, "true");
    } else if (!more && nseg == 2 && SEG_IS(0, "params")) {
        e = node_new(EXPR_PARAM, p->tok.start);
        e->name = xstrndup(seg[1], seglen[1]);
    } else if (!more && nseg == 2 && SEG_IS(0, "run") && SEG_IS(1, "id")) {
        e = node_new(EXPR_RUN_ID, p->tok.start);
    } else if (!more && nseg == 3 && SEG_IS(0, "steps") && SEG_IS(2, "status")) {
        e = node_new(EXPR_STEP_STATUS, p->tok.start);
        e->step = xstrndup(seg[1], seglen[1]);
    } else if (!more && nseg == 4 && SEG_IS(0, "steps") && SEG_IS(2, "metrics")) {
        e = node_new(EXPR_STEP_METRIC, p->tok.start);
        e->step = xstrndup(seg[1], seglen[1]);
        e->name = xstrndup(seg[3], seglen[3]);
    } else if (function_op(s, n, &fn)) {
        char q[DIAG_QUOTE_SIZE];
        diag_excerpt(q, s, n);
        fail(p, p->tok.start, "function '%s' needs its arguments in parentheses", q);
        return NULL;
    } else {
        char q[DIAG_QUOTE_SIZE];
        fail(p, p->tok.start, "unknown reference '%s'", diag_excerpt(q, s, n));
        return NULL;
    }
#undef SEG_IS
    next(p);
    return e;
}

/* A binary node, unless it would make the tree deeper than the cap. */
static struct expr *join(struct parser *p, enum expr_op op, size_t offset, struct expr *lhs,
                         int dl, struct expr *rhs, int dr, int *depth)
{
    *depth = (dl > dr ? dl : dr) + 1;
    if (*depth > EXPR_MAX_DEPTH) {
        fail(p, offset, "expression nests too deeply");
        expr_free(lhs);
        expr_free(rhs);
        return NULL;
    }
    struct expr *e = node_new(op, offset);
    e->lhs = lhs;
    e->rhs = rhs;
    return e;
}

/* A one-operand node over sub (whose depth is *depth), unless too deep. */
static struct expr *wrap(struct parser *p, enum expr_op op, size_t offset, struct expr *sub,
                         int *depth)
{
    if (++*depth > EXPR_MAX_DEPTH) {
        fail(p, offset, "expression nests too deeply");
        expr_free(sub);
        return NULL;
    }
    struct expr *e = node_new(op, offset);
    e->lhs = sub;
    return e;
}

/* NAME "(" expr ( "," expr )* ")", the current token being the name. min(a, b, c) becomes
 * MIN(MIN(a, b), c), so that every walk of the tree sees only lhs and rhs. */
static struct expr *parse_call(struct parser *p, int *depth)
{
    size_t at = p->tok.start, n = p->tok.len;
    char q[DIAG_QUOTE_SIZE], q2[DIAG_QUOTE_SIZE];
    enum expr_op op;
    diag_excerpt(q, p->src + at, n);
    if (!function_op(p->src + at, n, &op)) {
        fail(p, at, "unknown function '%s' (functions: min, max, abs)", q);
        return NULL;
    }
    next(p); /* the name */
    next(p); /* "(" */
    struct expr *acc = NULL;
    int nargs = 0;
    *depth = 0;
    for (bool more = p->tok.kind != TOK_RPAREN; more;) {
        int d;
        struct expr *arg = parse_or(p, &d);
        if (!arg)
            goto fail;
        if (++nargs == 1) {
            acc = arg;
            *depth = d;
        } else if (op == EXPR_ABS) {
            fail(p, (size_t)arg->offset, "function 'abs' takes 1 argument");
            expr_free(arg);
            goto fail;
        } else {
            acc = join(p, op, at, acc, *depth, arg, d, depth);
            if (!acc)
                return NULL;
            acc->more_args = nargs > 2;
        }
        more = p->tok.kind == TOK_COMMA;
        if (more) {
            next(p);
        } else if (p->tok.kind != TOK_RPAREN) {
            if (p->tok.kind == TOK_END)
                fail(p, p->tok.start, "expected ')' to end the arguments of '%s'", q);
            else /* after a lexer error, fail keeps the lexer's message */
                fail(p, p->tok.start, "expected ',' or ')' after an argument of '%s', found '%s'",
                     q, diag_excerpt(q2, p->src + p->tok.start, p->tok.len));
            goto fail;
        }
    }
    if (op == EXPR_ABS && nargs != 1) {
        fail(p, at, "function 'abs' takes 1 argument");
        goto fail;
    }
    if (nargs < 2 && op != EXPR_ABS) {
        fail(p, at, "function '%s' needs at least 2 arguments", q);
        goto fail;
    }
    next(p); /* ")" */
    return op == EXPR_ABS ? wrap(p, op, at, acc, depth) : acc;
fail:
    expr_free(acc);
    return NULL;
}

/* Is the current token a bare name with "(" after it (blanks allowed between)? */
static bool at_call(const struct parser *p)
{
    if (memchr(p->src + p->tok.start, '.', p->tok.len))
        return false;
    size_t i = p->pos;
    while (i < p->len && p->src[i] && strchr(" \t\r\n", p->src[i]))
        i++;
    return peek_at(p, i) == '(';
}

static struct expr *parse_primary(struct parser *p, int *depth)
{
    struct expr *e;
    *depth = 1;
    switch (p->tok.kind) {
    case TOK_NUMBER:
        e = node_new(EXPR_NUMBER, p->tok.start);
        e->num = p->tok.num;
        next(p);
        return e;
    case TOK_STRING:
        e = node_new(EXPR_STRING, p->tok.start);
        e->str = p->tok.str;
        p->tok.str = NULL;
        next(p);
        return e;
    case TOK_NAME:
        return at_call(p) ? parse_call(p, depth) : make_ref(p);
    case TOK_LPAREN: {
        next(p);
        e = parse_or(p, depth);
        if (!e)
            return NULL;
        if (p->tok.kind != TOK_RPAREN) {
            char q[DIAG_QUOTE_SIZE];
            if (p->tok.kind == TOK_END)
                fail(p, p->tok.start, "expected ')'");
            else
                fail(p, p->tok.start, "expected ')', found '%s'",
                     diag_excerpt(q, p->src + p->tok.start, p->tok.len));
            expr_free(e);
            return NULL;
        }
        next(p);
        return e;
    }
    case TOK_ERROR:
        return NULL;
    default:
        fail_unexpected(p);
        return NULL;
    }
}

/* A prefix operator (op at the current token) applied to what sub_fn parses after it. */
static struct expr *parse_prefix(struct parser *p, enum expr_op op,
                                 struct expr *(*sub_fn)(struct parser *, int *), int *depth)
{
    size_t at = p->tok.start;
    if (++p->nest > EXPR_MAX_DEPTH) {
        fail(p, at, "expression nests too deeply");
        return NULL;
    }
    next(p);
    struct expr *sub = sub_fn(p, depth);
    p->nest--;
    if (!sub)
        return NULL;
    if (op == EXPR_NEG && sub->op == EXPR_NUMBER) {
        /* "-1.5" stays one number, as it reads */
        sub->num = -sub->num;
        sub->offset = (int)at;
        return sub;
    }
    return wrap(p, op, at, sub, depth);
}

static struct expr *parse_unary(struct parser *p, int *depth)
{
    if (p->tok.kind == TOK_MINUS)
        return parse_prefix(p, EXPR_NEG, parse_unary, depth);
    if (p->tok.kind == TOK_PLUS) { /* only as the sign of a number: "+2" */
        size_t at = p->tok.start;
        next(p);
        if (p->tok.kind != TOK_NUMBER) {
            fail(p, at, "unexpected '+'");
            return NULL;
        }
        struct expr *e = parse_primary(p, depth);
        e->offset = (int)at;
        return e;
    }
    return parse_primary(p, depth);
}

/* The binary operators by level, loosest first; each level is left-associative. */
enum level { LV_OR, LV_AND, LV_SUM, LV_PRODUCT };

static bool binary_op(enum tok_kind k, enum level lv, enum expr_op *op)
{
    static const struct {
        enum tok_kind tok;
        enum level lv;
        enum expr_op op;
    } ops[] = {
        {TOK_OR, LV_OR, EXPR_OR},         {TOK_AND, LV_AND, EXPR_AND},
        {TOK_PLUS, LV_SUM, EXPR_ADD},     {TOK_MINUS, LV_SUM, EXPR_SUB},
        {TOK_STAR, LV_PRODUCT, EXPR_MUL}, {TOK_SLASH, LV_PRODUCT, EXPR_DIV},
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
        if (ops[i].tok == k && ops[i].lv == lv) {
            *op = ops[i].op;
            return true;
        }
    return false;
}

static struct expr *parse_level(struct parser *p, enum level lv, int *depth);

static struct expr *parse_cmp_operand(struct parser *p, int *depth)
{
    return parse_level(p, LV_SUM, depth);
}

static bool is_cmp(enum tok_kind k, enum expr_op *op)
{
    switch (k) {
    case TOK_EQ: *op = EXPR_EQ; return true;
    case TOK_NE: *op = EXPR_NE; return true;
    case TOK_LT: *op = EXPR_LT; return true;
    case TOK_LE: *op = EXPR_LE; return true;
    case TOK_GT: *op = EXPR_GT; return true;
    case TOK_GE: *op = EXPR_GE; return true;
    default: return false;
    }
}

static struct expr *parse_cmp(struct parser *p, int *depth)
{
    int dl, dr;
    struct expr *lhs = parse_cmp_operand(p, &dl);
    enum expr_op op;
    *depth = dl;
    if (!lhs || !is_cmp(p->tok.kind, &op))
        return lhs;
    size_t at = p->tok.start;
    next(p);
    struct expr *rhs = parse_cmp_operand(p, &dr);
    if (!rhs) {
        expr_free(lhs);
        return NULL;
    }
    enum expr_op op2;
    if (is_cmp(p->tok.kind, &op2)) {
        /* "1 < x < 3" does not mean what it seems to in any language that accepts it */
        fail(p, p->tok.start, "comparisons cannot be chained; join them with '&&'");
        expr_free(lhs);
        expr_free(rhs);
        return NULL;
    }
    return join(p, op, at, lhs, dl, rhs, dr, depth);
}

static struct expr *parse_not(struct parser *p, int *depth)
{
    if (p->tok.kind != TOK_NOT)
        return parse_cmp(p, depth);
    return parse_prefix(p, EXPR_NOT, parse_not, depth);
}

/* What the operators of level lv join: the next tighter level. */
static struct expr *parse_operand(struct parser *p, enum level lv, int *depth)
{
    switch (lv) {
    case LV_OR:
        return parse_level(p, LV_AND, depth);
    case LV_AND:
        return parse_not(p, depth);
    case LV_SUM:
        return parse_level(p, LV_PRODUCT, depth);
    case LV_PRODUCT:
        break;
    }
    return parse_unary(p, depth);
}

/* operand ( OP operand )*, for the operators of level lv */
static struct expr *parse_level(struct parser *p, enum level lv, int *depth)
{
    int dr;
    struct expr *e = parse_operand(p, lv, depth);
    enum expr_op op;
    while (e && binary_op(p->tok.kind, lv, &op)) {
        size_t at = p->tok.start;
        next(p);
        struct expr *rhs = parse_operand(p, lv, &dr);
        if (!rhs) {
            expr_free(e);
            return NULL;
        }
        e = join(p, op, at, e, *depth, rhs, dr, depth);
    }
    return e;
}

static struct expr *parse_or(struct parser *p, int *depth)
{
    if (++p->nest > EXPR_MAX_DEPTH) {
        fail(p, p->tok.start, "expression nests too deeply");
        return NULL;
    }
    struct expr *e = parse_level(p, LV_OR, depth);
    p->nest--;
    return e;
}

struct expr *expr_parse(const char *src, size_t len, int *err_offset, char *msg, size_t msgsz)
{
    struct parser p = {.src = src ? src : "", .len = src ? len : 0, .msg = msg, .msgsz = msgsz};
    int depth;
    struct expr *e = NULL;
    if (msg && msgsz)
        msg[0] = '\0';
    /* offsets are ints in the tree; a longer text cannot be pointed into */
    if (p.len > (size_t)1 << 30) {
        fail(&p, 0, "expression is too long");
        goto out;
    }
    next(&p);
    if (p.tok.kind == TOK_END) {
        fail(&p, p.tok.start, "empty expression");
        goto out;
    }
    e = parse_or(&p, &depth);
    if (e && p.tok.kind != TOK_END) {
        fail_unexpected(&p);
        expr_free(e);
        e = NULL;
    }
out:
    free(p.tok.str);
    if (!e && err_offset)
        *err_offset = p.err_offset;
    return e;
}

