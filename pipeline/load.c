/* Pipeline files: YAML text → a validated struct pipeline. Every error is collected in one
 * pass, each at the line and column of what it is about; yaml.c reads the YAML, this file
 * knows what a pipeline may say. */
#include "pipeline/load.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/duration.h"
#include "pipeline/graph.h"
#include "pipeline/yaml.h"
#include "util/strbuf.h"
#include "util/strmap.h"
#include "util/xalloc.h"

#define MAX_DIAGS 1000     /* a hostile file could otherwise list an error per node */
#define MAX_SUGGEST 200000 /* did-you-mean comparisons per file: typos are few, names many */
/* Defaults are copied into every step that does not set them: like aliases, a multiplier a
 * hostile file could use, so the copies have their own budget. */
#define MAX_INHERIT_NODES 1000000
#define MAX_INHERIT_BYTES (16 << 20)
#define MSG_MAX 1024
#define DESC_MAX (YTEXT_SHOW_MAX + 16)

/* Step keys, in the order they are read; the index is the key's bit in step_aux. */
/* clang-format off */
enum {
    K_KIND, K_RUN, K_NEEDS, K_INPUTS, K_OUTPUTS, K_DEPS, K_WHEN, K_RETRIES, K_RETRY_DELAY,
    K_TIMEOUT, K_EXECUTOR, K_RESOURCES, K_CACHE, K_WORKDIR, K_ENV, K_SOURCE, K_SHA256,
    K_MAX_SIZE, K_INPUT, K_TABLE, K_ON_DRIFT, K_EXPECT, K_MODEL, K_MODEL_NAME, K_TARGET,
    K_HEALTH, K_HEALTH_TIMEOUT, NKEYS
};
/* clang-format on */

#define KB(k) (1u << (k))
#define CMD (KB(KIND_TASK) | KB(KIND_TRANSFORM) | KB(KIND_TRAIN) | KB(KIND_EVALUATE))
#define ALL (KB(KIND_COUNT) - 1)

/* What is known of one step while loading, beside the struct step being filled. */
struct step_aux {
    const struct ynode *key;  /* the step's name in 'steps' */
    const struct ynode *body; /* its mapping; NULL when it is not one (reported) */
    unsigned written;         /* KB(K_*) of keys the step sets itself */
    unsigned inherited;       /* ... that it takes from defaults */
    unsigned bad;             /* ... whose value was refused (reported) */
    bool kind_known;
};

struct loader {
    struct pipeline *p;
    struct diag_list *diags;
    size_t ndiags;                       /* added by this load */
    int quiet;                           /* > 0: drop diagnostics (defaults re-read for one step) */
    size_t suggest_left;                 /* did-you-mean comparisons left */
    size_t inherit_nodes, inherit_bytes; /* copied from defaults so far */
    struct strmap outputs;               /* "STEP\nOUTPUT" of every declared output */
    struct ytext_lines lines;            /* built when first needed */
    const char *text;
    size_t len;
    struct strmap steps;  /* step name → index */
    struct strmap params; /* param name → index */
    struct step_aux *aux; /* per step */
    struct expr_scope scope;
    char miss_kind;                /* 'p' or 's': the last scope look-up that failed, ... */
    char miss[72];                 /* ... and its name, for a did-you-mean */
    char who[YTEXT_SHOW_MAX + 16]; /* "step 'train'" or "'defaults'", for messages */
    /* defaults: read once (with messages) into a pseudo-step, then again quietly into each
     * step that does not set the key */
    const struct ynode *dflt_v[NKEYS];
    struct pipeline *dflt_holder; /* owns the pseudo-step dflt so pipeline_free frees it */
    struct step_aux dflt_aux;
};

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

