/* Decimal numbers: checked by hand (no hex, inf or nan, no leading space), converted by libc. */
#include "util/number.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

enum number_kind number_parse(const char *s, size_t n, int64_t *i, double *f)
{
    size_t p = 0, nint = 0, nfrac = 0;
    bool real = false;
    if (p < n && (s[p] == '+' || s[p] == '-'))
        p++;
    for (; p < n && is_digit(s[p]); p++)
        nint++;
    if (p < n && s[p] == '.') {
        real = true;
        for (p++; p < n && is_digit(s[p]); p++)
            nfrac++;
    }
    if (!nint && !nfrac)
        return NUMBER_NONE;
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        real = true;
        p++;
        if (p < n && (s[p] == '+' || s[p] == '-'))
            p++;
        size_t nexp = 0;
        for (; p < n && is_digit(s[p]); p++)
            nexp++;
        if (!nexp)
            return NUMBER_NONE;
    }
    if (p != n)
        return NUMBER_NONE;
    /* s may not be NUL-terminated: parse a copy */
    char small[64];
    char *buf = n < sizeof(small) ? small : xmalloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    enum number_kind kind = NUMBER_FLOAT;
    if (!real) {
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (errno != ERANGE) {
            *i = x;
            *f = (double)x;
            kind = NUMBER_INT;
        }
    }
    if (kind == NUMBER_FLOAT) {
        *f = strtod(buf, NULL);
        if (!isfinite(*f))
            kind = NUMBER_NONE;
    }
    if (buf != small)
        free(buf);
    return kind;
}
