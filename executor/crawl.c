/* Schema crawler: one streaming pass over a CSV (libcsv) or JSON Lines (jansson) file that
 * infers column types and statistics, the data-quality rule language evaluated against them,
 * schema.json, and the drift report between two schemas. The decisions are listed in crawl.h. */
#include "executor/crawl.h"

#include <csv.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/xalloc.h"

#define BLOCK_SIZE 65536
#define TYPE_NONE (-1) /* a column's type before its first value */
#define TYPE_NULL (-2) /* a value that is null */
#define RULE_DEPTH_MAX 64

/* ---- hashing ---------------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    /* FNV's low bits are weak and the slot index uses them: mix. A bijection, so the odds of
     * two texts colliding stay FNV's (about 1e-9 for a full set of 100,000). */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

/* Distinct values are kept as 64-bit hashes of their text, not the text: 8 bytes a value
 * whatever the text's length. Open addressing; 0 marks an empty slot. */
struct hset {
    uint64_t *slots;
    size_t cap; /* a power of two, or 0 */
    size_t n;
};

static void hset_release(struct hset *s)
{
    free(s->slots);
    s->slots = NULL;
    s->cap = s->n = 0;
}

static size_t hset_slot(const uint64_t *slots, size_t cap, uint64_t h)
{
    size_t i = (size_t)h & (cap - 1);
    while (slots[i] && slots[i] != h)
        i = (i + 1) & (cap - 1);
    return i;
}

/* Add h unless present or the set already holds limit values: 1 added, 0 present, -1 full. */
static int hset_add(struct hset *s, uint64_t h, size_t limit)
{
    if (!h)
        h = 1;
    size_t i = 0;
    if (s->cap) {
        i = hset_slot(s->slots, s->cap, h);
        if (s->slots[i] == h)
            return 0;
    }
    if (s->n >= limit)
        return -1;
    if ((s->n + 1) * 5 > s->cap * 4) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        uint64_t *nslots = xcalloc(ncap, sizeof(*nslots));
        for (size_t k = 0; k < s->cap; k++)
            if (s->slots[k])
                nslots[hset_slot(nslots, ncap, s->slots[k])] = s->slots[k];
        free(s->slots);
        s->slots = nslots;
        s->cap = ncap;
        i = hset_slot(s->slots, s->cap, h);
    }
    s->slots[i] = h;
    s->n++;
    return 1;
}

/* ---- text ------------------------------------------------------------------------------- */

/* Length of the valid UTF-8 character at s (n bytes left), or 0 when it is not one. */
static size_t utf8_char_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80)
        return c ? 1 : 0;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

/* s as a valid UTF-8 string without NUL (other bytes become U+FFFD); when max > 0, cut at a
 * character boundary so that at most max bytes of s are kept, and mark the cut with "…". */
static char *text_clean(const char *s, size_t n, size_t max)
{
    struct strbuf sb = STRBUF_INIT;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t len = utf8_char_len(u + i, n - i);
        size_t out = len ? len : 3;
        if (max && sb.len + out > max) {
            strbuf_addstr(&sb, "\xe2\x80\xa6");
            break;
        }
        if (len)
            strbuf_add(&sb, s + i, len);
        else
            strbuf_addstr(&sb, "\xef\xbf\xbd");
        i += len ? len : 1;
    }
    return strbuf_detach(&sb, NULL);
}

static int text_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c)
        return c;
    return (alen > blen) - (alen < blen);
}

/* ---- values ----------------------------------------------------------------------------- */

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

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

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

/* YYYY-MM-DD, or YYYY-MM-DD[Tt ]HH:MM[:SS[.F…]][Zz|±HH[[:]MM]]. */
static bool parse_timestamp(const char *s, size_t n, struct tstamp *t)
{
    size_t p = 0;
    int y, mo, d, h = 0, mi = 0, sec = 0;
    int32_t nsec = 0;
    int64_t off = 0;
    if (n < 10 || !read_digits(s, n, &p, 4, &y) || !read_char(s, n, &p, '-') ||
        !read_digits(s, n, &p, 2, &mo) || !read_char(s, n, &p, '-') ||
        !read_digits(s, n, &p, 2, &d))
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

static int tstamp_cmp(const struct tstamp *a, const struct tstamp *b)
{
    if (a->sec != b->sec)
        return a->sec < b->sec ? -1 : 1;
    return (a->nsec > b->nsec) - (a->nsec < b->nsec);
}

/* A decimal number: [+-]digits is an integer when it fits 64 bits; with a fraction or an
 * exponent, or too long, a float (finite only). Sets v->type, or returns false. */
static bool parse_number(const char *s, size_t n, struct value *v)
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
        return false;
    if (p < n && (s[p] == 'e' || s[p] == 'E')) {
        real = true;
        p++;
        if (p < n && (s[p] == '+' || s[p] == '-'))
            p++;
        size_t nexp = 0;
        for (; p < n && is_digit(s[p]); p++)
            nexp++;
        if (!nexp)
            return false;
    }
    if (p != n)
        return false;
    /* the cell may not be NUL-terminated: parse a copy */
    char small[64];
    char *buf = n < sizeof(small) ? small : xmalloc(n + 1);
    memcpy(buf, s, n);
    buf[n] = '\0';
    bool ok = true;
    if (!real) {
        errno = 0;
        long long x = strtoll(buf, NULL, 10);
        if (errno != ERANGE) {
            v->type = CRAWL_INTEGER;
            v->i = x;
            v->f = (double)x;
            goto out;
        }
    }
    v->f = strtod(buf, NULL);
    v->type = CRAWL_FLOAT;
    ok = isfinite(v->f);
out:
    if (buf != small)
        free(buf);
    return ok;
}