static void err_pos(struct loader *L, struct pos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_pos(struct loader *L, struct pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(L, pos.line, pos.col, fmt, ap);
    va_end(ap);
}

static void err_node(struct loader *L, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void err_node(struct loader *L, const struct ynode *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(L, n ? n->line : 0, n ? n->col : 0, fmt, ap);
    va_end(ap);
}

static void err_file(struct loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void err_file(struct loader *L, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verr(L, 0, 0, fmt, ap);
    va_end(ap);
}

static struct pos node_pos(const struct ynode *n)
{
    struct pos p = {n->line, n->col};
    return p;
}

static const char *show(char buf[YTEXT_SHOW_MAX], const struct ynode *v)
{
    return ytext_show(buf, v->str, v->len);
}

static const char *show_tag(char buf[YTEXT_SHOW_MAX], const struct ynode *v)
{
    return ytext_show(buf, v->tag, strlen(v->tag));
}

/* How a value reads in a message: 'two', the string '5', a list, a mapping, nothing. */
static const char *describe(char buf[DESC_MAX], const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX];
    if (v->type == YNODE_SEQ)
        return "a list";
    if (v->type == YNODE_MAP)
        return "a mapping";
    if (ynode_is_null(v) && v->tag) {
        snprintf(buf, DESC_MAX, "nothing (YAML read '%s' as a tag)", show_tag(shown, v));
        return buf;
    }
    if (ynode_is_null(v))
        return "nothing";
    if (!v->len)
        return "an empty string";
    snprintf(buf, DESC_MAX, "%s'%s'", v->style == YSTYLE_PLAIN ? "" : "the string ",
             show(shown, v));
    return buf;
}

/* A mapping key in a message: 'name', or what it is when it is not a string. */
static const char *key_text(char buf[DESC_MAX], const struct ynode *k)
{
    char shown[YTEXT_SHOW_MAX];
    if (k->type != YNODE_SCALAR)
        return k->type == YNODE_SEQ ? "(a list)" : "(a mapping)";
    snprintf(buf, DESC_MAX, "'%s'", show(shown, k));
    return buf;
}

static const char *article(const char *word)
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

struct suggest {
    const char *word;
    const char *best;
    size_t bestd;
};

static void sug_init(struct suggest *sg, const char *word)
{
    sg->word = word;
    sg->best = NULL;
    sg->bestd = 3;
}

static void sug_try(struct suggest *sg, const char *cand)
{
    size_t d = edit_distance(sg->word, cand, 2);
    if (d < sg->bestd && d < strlen(sg->word)) {
        sg->best = cand;
        sg->bestd = d;
    }
}

/* "; did you mean 'x'?", or "" */
static const char *sug_text(char buf[128], const struct suggest *sg)
{
    if (!sg->best)
        return "";
    snprintf(buf, 128, "; did you mean '%s'?", sg->best);
    return buf;
}

/* May a did-you-mean compare n more names? The budget keeps a file full of bad references
 * from costing names × references. */
static bool suggest_budget(struct loader *L, size_t n)
{
    if (L->suggest_left < n)
        return false;
    L->suggest_left -= n;
    return true;
}

/* The closest step name to word, as a message suffix. */
static const char *suggest_step(struct loader *L, char buf[128], const char *word)
{
    struct suggest sg;
    sug_init(&sg, word);
    if (suggest_budget(L, L->p->nsteps))
        for (size_t i = 0; i < L->p->nsteps; i++)
            sug_try(&sg, L->p->steps[i].name);
    return sug_text(buf, &sg);
}

/* Append a did-you-mean to an expression's message when the check failed on a name. */
static void suggest_miss(struct loader *L, char *msg, size_t msgsz)
{
    char sug[128];
    const char *text = "";
    if (L->miss_kind == 's') {
        text = suggest_step(L, sug, L->miss);
    } else if (L->miss_kind == 'p') {
        struct suggest sg;
        sug_init(&sg, L->miss);
        if (suggest_budget(L, L->p->nparams))
            for (size_t i = 0; i < L->p->nparams; i++)
                sug_try(&sg, L->p->params[i].name);
        text = sug_text(sug, &sg);
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

static const struct ytext_lines *text_lines(struct loader *L)
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
    const struct ytext_lines *tl = text_lines(L);
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
static struct pos value_pos(struct loader *L, const struct ynode *v, size_t off)
{
    struct pos p = node_pos(v);
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
    const struct ytext_lines *tl = text_lines(L);
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

/* ---- scalar values ---- */

static bool is_scalar(const struct ynode *v)
{
    return v->type == YNODE_SCALAR && !ynode_is_null(v);
}

/* [a-z0-9][a-z0-9_-]{0,63}: pipeline, step, model and table names */
static bool valid_name(const char *s, size_t len)
{
    if (len < 1 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (i && (c == '_' || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

#define NAME_RULE                                                                                  \
    "use 1 to 64 lowercase letters, digits, '_' and '-', starting with a letter or digit"

/* [A-Za-z_][A-Za-z0-9_]*: params, inputs and env names, which become variable names */
static bool valid_ident(const char *s, size_t len)
{
    if (!len || len > 128 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

#define IDENT_RULE "use letters, digits and '_', not starting with a digit"

static bool get_str(struct loader *L, const char *key, const struct ynode *v, const char **out)
{
    char d[DESC_MAX];
    if (!is_scalar(v) || !v->len) {
        err_node(L, v, "'%s' must be a string, got %s", key, describe(d, v));
        return false;
    }
    *out = v->str;
    return true;
}

static bool get_int(struct loader *L, const char *key, const struct ynode *v, long long min,
                    long long max, long long *out)
{
    char d[DESC_MAX];
    const char *s = v->str;
    bool ok = v->type == YNODE_SCALAR && v->style == YSTYLE_PLAIN && v->len && v->len == strlen(s);
    size_t i = ok && (s[0] == '-' || s[0] == '+');
    ok = ok && s[i];
    for (; ok && s[i]; i++)
        ok = s[i] >= '0' && s[i] <= '9';
    if (!ok) {
        err_node(L, v, "'%s' must be an integer, got %s", key, describe(d, v));
        return false;
    }
    long long n = strtoll(s, NULL, 10); /* clamped on overflow, which the range check catches */
    if (n < min) {
        err_node(L, v, "'%s' must be %lld or more, got '%s'", key, min, s);
        return false;
    }
    if (n > max) {
        err_node(L, v, "'%s' must be at most %lld, got '%s'", key, max, s);
        return false;
    }
    *out = n;
    return true;
}

static bool get_bool(struct loader *L, const char *key, const struct ynode *v, bool *out)
{
    char d[DESC_MAX];
    if (v->type == YNODE_SCALAR && v->style == YSTYLE_PLAIN &&
        (!strcmp(v->str, "true") || !strcmp(v->str, "false"))) {
        *out = v->str[0] == 't';
        return true;
    }
    err_node(L, v, "'%s' must be true or false, got %s", key, describe(d, v));
    return false;
}

static bool get_duration(struct loader *L, const char *key, const struct ynode *v, int64_t *ms)
{
    char d[DESC_MAX];
    if (is_scalar(v) && v->len == strlen(v->str) && duration_parse(v->str, ms) == 0)
        return true;
    err_node(L, v, "'%s' must be a duration such as 30s, 10m, 2h or 7d, got %s", key,
             describe(d, v));
    return false;
}

static bool get_size(struct loader *L, const char *key, const struct ynode *v, int64_t *bytes)
{
    char d[DESC_MAX];
    if (is_scalar(v) && v->len == strlen(v->str) && size_parse(v->str, bytes) == 0)
        return true;
    err_node(L, v, "'%s' must be a size such as 512M or 10G, got %s", key, describe(d, v));
    return false;
}

/* One of the words in choices: its index, or -1 after reporting the value. */
static int get_choice(struct loader *L, const char *key, const struct ynode *v,
                      const char *const *choices, size_t n)
{
    char d[DESC_MAX];
    if (is_scalar(v))
        for (size_t i = 0; i < n; i++)
            if (!strcmp(v->str, choices[i]))
                return (int)i;
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < n; i++)
        strbuf_addf(&sb, "%s'%s'", i == 0 ? "" : i + 1 == n ? " or " : ", ", choices[i]);
    err_node(L, v, "'%s' must be %s, got %s", key, sb.buf, describe(d, v));
    strbuf_release(&sb);
    return -1;
}

static bool get_sval(struct loader *L, const char *key, const struct ynode *v, struct sval *out)
{
    const char *s = NULL;
    if (!get_str(L, key, v, &s))
        return false;
    free(out->s);
    out->s = xstrdup(s);
    out->pos = node_pos(v);
    return true;
}

/* A string or a list of strings. */
static bool get_list(struct loader *L, const char *key, const struct ynode *v, struct sval **out,
                     size_t *n)
{
    char d[DESC_MAX];
    if (v->type == YNODE_MAP || (v->type == YNODE_SCALAR && !is_scalar(v))) {
        err_node(L, v, "'%s' must be a list of strings, got %s", key, describe(d, v));
        return false;
    }
    size_t cnt = v->type == YNODE_SEQ ? v->n : 1;
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        const struct ynode *it = v->type == YNODE_SEQ ? v->kids[i] : v;
        if (!is_scalar(it) || !it->len) {
            err_node(L, it, "items of '%s' must be strings, got %s", key, describe(d, it));
            ok = false;
        }
    }
    if (!ok)
        return false;
    *out = xcalloc(cnt, sizeof(**out));
    *n = cnt;
    for (size_t i = 0; i < cnt; i++) {
        const struct ynode *it = v->type == YNODE_SEQ ? v->kids[i] : v;
        (*out)[i].s = xstrdup(it->str);
        (*out)[i].pos = node_pos(it);
    }
    return true;
}

/* "STEP/OUTPUT" into r (name stays as it is). */
static bool get_ref(struct loader *L, const char *what, const struct ynode *v, struct ref *r)
{
    char d[DESC_MAX];
    const char *slash = is_scalar(v) ? memchr(v->str, '/', v->len) : NULL;
    if (!slash || slash == v->str || !slash[1] || v->len != strlen(v->str)) {
        err_node(L, v, "%s must be 'STEP/OUTPUT', got %s", what, describe(d, v));
        return false;
    }
    r->step = xstrndup(v->str, (size_t)(slash - v->str));
    r->output = xstrdup(slash + 1);
    r->pos = node_pos(v);
    return true;
}

/* Parse and type-check a template; on failure t is left released. */
static bool get_tmpl(struct loader *L, struct tmpl *t, const struct ynode *v)
{
    char msg[MSG_MAX];
    int off = 0;
    if (tmpl_parse(t, v->str, &off, msg, sizeof(msg)) < 0) {
        err_pos(L, value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        return false;
    }
    t->pos = value_pos(L, v, 0);
    L->miss_kind = 0;
    if (tmpl_check(t, &L->scope, &off, msg, sizeof(msg)) < 0) {
        suggest_miss(L, msg, sizeof(msg));
        err_pos(L, value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        tmpl_release(t);
        return false;
    }
    return true;
}

/* ---- step keys ---- */

static bool key_run(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX];
    s->run_pos = node_pos(v);
    if (v->type == YNODE_SCALAR) {
        if (!is_scalar(v) || !v->len) {
            err_node(L, v, "'run' must be a command or a list of arguments, got %s",
                     describe(d, v));
            return false;
        }
        s->run_shell = xcalloc(1, sizeof(*s->run_shell));
        if (get_tmpl(L, s->run_shell, v))
            return true;
        free(s->run_shell);
        s->run_shell = NULL;
        return false;
    }
    if (v->type != YNODE_SEQ || !v->n) {
        err_node(L, v, "'run' must be a command or a list of arguments, got %s",
                 v->type == YNODE_SEQ ? "an empty list" : describe(d, v));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *arg = v->kids[i];
        if (arg->type != YNODE_SCALAR || ynode_is_null(arg)) { /* "" is an argument */
            err_node(L, arg, "arguments of 'run' must be strings, got %s", describe(d, arg));
            ok = false;
        }
    }
    if (!ok)
        return false;
    s->run_argv = xcalloc(v->n, sizeof(*s->run_argv));
    s->run_argc = v->n;
    for (size_t i = 0; i < v->n; i++)
        ok = get_tmpl(L, &s->run_argv[i], v->kids[i]) && ok;
    if (!ok) {
        for (size_t i = 0; i < v->n; i++)
            tmpl_release(&s->run_argv[i]);
        free(s->run_argv);
        s->run_argv = NULL;
        s->run_argc = 0;
    }
    return ok;
}

static bool key_inputs(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX], shown[YTEXT_SHOW_MAX];
    if (v->type != YNODE_MAP) {
        err_node(L, v, "'inputs' must be a mapping of names to 'STEP/OUTPUT', got %s",
                 describe(d, v));
        return false;
    }
    bool ok = true;
    struct strmap seen = STRMAP_INIT; /* upper-cased name → input index */
    s->inputs = xcalloc(v->n ? v->n : 1, sizeof(*s->inputs));
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *nk = v->kids[2 * i], *nv = v->kids[2 * i + 1];
        if (nk->type != YNODE_SCALAR || !valid_ident(nk->str, nk->len)) {
            err_node(L, nk, "bad input name %s: " IDENT_RULE, key_text(d, nk));
            ok = false;
            continue;
        }
        char up[130], what[200];
        for (size_t j = 0; j <= nk->len; j++)
            up[j] = (char)(nk->str[j] >= 'a' && nk->str[j] <= 'z' ? nk->str[j] - 32 : nk->str[j]);
        size_t first;
        if (strmap_get(&seen, up, &first)) {
            err_node(L, nk, "inputs '%s' and '%s' would both be $SLUICE_IN_%s",
                     s->inputs[first].name, nk->str, up);
            ok = false;
            continue;
        }
        snprintf(what, sizeof(what), "input '%s'", show(shown, nk));
        struct ref *r = &s->inputs[s->ninputs];
        if (!get_ref(L, what, nv, r)) {
            ok = false;
            continue;
        }
        r->name = xstrdup(nk->str);
        strmap_add(&seen, up, s->ninputs, NULL);
        s->ninputs++;
    }
    strmap_release(&seen);
    return ok;
}

/* Outputs are paths under $SLUICE_OUT: relative, and never climbing out of it. */
static bool valid_output(const char *s)
{
    if (!*s || *s == '/')
        return false;
    for (const char *c = s; *c;) {
        size_t n = strcspn(c, "/");
        if (n == 2 && c[0] == '.' && c[1] == '.')
            return false;
        c += n;
        c += *c == '/';
    }
    return true;
}

static bool key_outputs(struct loader *L, struct step *s, const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX];
    if (!get_list(L, "outputs", v, &s->outputs, &s->noutputs))
        return false;
    bool ok = true;
    struct strmap seen = STRMAP_INIT;
    for (size_t i = 0; i < s->noutputs; i++) {
        struct sval *o = &s->outputs[i];
        size_t first;
        if (!valid_output(o->s)) {
            err_pos(L, o->pos, "output '%s' must be a relative path inside $SLUICE_OUT",
                    ytext_show(shown, o->s, strlen(o->s)));
            ok = false;
        } else if (!strmap_add(&seen, o->s, i, &first)) {
            err_pos(L, o->pos, "output '%s' is declared twice (first at %d:%d)",
                    ytext_show(shown, o->s, strlen(o->s)), s->outputs[first].pos.line,
                    s->outputs[first].pos.col);
            ok = false;
        }
    }
    strmap_release(&seen);
    return ok;
}

static const char *type_name(enum expr_type t)
{
    return t == TYPE_NUMBER ? "number" : t == TYPE_STRING ? "string" : "boolean";
}

static bool key_when(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX], msg[MSG_MAX];
    s->when_pos = node_pos(v);
    if (v->tag && v->tag[0] == '!') { /* "when: ! x" would silently lose its negation */
        char shown[YTEXT_SHOW_MAX];
        err_node(L, v,
                 "'when' starts with a YAML tag '%s': quote an expression that starts "
                 "with '!'",
                 show_tag(shown, v));
        return false;
    }
    if (!is_scalar(v)) {
        err_node(L, v, "'when' must be an expression, got %s", describe(d, v));
        return false;
    }
    int off = 0;
    enum expr_type type;
    struct expr *e = expr_parse(v->str, v->len, &off, msg, sizeof(msg));
    if (!e) {
        err_pos(L, value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        return false;
    }
    L->miss_kind = 0;
    if (expr_check(e, &L->scope, &type, &off, msg, sizeof(msg)) < 0) {
        suggest_miss(L, msg, sizeof(msg));
        err_pos(L, value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        expr_free(e);
        return false;
    }
    if (type != TYPE_BOOL) {
        err_pos(L, value_pos(L, v, 0), "'when' must be a boolean expression, got %s",
                type_name(type));
        expr_free(e);
        return false;
    }
    s->when = e;
    s->when_src = xstrdup(v->str);
    return true;
}

static bool key_retries(struct loader *L, struct step *s, const struct ynode *v)
{
    long long n;
    if (!get_int(L, "retries", v, 0, 1000, &n))
        return false;
    s->retries = (int)n;
    return true;
}

static bool key_executor(struct loader *L, struct step *s, const struct ynode *v)
{
    static const char *const names[] = {"local", "slurm"};
    int i = get_choice(L, "executor", v, names, 2);
    if (i < 0)
        return false;
    free(s->executor);
    s->executor = xstrdup(names[i]);
    return true;
}

static bool key_on_drift(struct loader *L, struct step *s, const struct ynode *v)
{
    static const char *const names[] = {"warn", "fail"};
    int i = get_choice(L, "on_drift", v, names, 2);
    if (i >= 0)
        s->on_drift = i ? DRIFT_FAIL : DRIFT_WARN;
    return i >= 0;
}

static bool key_resources(struct loader *L, struct step *s, const struct ynode *v)
{
    static const char *const keys[] = {"cpus", "memory"};
    char d[DESC_MAX], sug[128];
    if (v->type != YNODE_MAP) {
        err_node(L, v, "'resources' must be a mapping such as { cpus: 2, memory: 4G }, got %s",
                 describe(d, v));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *rk = v->kids[2 * i], *rv = v->kids[2 * i + 1];
        long long n;
        if (rk->type == YNODE_SCALAR && !strcmp(rk->str, "cpus")) {
            if (get_int(L, "cpus", rv, 1, 100000, &n))
                s->cpus = (int)n;
            else
                ok = false;
        } else if (rk->type == YNODE_SCALAR && !strcmp(rk->str, "memory")) {
            ok = get_size(L, "memory", rv, &s->memory_bytes) && ok;
        } else {
            struct suggest sg;
            sug_init(&sg, rk->type == YNODE_SCALAR ? rk->str : "");
            for (size_t j = 0; j < 2; j++)
                sug_try(&sg, keys[j]);
            err_node(L, rk, "unknown key %s in 'resources' of %s%s", key_text(d, rk), L->who,
                     sug_text(sug, &sg));
            ok = false;
        }
    }
    return ok;
}

static bool key_workdir(struct loader *L, struct step *s, const struct ynode *v)
{
    const char *str = NULL;
    if (!get_str(L, "workdir", v, &str))
        return false;
    free(s->workdir);
    s->workdir = xstrdup(str);
    return true;
}

static bool key_env(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX], shown[YTEXT_SHOW_MAX];
    if (v->type != YNODE_MAP) {
        err_node(L, v, "'env' must be a mapping of variable names to values, got %s",
                 describe(d, v));
        return false;
    }
    bool ok = true;
    s->env = xcalloc(v->n ? v->n : 1, sizeof(*s->env));
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *ek = v->kids[2 * i], *ev = v->kids[2 * i + 1];
        if (ek->type != YNODE_SCALAR || !valid_ident(ek->str, ek->len)) {
            err_node(L, ek, "bad variable name %s in 'env': " IDENT_RULE, key_text(d, ek));
            ok = false;
        } else if (!strncmp(ek->str, "SLUICE_", 7)) {
            err_node(L, ek, "variable '%s' in 'env' is reserved: sluice sets the SLUICE_ ones",
                     show(shown, ek));
            ok = false;
        } else if (ev->type != YNODE_SCALAR || ynode_is_null(ev)) {
            err_node(L, ev, "'env' value of '%s' must be a string, got %s", ek->str,
                     describe(d, ev));
            ok = false;
        } else if (!get_tmpl(L, &s->env[s->nenv].value, ev)) {
            ok = false;
        } else {
            s->env[s->nenv].name = xstrdup(ek->str);
            s->env[s->nenv].pos = node_pos(ek);
            s->nenv++;
        }
    }
    return ok;
}

static bool key_source(struct loader *L, struct step *s, const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX];
    if (!get_sval(L, "source", v, &s->source))
        return false;
    if (strstr(v->str, "://") && strncmp(v->str, "file://", 7) && strncmp(v->str, "http://", 7) &&
        strncmp(v->str, "https://", 8)) {
        err_node(L, v, "'source' must be a path or a file://, http:// or https:// URL, got '%s'",
                 show(shown, v));
        return false;
    }
    return true;
}

static bool key_sha256(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX];
    bool ok = is_scalar(v) && v->len == 64;
    for (size_t i = 0; ok && i < 64; i++)
        ok = v->str[i] && strchr("0123456789abcdefABCDEF", v->str[i]);
    if (!ok) {
        err_node(L, v, "'sha256' must be 64 hexadecimal digits, got %s", describe(d, v));
        return false;
    }
    free(s->sha256.s);
    s->sha256.s = xstrdup(v->str);
    for (char *c = s->sha256.s; *c; c++)
        if (*c >= 'A' && *c <= 'F')
            *c = (char)(*c - 'A' + 'a');
    s->sha256.pos = node_pos(v);
    return true;
}

/* http(s)://HOST[:PORT][/PATH], nothing blank or control in it */
static bool valid_url(const char *u)
{
    size_t skip = !strncmp(u, "http://", 7) ? 7 : !strncmp(u, "https://", 8) ? 8 : 0;
    if (!skip)
        return false;
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return false;
    const char *host = u + skip;
    size_t n = strcspn(host, "/?#");
    if (!n)
        return false;
    const char *colon = memchr(host, ':', n);
    if (host[0] == '[') { /* [v6 address] */
        const char *close = memchr(host, ']', n);
        if (!close)
            return false;
        colon = close + 1 < host + n && close[1] == ':' ? close + 1 : NULL;
        if (!colon && close + 1 != host + n)
            return false;
    }
    if (!colon)
        return true;
    size_t plen = n - (size_t)(colon + 1 - host);
    if (colon == host || !plen || plen > 5)
        return false;
    long port = 0;
    for (size_t i = 1; i <= plen; i++) {
        if (colon[i] < '0' || colon[i] > '9')
            return false;
        port = port * 10 + (colon[i] - '0');
    }
    return port >= 1 && port <= 65535;
}

static bool key_health(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX];
    if (!is_scalar(v) || v->len != strlen(v->str) || !valid_url(v->str)) {
        err_node(L, v, "'health' must be an http:// or https:// URL, got %s", describe(d, v));
        return false;
    }
    return get_sval(L, "health", v, &s->health);
}

/* How a key's value is read: by its own function, or by type into the field at off. */
enum vtype { V_FN, V_DURATION, V_SIZE, V_BOOL, V_SVAL, V_NAME, V_LIST, V_REF };

typedef bool key_fn(struct loader *L, struct step *s, const struct ynode *v);

struct key_def {
    const char *name;
    unsigned kinds;         /* KB(kind) of every kind the key applies to */
    const char *kinds_text; /* the same, for messages */
    unsigned sk;            /* enum step_key bit recorded in step.set, or 0 */
    enum vtype type;
    key_fn *fn;        /* V_FN */
    size_t off, off_n; /* offsetof the field (and of its count, for V_LIST) */
};

#define F(field) offsetof(struct step, field)
#define CMD_TEXT "command steps"
static const struct key_def step_keys[NKEYS] = {
    [K_KIND] = {"kind", ALL, NULL, 0, V_FN, NULL, 0, 0},
    [K_RUN] = {"run", CMD, CMD_TEXT, 0, V_FN, key_run, 0, 0},
    [K_NEEDS] = {"needs", ALL, NULL, 0, V_LIST, NULL, F(needs), F(nneeds)},
    [K_INPUTS] = {"inputs", CMD, CMD_TEXT, 0, V_FN, key_inputs, 0, 0},
    [K_OUTPUTS] = {"outputs", CMD | KB(KIND_INGEST), "command and ingest steps", 0, V_FN,
                   key_outputs, 0, 0},
    [K_DEPS] = {"deps", CMD, CMD_TEXT, 0, V_LIST, NULL, F(deps), F(ndeps)},
    [K_WHEN] = {"when", ALL, NULL, SK_WHEN, V_FN, key_when, 0, 0},
    [K_RETRIES] = {"retries", ALL, NULL, SK_RETRIES, V_FN, key_retries, 0, 0},
    [K_RETRY_DELAY] = {"retry_delay", ALL, NULL, SK_RETRY_DELAY, V_DURATION, NULL,
                       F(retry_delay_ms), 0},
    [K_TIMEOUT] = {"timeout", ALL, NULL, SK_TIMEOUT, V_DURATION, NULL, F(timeout_ms), 0},
    [K_EXECUTOR] = {"executor", CMD, CMD_TEXT, SK_EXECUTOR, V_FN, key_executor, 0, 0},
    [K_RESOURCES] = {"resources", CMD, CMD_TEXT, SK_RESOURCES, V_FN, key_resources, 0, 0},
    [K_CACHE] = {"cache", ALL, NULL, SK_CACHE, V_BOOL, NULL, F(cache), 0},
    [K_WORKDIR] = {"workdir", CMD, CMD_TEXT, SK_WORKDIR, V_FN, key_workdir, 0, 0},
    [K_ENV] = {"env", CMD, CMD_TEXT, SK_ENV, V_FN, key_env, 0, 0},
    [K_SOURCE] = {"source", KB(KIND_INGEST), "ingest steps", 0, V_FN, key_source, 0, 0},
    [K_SHA256] = {"sha256", KB(KIND_INGEST), "ingest steps", 0, V_FN, key_sha256, 0, 0},
    [K_MAX_SIZE] = {"max_size", KB(KIND_INGEST), "ingest steps", SK_MAX_SIZE, V_SIZE, NULL,
                    F(max_size), 0},
    [K_INPUT] = {"input", KB(KIND_CRAWL), "crawl steps", 0, V_REF, NULL, F(input), 0},
    [K_TABLE] = {"table", KB(KIND_CRAWL), "crawl steps", 0, V_NAME, NULL, F(table), 0},
    [K_ON_DRIFT] = {"on_drift", KB(KIND_CRAWL), "crawl steps", SK_ON_DRIFT, V_FN, key_on_drift, 0,
                    0},
    [K_EXPECT] = {"expect", KB(KIND_CRAWL), "crawl steps", 0, V_LIST, NULL, F(expect), F(nexpect)},
    [K_MODEL] = {"model", KB(KIND_APPROVE) | KB(KIND_DEPLOY), "approve and deploy steps", 0, V_REF,
                 NULL, F(model), 0},
    [K_MODEL_NAME] = {"model_name", KB(KIND_APPROVE), "approve steps", 0, V_NAME, NULL,
                      F(model_name), 0},
    [K_TARGET] = {"target", KB(KIND_DEPLOY), "deploy steps", 0, V_SVAL, NULL, F(target), 0},
    [K_HEALTH] = {"health", KB(KIND_DEPLOY), "deploy steps", 0, V_FN, key_health, 0, 0},
    [K_HEALTH_TIMEOUT] = {"health_timeout", KB(KIND_DEPLOY), "deploy steps", SK_HEALTH_TIMEOUT,
                          V_DURATION, NULL, F(health_timeout_ms), 0},
};
#undef F

/* Read one key's value into s. Returns false when it was refused (and reported). */
static bool read_key(struct loader *L, struct step *s, int k, const struct ynode *v)
{
    const struct key_def *def = &step_keys[k];
    char *field = (char *)s + def->off, shown[YTEXT_SHOW_MAX], what[32];
    switch (def->type) {
    case V_FN:
        return def->fn(L, s, v);
    case V_DURATION:
        return get_duration(L, def->name, v, (int64_t *)(void *)field);
    case V_SIZE:
        return get_size(L, def->name, v, (int64_t *)(void *)field);
    case V_BOOL:
        return get_bool(L, def->name, v, (bool *)field);
    case V_SVAL:
        return get_sval(L, def->name, v, (struct sval *)(void *)field);
    case V_NAME:
        if (!get_sval(L, def->name, v, (struct sval *)(void *)field))
            return false;
        if (valid_name(v->str, v->len))
            return true;
        err_node(L, v, "bad %s '%s': " NAME_RULE, def->name, show(shown, v));
        return false;
    case V_LIST:
        return get_list(L, def->name, v, (struct sval **)(void *)field,
                        (size_t *)(void *)((char *)s + def->off_n));
    case V_REF:
        snprintf(what, sizeof(what), "'%s'", def->name);
        return get_ref(L, what, v, (struct ref *)(void *)field);
    }
    return false;
}

/* The index of a step key, or -1 after reporting it (with a did-you-mean) as unknown. */
static int step_key(struct loader *L, const struct ynode *k)
{
    char d[DESC_MAX], sug[128];
    if (k->type == YNODE_SCALAR)
        for (int i = 0; i < NKEYS; i++)
            if (!strcmp(k->str, step_keys[i].name))
                return i;
    struct suggest sg;
    sug_init(&sg, k->type == YNODE_SCALAR ? k->str : "");
    for (int i = 0; i < NKEYS; i++)
        sug_try(&sg, step_keys[i].name);
    err_node(L, k, "unknown key %s in %s%s", key_text(d, k), L->who, sug_text(sug, &sg));
    return -1;
}

/* ---- steps ---- */

static void step_init(struct step *s)
{
    s->retry_delay_ms = 5000;
    s->health_timeout_ms = 30000;
    s->max_size = (int64_t)10 << 30;
    s->cpus = 1;
    s->executor = xstrdup("local");
    s->on_drift = DRIFT_WARN;
}

static bool has_key(const struct step_aux *a, int k)
{
    return (a->written | a->inherited | a->bad) & KB(k);
}

static void require(struct loader *L, struct step *s, const struct step_aux *a, int k)
{
    if (!has_key(a, k))
        err_node(L, a->key, "%s is %s '%s' step and needs %s '%s'", L->who,
                 article(step_kind_name(s->kind)), step_kind_name(s->kind),
                 article(step_keys[k].name), step_keys[k].name);
}

/* Kind from 'kind:', else task when there is a 'run:'. Returns false when unknown. */
static bool step_kind(struct loader *L, struct step *s, const struct step_aux *a,
                      const struct ynode *kv, bool has_run)
{
    char d[DESC_MAX], sug[128];
    s->kind = KIND_TASK;
    if (!kv) {
        if (!has_run)
            err_node(L, a->key, "%s has no 'run' and no built-in 'kind'", L->who);
        return has_run;
    }
    for (int i = 0; i < KIND_COUNT; i++)
        if (kv->type == YNODE_SCALAR && !strcmp(kv->str, step_kind_name((enum step_kind)i))) {
            s->kind = (enum step_kind)i;
            return true;
        }
    struct suggest sg;
    sug_init(&sg, kv->type == YNODE_SCALAR ? kv->str : "");
    for (int i = 0; i < KIND_COUNT; i++)
        sug_try(&sg, step_kind_name((enum step_kind)i));
    if (sg.best)
        err_node(L, kv, "unknown kind %s in %s%s", describe(d, kv), L->who, sug_text(sug, &sg));
    else
        err_node(L, kv,
                 "unknown kind %s in %s (kinds: task, transform, train, evaluate, ingest, crawl, "
                 "approve, deploy)",
                 describe(d, kv), L->who);
    return false;
}

/* May v be copied from defaults into one more step? Says why not, once. */
static bool inherit_budget(struct loader *L, const struct ynode *v)
{
    bool full = L->inherit_nodes > MAX_INHERIT_NODES || L->inherit_bytes > MAX_INHERIT_BYTES;
    L->inherit_nodes += v->size;
    L->inherit_bytes += v->bytes;
    if (L->inherit_nodes <= MAX_INHERIT_NODES && L->inherit_bytes <= MAX_INHERIT_BYTES)
        return true;
    if (!full)
        err_node(L, v,
                 "'defaults' are too big to copy into every step (more than %d nodes or "
                 "%d MiB in all); set large values in the steps that need them",
                 MAX_INHERIT_NODES, MAX_INHERIT_BYTES >> 20);
    return false;
}

static void load_step(struct loader *L, size_t idx)
{
    struct step *s = &L->p->steps[idx];
    struct step_aux *a = &L->aux[idx];
    const struct ynode *kn[NKEYS] = {NULL}, *vn[NKEYS] = {NULL};
    char shown[YTEXT_SHOW_MAX];
    snprintf(L->who, sizeof(L->who), "step '%s'", ytext_show(shown, s->name, strlen(s->name)));
    step_init(s);
    if (!a->body)
        return;
    for (size_t i = 0; i < a->body->n; i++) {
        int k = step_key(L, a->body->kids[2 * i]);
        if (k < 0)
            continue;
        kn[k] = a->body->kids[2 * i];
        vn[k] = a->body->kids[2 * i + 1];
        a->written |= KB(k);
    }
    a->kind_known = step_kind(L, s, a, vn[K_KIND], vn[K_RUN] != NULL);
    unsigned kind = KB(s->kind);

    for (int k = 1; k < NKEYS; k++) {
        const struct key_def *def = &step_keys[k];
        if (vn[k]) {
            if (a->kind_known && !(def->kinds & kind)) {
                if (k == K_RUN)
                    err_node(L, kn[k], "%s is a built-in '%s' step and takes no 'run'", L->who,
                             step_kind_name(s->kind));
                else
                    err_node(L, kn[k], "'%s' applies only to %s; %s is %s '%s' step", def->name,
                             def->kinds_text, L->who, article(step_kind_name(s->kind)),
                             step_kind_name(s->kind));
                a->bad |= KB(k);
                continue;
            }
            if (read_key(L, s, k, vn[k]))
                s->set |= def->sk;
            else
                a->bad |= KB(k);
        } else if (L->dflt_v[k] && (def->kinds & kind) && (a->kind_known || def->kinds == ALL)) {
            if (!inherit_budget(L, L->dflt_v[k]))
                continue;
            L->quiet++;
            bool ok = read_key(L, s, k, L->dflt_v[k]);
            L->quiet--;
            if (ok) {
                s->set |= def->sk;
                a->inherited |= KB(k);
            }
        }
    }
    if (!a->kind_known)
        return;

    switch (s->kind) {
    case KIND_TASK:
    case KIND_TRANSFORM:
    case KIND_TRAIN:
    case KIND_EVALUATE:
        require(L, s, a, K_RUN);
        break;
    case KIND_INGEST:
        require(L, s, a, K_SOURCE);
        if (!(a->bad & KB(K_OUTPUTS)) && s->noutputs != 1)
            err_node(L, vn[K_OUTPUTS] ? vn[K_OUTPUTS] : a->key,
                     "%s is an 'ingest' step and must declare exactly one output, not %zu", L->who,
                     s->noutputs);
        break;
    case KIND_CRAWL:
        require(L, s, a, K_INPUT);
        /* its output is always schema.json; declaring it lets inputs name it */
        s->outputs = xcalloc(1, sizeof(*s->outputs));
        s->outputs[0].s = xstrdup("schema.json");
        s->outputs[0].pos = node_pos(a->key);
        s->noutputs = 1;
        break;
    case KIND_APPROVE:
        if (!(s->set & SK_TIMEOUT))
            s->timeout_ms = (int64_t)7 * 24 * 3600 * 1000;
        if (!s->model_name.s && L->p->name)
            s->model_name.s = xstrdup(L->p->name);
        break;
    case KIND_DEPLOY:
        require(L, s, a, K_MODEL);
        require(L, s, a, K_TARGET);
        break;
    }
}

/* ---- references between steps ---- */

static const struct step *find_step(const struct loader *L, const char *name)
{
    size_t i;
    return strmap_get(&L->steps, name, &i) ? &L->p->steps[i] : NULL;
}

static bool has_output(const struct loader *L, const struct step *s, const char *name)
{
    char *key = xasprintf("%s\n%s", s->name, name);
    bool found = strmap_get(&L->outputs, key, NULL);
    free(key);
    return found;
}

/* what: "input 'raw'" or "'model'"; reported against L->who */
static void check_ref(struct loader *L, const struct ref *r, const char *what)
{
    char sug[128], shown[YTEXT_SHOW_MAX], shown2[YTEXT_SHOW_MAX];
    if (!r->step)
        return;
    const struct step *up = find_step(L, r->step);
    if (!up) {
        err_pos(L, r->pos, "%s of %s names unknown step '%s'%s", what, L->who,
                ytext_show(shown, r->step, strlen(r->step)), suggest_step(L, sug, r->step));
        return;
    }
    if (L->aux[up->index].bad & KB(K_OUTPUTS) || has_output(L, up, r->output))
        return;
    struct suggest sg;
    sug_init(&sg, r->output);
    if (suggest_budget(L, up->noutputs))
        for (size_t i = 0; i < up->noutputs; i++)
            sug_try(&sg, up->outputs[i].s);
    err_pos(L, r->pos, "%s of %s names output '%s' that step '%s' does not declare%s", what, L->who,
            ytext_show(shown, r->output, strlen(r->output)),
            ytext_show(shown2, up->name, strlen(up->name)), sug_text(sug, &sg));
}

static void check_refs(struct loader *L, const struct step *s, const struct step_aux *a)
{
    char sug[128], shown[YTEXT_SHOW_MAX], what[YTEXT_SHOW_MAX + 16];
    for (size_t i = 0; i < s->nneeds; i++)
        if (!find_step(L, s->needs[i].s))
            err_pos(L, s->needs[i].pos, "%s needs unknown step '%s'%s", L->who,
                    ytext_show(shown, s->needs[i].s, strlen(s->needs[i].s)),
                    suggest_step(L, sug, s->needs[i].s));
    /* references taken from defaults were checked once, there */
    L->quiet += !!(a->inherited & KB(K_INPUTS));
    for (size_t i = 0; i < s->ninputs; i++) {
        snprintf(what, sizeof(what), "input '%s'", s->inputs[i].name);
        check_ref(L, &s->inputs[i], what);
    }
    L->quiet -= !!(a->inherited & KB(K_INPUTS));
    L->quiet += !!(a->inherited & KB(K_INPUT));
    check_ref(L, &s->input, "'input'");
    L->quiet -= !!(a->inherited & KB(K_INPUT));
    L->quiet += !!(a->inherited & KB(K_MODEL));
    check_ref(L, &s->model, "'model'");
    L->quiet -= !!(a->inherited & KB(K_MODEL));
}

/* ---- the file ---- */

static bool scope_param_type(void *data, const char *name, enum expr_type *type)
{
    struct loader *L = data;
    size_t i;
    if (!strmap_get(&L->params, name, &i)) {
        L->miss_kind = 'p';
        snprintf(L->miss, sizeof(L->miss), "%s", name);
        return false;
    }
    *type = L->p->params[i].type;
    return true;
}

static bool scope_has_step(void *data, const char *step)
{
    struct loader *L = data;
    if (strmap_get(&L->steps, step, NULL))
        return true;
    L->miss_kind = 's';
    snprintf(L->miss, sizeof(L->miss), "%s", step);
    return false;
}

/* A plain scalar YAML reads as a number: [-+]?(.5|5|5.|5.5)([eE][-+]?5)? */
static bool is_number(const struct ynode *v)
{
    const char *s = v->str;
    size_t i = (s[0] == '-' || s[0] == '+'), digits = 0;
    while (s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return false;
    if (s[i] == 'e' || s[i] == 'E') {
        i += 1 + (s[i + 1] == '-' || s[i + 1] == '+');
        if (!(s[i] >= '0' && s[i] <= '9'))
            return false;
        while (s[i] >= '0' && s[i] <= '9')
            i++;
    }
    return i == v->len;
}

static void load_params(struct loader *L, const struct ynode *v)
{
    char d[DESC_MAX];
    struct pipeline *p = L->p;
    if (v->type != YNODE_MAP) {
        if (!ynode_is_null(v))
            err_node(L, v, "'params' must be a mapping of names to default values, got %s",
                     describe(d, v));
        return;
    }
    p->params = xcalloc(v->n ? v->n : 1, sizeof(*p->params));
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
        if (k->type != YNODE_SCALAR || !valid_ident(k->str, k->len)) {
            err_node(L, k, "bad parameter name %s: " IDENT_RULE, key_text(d, k));
            continue;
        }
        if (val->type != YNODE_SCALAR || ynode_is_null(val)) {
            err_node(L, val,
                     "parameter '%s' must have a default value (a number, true, false "
                     "or a string), got %s",
                     k->str, describe(d, val));
            continue;
        }
        struct param *pa = &p->params[p->nparams];
        pa->name = xstrdup(k->str);
        pa->value = xstrndup(val->str, val->len);
        pa->pos = node_pos(val);
        pa->type = TYPE_STRING;
        if (val->style == YSTYLE_PLAIN && is_number(val))
            pa->type = TYPE_NUMBER;
        else if (val->style == YSTYLE_PLAIN &&
                 (!strcmp(val->str, "true") || !strcmp(val->str, "false")))
            pa->type = TYPE_BOOL;
        strmap_add(&L->params, pa->name, p->nparams, NULL);
        p->nparams++;
    }
}

static void load_schedule(struct loader *L, const struct ynode *v)
{
    char msg[MSG_MAX], d[DESC_MAX];
    if (!is_scalar(v) || v->len != strlen(v->str)) {
        err_node(L, v, "'schedule' must be a cron expression such as \"0 3 * * *\", got %s",
                 describe(d, v));
        return;
    }
    int off = 0;
    if (cron_parse(v->str, &L->p->cron, &off, msg, sizeof(msg)) < 0) {
        err_pos(L, value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        return;
    }
    L->p->schedule = xstrdup(v->str);
}

/* Read defaults once, with messages, into a pseudo-step; remember which keys are usable. */
static void load_defaults(struct loader *L, const struct ynode *v)
{
    char d[DESC_MAX];
    snprintf(L->who, sizeof(L->who), "'defaults'");
    if (v->type != YNODE_MAP) {
        if (!ynode_is_null(v))
            err_node(L, v, "'defaults' must be a mapping of step keys, got %s", describe(d, v));
        return;
    }
    L->dflt_holder = xcalloc(1, sizeof(*L->dflt_holder));
    L->dflt_holder->steps = xcalloc(1, sizeof(struct step));
    L->dflt_holder->nsteps = 1;
    struct step *s = &L->dflt_holder->steps[0];
    step_init(s);
    s->kind = KIND_TASK;
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
        int key = step_key(L, k);
        if (key < 0)
            continue;
        if (key == K_RUN || key == K_KIND || key == K_NEEDS) {
            err_node(L, k, "'%s' cannot be set in 'defaults'; set it in each step", k->str);
            continue;
        }
        if (read_key(L, s, key, val)) {
            L->dflt_v[key] = val;
            L->dflt_aux.written |= KB(key);
        }
    }
}

/* Pass 1 over 'steps': names and bodies, so that every reference can be checked in pass 2. */
static void collect_steps(struct loader *L, const struct ynode *v)
{
    char d[DESC_MAX], shown[YTEXT_SHOW_MAX];
    struct pipeline *p = L->p;
    if (v->type != YNODE_MAP) {
        err_node(L, v, "'steps' must be a mapping of step names to steps, got %s", describe(d, v));
        return;
    }
    if (!v->n) {
        err_node(L, v, "'steps' has no steps");
        return;
    }
    p->steps = xcalloc(v->n, sizeof(*p->steps));
    L->aux = xcalloc(v->n, sizeof(*L->aux));
    strmap_reserve(&L->steps, v->n);
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *k = v->kids[2 * i], *body = v->kids[2 * i + 1];
        if (k->type != YNODE_SCALAR) {
            err_node(L, k, "step names must be strings, got %s", describe(d, k));
            continue;
        }
        if (!valid_name(k->str, k->len))
            err_node(L, k, "bad step name '%s': " NAME_RULE, show(shown, k));
        size_t n = p->nsteps++;
        struct step *s = &p->steps[n];
        s->name = xstrdup(k->str);
        s->pos = node_pos(k);
        s->index = n;
        L->aux[n].key = k;
        strmap_add(&L->steps, s->name, n, NULL);
        if (body->type == YNODE_MAP)
            L->aux[n].body = body;
        else if (ynode_is_null(body))
            err_node(L, k, "step '%s' is empty; give it a 'run' or a built-in 'kind'",
                     show(shown, k));
        else
            err_node(L, body,
                     "step '%s' must be a mapping of keys such as 'run' and 'kind', "
                     "got %s",
                     show(shown, k), describe(d, body));
    }
}

enum { T_PIPELINE, T_DESCRIPTION, T_PARAMS, T_SCHEDULE, T_DEFAULTS, T_STEPS, NTOP };
static const char *const top_keys[NTOP] = {"pipeline", "description", "params",
                                           "schedule", "defaults",    "steps"};

static void load_top(struct loader *L, const struct ynode *root)
{
    char d[DESC_MAX], sug[128], shown[YTEXT_SHOW_MAX];
    struct pipeline *p = L->p;
    if (root->type != YNODE_MAP) {
        err_node(L, root,
                 "a pipeline file must be a mapping with keys such as 'pipeline' and "
                 "'steps', got %s",
                 describe(d, root));
        return;
    }
    const struct ynode *top[NTOP] = {NULL};
    for (size_t i = 0; i < root->n; i++) {
        const struct ynode *k = root->kids[2 * i];
        int t = 0;
        while (t < NTOP && !(k->type == YNODE_SCALAR && !strcmp(k->str, top_keys[t])))
            t++;
        if (t < NTOP) {
            top[t] = root->kids[2 * i + 1];
            continue;
        }
        struct suggest sg;
        sug_init(&sg, k->type == YNODE_SCALAR ? k->str : "");
        for (int j = 0; j < NTOP; j++)
            sug_try(&sg, top_keys[j]);
        err_node(L, k, "unknown top-level key %s%s", key_text(d, k), sug_text(sug, &sg));
    }

    const char *s = NULL;
    if (!top[T_PIPELINE])
        err_file(L, "missing top-level key 'pipeline' (the pipeline's name)");
    else if (get_str(L, "pipeline", top[T_PIPELINE], &s)) {
        p->name = xstrdup(s);
        p->name_pos = node_pos(top[T_PIPELINE]);
        if (!valid_name(s, top[T_PIPELINE]->len))
            err_node(L, top[T_PIPELINE], "bad pipeline name '%s': " NAME_RULE,
                     show(shown, top[T_PIPELINE]));
    }
    if (top[T_DESCRIPTION] && !ynode_is_null(top[T_DESCRIPTION]) &&
        get_str(L, "description", top[T_DESCRIPTION], &s))
        p->description = xstrdup(s);
    if (top[T_PARAMS])
        load_params(L, top[T_PARAMS]);
    if (top[T_SCHEDULE])
        load_schedule(L, top[T_SCHEDULE]);
    if (!top[T_STEPS])
        err_file(L, "missing top-level key 'steps'");
    else
        collect_steps(L, top[T_STEPS]);
    if (top[T_DEFAULTS])
        load_defaults(L, top[T_DEFAULTS]);
    for (size_t i = 0; i < p->nsteps; i++) {
        load_step(L, i);
        for (size_t j = 0; j < p->steps[i].noutputs; j++) {
            char *key = xasprintf("%s\n%s", p->steps[i].name, p->steps[i].outputs[j].s);
            strmap_put(&L->outputs, key, i);
            free(key);
        }
    }
    if (L->dflt_holder) {
        snprintf(L->who, sizeof(L->who), "'defaults'");
        check_refs(L, &L->dflt_holder->steps[0], &L->dflt_aux);
    }
    for (size_t i = 0; i < p->nsteps; i++) {
        snprintf(L->who, sizeof(L->who), "step '%s'",
                 ytext_show(shown, p->steps[i].name, strlen(p->steps[i].name)));
        check_refs(L, &p->steps[i], &L->aux[i]);
    }
    for (size_t i = 0; pipeline_expect_check && i < p->nsteps; i++) {
        const struct step *sp = &p->steps[i];
        for (size_t k = 0; k < sp->nexpect; k++) {
            int off = 0;
            char msg[256];
            if (pipeline_expect_check(sp->expect[k].s, &off, msg, sizeof(msg)) < 0)
                diag_add(L->diags, sp->expect[k].pos.line, sp->expect[k].pos.col + off,
                         "bad rule in step '%s': %s", sp->name, msg);
        }
    }
    if (p->nsteps) {
        struct graph g;
        if (graph_build(&g, p, L->diags) == 0)
            graph_release(&g);
    }
}

/* Offset of the first byte that is not part of well-formed UTF-8 (no overlongs, no
 * surrogates, nothing past U+10FFFF), or len. */
static size_t utf8_bad_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned lo = 0x80, hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf)
            n = 1;
        else if (c >= 0xe0 && c <= 0xef)
            n = 2, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        else if (c >= 0xf0 && c <= 0xf4)
            n = 3, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        else
            return i;
        if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
        i += n + 1;
    }
    return len;
}

