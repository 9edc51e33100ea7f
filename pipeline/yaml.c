/* YAML text → a tree of struct ynode through libyaml's event API, with the limits that keep a
 * hostile file from costing more than its size: expanded nodes (aliases count at every use),
 * nesting depth, one document. Also duplicate keys (libyaml does not check) and merge keys. */
#include "pipeline/yaml.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "pipeline/load.h"
#include "util/xalloc.h"

/* Nodes live in chunks so that pointers stay valid while the tree grows and freeing the
 * document is one walk. */
#define CHUNK_NODES 256
#define MAX_DUPS 1000

struct chunk {
    struct chunk *next;
    size_t used;
    struct ynode nodes[CHUNK_NODES];
};

struct ydoc {
    struct chunk *chunks;
    struct ynode *root;
};

/* A byte-string → node table with open addressing, for anchors and duplicate keys. Keys are
 * borrowed from the nodes, which outlive the table. */
struct hslot {
    const char *key; /* NULL: empty */
    size_t len;
    size_t hash;
    struct ynode *node;
};

struct htab {
    struct hslot *slots;
    size_t cap; /* a power of two */
    size_t n;
};

struct yparser {
    struct ydoc *doc;
    struct diag_list *diags;
    const char *text;
    size_t len;
    struct ynode *stack[PIPELINE_MAX_DEPTH]; /* open collections, outermost first */
    int depth;
    size_t count; /* nodes so far, each alias counted as the size of what it names */
    size_t bytes; /* scalar bytes so far, counted the same way */
    struct htab anchors;
    int ndocs;
    int ndups; /* duplicate keys reported: past MAX_DUPS, only dropped */
};

static size_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return (size_t)h;
}

static void htab_init(struct htab *t, size_t n)
{
    t->cap = 16;
    while (t->cap / 2 < n)
        t->cap *= 2;
    t->slots = xcalloc(t->cap, sizeof(*t->slots));
    t->n = 0;
}

static void htab_release(struct htab *t)
{
    free(t->slots);
    t->slots = NULL;
    t->cap = t->n = 0;
}

/* The slot holding key, or the empty slot where it goes, its hash already set: to insert,
 * the caller fills in key, len and node (and counts it in n). */
static struct hslot *htab_slot(const struct htab *t, const char *key, size_t len)
{
    size_t h = hash_bytes(key, len), mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hslot *s = &t->slots[i];
        if (!s->key) {
            s->hash = h;
            return s;
        }
        if (s->hash == h && s->len == len && !memcmp(s->key, key, len))
            return s;
    }
}

/* Map key to node (replacing), growing the table to stay at most half full. */
static void htab_put(struct htab *t, const char *key, size_t len, struct ynode *node)
{
    if (!t->cap)
        htab_init(t, 1);
    if (t->n + 1 > t->cap / 2) {
        struct htab big;
        htab_init(&big, t->n + 1);
        for (size_t i = 0; i < t->cap; i++)
            if (t->slots[i].key)
                *htab_slot(&big, t->slots[i].key, t->slots[i].len) = t->slots[i];
        big.n = t->n;
        htab_release(t);
        *t = big;
    }
    struct hslot *s = htab_slot(t, key, len);
    if (!s->key)
        t->n++;
    s->key = key;
    s->len = len;
    s->node = node;
}

static struct ynode *htab_get(const struct htab *t, const char *key, size_t len)
{
    return t->cap ? htab_slot(t, key, len)->node : NULL;
}

/* ---- text positions ---- */

