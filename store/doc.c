/* The values every JSON document of sluice is made of (times, numbers, parameters) and their
 * printing. The documents themselves, one builder each for the CLI's --json and the web API:
 * doc_run.c (show, runs), doc_compare.c, doc_models.c, doc_lineage.c, and the catalog's in
 * executor/doc_catalog.c. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/doc.h"
#include "util/xalloc.h"

json_t *doc_time(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[32];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

json_t *doc_str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *doc_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Does s read fully as a JSON number (no leading zeros, hex, inf or nan)? */
static bool is_json_number(const char *s, bool *integral)
{
    const char *p = s;
    *integral = true;
    if (*p == '-')
        p++;
    if (*p == '0')
        p++;
    else if (*p >= '1' && *p <= '9')
        while (*p >= '0' && *p <= '9')
            p++;
    else
        return false;
    if (*p == '.') {
        *integral = false;
        if (!(*++p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        *integral = false;
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!(*p >= '0' && *p <= '9'))
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

json_t *doc_param(const char *text)
{
    bool integral;
    if (!strcmp(text, "true") || !strcmp(text, "false"))
        return json_boolean(text[0] == 't');
    if (is_json_number(text, &integral)) {
        char *end;
        if (integral) {
            errno = 0;
            long long v = strtoll(text, &end, 10);
            if (!errno)
                return json_integer(v);
        }
        double d = strtod(text, &end);
        if (isfinite(d))
            return json_real(d);
    }
    return json_string(text);
}

/* The fewest digits (15 to 17) that print v so that it reads back exactly. */
static int real_digits(double v)
{
    char buf[40];
    for (int p = 15; p < 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, v);
        if (strtod(buf, NULL) == v)
            return p;
    }
    return 17;
}

int doc_real_precision(json_t *j)
{
    int p = 15;
    size_t i;
    const char *k;
    json_t *v;
    if (json_is_real(j))
        return real_digits(json_real_value(j));
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            int q = doc_real_precision(v);
            p = q > p ? q : p;
        }
    } else if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            int q = doc_real_precision(v);
            p = q > p ? q : p;
        }
    }
    return p;
}

int doc_dump(json_t *doc, FILE *out)
{
    size_t flags =
        JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(doc_real_precision(doc));
    int rc = json_dumpf(doc, out, flags);
    fputc('\n', out);
    return rc < 0 || ferror(out) ? -1 : 0;
}

char *doc_dumps(json_t *doc, bool indent)
{
    size_t flags = (indent ? JSON_INDENT(2) : JSON_COMPACT) | JSON_PRESERVE_ORDER |
                   JSON_REAL_PRECISION(doc_real_precision(doc));
    char *s = json_dumps(doc, flags);
    if (!s)
        BUG("cannot serialise a JSON document");
    return s;
}