static bool text_is(const char *s, size_t n, const char *word)
{
    return n == strlen(word) && !strncasecmp(s, word, n);
}

/* Classify a CSV cell (or a JSON string, when json is set: its type is not re-inferred
 * beyond timestamp, since the producer said "string"). */
static void classify_text(const char *s, size_t n, bool json, struct value *v)
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
        if (parse_number(s, n, v))
            return;
    }
    if (is_digit(s[0]) && parse_timestamp(s, n, &v->t)) {
        v->type = CRAWL_TIMESTAMP;
        return;
    }
    v->type = CRAWL_STRING;
}

/* ---- columns ---------------------------------------------------------------------------- */

struct column_acc {
    char *name;
    size_t name_len;
    int type;           /* the common type so far: enum crawl_type, or TYPE_NONE */
    uint64_t count;     /* non-null values */
    uint64_t nnum;      /* numeric values (integer or float) */
    uint64_t nint;      /* integer values */
    uint64_t nbool;     /* boolean values */
    uint64_t nts;       /* timestamp values */
    int64_t imin, imax; /* over the integer values */
    double fmin, fmax;  /* over all numeric values */
    long double sum;    /* of all numeric values: wide, so that no realistic sum overflows */
    bool bmin, bmax;
    struct tstamp tmin, tmax;
    struct strbuf tmin_text, tmax_text;
    struct strbuf smin, smax; /* bytewise over every value's text, in case the type is string */
    struct hset distinct;
    bool capped; /* a distinct value was not tracked */
};

static int type_merge(int cur, int t)
{
    if (cur == TYPE_NONE || cur == t)
        return t;
    if ((cur == CRAWL_INTEGER || cur == CRAWL_FLOAT) && (t == CRAWL_INTEGER || t == CRAWL_FLOAT))
        return CRAWL_FLOAT;
    return CRAWL_STRING;
}

static void strbuf_set(struct strbuf *sb, const char *s, size_t n)
{
    strbuf_reset(sb);
    strbuf_add(sb, s, n);
}

static void column_add_number(struct column_acc *col, double f)
{
    if (!col->nnum++) {
        col->fmin = col->fmax = f;
    } else {
        if (f < col->fmin)
            col->fmin = f;
        if (f > col->fmax)
            col->fmax = f;
    }
}

static void column_add(struct column_acc *col, const struct value *v, size_t distinct_limit)
{
    if (v->type == TYPE_NULL)
        return;
    col->count++;
    col->type = type_merge(col->type, v->type);
    if (hset_add(&col->distinct, hash_bytes(v->text, v->len), distinct_limit) < 0)
        col->capped = true;
    if (col->count == 1 || text_cmp(v->text, v->len, col->smin.buf, col->smin.len) < 0)
        strbuf_set(&col->smin, v->text, v->len);
    if (col->count == 1 || text_cmp(v->text, v->len, col->smax.buf, col->smax.len) > 0)
        strbuf_set(&col->smax, v->text, v->len);
    if (col->type == CRAWL_STRING)
        return; /* for good: the typed statistics are no longer needed */
    switch (v->type) {
    case CRAWL_INTEGER:
        if (!col->nint++) {
            col->imin = col->imax = v->i;
        } else {
            if (v->i < col->imin)
                col->imin = v->i;
            if (v->i > col->imax)
                col->imax = v->i;
        }
        col->sum += (long double)v->i;
        column_add_number(col, v->f);
        break;
    case CRAWL_FLOAT:
        col->sum += v->f;
        column_add_number(col, v->f);
        break;
    case CRAWL_BOOLEAN:
        if (!col->nbool++) {
            col->bmin = col->bmax = v->b;
        } else {
            col->bmin = col->bmin && v->b;
            col->bmax = col->bmax || v->b;
        }
        break;
    case CRAWL_TIMESTAMP:
        if (!col->nts++ || tstamp_cmp(&v->t, &col->tmin) < 0) {
            col->tmin = v->t;
            strbuf_set(&col->tmin_text, v->text, v->len);
        }
        if (col->nts == 1 || tstamp_cmp(&v->t, &col->tmax) > 0) {
            col->tmax = v->t;
            strbuf_set(&col->tmax_text, v->text, v->len);
        }
        break;
    default:
        break;
    }
}

static void column_release(struct column_acc *col)
{
    free(col->name);
    strbuf_release(&col->tmin_text);
    strbuf_release(&col->tmax_text);
    strbuf_release(&col->smin);
    strbuf_release(&col->smax);
    hset_release(&col->distinct);
}