/* Length of the line break at s[0..left), or 0. */
static size_t line_break(const unsigned char *s, size_t left)
{
    if (s[0] == '\n')
        return 1;
    if (s[0] == '\r')
        return left > 1 && s[1] == '\n' ? 2 : 1;
    if (s[0] == 0xc2 && left > 1 && s[1] == 0x85)
        return 2;
    if (s[0] == 0xe2 && left > 2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
        return 3;
    return 0;
}

void ytext_lines_init(struct ytext_lines *tl, const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t alloc = 0;
    tl->text = text;
    tl->len = len;
    tl->start = NULL;
    tl->n = 0;
    size_t i = len >= 3 && s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf ? 3 : 0;
    XGROW(tl->start, alloc, 1);
    tl->start[tl->n++] = i;
    while (i < len) {
        size_t b = line_break(s + i, len - i);
        if (!b) {
            i++;
            continue;
        }
        i += b;
        XGROW(tl->start, alloc, tl->n + 1);
        tl->start[tl->n++] = i;
    }
}

void ytext_lines_release(struct ytext_lines *tl)
{
    free(tl->start);
    tl->start = NULL;
    tl->n = 0;
}

void ytext_line(const struct ytext_lines *tl, int line, size_t *b, size_t *e)
{
    const unsigned char *s = (const unsigned char *)tl->text;
    size_t i = tl->start[line - 1];
    *b = i;
    while (i < tl->len && !line_break(s + i, tl->len - i))
        i++;
    *e = i;
}

size_t ytext_offset(const struct ytext_lines *tl, int line, int col)
{
    size_t i, e;
    ytext_line(tl, line, &i, &e);
    for (int c = 1; c < col && i < e; c++)
        do
            i++;
        while (i < e && ((unsigned char)tl->text[i] & 0xc0) == 0x80);
    return i;
}

void ytext_pos(const struct ytext_lines *tl, size_t off, int *line, int *col)
{
    size_t lo = 0, hi = tl->n; /* the last line starting at or before off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (tl->start[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    size_t b, e;
    ytext_line(tl, (int)lo + 1, &b, &e);
    int c = 1;
    for (size_t i = b; i < off && i < e; i++)
        if (((unsigned char)tl->text[i] & 0xc0) != 0x80)
            c++;
    *line = (int)(lo + 1);
    *col = c;
}

char *ytext_show(char buf[YTEXT_SHOW_MAX], const char *s, size_t len)
{
    size_t o = 0, chars = 0;
    for (size_t i = 0; i < len; chars++) {
        unsigned char c = (unsigned char)s[i];
        if (chars == YTEXT_SHOW_CHARS) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '\n' || c == '\t') {
            buf[o++] = '\\';
            buf[o++] = c == '\n' ? 'n' : 't';
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(buf + o, 5, "\\x%02x", c);
            i++;
        } else {
            size_t w = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
            if (w > len - i)
                w = len - i;
            memcpy(buf + o, s + i, w);
            o += w;
            i += w;
        }
    }
    buf[o] = '\0';
    return buf;
}

/* ---- building the tree ---- */

static int fail_at(struct yparser *P, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct yparser *P, int line, int col, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    diag_add(P->diags, line, col, "%s", msg);
    return -1;
}

static int mark_int(size_t v)
{
    return v >= INT_MAX ? INT_MAX : (int)v + 1;
}

static struct ynode *node_new(struct yparser *P, enum ynode_type type, const yaml_mark_t *start)
{
    struct chunk *c = P->doc->chunks;
    if (!c || c->used == CHUNK_NODES) {
        c = xmalloc(sizeof(*c));
        c->next = P->doc->chunks;
        c->used = 0;
        P->doc->chunks = c;
    }
    struct ynode *n = &c->nodes[c->used++];
    memset(n, 0, sizeof(*n));
    n->type = type;
    n->line = mark_int(start->line);
    n->col = mark_int(start->column);
    n->end_line = n->line;
    n->size = 1;
    return n;
}

static void add_kid(struct yparser *P, struct ynode *kid)
{
    if (!P->depth) {
        P->doc->root = kid;
        return;
    }
    struct ynode *parent = P->stack[P->depth - 1];
    XGROW(parent->kids, parent->alloc, parent->nkids + 1);
    parent->kids[parent->nkids++] = kid;
}

/* Count n more expanded nodes holding bytes of text; past a limit, the document is refused. */
static int count_nodes(struct yparser *P, size_t n, size_t bytes, const yaml_mark_t *at)
{
    P->count += n;
    P->bytes += bytes;
    if (P->count > PIPELINE_MAX_NODES)
        return fail_at(P, mark_int(at->line), mark_int(at->column),
                       "document expands to more than %d nodes (an alias counts as a copy of "
                       "what it names)",
                       PIPELINE_MAX_NODES);
    if (P->bytes > YDOC_MAX_BYTES)
        return fail_at(P, mark_int(at->line), mark_int(at->column),
                       "document expands to more than %d MiB of text (an alias counts as a "
                       "copy of what it names)",
                       YDOC_MAX_BYTES >> 20);
    return 0;
}

static void register_anchor(struct yparser *P, struct ynode *n, const yaml_char_t *anchor)
{
    if (!anchor)
        return;
    n->anchor = xstrdup((const char *)anchor);
    htab_put(&P->anchors, n->anchor, strlen(n->anchor), n);
}

static bool is_merge_key(const struct ynode *k)
{
    return k->type == YNODE_SCALAR && k->style == YSTYLE_PLAIN && k->len == 2 &&
           !memcmp(k->str, "<<", 2);
}

/* The mappings a merge key's value names: one mapping, or a list of them. Returns how many
 * (0 when the value is neither, which is reported). */
static size_t merge_sources(struct yparser *P, const struct ynode *v, size_t *pairs)
{
    if (v->type == YNODE_MAP) {
        *pairs = v->n;
        return 1;
    }
    *pairs = 0;
    bool ok = v->type == YNODE_SEQ;
    for (size_t i = 0; ok && i < v->n; i++) {
        ok = v->kids[i]->type == YNODE_MAP;
        *pairs += ok ? v->kids[i]->n : 0;
    }
    if (!ok) {
        fail_at(P, v->line, v->col,
                "the value of a merge key '<<' must be a mapping or a list of mappings");
        return 0;
    }
    return v->n;
}

/* Emit the pairs of src that the mapping does not have yet. */
static void merge_pairs(struct htab *t, const struct ynode *src, struct ynode **out, size_t *nout)
{
    for (size_t j = 0; j < src->n; j++) {
        struct ynode *k = src->kids[2 * j], *v = src->kids[2 * j + 1];
        if (k->type == YNODE_SCALAR) {
            struct hslot *s = htab_slot(t, k->str, k->len);
            if (s->key)
                continue;
            s->key = k->str;
            s->len = k->len;
            s->node = k;
            t->n++;
        }
        out[(*nout)++] = k;
        out[(*nout)++] = v;
    }
}

/* A mapping is complete: report duplicate keys (dropping the later pair) and apply merge
 * keys in place, so that readers see plain pairs. */
static void finish_map(struct yparser *P, struct ynode *m)
{
    size_t npairs = m->nkids / 2, total = npairs;
    bool merges = false, dups = false;
    for (size_t i = 0; i < npairs; i++) {
        if (is_merge_key(m->kids[2 * i])) {
            size_t pairs;
            if (!merge_sources(P, m->kids[2 * i + 1], &pairs))
                m->kids[2 * i] = NULL; /* reported; the pair is dropped */
            merges = true;
            total += pairs;
        }
    }
    m->n = npairs;
    if (npairs < 2 && !merges)
        return;

    struct htab t;
    htab_init(&t, total);
    for (size_t i = 0; i < npairs; i++) {
        struct ynode *k = m->kids[2 * i];
        if (!k || k->type != YNODE_SCALAR || is_merge_key(k))
            continue;
        struct hslot *s = htab_slot(&t, k->str, k->len);
        if (s->key) {
            char shown[YTEXT_SHOW_MAX];
            if (P->ndups++ < MAX_DUPS)
                fail_at(P, k->line, k->col, "duplicate key '%s' (first at %d:%d)",
                        ytext_show(shown, k->str, k->len), s->node->line, s->node->col);
            m->kids[2 * i] = NULL;
            dups = true;
            continue;
        }
        s->key = k->str;
        s->len = k->len;
        s->node = k;
        t.n++;
    }
    if (merges || dups) {
        struct ynode **out = xmalloc((2 * total + 1) * sizeof(*out));
        size_t nout = 0;
        for (size_t i = 0; i < npairs; i++) {
            struct ynode *k = m->kids[2 * i], *v = m->kids[2 * i + 1];
            if (!k)
                continue;
            if (!is_merge_key(k)) {
                out[nout++] = k;
                out[nout++] = v;
            } else if (v->type == YNODE_MAP) {
                merge_pairs(&t, v, out, &nout);
            } else {
                for (size_t j = 0; j < v->n; j++)
                    merge_pairs(&t, v->kids[j], out, &nout);
            }
        }
        free(m->kids);
        m->kids = out;
        m->nkids = nout;
        m->alloc = 2 * total + 1;
        m->n = nout / 2;
    }
    htab_release(&t);
}

static void finish_node(struct yparser *P, struct ynode *n, const yaml_mark_t *end)
{
    size_t size = 1, bytes = 0;
    int height = 0;
    for (size_t i = 0; i < n->nkids; i++) {
        size += n->kids[i]->size;
        bytes += n->kids[i]->bytes;
        /* capped: enough to refuse any use, and no overflow */
        if (size > PIPELINE_MAX_NODES)
            size = PIPELINE_MAX_NODES + 1;
        if (bytes > YDOC_MAX_BYTES)
            bytes = YDOC_MAX_BYTES + 1;
        if (n->kids[i]->height > height)
            height = n->kids[i]->height;
    }
    n->size = size;
    n->bytes = bytes;
    n->height = height + 1;
    n->end_line = mark_int(end->line);
    n->open = false;
    if (n->type == YNODE_MAP)
        finish_map(P, n);
    else
        n->n = n->nkids;
}

static int on_event(struct yparser *P, yaml_event_t *ev)
{
    const yaml_mark_t *at = &ev->start_mark;
    struct ynode *n;
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (P->ndocs++)
            return fail_at(P, mark_int(at->line), mark_int(at->column),
                           "a pipeline file holds one YAML document; this is a second one");
        return 0;
    case YAML_SCALAR_EVENT:
        if (count_nodes(P, 1, ev->data.scalar.length, at) < 0)
            return -1;
        n = node_new(P, YNODE_SCALAR, at);
        n->len = ev->data.scalar.length;
        n->bytes = n->len;
        n->str = xstrndup((const char *)ev->data.scalar.value, n->len);
        n->end_line = mark_int(ev->end_mark.line);
        switch (ev->data.scalar.style) {
        case YAML_SINGLE_QUOTED_SCALAR_STYLE:
            n->style = YSTYLE_SINGLE;
            break;
        case YAML_DOUBLE_QUOTED_SCALAR_STYLE:
            n->style = YSTYLE_DOUBLE;
            break;
        case YAML_LITERAL_SCALAR_STYLE:
            n->style = YSTYLE_LITERAL;
            break;
        case YAML_FOLDED_SCALAR_STYLE:
            n->style = YSTYLE_FOLDED;
            break;
        default:
            n->style = YSTYLE_PLAIN;
            break;
        }
        register_anchor(P, n, ev->data.scalar.anchor);
        if (ev->data.scalar.tag)
            n->tag = xstrdup((const char *)ev->data.scalar.tag);
        add_kid(P, n);
        return 0;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (P->depth == PIPELINE_MAX_DEPTH)
            return fail_at(P, mark_int(at->line), mark_int(at->column),
                           "document nests deeper than %d levels", PIPELINE_MAX_DEPTH);
        if (count_nodes(P, 1, 0, at) < 0)
            return -1;
        n = node_new(P, ev->type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQ : YNODE_MAP, at);
        n->open = true;
        register_anchor(P, n,
                        ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
                                                              : ev->data.mapping_start.anchor);
        const yaml_char_t *tag = ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.tag
                                                                       : ev->data.mapping_start.tag;
        if (tag)
            n->tag = xstrdup((const char *)tag);
        add_kid(P, n);
        P->stack[P->depth++] = n;
        return 0;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        if (!P->depth)
            BUG("libyaml ended a collection that was not open");
        finish_node(P, P->stack[--P->depth], &ev->end_mark);
        return 0;
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        char shown[YTEXT_SHOW_MAX];
        n = htab_get(&P->anchors, name, strlen(name));
        if (!n)
            return fail_at(P, mark_int(at->line), mark_int(at->column), "unknown alias '*%s'",
                           ytext_show(shown, name, strlen(name)));
        if (n->open)
            return fail_at(P, mark_int(at->line), mark_int(at->column),
                           "alias '*%s' refers to a node that contains it",
                           ytext_show(shown, name, strlen(name)));
        if (P->depth + n->height > PIPELINE_MAX_DEPTH)
            return fail_at(P, mark_int(at->line), mark_int(at->column),
                           "document nests deeper than %d levels once alias '*%s' is expanded",
                           PIPELINE_MAX_DEPTH, ytext_show(shown, name, strlen(name)));
        if (count_nodes(P, n->size, n->bytes, at) < 0)
            return -1;
        add_kid(P, n);
        return 0;
    }
    default:
        return 0;
    }
}