/* The absolute folder of path (symbolic links resolved when it exists). */
static char *abs_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *d = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
    char *r = realpath(d, NULL);
    if (r) {
        free(d);
        return r;
    }
    if (d[0] == '/')
        return d;
    char *cwd = getcwd(NULL, 0);
    char *res = xasprintf("%s/%s", cwd ? cwd : "", d);
    free(cwd);
    free(d);
    return res;
}

int (*pipeline_expect_check)(const char *rule, int *err_offset, char *msg, size_t msgsz);

struct pipeline *pipeline_load_text(const char *path, const char *text, size_t len,
                                    struct diag_list *diags)
{
    size_t before = diags->n;
    if (len > PIPELINE_MAX_BYTES) {
        diag_add(diags, 0, 0, "file is larger than 4 MiB");
        return NULL;
    }
    struct loader L;
    memset(&L, 0, sizeof(L));
    L.diags = diags;
    L.text = text;
    L.len = len;
    L.suggest_left = MAX_SUGGEST;
    size_t bad = utf8_bad_at((const unsigned char *)text, len);
    if (bad < len) {
        int line, col;
        ytext_pos(text_lines(&L), bad, &line, &col);
        diag_add(diags, line, col, "file is not valid UTF-8 (byte 0x%02x)",
                 (unsigned char)text[bad]);
        ytext_lines_release(&L.lines);
        return NULL;
    }
    struct ydoc *doc = ydoc_parse(text, len, diags);
    if (!doc) {
        ytext_lines_release(&L.lines);
        return NULL;
    }
    struct pipeline *p = xcalloc(1, sizeof(*p));
    p->path = xstrdup(path);
    p->dir = abs_dir(path);
    p->text = xstrndup(text, len);
    p->text_len = len;
    L.p = p;
    L.scope.data = &L;
    L.scope.param_type = scope_param_type;
    L.scope.has_step = scope_has_step;
    const struct ynode *root = ydoc_root(doc);
    if (!root || ynode_is_null(root))
        diag_add(diags, 0, 0, "file is empty; a pipeline needs at least 'pipeline' and 'steps'");
    else
        load_top(&L, root);