static void column_finish(const struct column_acc *col, uint64_t rows, struct crawl_column *out)
{
    memset(out, 0, sizeof(*out));
    out->name = text_clean(col->name, col->name_len, 0);
    out->type = col->type == TYPE_NONE ? CRAWL_STRING : (enum crawl_type)col->type;
    out->nulls = rows - col->count;
    out->distinct = col->distinct.n;
    out->distinct_capped = col->capped;
    out->has_values = col->count > 0;
    if (!out->has_values)
        return;
    switch (out->type) {
    case CRAWL_INTEGER:
        out->imin = col->imin;
        out->imax = col->imax;
        out->mean = (double)(col->sum / (long double)col->count);
        break;
    case CRAWL_FLOAT:
        out->fmin = col->fmin;
        out->fmax = col->fmax;
        out->mean = (double)(col->sum / (long double)col->count);
        break;
    case CRAWL_BOOLEAN:
        out->bmin = col->bmin;
        out->bmax = col->bmax;
        break;
    case CRAWL_TIMESTAMP:
        out->smin = text_clean(col->tmin_text.buf, col->tmin_text.len, CRAWL_TEXT_MAX);
        out->smax = text_clean(col->tmax_text.buf, col->tmax_text.len, CRAWL_TEXT_MAX);
        break;
    case CRAWL_STRING:
        out->smin = text_clean(col->smin.buf, col->smin.len, CRAWL_TEXT_MAX);
        out->smax = text_clean(col->smax.buf, col->smax.len, CRAWL_TEXT_MAX);
        break;
    }
}

/* ---- the crawler ------------------------------------------------------------------------ */

struct crawler {
    const char *name; /* for messages */
    enum crawl_format format;
    size_t distinct_cap;
    struct err *e;
    bool failed;
    struct column_acc *cols;
    size_t ncols, alloc;
    size_t *index; /* column names: open addressing, slot = column + 1, 0 empty */
    size_t index_cap;
    uint64_t rows;
    uint64_t records; /* CSV records (the header's too) or JSON objects read */
    uint64_t line;    /* the line being read, 1-based */
    bool line_start;  /* the next byte starts a line */
    /* CSV */
    struct csv_parser csv;
    bool csv_ready;
    bool header_done;
    size_t field;          /* fields of the current record so far */
    uint64_t rec_line;     /* the line the current record started on */
    bool at_record_start;  /* no byte of a record read since the last one ended */
    bool line_content;     /* the current line has more than blanks */
    uint64_t line_records; /* records when the current line started */
    /* JSON Lines */
    struct strbuf jline; /* the current line */
    struct strbuf scratch;
};

static void crawler_fail(struct crawler *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void crawler_fail(struct crawler *c, const char *fmt, ...)
{
    if (c->failed)
        return;
    c->failed = true;
    if (!c->e)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->e->msg, sizeof(c->e->msg), fmt, ap);
    va_end(ap);
    if (!c->e->code)
        c->e->code = -1;
}

static size_t index_slot(const struct crawler *c, const char *name, size_t len)
{
    size_t i = (size_t)hash_bytes(name, len) & (c->index_cap - 1);
    for (;;) {
        size_t k = c->index[i];
        if (!k)
            return i;
        const struct column_acc *col = &c->cols[k - 1];
        if (!text_cmp(col->name, col->name_len, name, len))
            return i;
        i = (i + 1) & (c->index_cap - 1);
    }
}

/* The column named name, or -1. */
static long column_find(const struct crawler *c, const char *name, size_t len)
{
    if (!c->index_cap)
        return -1;
    size_t k = c->index[index_slot(c, name, len)];
    return k ? (long)k - 1 : -1;
}

/* Add a column (its name known to be new); -1 when there are too many. */
static long column_new(struct crawler *c, const char *name, size_t len)
{
    if (c->ncols >= CRAWL_MAX_COLUMNS) {
        crawler_fail(c, "'%s' line %llu: more than %d columns", c->name,
                     (unsigned long long)c->line, CRAWL_MAX_COLUMNS);
        return -1;
    }
    if ((c->ncols + 1) * 2 > c->index_cap) {
        size_t old_cap = c->index_cap;
        size_t *old = c->index;
        c->index_cap = old_cap ? old_cap * 2 : 64;
        c->index = xcalloc(c->index_cap, sizeof(*c->index));
        for (size_t i = 0; i < old_cap; i++)
            if (old[i]) {
                const struct column_acc *col = &c->cols[old[i] - 1];
                c->index[index_slot(c, col->name, col->name_len)] = old[i];
            }
        free(old);
    }
    XGROW(c->cols, c->alloc, c->ncols + 1);
    struct column_acc *col = &c->cols[c->ncols];
    memset(col, 0, sizeof(*col));
    col->name = xstrndup(name, len);
    col->name_len = len;
    col->type = TYPE_NONE;
    strbuf_init(&col->tmin_text);
    strbuf_init(&col->tmax_text);
    strbuf_init(&col->smin);
    strbuf_init(&col->smax);
    c->index[index_slot(c, name, len)] = ++c->ncols;
    return (long)c->ncols - 1;
}

/* Per-column cap on tracked distinct values: wide files share CRAWL_DISTINCT_BUDGET. */
static size_t distinct_limit(const struct crawler *c)
{
    size_t share = CRAWL_DISTINCT_BUDGET / (c->ncols ? c->ncols : 1);
    return share < c->distinct_cap ? share : c->distinct_cap;
}

static int shown_len(size_t len)
{
    return len > 200 ? 200 : (int)len;
}