/* ---- indentation mistakes, which libyaml reports by their symptom ---- */

/* The column (1-based) of the first character of line that is not a blank, or 0 when the
 * line holds nothing but blanks or a comment. */
static int line_indent(const struct ytext_lines *tl, int line)
{
    size_t b, e;
    ytext_line(tl, line, &b, &e);
    int col = 1;
    for (size_t i = b; i < e; i++, col++) {
        if (tl->text[i] == '#')
            return 0;
        if (tl->text[i] != ' ')
            return col;
    }
    return 0;
}

/* The line with content before line (blank and comment lines skipped), or 0. */
static int line_before(const struct ytext_lines *tl, int line)
{
    while (--line > 0)
        if (line_indent(tl, line))
            return line;
    return 0;
}

/* Is a plain key ("name:", then a blank or the end of the line) at column col of line? Its
 * length goes to *len; *rest tells whether a value follows on the line. */
static bool key_at(const struct ytext_lines *tl, int line, int col, size_t *len, bool *rest)
{
    size_t b, e, i = ytext_offset(tl, line, col);
    const char *t = tl->text;
    ytext_line(tl, line, &b, &e);
    size_t k = i;
    if (k >= e || !((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= 'A' && t[k] <= 'Z') || t[k] == '_'))
        return false;
    while (k < e && ((t[k] >= 'a' && t[k] <= 'z') || (t[k] >= 'A' && t[k] <= 'Z') ||
                     (t[k] >= '0' && t[k] <= '9') || t[k] == '_' || t[k] == '-'))
        k++;
    if (k >= e || t[k] != ':' || (k + 1 < e && t[k + 1] != ' '))
        return false;
    *len = k - i;
    size_t r = k + 1;
    while (r < e && t[r] == ' ')
        r++;
    *rest = r < e && t[r] != '#';
    return true;
}

