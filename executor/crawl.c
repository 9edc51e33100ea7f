/* Schema crawler: one streaming pass over a CSV (libcsv) or JSON Lines (jansson) file that
 * infers column types and statistics. The decisions are listed in crawl.h; a cell's type is
 * read in crawl_values.c, the rule language is crawl_rules.c, schema.json and the drift
 * report between two schemas are crawl_schema.c. */
#include "executor/crawl.h"

#include <csv.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "executor/crawl_int.h"
#include "util/xalloc.h"

#define BLOCK_SIZE 65536
#define TYPE_NONE (-1) /* a column's type before its first value */

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

char *crawl_text_clean(const char *s, size_t n, size_t max)
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
        if (!col->nts++ || crawl_tstamp_cmp(&v->t, &col->tmin) < 0) {
            col->tmin = v->t;
            strbuf_set(&col->tmin_text, v->text, v->len);
        }
        if (col->nts == 1 || crawl_tstamp_cmp(&v->t, &col->tmax) > 0) {
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
    out->name = crawl_text_clean(col->name, col->name_len, 0);
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
        out->smin = crawl_text_clean(col->tmin_text.buf, col->tmin_text.len, CRAWL_TEXT_MAX);
        out->smax = crawl_text_clean(col->tmax_text.buf, col->tmax_text.len, CRAWL_TEXT_MAX);
        break;
    case CRAWL_STRING:
        out->smin = crawl_text_clean(col->smin.buf, col->smin.len, CRAWL_TEXT_MAX);
        out->smax = crawl_text_clean(col->smax.buf, col->smax.len, CRAWL_TEXT_MAX);
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
        crawl_classify_text(s, len, false, &v);
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
        crawl_classify_text(json_string_value(j), json_string_length(j), true, v);
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
