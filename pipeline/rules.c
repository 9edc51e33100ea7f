/* The expect: rule language's parser: a rule's text into the tree of rules.h, or the first
 * syntax error with its offset. Recursive descent, one function per level of the grammar. */
#include "pipeline/rules.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/number.h"
#include "util/xalloc.h"

#define RULE_DEPTH_MAX 64

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
    enum rule_term_kind kind;
} rule_functions[] = {
    {"nulls", RULE_NULLS}, {"distinct", RULE_DISTINCT}, {"min", RULE_MIN},
    {"max", RULE_MAX},     {"mean", RULE_MEAN},
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

void rule_free(struct rule_node *n)
{
    if (!n)
        return;
    rule_free(n->l);
    rule_free(n->r);
    free(n->a.col);
    free(n->b.col);
    free(n);
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
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

static bool parse_term(struct rparser *rp, struct rule_term *t)
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
        enum number_kind k = number_parse(s + start, end - start, &t->i, &t->f);
        if (k == NUMBER_NONE) {
            rparser_fail(rp, start, "bad number '%.*s'", (int)(end - start), s + start);
            return false;
        }
        t->kind = RULE_NUMBER;
        t->is_int = k == NUMBER_INT;
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
        t->kind = RULE_ROWS;
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

static struct rule_node *parse_or(struct rparser *rp);

static struct rule_node *parse_cmp(struct rparser *rp)
{
    static const struct {
        const char *text;
        enum rule_op op;
    } ops[] = {{"==", RULE_EQ}, {"!=", RULE_NE}, {"<=", RULE_LE},
               {">=", RULE_GE}, {"<", RULE_LT},  {">", RULE_GT}};
    struct rule_node *n = xcalloc(1, sizeof(*n));
    n->kind = RULE_CMP;
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
    if (n->a.kind == RULE_NUMBER && n->b.kind == RULE_NUMBER) {
        rparser_fail(rp, start, "a comparison needs 'rows' or a function on one side");
        goto fail;
    }
    return n;
fail:
    rule_free(n);
    return NULL;
}

static struct rule_node *parse_primary(struct rparser *rp)
{
    skip_space(rp);
    if (rp->s[rp->pos] != '(')
        return parse_cmp(rp);
    size_t open = rp->pos++;
    if (++rp->depth > RULE_DEPTH_MAX) {
        rparser_fail(rp, open, "parentheses nested too deeply");
        return NULL;
    }
    struct rule_node *n = parse_or(rp);
    rp->depth--;
    if (!n)
        return NULL;
    skip_space(rp);
    if (rp->s[rp->pos] != ')') {
        rparser_fail(rp, rp->pos, "expected ')' to close the '(' at offset %zu", open);
        rule_free(n);
        return NULL;
    }
    rp->pos++;
    return n;
}

static struct rule_node *parse_binary(struct rparser *rp, enum rule_node_kind kind)
{
    const char *tok = kind == RULE_OR ? "||" : "&&";
    struct rule_node *l = kind == RULE_OR ? parse_binary(rp, RULE_AND) : parse_primary(rp);
    while (l) {
        skip_space(rp);
        if (strncmp(rp->s + rp->pos, tok, 2))
            break;
        rp->pos += 2;
        struct rule_node *r = kind == RULE_OR ? parse_binary(rp, RULE_AND) : parse_primary(rp);
        if (!r) {
            rule_free(l);
            return NULL;
        }
        struct rule_node *n = xcalloc(1, sizeof(*n));
        n->kind = kind;
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

static struct rule_node *parse_or(struct rparser *rp)
{
    return parse_binary(rp, RULE_OR);
}

static struct rule_node *parse_rule(const char *rule, struct rparser *rp)
{
    memset(rp, 0, sizeof(*rp));
    rp->s = rule;
    skip_space(rp);
    if (!rule[rp->pos]) {
        rparser_fail(rp, rp->pos, "empty rule");
        return NULL;
    }
    struct rule_node *n = parse_or(rp);
    if (!n)
        return NULL;
    skip_space(rp);
    if (rule[rp->pos]) {
        rparser_fail(rp, rp->pos, "expected '&&', '||' or the end of the rule, not '%c'",
                     rule[rp->pos]);
        rule_free(n);
        return NULL;
    }
    return n;
}

struct rule_node *rule_parse(const char *rule, int *err_offset, char *msg, size_t msgsz)
{
    struct rparser rp;
    struct rule_node *n = parse_rule(rule, &rp);
    if (n)
        return n;
    if (err_offset)
        *err_offset = (int)rp.err_pos;
    if (msg && msgsz)
        snprintf(msg, msgsz, "%s", rp.msg);
    return NULL;
}

int rule_check(const char *rule, int *err_offset, char *msg, size_t msgsz)
{
    struct rule_node *n = rule_parse(rule, err_offset, msg, msgsz);
    if (!n)
        return -1;
    rule_free(n);
    return 0;
}

const char *rule_function_name(enum rule_term_kind kind)
{
    for (size_t k = 0; k < sizeof(rule_functions) / sizeof(rule_functions[0]); k++)
        if (rule_functions[k].kind == kind)
            return rule_functions[k].name;
    return NULL;
}
