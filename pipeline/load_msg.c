/* The pipeline loader's words: diagnostics at a line and column, how values and keys read in
 * a message, did-you-mean suggestions, and where a byte of a scalar's value sits in the file. */
#include "pipeline/load_int.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

/* ---- messages ---- */

static void verr(struct loader *L, int line, int col, const char *fmt, va_list ap)
{
    if (L->quiet)
        return;
    if (L->ndiags >= MAX_DIAGS) {
        if (L->ndiags++ == MAX_DIAGS)
            diag_add(L->diags, 0, 0, "too many errors; only the first %d are shown", MAX_DIAGS);
        return;
    }
    char msg[MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    diag_add(L->diags, line, col, "%s", msg);
    L->ndiags++;
}

void load_err_pos(struct loader *L, struct pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(L, pos.line, pos.col, fmt, ap);
    va_end(ap);
}

void load_err_node(struct loader *L, const struct ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(L, n ? n->line : 0, n ? n->col : 0, fmt, ap);
    va_end(ap);
}

void load_err_file(struct loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(L, 0, 0, fmt, ap);
    va_end(ap);
}

struct pos load_node_pos(const struct ynode *n)
{
    struct pos p = {n->line, n->col};
    return p;
}

const char *load_show(char buf[YTEXT_SHOW_MAX], const struct ynode *v)
{
    return ytext_show(buf, v->str, v->len);
}

const char *load_show_tag(char buf[YTEXT_SHOW_MAX], const struct ynode *v)
{
    return ytext_show(buf, v->tag, strlen(v->tag));
}

/* How a value reads in a message: 'two', the string '5', a list, a mapping, nothing. */
const char *load_describe(char buf[DESC_MAX], const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX];
    if (v->type == YNODE_SEQ)
        return "a list";
    if (v->type == YNODE_MAP)
        return "a mapping";
    if (ynode_is_null(v) && v->tag) {
        snprintf(buf, DESC_MAX, "nothing (YAML read '%s' as a tag)", load_show_tag(shown, v));
        return buf;
    }
    if (ynode_is_null(v))
        return "nothing";
    if (!v->len)
        return "an empty string";
    snprintf(buf, DESC_MAX, "%s'%s'", v->style == YSTYLE_PLAIN ? "" : "the string ",
             load_show(shown, v));
    return buf;
}

/* A mapping key in a message: 'name', or what it is when it is not a string. */
const char *load_key_text(char buf[DESC_MAX], const struct ynode *k)
{
    char shown[YTEXT_SHOW_MAX];
    if (k->type != YNODE_SCALAR)
        return k->type == YNODE_SEQ ? "(a list)" : "(a mapping)";
    snprintf(buf, DESC_MAX, "'%s'", load_show(shown, k));
    return buf;
}

const char *load_article(const char *word)
{
    return strchr("aeiou", word[0]) ? "an" : "a";
}

/* Optimal string alignment distance, or cap + 1 once it is surely more than cap. Only the
 * band of cells within cap of the diagonal is computed. */
static size_t edit_distance(const char *a, const char *b, size_t cap)
{
    size_t la = strlen(a), lb = strlen(b), inf = cap + 1;
    if (la > 64 || lb > 64 || (la > lb ? la - lb : lb - la) > cap)
        return inf;
    size_t d[65][65];
#define CELL(i, j) ((i) > (j) + cap || (j) > (i) + cap ? inf : d[i][j])
    for (size_t i = 0; i <= la && i <= cap; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb && j <= cap; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t lo = i > cap ? i - cap : 1, hi = i + cap < lb ? i + cap : lb, row = inf;
        for (size_t j = lo; j <= hi; j++) {
            size_t best = CELL(i - 1, j - 1) + (a[i - 1] != b[j - 1]);
            if (CELL(i - 1, j) + 1 < best)
                best = CELL(i - 1, j) + 1;
            if (CELL(i, j - 1) + 1 < best)
                best = CELL(i, j - 1) + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                CELL(i - 2, j - 2) + 1 < best)
                best = CELL(i - 2, j - 2) + 1;
            d[i][j] = best < inf ? best : inf;
            if (d[i][j] < row)
                row = d[i][j];
        }
        if (row > cap)
            return inf;
    }
#undef CELL
    return d[la][lb];
}

void load_sug_init(struct suggest *sg, const char *word)
{
    sg->word = word;
    sg->best = NULL;
    sg->bestd = 3;
}

void load_sug_try(struct suggest *sg, const char *cand)
{
    size_t d = edit_distance(sg->word, cand, 2);
    if (d < sg->bestd && d < strlen(sg->word)) {
        sg->best = cand;
        sg->bestd = d;
    }
}

const char *pipeline_param_suggest(const struct pipeline *p, const char *word)
{
    struct suggest sg;
    load_sug_init(&sg, word);
    for (size_t i = 0; i < p->nparams; i++)
        load_sug_try(&sg, p->params[i].name);
    return sg.best;
}

/* "; did you mean 'x'?", or "" */
const char *load_sug_text(char buf[128], const struct suggest *sg)
{
    if (!sg->best)
        return "";
    snprintf(buf, 128, "; did you mean '%s'?", sg->best);
    return buf;
}

/* May a did-you-mean compare n more names? The budget keeps a file full of bad references
 * from costing names × references. */