/* The message for a key that libyaml refused at line (whose problem mark is at col) when
 * the cause is its indentation, or false to keep libyaml's words:
 *  - a key indented more than the "key: value" above it reads as more of that value
 *    ("mapping values are not allowed in this context");
 *  - a key between two levels belongs to neither ("did not find expected key" while
 *    parsing the mapping at ctx_line:ctx_col). */
static bool indentation_msg(const struct ytext_lines *tl, const char *problem, int line, int col,
                            int ctx_line, int ctx_col, char *msg, size_t msgsz, int *at)
{
    char k1[YTEXT_SHOW_MAX], k2[YTEXT_SHOW_MAX], k3[YTEXT_SHOW_MAX];
    size_t len, plen, clen;
    bool rest;
    int ind = line_indent(tl, line), prev = line_before(tl, line);
    if (!ind || !key_at(tl, line, ind, &len, &rest))
        return false;
    ytext_show(k1, tl->text + ytext_offset(tl, line, ind), len);
    *at = ind;
    if (strstr(problem, "mapping values are not allowed") && ind + (int)len == col && prev &&
        line_indent(tl, prev) < ind) {
        int pind = line_indent(tl, prev);
        if (key_at(tl, prev, pind, &plen, &rest) && rest) {
            ytext_show(k2, tl->text + ytext_offset(tl, prev, pind), plen);
            snprintf(msg, msgsz,
                     "'%s' is indented more than '%s' on line %d, so YAML reads it as part of "
                     "the value of '%s'; indent '%s' to column %d, like '%s'",
                     k1, k2, prev, k2, k1, pind, k2);
        } else {
            snprintf(msg, msgsz,
                     "'%s' is indented more than line %d, so YAML reads it as part of the value "
                     "there; indent it like the keys it belongs with",
                     k1, prev);
        }
        return true;
    }
    if (!strstr(problem, "did not find expected key") || ind != col || ctx_col >= ind ||
        ctx_line < 1 || ctx_line >= line)
        return false;
    /* the nearest key above it indented more (the level it may have meant), and the
     * nearest of the mapping libyaml was reading */
    int inner = 0, outer = 0;
    for (int l = prev; l >= ctx_line && !outer; l = line_before(tl, l)) {
        int lind = line_indent(tl, l);
        if (lind == ctx_col && key_at(tl, l, lind, &clen, &rest))
            outer = l;
        else if (!inner && lind > ind && key_at(tl, l, lind, &plen, &rest))
            inner = l;
    }
    if (!outer)
        return false;
    ytext_show(k3, tl->text + ytext_offset(tl, outer, ctx_col), clen);
    if (!inner) {
        snprintf(msg, msgsz,
                 "'%s' at column %d lines up with no key above it: '%s' on line %d is at column "
                 "%d; indent it like the keys it belongs with",
                 k1, ind, k3, outer, ctx_col);
        return true;
    }
    int iind = line_indent(tl, inner);
    ytext_show(k2, tl->text + ytext_offset(tl, inner, iind), plen);
    snprintf(msg, msgsz,
             "'%s' at column %d lines up with no key above it: '%s' on line %d is at column %d, "
             "'%s' on line %d at column %d; indent it like one of them",
             k1, ind, k2, inner, iind, k3, outer, ctx_col);
    return true;
}