static void csv_field_cb(void *data, size_t len, void *ctx)
{
    struct crawler *c = ctx;
    const char *s = data ? data : "";
    if (c->failed)
        return;
    if (!c->header_done) {
        if (!len) {
            crawler_fail(c, "'%s' line %llu: header column %zu has an empty name", c->name,
                         (unsigned long long)c->rec_line, c->field + 1);
        } else if (column_find(c, s, len) >= 0) {
            crawler_fail(c, "'%s' line %llu: duplicate column name '%.*s'", c->name,
                         (unsigned long long)c->rec_line, shown_len(len), s);
        } else {
            column_new(c, s, len);
        }
    } else if (c->field < c->ncols) {
        struct value v;
        classify_text(s, len, false, &v);
        column_add(&c->cols[c->field], &v, distinct_limit(c));
    }
    c->field++;
}

static void csv_record_cb(int term, void *ctx)
{
    struct crawler *c = ctx;
    (void)term;
    c->records++;
    c->at_record_start = true;
    if (!c->failed) {
        if (!c->header_done)
            c->header_done = true;
        else if (c->field != c->ncols)
            crawler_fail(c, "'%s' line %llu: row %llu has %zu fields, header has %zu", c->name,
                         (unsigned long long)c->rec_line, (unsigned long long)c->rows + 1, c->field,
                         c->ncols);
        else
            c->rows++;
    }
    c->field = 0;
}

/* Feed one piece of a line (all of it, or up to a block's end) to libcsv. Lines are fed
 * one by one so that a record's first line is known for messages: libcsv counts none. */
static void csv_feed(struct crawler *c, const char *p, size_t n, bool line_end)
{
    if (c->line_start) {
        if (c->at_record_start)
            c->rec_line = c->line;
        c->line_records = c->records;
        c->line_content = false;
    }
    for (size_t i = 0; i < n && !c->line_content; i++)
        c->line_content = p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n';
    size_t done = csv_parse(&c->csv, p, n, csv_field_cb, csv_record_cb, c);
    if (c->failed)
        return;
    if (done < n) {
        crawler_fail(c, "'%s' line %llu: malformed CSV: %s", c->name, (unsigned long long)c->line,
                     csv_error(&c->csv) == CSV_EPARSE
                         ? "a quote inside an unquoted field, or text after a closing quote"
                         : csv_strerror(csv_error(&c->csv)));
        return;
    }
    if (csv_get_buffer_size(&c->csv) > CRAWL_LINE_MAX) {
        crawler_fail(c, "'%s' line %llu: a field longer than %u MiB", c->name,
                     (unsigned long long)c->rec_line, CRAWL_LINE_MAX >> 20);
        return;
    }
    /* blank lines are skipped by libcsv and so do not start a record */
    if (line_end && c->line_content && c->records == c->line_records)
        c->at_record_start = false;
}

static void csv_finish(struct crawler *c)
{
    if (csv_fini(&c->csv, csv_field_cb, csv_record_cb, c) != 0)
        crawler_fail(c, "'%s' line %llu: unterminated quoted field", c->name,
                     (unsigned long long)c->rec_line);
}

/* A JSON value as a cell; its text may live in c->scratch until the next call. */
static void json_cell(struct crawler *c, json_t *j, struct value *v)
{
    strbuf_reset(&c->scratch);
    switch (json_typeof(j)) {
    case JSON_OBJECT:
    case JSON_ARRAY: {
        char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!s)
            BUG("json_dumps failed");
        strbuf_addstr(&c->scratch, s);
        free(s);
        v->type = CRAWL_STRING;
        break;
    }
    case JSON_STRING:
        classify_text(json_string_value(j), json_string_length(j), true, v);
        return;
    case JSON_INTEGER:
        v->type = CRAWL_INTEGER;
        v->i = json_integer_value(j);
        v->f = (double)v->i;
        strbuf_addf(&c->scratch, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        break;
    case JSON_REAL:
        v->type = CRAWL_FLOAT;
        v->f = json_real_value(j);
        /* the shortest of 15 or 17 digits that reads back as the same double */
        strbuf_addf(&c->scratch, "%.15g", v->f);
        if (strtod(c->scratch.buf, NULL) != v->f) {
            strbuf_reset(&c->scratch);
            strbuf_addf(&c->scratch, "%.17g", v->f);
        }
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v->type = CRAWL_BOOLEAN;
        v->b = json_is_true(j);
        strbuf_addstr(&c->scratch, v->b ? "true" : "false");
        break;
    case JSON_NULL:
        v->type = TYPE_NULL;
        break;
    }
    v->text = c->scratch.buf;
    v->len = c->scratch.len;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    default:
        return "an object";
    }
}

static void json_line(struct crawler *c)
{
    const char *s = c->jline.buf;
    size_t n = c->jline.len, i;
    for (i = 0; i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'); i++)
        ;
    if (i == n)
        return; /* a blank line */
    json_error_t je;
    json_t *o = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!o) {
        crawler_fail(c, "'%s' line %llu: invalid JSON at column %d: %s", c->name,
                     (unsigned long long)c->line, je.column, je.text);
        return;
    }
    if (!json_is_object(o)) {
        crawler_fail(c, "'%s' line %llu: expected a JSON object, not %s", c->name,
                     (unsigned long long)c->line, json_kind(o));
        goto out;
    }
    c->records++;
    const char *key;
    json_t *val;
    json_object_foreach (o, key, val) {
        size_t klen = strlen(key);
        if (!klen) {
            crawler_fail(c, "'%s' line %llu: empty key", c->name, (unsigned long long)c->line);
            goto out;
        }
        long k = column_find(c, key, klen);
        if (k < 0 && (k = column_new(c, key, klen)) < 0)
            goto out;
        struct value v;
        json_cell(c, val, &v);
        column_add(&c->cols[k], &v, distinct_limit(c));
    }
    c->rows++;
out:
    json_decref(o);
}