    ydoc_free(doc);
    ytext_lines_release(&L.lines);
    strmap_release(&L.steps);
    strmap_release(&L.params);
    strmap_release(&L.outputs);
    free(L.aux);
    pipeline_free(L.dflt_holder);
    if (diags->n > before) {
        pipeline_free(p);
        return NULL;
    }
    return p;
}

struct pipeline *pipeline_load(const char *path, struct diag_list *diags, char **text,
                               size_t *text_len)
{
    if (text)
        *text = NULL;
    if (text_len)
        *text_len = 0;
    struct strbuf sb = STRBUF_INIT;
    int rc = strbuf_read_file(&sb, path, PIPELINE_MAX_BYTES);
    if (rc == -1) { /* no text: the message names the file */
        diag_add(diags, 0, 0, "cannot read '%s': %s", path, strerror(errno));
        strbuf_release(&sb);
        return NULL;
    }
    if (rc == -2) {
        diag_add(diags, 0, 0, "file is larger than 4 MiB");
        if (text)
            *text = strbuf_detach(&sb, text_len);
        strbuf_release(&sb);
        return NULL;
    }
    struct pipeline *p = pipeline_load_text(path, sb.buf, sb.len, diags);
    if (!p && text)
        *text = strbuf_detach(&sb, text_len);
    strbuf_release(&sb);
    return p;
}