/* libyaml's own words, at its position. */
static void report_libyaml(struct yparser *P, const yaml_parser_t *yp)
{
    if (yp->error == YAML_MEMORY_ERROR) {
        diag_add(P->diags, 0, 0, "out of memory while parsing YAML");
        return;
    }
    const char *problem = yp->problem ? yp->problem : "invalid YAML";
    struct ytext_lines tl;
    ytext_lines_init(&tl, P->text, P->len);
    int line, col;
    if (yp->error == YAML_READER_ERROR) {
        ytext_pos(&tl, yp->problem_offset < P->len ? yp->problem_offset : P->len, &line, &col);
        if (yp->problem_value >= 0)
            diag_add(P->diags, line, col, "%s (code 0x%02x)", problem, yp->problem_value);
        else
            diag_add(P->diags, line, col, "%s", problem);
        ytext_lines_release(&tl);
        return;
    }
    line = mark_int(yp->problem_mark.line);
    col = mark_int(yp->problem_mark.column);
    /* libyaml names the symptom; name the usual cause */
    const char *hint = "";
    int at = -1; /* the character at the problem mark */
    if ((size_t)line <= tl.n) {
        size_t i = ytext_offset(&tl, line, col), b, e;
        ytext_line(&tl, line, &b, &e);
        at = i < e ? (unsigned char)P->text[i] : -1;
    }
    const char *context = yp->context ? yp->context : "";
    char msg[512];
    int key_col;
    if (at != '\t' && (size_t)line <= tl.n &&
        indentation_msg(&tl, problem, line, col, mark_int(yp->context_mark.line),
                        mark_int(yp->context_mark.column), msg, sizeof(msg), &key_col)) {
        diag_add(P->diags, line, key_col, "%s", msg);
        ytext_lines_release(&tl);
        return;
    }
    if (at == '\t' && !strstr(problem, "tab"))
        hint = "; YAML is indented with spaces, not tabs";
    else if (at == '@' || at == '`')
        hint = "; quote a value that starts with '@' or '`'";
    else if (strstr(context, "scanning an alias"))
        hint = "; quote a value that starts with '*'";
    else if (strstr(context, "scanning an anchor"))
        hint = "; quote a value that starts with '&'";
    else if (strstr(problem, "mapping values are not allowed"))
        hint = "; quote a value that contains ': '";
    bool same = yp->context_mark.line == yp->problem_mark.line &&
                yp->context_mark.column == yp->problem_mark.column;
    if (yp->context && !same)
        diag_add(P->diags, line, col, "%s (%s at %d:%d)%s", problem, yp->context,
                 mark_int(yp->context_mark.line), mark_int(yp->context_mark.column), hint);
    else
        diag_add(P->diags, line, col, "%s%s", problem, hint);
    ytext_lines_release(&tl);
}