bool load_suggest_budget(struct loader *L, size_t n)
{
    if (L->suggest_left < n)
        return false;
    L->suggest_left -= n;
    return true;
}

/* The closest step name to word, as a message suffix. */
const char *load_suggest_step(struct loader *L, char buf[128], const char *word)
{
    struct suggest sg;
    load_sug_init(&sg, word);
    if (load_suggest_budget(L, L->p->nsteps))
        for (size_t i = 0; i < L->p->nsteps; i++)
            load_sug_try(&sg, L->p->steps[i].name);
    return load_sug_text(buf, &sg);
}

/* Append a did-you-mean to an expression's message when the check failed on a name. */
void load_suggest_miss(struct loader *L, char *msg, size_t msgsz)
{
    char sug[128];
    const char *text = "";
    if (L->miss_kind == 's') {
        text = load_suggest_step(L, sug, L->miss);
    } else if (L->miss_kind == 'p') {
        struct suggest sg;
        load_sug_init(&sg, L->miss);
        if (load_suggest_budget(L, L->p->nparams))
            for (size_t i = 0; i < L->p->nparams; i++)
                load_sug_try(&sg, L->p->params[i].name);
        text = load_sug_text(sug, &sg);
    }
    size_t n = strlen(msg);
    snprintf(msg + n, msgsz - n, "%s", text);
    L->miss_kind = 0;
}

/* ---- positions inside values ---- */

static size_t count_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

const struct ytext_lines *load_text_lines(struct loader *L)
{
    if (!L->lines.start)
        ytext_lines_init(&L->lines, L->text, L->len);
    return &L->lines;
}

static size_t utf8_len(unsigned long cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

static unsigned long hex_value(const unsigned char *t, size_t n)
{
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        int c = t[i] | 0x20; /* lower case */
        v = v * 16 + (unsigned long)(c >= '0' && c <= '9'   ? c - '0'
                                     : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                                            : 0);
    }
    return v;
}

/* Characters taken in the file by the first off bytes of a one-line quoted scalar's value:
 * its escapes decoded again ('' in single quotes; \t, \x41, \u00e9... in double quotes). */
static size_t quoted_chars(struct loader *L, const struct ynode *v, size_t off)
{
    const struct ytext_lines *tl = load_text_lines(L);
    if ((size_t)v->line > tl->n)
        return count_chars(v->str, off);
    size_t b, e, got = 0, chars = 0;
    ytext_line(tl, v->line, &b, &e);
    size_t i = ytext_offset(tl, v->line, v->col + 1); /* the character after the quote */
    while (got < off && i < e) {
        const unsigned char *t = (const unsigned char *)L->text + i;
        size_t src = 1, width = 1; /* bytes in the file (all ASCII but UTF-8), in the value */
        if (v->style == YSTYLE_SINGLE && t[0] == '\'') {
            src = 2;
        } else if (v->style == YSTYLE_DOUBLE && t[0] == '\\' && i + 1 < e) {
            size_t hex = t[1] == 'x' ? 2 : t[1] == 'u' ? 4 : t[1] == 'U' ? 8 : 0;
            src = 2 + hex;
            if (hex)
                width = i + src <= e ? utf8_len(hex_value(t + 2, hex)) : 1;
            else if (t[1] == 'N' || t[1] == '_')
                width = 2;
            else if (t[1] == 'L' || t[1] == 'P')
                width = 3;
        } else if (t[0] >= 0x80) { /* one character of several bytes */
            width = t[0] < 0xe0 ? 2 : t[0] < 0xf0 ? 3 : 4;
            got += width;
            chars++;
            i += width;
            continue;
        }
        got += width;
        chars += src;
        i += src;
    }
    return chars;
}

/* Where byte off of a scalar's value sits in the file. Exact for one-line plain and quoted
 * scalars, and for literal (|) blocks; otherwise the start of the value. */
struct pos load_value_pos(struct loader *L, const struct ynode *v, size_t off)
{
    struct pos p = load_node_pos(v);
    bool quoted = v->style == YSTYLE_SINGLE || v->style == YSTYLE_DOUBLE;
    if (off > v->len)
        off = v->len;
    if (v->style == YSTYLE_PLAIN || quoted) {
        p.col += quoted;
        if (v->end_line == v->line)
            p.col += (int)(quoted ? quoted_chars(L, v, off) : count_chars(v->str, off));
        return p;
    }
    if (v->style != YSTYLE_LITERAL)
        return p;
    /* a literal block keeps its lines: value line k is file line v->line + 1 + k, less the
     * block's indentation */
    size_t k = 0, ls = 0;
    for (size_t i = 0; i < off; i++)
        if (v->str[i] == '\n') {
            k++;
            ls = i + 1;
        }
    size_t line = (size_t)v->line + 1 + k, b, e;
    const struct ytext_lines *tl = load_text_lines(L);
    if (line > tl->n)
        return p;
    ytext_line(tl, (int)line, &b, &e);
    size_t src_ind = 0, val_ind = 0;
    for (size_t i = b; i < e && L->text[i] == ' '; i++)
        src_ind++;
    for (size_t i = ls; i < v->len && v->str[i] == ' '; i++)
        val_ind++;
    if (val_ind > src_ind)
        return p;
    p.line = (int)line;
    p.col = (int)(src_ind - val_ind + 1 + count_chars(v->str + ls, off - ls));
    return p;
}
