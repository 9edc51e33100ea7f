/* Diagnostics for pipeline files: collected while loading, printed compiler-style with the
 * source line and a caret under the column. */
#include "pipeline/diag.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/yaml.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

void diag_add(struct diag_list *dl, int line, int col, const char *fmt, ...)
{
    struct strbuf sb = STRBUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&sb, fmt, ap);
    va_end(ap);
    XGROW(dl->items, dl->alloc, dl->n + 1);
    struct diag *d = &dl->items[dl->n++];
    d->line = line > 0 ? line : 0;
    d->col = d->line ? (col > 0 ? col : 1) : 0;
    d->msg = strbuf_detach(&sb, NULL);
}

void diag_list_release(struct diag_list *dl)
{
    for (size_t i = 0; i < dl->n; i++)
        free(dl->items[i].msg);
    free(dl->items);
    dl->items = NULL;
    dl->n = dl->alloc = 0;
}

/* By position, whole-file messages last, ties in the order they were added. */
static int cmp_diag(const void *a, const void *b)
{
    const struct diag *x = *(const struct diag *const *)a, *y = *(const struct diag *const *)b;
    if (!x->line != !y->line)
        return x->line ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return (x > y) - (x < y); /* the items array is in order of addition */
}

/* Lines longer than this are shown as a window around the column, so that a hostile file of
 * one long line with many errors cannot make the output its size times the error count. */
#define LINE_SHOWN 240
#define WINDOW_BEFORE 100

/* The byte offset of the character n characters after i (stopping at end). */
static size_t skip_chars(const char *text, size_t i, size_t end, size_t n)
{
    for (; n && i < end; n--)
        do
            i++;
        while (i < end && ((unsigned char)text[i] & 0xc0) == 0x80);
    return i;
}

/* Where printing is in the text. Messages come sorted by line and column, so walking a line
 * only forwards keeps the cost linear in the text however many messages there are. */
struct cursor {
    int line; /* the line start..end describe, 0 before the first */
    size_t start, end;
    bool long_line; /* more than LINE_SHOWN characters */
    size_t c, off;  /* character c of the line is at byte off */
};

static size_t char_offset(struct cursor *cur, const char *text, size_t c)
{
    if (c < cur->c) {
        cur->c = 0;
        cur->off = cur->start;
    }
    cur->off = skip_chars(text, cur->off, cur->end, c - cur->c);
    cur->c = c;
    return cur->off;
}

static void print_source(const struct ytext_lines *tl, const char *text, const struct diag *d,
                         struct cursor *cur, FILE *out)
{
    if ((size_t)d->line > tl->n)
        return;
    if (cur->line != d->line) {
        cur->line = d->line;
        ytext_line(tl, d->line, &cur->start, &cur->end);
        cur->c = 0;
        cur->off = cur->start;
        cur->long_line = skip_chars(text, cur->start, cur->end, LINE_SHOWN) < cur->end;
    }
    size_t col = (size_t)d->col - 1, from = cur->start, to = cur->end; /* col: chars before */
    bool cut_before = false, cut_after = false;
    if (cur->long_line) {
        size_t first = col > WINDOW_BEFORE ? col - WINDOW_BEFORE : 0;
        from = char_offset(cur, text, first);
        to = skip_chars(text, from, cur->end, LINE_SHOWN);
        cut_before = first > 0;
        cut_after = to < cur->end;
        col -= first;
    }
    fprintf(out, "%5d | %s", d->line, cut_before ? "..." : "");
    fwrite(text + from, 1, to - from, out);
    fprintf(out, "%s\n      | %s", cut_after ? "..." : "", cut_before ? "   " : "");
    /* the caret line copies tabs so that it lines up wherever the terminal puts tab stops */
    for (size_t c = 0, i = from; c < col; c++) {
        fputc(i < to && text[i] == '\t' ? '\t' : ' ', out);
        i = skip_chars(text, i, to, 1);
    }
    fputs("^\n", out);
}

void diag_print(const struct diag_list *dl, const char *file, const char *text, size_t text_len,
                FILE *out)
{
    if (!dl->n)
        return;
    const struct diag **order = xmalloc(dl->n * sizeof(*order));
    for (size_t i = 0; i < dl->n; i++)
        order[i] = &dl->items[i];
    qsort(order, dl->n, sizeof(*order), cmp_diag);
    struct ytext_lines tl = {NULL, 0, NULL, 0};
    struct cursor cur = {0, 0, 0, false, 0, 0};
    if (text)
        ytext_lines_init(&tl, text, text_len);
    for (size_t i = 0; i < dl->n; i++) {
        const struct diag *d = order[i];
        if (!d->line) {
            fprintf(out, "%s: error: %s\n", file, d->msg);
            continue;
        }
        fprintf(out, "%s:%d:%d: error: %s\n", file, d->line, d->col, d->msg);
        if (text)
            print_source(&tl, text, d, &cur, out);
    }
    ytext_lines_release(&tl);
    free(order);
}

const char *diag_excerpt(char out[static DIAG_QUOTE_SIZE], const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && i < DIAG_QUOTE_MAX; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f)
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "\\x%02x", c);
    }
    if (n > DIAG_QUOTE_MAX) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}
