/* A cell's text as a typed value for the crawler: integer, float, boolean, timestamp (ISO-8601,
 * M/D/YYYY or D.M.YYYY) or string, and timestamps compared as instants. The rules are in
 * crawl.h. */
#include "executor/crawl_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/number.h"
#include "util/xalloc.h"

/* ---- values ----------------------------------------------------------------------------- */

/* Read exactly count digits at s[*p] into *out. */
static bool read_digits(const char *s, size_t n, size_t *p, int count, int *out)
{
    int v = 0;
    for (int k = 0; k < count; k++, (*p)++) {
        if (*p >= n || !is_digit(s[*p]))
            return false;
        v = v * 10 + (s[*p] - '0');
    }
    *out = v;
    return true;
}

static bool read_char(const char *s, size_t n, size_t *p, char c)
{
    if (*p < n && s[*p] == c) {
        (*p)++;
        return true;
    }
    return false;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 0000-01-01 (proleptic Gregorian) to y-m-d. */
static int64_t days_of(int y, int m, int d)
{
    static const int before[12] = {0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
    int64_t leaps = y > 0 ? (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400 + 1 : 0;
    return (int64_t)y * 365 + leaps + before[m - 1] + (m > 2 && is_leap(y)) + d - 1;
}

/* One or two digits at s[*p] into *out. */
static bool read_day_or_month(const char *s, size_t n, size_t *p, int *out)
{
    int second;
    if (!read_digits(s, n, p, 1, out))
        return false;
    if (read_digits(s, n, p, 1, &second))
        *out = *out * 10 + second;
    return true;
}

/* The date that starts s: YYYY-MM-DD, M/D/YYYY (as in the US) or D.M.YYYY (as in much of
 * Europe), M and D of one or two digits. A day-first date written with slashes (25/12/2024)
 * does not parse, so a column of them is not a timestamp column. */
static bool parse_date(const char *s, size_t n, size_t *p, int *y, int *mo, int *d)
{
    size_t start = *p;
    if (read_digits(s, n, p, 4, y) && read_char(s, n, p, '-'))
        return read_digits(s, n, p, 2, mo) && read_char(s, n, p, '-') &&
               read_digits(s, n, p, 2, d);
    *p = start;
    int a, b;
    if (!read_day_or_month(s, n, p, &a) || *p >= n || (s[*p] != '/' && s[*p] != '.'))
        return false;
    char sep = s[(*p)++];
    if (!read_day_or_month(s, n, p, &b) || !read_char(s, n, p, sep) ||
        !read_digits(s, n, p, 4, y))
        return false;
    *mo = sep == '/' ? a : b;
    *d = sep == '/' ? b : a;
    return true;
}

/* A date as parse_date reads it, alone or followed by [Tt ]HH:MM[:SS[.F…]][Zz|±HH[[:]MM]]. */
static bool parse_timestamp(const char *s, size_t n, struct tstamp *t)
{
    size_t p = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int32_t nsec = 0;
    int64_t off = 0;
    if (!parse_date(s, n, &p, &y, &mo, &d))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo))
        return false;
    if (p < n) {
        if (s[p] != 'T' && s[p] != 't' && s[p] != ' ')
            return false;
        p++;
        if (!read_digits(s, n, &p, 2, &h) || !read_char(s, n, &p, ':') ||
            !read_digits(s, n, &p, 2, &mi))
            return false;
        if (read_char(s, n, &p, ':')) {
            if (!read_digits(s, n, &p, 2, &sec))
                return false;
            if (read_char(s, n, &p, '.')) {
                int digits = 0;
                for (; p < n && is_digit(s[p]); p++, digits++)
                    if (digits < 9)
                        nsec = nsec * 10 + (s[p] - '0');
                if (!digits)
                    return false;
                for (; digits < 9; digits++)
                    nsec *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 60)
            return false;
        if (read_char(s, n, &p, 'Z') || read_char(s, n, &p, 'z')) {
            off = 0;
        } else if (p < n && (s[p] == '+' || s[p] == '-')) {
            int sign = s[p++] == '-' ? -1 : 1, oh, om = 0;
            if (!read_digits(s, n, &p, 2, &oh))
                return false;
            if (read_char(s, n, &p, ':') || p < n)
                if (!read_digits(s, n, &p, 2, &om))
                    return false;
            if (oh > 23 || om > 59)
                return false;
            off = sign * (oh * 3600 + om * 60);
        }
        if (p != n)
            return false;
    }
    t->sec = days_of(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - off;
    t->nsec = nsec;
    return true;
}

int crawl_tstamp_cmp(const struct tstamp *a, const struct tstamp *b)
{
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    return (a->nsec > b->nsec) - (a->nsec < b->nsec);
}

bool crawl_parse_number(const char *s, size_t n, struct value *v)
{
    enum number_kind k = number_parse(s, n, &v->i, &v->f);
    if (k == NUMBER_NONE)
        return false;
    v->type = k == NUMBER_INT ? CRAWL_INTEGER : CRAWL_FLOAT;
    return true;
}

static bool text_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && !strncasecmp(s, word, n);
}

void crawl_classify_text(const char *s, size_t n, bool json, struct value *v)
{
    v->text = s;
    v->len = n;
    if (!n) {
        v->type = TYPE_NULL;
        return;
    }
    if (!json) {
        if (text_is(s, n, "true") || text_is(s, n, "false")) {
            v->type = CRAWL_BOOLEAN;
            v->b = n == 4;
            return;
        }
        if (crawl_parse_number(s, n, v))
            return;
    }
    if (is_digit(s[0]) && parse_timestamp(s, n, &v->t)) {
        v->type = CRAWL_TIMESTAMP;
        return;
    }
    v->type = CRAWL_STRING;
}
