/* The crawler's insides, shared by crawl.c (reading a file into column statistics),
 * crawl_values.c (a cell's text as a typed value), crawl_rules.c (the expect: rule language)
 * and crawl_schema.c (schema.json and drift). Not for other parts: the API is crawl.h. */
#ifndef SLUICE_CRAWL_INT_H
#define SLUICE_CRAWL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "executor/crawl.h"

#define TYPE_NULL (-2) /* a value that is null */

struct tstamp {
    int64_t sec;  /* seconds since 0000-01-01T00:00Z (ordering only) */
    int32_t nsec; /* the fraction, to the nanosecond */
};

/* One cell or JSON value, classified. */
struct value {
    int type;         /* enum crawl_type, or TYPE_NULL */
    const char *text; /* its text: distinct values and string min/max */
    size_t len;
    int64_t i;       /* CRAWL_INTEGER */
    double f;        /* CRAWL_INTEGER and CRAWL_FLOAT */
    bool b;          /* CRAWL_BOOLEAN */
    struct tstamp t; /* CRAWL_TIMESTAMP */
};

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static inline void value_int(struct crawl_value *v, int64_t i)
{
    v->is_int = true;
    v->i = i;
    v->f = (double)i;
}

static inline void value_real(struct crawl_value *v, double f)
{
    v->is_int = false;
    v->i = 0;
    v->f = f;
}

/* crawl.c */
/* s as a valid UTF-8 string without NUL (other bytes become U+FFFD); when max > 0, cut at a
 * character boundary so that at most max bytes of s are kept, and mark the cut with "…". */
char *crawl_text_clean(const char *s, size_t n, size_t max);

/* crawl_values.c */
int crawl_tstamp_cmp(const struct tstamp *a, const struct tstamp *b);
/* A decimal number: [+-]digits is an integer when it fits 64 bits; with a fraction or an
 * exponent, or too long, a float (finite only). Sets v->type, or returns false. */
bool crawl_parse_number(const char *s, size_t n, struct value *v);
/* Classify a CSV cell (or a JSON string, when json is set: its type is not re-inferred
 * beyond timestamp, since the producer said "string"). */
void crawl_classify_text(const char *s, size_t n, bool json, struct value *v);

#endif