static void json_feed(struct crawler *c, const char *p, size_t n, bool line_end)
{
    size_t keep = line_end ? n - 1 : n;
    if (c->jline.len + keep > CRAWL_LINE_MAX) {
        crawler_fail(c, "'%s' line %llu: longer than %u MiB", c->name, (unsigned long long)c->line,
                     CRAWL_LINE_MAX >> 20);
        return;
    }
    strbuf_add(&c->jline, p, keep);
    if (line_end) {
        json_line(c);
        strbuf_reset(&c->jline);
    }
}

/* Split a block into line pieces for the format's feeder. */
static void crawler_feed(struct crawler *c, const char *p, size_t n)
{
    while (n && !c->failed) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl ? (size_t)(nl - p) + 1 : n;
        if (c->format == CRAWL_FORMAT_CSV)
            csv_feed(c, p, len, nl != NULL);
        else
            json_feed(c, p, len, nl != NULL);
        c->line_start = nl != NULL;
        if (nl)
            c->line++;
        p += len;
        n -= len;
    }
}

static bool name_has_ext(const char *name, const char *ext)
{
    size_t n = strlen(name), m = strlen(ext);
    return n > m && !strcasecmp(name + n - m, ext);
}

static enum crawl_format format_pick(enum crawl_format f, const char *name, const char *p, size_t n)
{
    if (f != CRAWL_FORMAT_AUTO)
        return f;
    if (name_has_ext(name, ".jsonl") || name_has_ext(name, ".ndjson"))
        return CRAWL_FORMAT_JSONL;
    if (name_has_ext(name, ".csv"))
        return CRAWL_FORMAT_CSV;
    size_t i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    return i < n && (p[i] == '{' || p[i] == '[') ? CRAWL_FORMAT_JSONL : CRAWL_FORMAT_CSV;
}

static void crawler_result(struct crawler *c, struct crawl_result *res)
{
    res->format = c->format;
    res->rows = c->rows;
    res->ncolumns = c->ncols;
    res->columns = xcalloc(c->ncols, sizeof(*res->columns));
    for (size_t i = 0; i < c->ncols; i++)
        column_finish(&c->cols[i], c->rows, &res->columns[i]);
}

int crawl_stream(FILE *fp, const char *name, const struct crawl_opts *opts,
                 struct crawl_result *res, struct err *e)
{
    struct crawler c;
    memset(&c, 0, sizeof(c));
    memset(res, 0, sizeof(*res));
    c.name = name;
    c.e = e;
    c.distinct_cap = opts && opts->distinct_cap ? opts->distinct_cap : CRAWL_DISTINCT_CAP;
    c.line = 1;
    c.line_start = true;
    c.at_record_start = true;
    strbuf_init(&c.jline);
    strbuf_init(&c.scratch);

    char *buf = xmalloc(BLOCK_SIZE);
    bool started = false;
    size_t n;
    while (!c.failed && (n = fread(buf, 1, BLOCK_SIZE, fp)) > 0) {
        const char *p = buf;
        if (!started) {
            started = true;
            if (n >= 3 && !memcmp(p, "\xef\xbb\xbf", 3)) {
                p += 3;
                n -= 3;
            }
            c.format = format_pick(opts ? opts->format : CRAWL_FORMAT_AUTO, name, p, n);
            if (c.format == CRAWL_FORMAT_CSV) {
                if (csv_init(&c.csv, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL))
                    BUG("csv_init failed");
                c.csv_ready = true;
            }
        }
        crawler_feed(&c, p, n);
    }
    if (!c.failed && ferror(fp))
        crawler_fail(&c, "cannot read '%s': %s", name, strerror(errno));
    if (!c.failed && c.csv_ready)
        csv_finish(&c);
    if (!c.failed && c.format == CRAWL_FORMAT_JSONL && c.jline.len)
        json_line(&c);
    if (!c.failed && !c.records)
        crawler_fail(&c, "'%s' is empty", name);
    if (!c.failed)
        crawler_result(&c, res);

    free(buf);
    if (c.csv_ready)
        csv_free(&c.csv);
    for (size_t i = 0; i < c.ncols; i++)
        column_release(&c.cols[i]);
    free(c.cols);
    free(c.index);
    strbuf_release(&c.jline);
    strbuf_release(&c.scratch);
    return c.failed ? -1 : 0;
}

int crawl_file(const char *path, const struct crawl_opts *opts, struct crawl_result *res,
               struct err *e)
{
    memset(res, 0, sizeof(*res));
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return err_set(e, "cannot open '%s': %s", path, strerror(errno));
    int rc = crawl_stream(fp, path, opts, res, e);
    fclose(fp);
    return rc;
}

void crawl_result_release(struct crawl_result *res)
{
    for (size_t i = 0; i < res->ncolumns; i++) {
        free(res->columns[i].name);
        free(res->columns[i].smin);
        free(res->columns[i].smax);
    }
    free(res->columns);
    memset(res, 0, sizeof(*res));
}

