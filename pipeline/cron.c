/* 5-field cron schedules: parsing into bit sets, and the next firing time in UTC. The search
 * moves a month, a day or an hour at a time when that unit cannot match, so even a schedule
 * that never fires costs a few thousand steps, not a minute-by-minute walk over years. */
#include "pipeline/cron.h"
#include "pipeline/diag.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>


struct field_def {
    const char *name;
    int min, max;
    const char *const *names; /* names[i] is value i + names_base, or NULL */
    int names_base;
};

static const char *const month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                          "jul", "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const day_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const struct field_def fields[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day-of-month", 1, 31, NULL, 0},
    {"month", 1, 12, month_names, 1},
    {"day-of-week", 0, 7, day_names, 0},
};

static const struct {
    const char *name;
    const char *expansion;
} macros[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

struct cparse {
    int *err_offset;
    char *msg;
    size_t msgsz;
};

static int fail(struct cparse *cp, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct cparse *cp, size_t offset, const char *fmt, ...)
{
    if (cp->err_offset)
        *cp->err_offset = (int)offset;
    if (cp->msg && cp->msgsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(cp->msg, cp->msgsz, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* One value of field fd at s[*i]: a number or, where the field has them, a name. Advances *i.
 * *named tells whether it was written as a name. Range-checked against the field. */
static int parse_value(struct cparse *cp, const struct field_def *fd, const char *s, size_t *i,
                       size_t end, size_t field_start, int *out, bool *named)
{
    char q[DIAG_QUOTE_SIZE];
    size_t start = *i, j = *i;
    *named = false;
    if (j < end && is_digit(s[j])) {
        long v = 0;
        while (j < end && is_digit(s[j])) {
            if (v < 1000000)
                v = v * 10 + (s[j] - '0');
            j++;
        }
        if (v < fd->min || v > fd->max)
            return fail(cp, field_start, "%s '%s' out of range %d-%d", fd->name,
                        diag_excerpt(q, s + start, j - start), fd->min, fd->max);
        *out = (int)v;
        *i = j;
        return 0;
    }
    while (j < end && is_alpha(s[j]))
        j++;
    if (j == start) {
        size_t k = start;
        while (k < end && s[k] != ',')
            k++;
        if (k == start)
            return fail(cp, field_start, "%s '%s' is missing a value", fd->name,
                        diag_excerpt(q, s + field_start, end - field_start));
        return fail(cp, field_start, "%s '%s' is not a number", fd->name,
                    diag_excerpt(q, s + start, k - start));
    }
    if (fd->names && j - start == 3) {
        for (int k = 0; fd->names[k]; k++) {
            if (!strncasecmp(s + start, fd->names[k], 3)) {
                *out = k + fd->names_base;
                *named = true;
                *i = j;
                return 0;
            }
        }
    }
    if (fd->names)
        return fail(cp, field_start, "unknown %s name '%s'", fd->name,
                    diag_excerpt(q, s + start, j - start));
    return fail(cp, field_start, "%s '%s' is not a number", fd->name,
                diag_excerpt(q, s + start, j - start));
}

/* Parse one field s[start..end) into a bit set (bit v for value v; day-of-week 7 folded
 * onto 0 by the caller). */
static int parse_field(struct cparse *cp, int idx, const char *s, size_t start, size_t end,
                       uint64_t *bits)
{
    const struct field_def *fd = &fields[idx];
    char q[DIAG_QUOTE_SIZE];
    size_t i = start;
    *bits = 0;
    for (;;) {
        size_t item = i;
        int lo, hi, step = 1;
        bool named;
        if (i < end && s[i] == '*') {
            lo = fd->min;
            hi = fd->max;
            i++;
        } else {
            if (parse_value(cp, fd, s, &i, end, start, &lo, &named) < 0)
                return -1;
            hi = lo;
            if (i < end && s[i] == '-') {
                i++;
                bool hi_named;
                if (parse_value(cp, fd, s, &i, end, start, &hi, &hi_named) < 0)
                    return -1;
                /* "fri-sun" means Friday to Sunday, not a range running backwards */
                if (idx == 4 && hi_named && hi == 0 && lo > 0)
                    hi = 7;
                if (hi < lo) {
                    size_t k = item;
                    while (k < end && s[k] != ',' && s[k] != '/')
                        k++;
                    return fail(cp, start, "%s range '%s' goes backwards", fd->name,
                                diag_excerpt(q, s + item, k - item));
                }
            } else if (i < end && s[i] == '/') {
                hi = fd->max; /* "a/n": from a to the end of the field */
            }
        }
        if (i < end && s[i] == '/') {
            size_t sstart = ++i;
            long v = 0;
            while (i < end && is_digit(s[i])) {
                if (v < 1000000)
                    v = v * 10 + (s[i] - '0');
                i++;
            }
            if (i == sstart) {
                size_t k = i;
                while (k < end && s[k] != ',')
                    k++;
                return fail(cp, start, "step '%s' is not a number",
                            diag_excerpt(q, s + sstart, k - sstart));
            }
            if (v == 0)
                return fail(cp, start, "step '%s' must be positive",
                            diag_excerpt(q, s + sstart, i - sstart));
            step = v > 1000 ? 1000 : (int)v;
        }
        if (i < end && s[i] != ',') {
            size_t k = i;
            while (k < end && s[k] != ',')
                k++;
            char q2[DIAG_QUOTE_SIZE];
            return fail(cp, start, "unexpected '%s' in %s '%s'", diag_excerpt(q, s + i, 1),
                        fd->name, diag_excerpt(q2, s + item, k - item));
        }
        for (int v = lo; v <= hi; v += step)
            *bits |= (uint64_t)1 << v;
        if (i >= end)
            return 0;
        i++; /* the ',' */
        if (i >= end)
            return fail(cp, start, "%s '%s' is missing a value", fd->name,
                        diag_excerpt(q, s + start, end - start));
    }
}

/* A schedule whose days of the month are in none of its months ("0 0 30 2 *") never fires,
 * unless day-of-week is restricted too: then either matching fires (Vixie cron), and every
 * weekday comes. dom is the day-of-month field, s[start..end). */
static int check_fires(struct cparse *cp, const struct cron *c, const char *s, size_t start,
                       size_t end)
{
    static const char *const names[13] = {
        NULL,   "January", "February", "March",     "April",   "May",      "June",
        "July", "August",  "September", "October", "November", "December"};
    static const int longest[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (!c->dom_star && !c->dow_star)
        return 0;
    int n = 0, last = 0;
    for (int m = 1; m <= 12; m++) {
        if (!(c->month & (1u << m)))
            continue;
        if (c->dom & (((uint64_t)1 << (longest[m] + 1)) - 2)) /* days 1..longest[m] */
            return 0;
        n++;
        last = m;
    }
    char q[DIAG_QUOTE_SIZE], months[128] = "";
    diag_excerpt(q, s + start, end - start);
    if (n == 1)
        return fail(cp, start, "schedule never fires: %s has no day '%s'", names[last], q);
    for (int m = 1, k = 0; m <= 12; m++)
        if (c->month & (1u << m)) {
            k++;
            snprintf(months + strlen(months), sizeof(months) - strlen(months), "%s%s",
                     k == 1 ? "" : k == n ? " and " : ", ", names[m]);
        }
    return fail(cp, start, "schedule never fires: none of %s has a day '%s'", months, q);
}

static int parse_fields(struct cparse *cp, const char *s, struct cron *c)
{
    size_t fstart[6], fend[6];
    int n = 0;
    size_t i = 0, len = strlen(s);
    while (i < len) {
        while (i < len && is_blank(s[i]))
            i++;
        if (i >= len)
            break;
        size_t st = i;
        while (i < len && !is_blank(s[i]))
            i++;
        if (n < 6) {
            fstart[n] = st;
            fend[n] = i;
        }
        n++;
    }
    if (n != 5)
        return fail(cp, n > 5 ? fstart[5] : len, "expected 5 fields, got %d", n);

    uint64_t bits[5];
    for (int k = 0; k < 5; k++) {
        if (parse_field(cp, k, s, fstart[k], fend[k], &bits[k]) < 0)
            return -1;
    }
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint16_t)bits[3];
    if (bits[4] & (1u << 7))
        bits[4] = (bits[4] | 1u) & ~(uint64_t)(1u << 7);
    c->dow = (uint8_t)bits[4];
    c->dom_star = s[fstart[2]] == '*';
    c->dow_star = s[fstart[4]] == '*';
    return check_fires(cp, c, s, fstart[2], fend[2]);
}

int cron_parse(const char *expr, struct cron *c, int *err_offset, char *msg, size_t msgsz)
{
    struct cparse cp = {err_offset, msg, msgsz};
    char q[DIAG_QUOTE_SIZE];
    memset(c, 0, sizeof(*c));
    if (msg && msgsz)
        msg[0] = '\0';
    if (!expr)
        expr = "";
    size_t i = 0;
    while (is_blank(expr[i]))
        i++;
    if (expr[i] == '@') {
        size_t j = i;
        while (expr[j] && !is_blank(expr[j]))
            j++;
        size_t k = j;
        while (is_blank(expr[k]))
            k++;
        for (size_t m = 0; m < sizeof(macros) / sizeof(macros[0]); m++) {
            if (strlen(macros[m].name) == j - i && !strncasecmp(expr + i, macros[m].name, j - i)) {
                if (expr[k])
                    return fail(&cp, k, "unexpected '%s' after '%s'",
                                diag_excerpt(q, expr + k, strlen(expr + k)), macros[m].name);
                return parse_fields(&cp, macros[m].expansion, c);
            }
        }
        return fail(&cp, i, "unknown macro '%s'", diag_excerpt(q, expr + i, j - i));
    }
    return parse_fields(&cp, expr, c);
}

/* ---- the next firing time ---- */

static bool is_leap(long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(long y, int m)
{
    static const int d[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

static long floor_div(long a, long b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* Day of the week (0 = Sunday) of a proleptic Gregorian date, by Zeller's congruence. */
static int day_of_week(long y, int m, int d)
{
    if (m < 3) {
        m += 12;
        y--;
    }
    long j = floor_div(y, 100), k = y - 100 * j;
    long h = (d + (13 * (m + 1)) / 5 + k + k / 4 + floor_div(j, 4) + 5 * j) % 7;
    if (h < 0)
        h += 7;
    return (int)((h + 6) % 7); /* Zeller counts from Saturday */
}

static bool day_matches(const struct cron *c, long y, int m, int d)
{
    bool dom = c->dom & (1u << d);
    bool dow = c->dow & (1u << day_of_week(y, m, d));
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

time_t cron_next(const struct cron *c, time_t after)
{
    struct tm tm;
    if (!c->minute || !c->hour || !c->dom || !c->month || !c->dow)
        return (time_t)-1;
    if (!gmtime_r(&after, &tm) || tm.tm_year > INT_MAX - 1900 - 10)
        return (time_t)-1;
    long y = (long)tm.tm_year + 1900, last_year = y + 5;
    int mo = tm.tm_mon + 1, d = tm.tm_mday, h = tm.tm_hour, mi = tm.tm_min + 1;

    /* 5 years after `after`, the end of the search */
    struct tm lim = tm;
    lim.tm_year += 5;
    time_t limit = timegm(&lim);

    /* each pass either returns or moves forward by at least a minute, and by a whole unit
     * whenever that unit cannot match; the year bound ends it */
    for (;;) {
        if (mi > 59) {
            mi = 0;
            h++;
        }
        if (h > 23) {
            h = 0;
            d++;
        }
        if (mo > 12) { /* after skipping December */
            mo = 1;
            y++;
        }
        if (d > days_in_month(y, mo)) {
            d = 1;
            if (++mo > 12) {
                mo = 1;
                y++;
            }
        }
        if (y > last_year)
            return (time_t)-1;
        if (!(c->month & (1u << mo))) {
            mo++;
            d = 1;
            h = 0;
            mi = 0;
            continue;
        }
        if (!day_matches(c, y, mo, d)) {
            d++;
            h = 0;
            mi = 0;
            continue;
        }
        if (!(c->hour & (1u << h))) {
            h++;
            mi = 0;
            continue;
        }
        while (mi <= 59 && !(c->minute & ((uint64_t)1 << mi)))
            mi++;
        if (mi > 59)
            continue; /* the carry at the top moves to the next hour */
        break;
    }
    struct tm out = {0};
    out.tm_year = (int)(y - 1900);
    out.tm_mon = mo - 1;
    out.tm_mday = d;
    out.tm_hour = h;
    out.tm_min = mi;
    time_t t = timegm(&out);
    if (t == (time_t)-1 || (limit != (time_t)-1 && t > limit))
        return (time_t)-1;
    return t;
}
