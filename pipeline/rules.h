/* The data-quality rule language of a crawl step's `expect:` list, parsed: the loader checks
 * each rule's syntax when the pipeline is validated (no columns are known then), and the
 * crawl evaluates the tree against the crawled data (executor/crawl_rules.c).
 *
 * Rules: comparisons joined by && and || (&& binds tighter) with parentheses, e.g.
 * `rows >= 500 && (nulls(diagnosis) == 0 || distinct(id) == rows)`. A side of a comparison
 * (== != < <= > >=) is a number, `rows`, or nulls(COL), distinct(COL), min(COL), max(COL),
 * mean(COL); at least one side is not a number. COL is a column name, bare (trimmed; no
 * parentheses or quotes in it) or quoted with '...' or "..." (no escapes).
 */
#ifndef SLUICE_RULES_H
#define SLUICE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum rule_op { RULE_EQ, RULE_NE, RULE_LT, RULE_LE, RULE_GT, RULE_GE };

enum rule_term_kind {
    RULE_NUMBER,
    RULE_ROWS,
    RULE_NULLS,
    RULE_DISTINCT,
    RULE_MIN,
    RULE_MAX,
    RULE_MEAN,
};

/* One side of a comparison. */
struct rule_term {
    enum rule_term_kind kind;
    bool is_int; /* RULE_NUMBER: an integer that fits 64 bits (i and f), else a float (f) */
    int64_t i;
    double f;
    char *col; /* the function's column; NULL for a number and rows */
};

enum rule_node_kind { RULE_OR, RULE_AND, RULE_CMP };

struct rule_node {
    enum rule_node_kind kind;
    struct rule_node *l, *r; /* RULE_OR, RULE_AND */
    struct rule_term a, b;   /* RULE_CMP: a op b */
    enum rule_op op;
};

/* Parse rule into a tree, freed with rule_free. NULL when it is not a rule, with
 * *err_offset the 0-based byte offset of the problem in rule and msg (msgsz bytes, cut when
 * short) saying what it is ("unknown function 'size'"); err_offset and msg may be NULL. */
struct rule_node *rule_parse(const char *rule, int *err_offset, char *msg, size_t msgsz);
void rule_free(struct rule_node *n); /* NULL is fine */

/* The syntax check alone: 0, or -1 with *err_offset and msg as rule_parse sets them. */
int rule_check(const char *rule, int *err_offset, char *msg, size_t msgsz);

/* A function's name ("nulls"); NULL for a number and rows. */
const char *rule_function_name(enum rule_term_kind kind);

#endif