const char *crawl_type_name(enum crawl_type t)
{
    switch (t) {
    case CRAWL_INTEGER:
        return "integer";
    case CRAWL_FLOAT:
        return "float";
    case CRAWL_BOOLEAN:
        return "boolean";
    case CRAWL_TIMESTAMP:
        return "timestamp";
    case CRAWL_STRING:
        return "string";
    }
    BUG("bad crawl type %d", (int)t);
}

const char *crawl_format_name(enum crawl_format f)
{
    switch (f) {
    case CRAWL_FORMAT_CSV:
        return "csv";
    case CRAWL_FORMAT_JSONL:
        return "jsonl";
    case CRAWL_FORMAT_AUTO:
        return "auto";
    }
    BUG("bad crawl format %d", (int)f);
}

/* ---- rules ------------------------------------------------------------------------------ */

enum rule_op { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

enum term_kind { TERM_NUMBER, TERM_ROWS, TERM_NULLS, TERM_DISTINCT, TERM_MIN, TERM_MAX, TERM_MEAN };

struct term {
    enum term_kind kind;
    struct crawl_value num; /* TERM_NUMBER */
    char *col;              /* the functions' column */
};

enum rnode_kind { RN_OR, RN_AND, RN_CMP };

struct rnode {
    enum rnode_kind kind;
    struct rnode *l, *r; /* RN_OR, RN_AND */
    struct term a, b;    /* RN_CMP: a op b */
    enum rule_op op;
};

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
    enum term_kind kind;
} rule_functions[] = {
    {"nulls", TERM_NULLS}, {"distinct", TERM_DISTINCT}, {"min", TERM_MIN},
    {"max", TERM_MAX},     {"mean", TERM_MEAN},
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

static void rnode_free(struct rnode *n)
{
    if (!n)
        return;
    rnode_free(n->l);
    rnode_free(n->r);
    free(n->a.col);
    free(n->b.col);
    free(n);
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

static bool parse_term(struct rparser *rp, struct term *t)
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
        struct value v;
        if (!parse_number(s + start, end - start, &v)) {
            rparser_fail(rp, start, "bad number '%.*s'", (int)(end - start), s + start);
            return false;
        }
        t->kind = TERM_NUMBER;
        t->num.is_int = v.type == CRAWL_INTEGER;
        t->num.i = v.i;
        t->num.f = v.f;
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
        t->kind = TERM_ROWS;
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

static struct rnode *parse_or(struct rparser *rp);

static struct rnode *parse_cmp(struct rparser *rp)
{
    static const struct {
        const char *text;
        enum rule_op op;
    } ops[] = {{"==", OP_EQ}, {"!=", OP_NE}, {"<=", OP_LE},
               {">=", OP_GE}, {"<", OP_LT},  {">", OP_GT}};
    struct rnode *n = xcalloc(1, sizeof(*n));
    n->kind = RN_CMP;
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
    if (n->a.kind == TERM_NUMBER && n->b.kind == TERM_NUMBER) {
        rparser_fail(rp, start, "a comparison needs 'rows' or a function on one side");
        goto fail;
    }
    return n;
fail:
    rnode_free(n);
    return NULL;
}

static struct rnode *parse_primary(struct rparser *rp)
{
    skip_space(rp);
    if (rp->s[rp->pos] != '(')
        return parse_cmp(rp);
    size_t open = rp->pos++;
    if (++rp->depth > RULE_DEPTH_MAX) {
        rparser_fail(rp, open, "parentheses nested too deeply");
        return NULL;
    }
    struct rnode *n = parse_or(rp);
    rp->depth--;
    if (!n)
        return NULL;
    skip_space(rp);
    if (rp->s[rp->pos] != ')') {
        rparser_fail(rp, rp->pos, "expected ')' to close the '(' at offset %zu", open);
        rnode_free(n);
        return NULL;
    }
    rp->pos++;
    return n;
}

static struct rnode *parse_binary(struct rparser *rp, enum rnode_kind kind)
{
    const char *tok = kind == RN_OR ? "||" : "&&";
    struct rnode *l = kind == RN_OR ? parse_binary(rp, RN_AND) : parse_primary(rp);
    while (l) {
        skip_space(rp);
        if (strncmp(rp->s + rp->pos, tok, 2))
            break;
        rp->pos += 2;
        struct rnode *r = kind == RN_OR ? parse_binary(rp, RN_AND) : parse_primary(rp);
        if (!r) {
            rnode_free(l);
            return NULL;
        }
        struct rnode *n = xcalloc(1, sizeof(*n));
        n->kind = kind;
        n->l = l;
        n->r = r;
        l = n;
    }
    return l;
}

static struct rnode *parse_or(struct rparser *rp)
{
    return parse_binary(rp, RN_OR);
}

static struct rnode *rule_parse(const char *rule, struct rparser *rp)
{
    memset(rp, 0, sizeof(*rp));
    rp->s = rule;
    skip_space(rp);
    if (!rule[rp->pos]) {
        rparser_fail(rp, rp->pos, "empty rule");
        return NULL;
    }
    struct rnode *n = parse_or(rp);
    if (!n)
        return NULL;
    skip_space(rp);
    if (rule[rp->pos]) {
        rparser_fail(rp, rp->pos, "expected '&&', '||' or the end of the rule, not '%c'",
                     rule[rp->pos]);
        rnode_free(n);
        return NULL;
    }
    return n;
}

int crawl_rule_check(const char *rule, int *err_offset, char *msg, size_t msgsz)
{
    struct rparser rp;
    struct rnode *n = rule_parse(rule, &rp);
    if (n) {
        rnode_free(n);
        return 0;
    }
    if (err_offset)
        *err_offset = (int)rp.err_pos;
    if (msg && msgsz)
        snprintf(msg, msgsz, "%s", rp.msg);
    return -1;
}

static const struct crawl_column *result_column(const struct crawl_result *res, const char *name)
{
    for (size_t i = 0; i < res->ncolumns; i++)
        if (!strcmp(res->columns[i].name, name))
            return &res->columns[i];
    return NULL;
}

static void value_int(struct crawl_value *v, int64_t i)
{
    v->is_int = true;
    v->i = i;
    v->f = (double)i;
}

static void value_real(struct crawl_value *v, double f)
{
    v->is_int = false;
    v->i = 0;
    v->f = f;
}

static int term_eval(const struct crawl_result *res, const char *rule, const struct term *t,
                     struct crawl_value *v, struct err *e)
{
    if (t->kind == TERM_NUMBER) {
        *v = t->num;
        return 0;
    }
    if (t->kind == TERM_ROWS) {
        value_int(v, (int64_t)res->rows);
        return 0;
    }
    const struct crawl_column *col = result_column(res, t->col);
    if (!col)
        return err_set(e, "rule '%s': no column '%s'", rule, t->col);
    if (t->kind == TERM_NULLS) {
        value_int(v, (int64_t)col->nulls);
        return 0;
    }
    if (t->kind == TERM_DISTINCT) {
        value_int(v, (int64_t)col->distinct);
        return 0;
    }
    if (col->type != CRAWL_INTEGER && col->type != CRAWL_FLOAT)
        return err_set(e, "rule '%s': column '%s' is %s, not numeric", rule, t->col,
                       crawl_type_name(col->type));
    if (t->kind == TERM_MEAN)
        value_real(v, col->mean);
    else if (col->type == CRAWL_INTEGER)
        value_int(v, t->kind == TERM_MIN ? col->imin : col->imax);
    else
        value_real(v, t->kind == TERM_MIN ? col->fmin : col->fmax);
    return 0;
}

static bool value_compare(const struct crawl_value *a, enum rule_op op, const struct crawl_value *b)
{
    int c;
    if (a->is_int && b->is_int)
        c = (a->i > b->i) - (a->i < b->i);
    else
        c = (a->f > b->f) - (a->f < b->f);
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    case OP_GT:
        return c > 0;
    case OP_GE:
        return c >= 0;
    }
    BUG("bad rule operator %d", (int)op);
}

/* Every comparison is evaluated (no short cut), so that a rule naming a missing column fails
 * whatever the data; the first one met, reading left to right, gives the reported value. */
static int rnode_eval(const struct crawl_result *res, const char *rule, const struct rnode *n,
                      bool *result, struct crawl_rule_result *out, bool *have_value, struct err *e)
{
    if (n->kind == RN_CMP) {
        struct crawl_value a, b;
        if (term_eval(res, rule, &n->a, &a, e) < 0 || term_eval(res, rule, &n->b, &b, e) < 0)
            return -1;
        *result = value_compare(&a, n->op, &b);
        if (!*have_value) {
            out->value = n->a.kind == TERM_NUMBER ? b : a;
            *have_value = true;
        }
        return 0;
    }
    bool l, r;
    if (rnode_eval(res, rule, n->l, &l, out, have_value, e) < 0 ||
        rnode_eval(res, rule, n->r, &r, out, have_value, e) < 0)
        return -1;
    *result = n->kind == RN_AND ? l && r : l || r;
    return 0;
}

int crawl_rule_eval(const struct crawl_result *res, const char *rule, struct crawl_rule_result *out,
                    struct err *e)
{
    memset(out, 0, sizeof(*out));
    struct rparser rp;
    struct rnode *n = rule_parse(rule, &rp);
    if (!n)
        return err_set(e, "rule '%s': %s at offset %zu", rule, rp.msg, rp.err_pos);
    bool have_value = false, pass = false;
    int rc = rnode_eval(res, rule, n, &pass, out, &have_value, e);
    rnode_free(n);
    if (rc < 0)
        return -1;
    out->rule = text_clean(rule, strlen(rule), 0);
    out->pass = pass;
    return 0;
}

void crawl_rule_result_release(struct crawl_rule_result *rr)
{
    free(rr->rule);
    rr->rule = NULL;
}

/* ---- schema.json ------------------------------------------------------------------------ */

static json_t *jcheck(json_t *j)
{
    if (!j)
        BUG("cannot build a JSON value");
    return j;
}

static json_t *json_number(const struct crawl_value *v)
{
    if (v->is_int)
        return jcheck(json_integer(v->i));
    return isfinite(v->f) ? jcheck(json_real(v->f)) : json_null();
}

static void column_minmax(const struct crawl_column *col, json_t **min, json_t **max)
{
    struct crawl_value a = {0}, b = {0};
    if (!col->has_values) {
        *min = json_null();
        *max = json_null();
        return;
    }
    switch (col->type) {
    case CRAWL_INTEGER:
        value_int(&a, col->imin);
        value_int(&b, col->imax);
        break;
    case CRAWL_FLOAT:
        value_real(&a, col->fmin);
        value_real(&b, col->fmax);
        break;
    case CRAWL_BOOLEAN:
        *min = json_boolean(col->bmin);
        *max = json_boolean(col->bmax);
        return;
    case CRAWL_TIMESTAMP:
    case CRAWL_STRING:
        *min = jcheck(json_string(col->smin));
        *max = jcheck(json_string(col->smax));
        return;
    }
    *min = json_number(&a);
    *max = json_number(&b);
}

void crawl_schema_json(const struct crawl_result *res, const struct crawl_rule_result *rules,
                       size_t nrules, struct strbuf *out)
{
    json_t *root = jcheck(json_object());
    json_object_set_new(root, "rows", jcheck(json_integer((json_int_t)res->rows)));
    json_t *cols = jcheck(json_array());
    for (size_t i = 0; i < res->ncolumns; i++) {
        const struct crawl_column *col = &res->columns[i];
        json_t *o = jcheck(json_object()), *min, *max;
        column_minmax(col, &min, &max);
        json_object_set_new(o, "name", jcheck(json_string(col->name)));
        json_object_set_new(o, "type", jcheck(json_string(crawl_type_name(col->type))));
        json_object_set_new(o, "nulls", jcheck(json_integer((json_int_t)col->nulls)));
        json_object_set_new(o, "min", min);
        json_object_set_new(o, "max", max);
        json_object_set_new(o, "distinct", jcheck(json_integer((json_int_t)col->distinct)));
        if (col->distinct_capped)
            json_object_set_new(o, "distinct_capped", json_true());
        if (col->type == CRAWL_INTEGER || col->type == CRAWL_FLOAT) {
            struct crawl_value m;
            value_real(&m, col->mean);
            json_object_set_new(o, "mean", col->has_values ? json_number(&m) : json_null());
        }
        json_array_append_new(cols, o);
    }
    json_object_set_new(root, "columns", cols);
    json_t *jr = jcheck(json_array());
    for (size_t i = 0; i < nrules; i++) {
        json_t *o = jcheck(json_object());
        json_object_set_new(o, "rule", jcheck(json_string(rules[i].rule)));
        json_object_set_new(o, "value", json_number(&rules[i].value));
        json_object_set_new(o, "pass", json_boolean(rules[i].pass));
        json_array_append_new(jr, o);
    }
    json_object_set_new(root, "rules", jr);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (!text)
        BUG("json_dumps failed");
    strbuf_addstr(out, text);
    strbuf_addch(out, '\n');
    free(text);
    json_decref(root);
}

/* ---- drift ------------------------------------------------------------------------------ */

/* The columns of a schema text as a name -> type object (borrowed from *root), and in order. */
static int schema_load(const char *text, const char *which, json_t **root, json_t **cols,
                       json_t **types, struct err *e)
{
    json_error_t je;
    *root = json_loads(text, 0, &je);
    if (!*root)
        return err_set(e, "%s schema: invalid JSON at line %d: %s", which, je.line, je.text);
    *cols = json_object_get(*root, "columns");
    if (!json_is_array(*cols))
        return err_set(e, "%s schema: no 'columns' array", which);
    *types = jcheck(json_object());
    size_t i;
    json_t *col;
    json_array_foreach (*cols, i, col) {
        json_t *name = json_object_get(col, "name"), *type = json_object_get(col, "type");
        if (!json_is_string(name) || !json_is_string(type))
            return err_set(e, "%s schema: column %zu has no name or type", which, i + 1);
        json_object_set(*types, json_string_value(name), type);
    }
    return 0;
}

int crawl_schema_diff(const char *old_schema_json, const char *new_schema_json,
                      struct strbuf *report, bool *changed, struct err *e)
{
    json_t *old_root = NULL, *new_root = NULL, *old_cols, *new_cols;
    json_t *old_types = NULL, *new_types = NULL;
    int rc = -1;
    size_t before = report->len, i;
    json_t *col;
    *changed = false;
    if (schema_load(old_schema_json, "old", &old_root, &old_cols, &old_types, e) < 0 ||
        schema_load(new_schema_json, "new", &new_root, &new_cols, &new_types, e) < 0)
        goto out;
    json_array_foreach (old_cols, i, col) {
        const char *name = json_string_value(json_object_get(col, "name"));
        const char *type = json_string_value(json_object_get(col, "type"));
        json_t *now = json_object_get(new_types, name);
        if (!now)
            strbuf_addf(report, "column '%s' removed\n", name);
        else if (strcmp(type, json_string_value(now)))
            strbuf_addf(report, "column '%s' type %s -> %s\n", name, type, json_string_value(now));
    }
    json_array_foreach (new_cols, i, col) {
        const char *name = json_string_value(json_object_get(col, "name"));
        if (!json_object_get(old_types, name))
            strbuf_addf(report, "column '%s' added (%s)\n", name,
                        json_string_value(json_object_get(col, "type")));
    }
    *changed = report->len > before;
    rc = 0;
out:
    json_decref(old_types);
    json_decref(new_types);
    json_decref(old_root);
    json_decref(new_root);
    return rc;
}