struct ydoc *ydoc_parse(const char *text, size_t len, struct diag_list *diags)
{
    struct yparser P;
    memset(&P, 0, sizeof(P));
    P.doc = xcalloc(1, sizeof(*P.doc));
    P.diags = diags;
    P.text = text;
    P.len = len;

    yaml_parser_t yp;
    if (!yaml_parser_initialize(&yp)) {
        diag_add(diags, 0, 0, "out of memory while parsing YAML");
        ydoc_free(P.doc);
        return NULL;
    }
    yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&yp, YAML_UTF8_ENCODING);
    int rc = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&yp, &ev)) {
            report_libyaml(&P, &yp);
            rc = -1;
            break;
        }
        bool end = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(&P, &ev);
        yaml_event_delete(&ev);
        if (rc < 0 || end)
            break;
    }
    yaml_parser_delete(&yp);
    htab_release(&P.anchors);
    if (rc < 0) {
        ydoc_free(P.doc);
        return NULL;
    }
    return P.doc;
}

const struct ynode *ydoc_root(const struct ydoc *d)
{
    return d->root;
}

void ydoc_free(struct ydoc *d)
{
    if (!d)
        return;
    struct chunk *c = d->chunks;
    while (c) {
        struct chunk *next = c->next;
        for (size_t i = 0; i < c->used; i++) {
            free(c->nodes[i].str);
            free(c->nodes[i].kids);
            free(c->nodes[i].anchor);
            free(c->nodes[i].tag);
        }
        free(c);
        c = next;
    }
    free(d);
}

bool ynode_is_null(const struct ynode *n)
{
    if (n->type != YNODE_SCALAR || n->style != YSTYLE_PLAIN)
        return false;
    return !n->len || !strcmp(n->str, "~") || !strcmp(n->str, "null") || !strcmp(n->str, "Null") ||
           !strcmp(n->str, "NULL");
}
