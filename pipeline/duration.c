/* Durations ("500ms", "1.5h", "1h30m") and sizes ("10G", "512KiB"): parsed exactly in integer
 * arithmetic, so that a hostile value overflows into an error rather than into a wrong
 * number, and formatted compactly for people. */
#include "pipeline/duration.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Digits beyond this many after the point cannot change a millisecond or byte count by a
 * whole unit for any unit here (the largest is a day, 8.64e7 ms, and a TiB, 1.1e12 B). */
#define FRAC_DIGITS 13

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* "<digits>[.<digits>]" at *s: the whole part and the fraction as num / den. Advances *s.
 * Returns -1 when there is no digit before the point or none after it, or on overflow. */
static int parse_number(const char **s, uint64_t *whole, uint64_t *frac, uint64_t *den)
{
    const char *p = *s;
    uint64_t w = 0, f = 0, d = 1;
    if (!is_digit(*p))
        return -1;
    for (; is_digit(*p); p++) {
        if (w > (UINT64_MAX - 9) / 10)
            return -1;
        w = w * 10 + (uint64_t)(*p - '0');
    }
    if (*p == '.') {
        p++;
        if (!is_digit(*p))
            return -1;
        for (int n = 0; is_digit(*p); p++, n++) {
            if (n < FRAC_DIGITS) {
                f = f * 10 + (uint64_t)(*p - '0');
                d *= 10;
            }
        }
    }
    *s = p;
    *whole = w;
    *frac = f;
    *den = d;
    return 0;
}

/* whole * unit + frac * unit / den, rounded to nearest, if it fits in an int64. */
static int scale(uint64_t whole, uint64_t frac, uint64_t den, uint64_t unit, int64_t *out)
{
    if (unit && whole > (uint64_t)INT64_MAX / unit)
        return -1;
    uint64_t v = whole * unit;
    /* frac < den <= 1e13 and unit <= 2^40: the product needs more than 64 bits */
    __extension__ unsigned __int128 f = (unsigned __int128)frac * unit;
    uint64_t q = (uint64_t)((f + den / 2) / den);
    if (q > (uint64_t)INT64_MAX - v)
        return -1;
    *out = (int64_t)(v + q);
    return 0;
}

int duration_parse(const char *s, int64_t *ms)
{
    static const struct {
        const char *unit;
        uint64_t ms;
    } units[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000},
    };
    if (!s || !*s)
        return -1;
    if (!strcmp(s, "0")) {
        *ms = 0;
        return 0;
    }
    /* one or more <number><unit> terms, as Go writes "1h30m" */
    int64_t total = 0;
    while (*s) {
        uint64_t whole, frac, den;
        if (parse_number(&s, &whole, &frac, &den) < 0)
            return -1;
        size_t ulen = 0;
        while (s[ulen] >= 'a' && s[ulen] <= 'z')
            ulen++;
        size_t k;
        for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
            if (strlen(units[k].unit) == ulen && !strncmp(s, units[k].unit, ulen))
                break;
        }
        if (k == sizeof(units) / sizeof(units[0]))
            return -1;
        s += ulen;
        int64_t v;
        if (scale(whole, frac, den, units[k].ms, &v) < 0 || v > INT64_MAX - total)
            return -1;
        total += v;
    }
    *ms = total;
    return 0;
}

void duration_format(int64_t ms, char *buf, int bufsz)
{
    if (!buf || bufsz <= 0)
        return;
    const char *sign = "";
    uint64_t v = (uint64_t)ms;
    if (ms < 0) {
        sign = "-";
        v = 0 - v; /* also right for INT64_MIN */
    }
    size_t n = (size_t)bufsz;
    if (v < 1000)
        snprintf(buf, n, "%s%llums", sign, (unsigned long long)v);
    else if (v < 60000)
        snprintf(buf, n, "%s%llus", sign, (unsigned long long)(v / 1000));
    else if (v < 3600000)
        snprintf(buf, n, "%s%llum%02llus", sign, (unsigned long long)(v / 60000),
                 (unsigned long long)(v / 1000 % 60));
    else if (v < 86400000)
        snprintf(buf, n, "%s%lluh%02llum", sign, (unsigned long long)(v / 3600000),
                 (unsigned long long)(v / 60000 % 60));
    else if (v / 3600000 % 24 == 0)
        snprintf(buf, n, "%s%llud", sign, (unsigned long long)(v / 86400000));
    else
        snprintf(buf, n, "%s%llud%02lluh", sign, (unsigned long long)(v / 86400000),
                 (unsigned long long)(v / 3600000 % 24));
}

int size_parse(const char *s, int64_t *bytes)
{
    static const char prefixes[] = "KMGT";
    if (!s || !*s)
        return -1;
    uint64_t whole, frac, den;
    if (parse_number(&s, &whole, &frac, &den) < 0)
        return -1;
    uint64_t unit = 1;
    if (*s && strcasecmp(s, "b") != 0) {
        const char *pfx = strchr(prefixes, toupper((unsigned char)s[0]));
        if (!pfx)
            return -1;
        const char *rest = s + 1;
        /* K, KB, KiB: all powers of 1024, since nobody sizes memory or downloads in 1000s */
        if (*rest && strcasecmp(rest, "b") != 0 && strcasecmp(rest, "ib") != 0)
            return -1;
        for (const char *p = prefixes; p <= pfx; p++)
            unit *= 1024;
    }
    if (unit == 1 && frac)
        return -1; /* a fraction of a byte */
    int64_t v;
    if (scale(whole, frac, den, unit, &v) < 0)
        return -1;
    *bytes = v;
    return 0;
}

void size_format(int64_t bytes, char *buf, int bufsz)
{
    static const char prefixes[] = "KMGTPE";
    if (!buf || bufsz <= 0)
        return;
    if (bytes < 1024 && bytes > -1024) {
        snprintf(buf, (size_t)bufsz, "%lldB", (long long)bytes);
        return;
    }
    double v = (double)bytes;
    int k = -1;
    /* move up while the value, rounded as printed, would read 1024.0 or more */
    while (k < 5 && (v <= -1023.95 || v >= 1023.95)) {
        v /= 1024;
        k++;
    }
    snprintf(buf, (size_t)bufsz, "%.1f%c", v, prefixes[k]);
}
