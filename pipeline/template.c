/* Templates: text with `${{ EXPR }}` holes, split once into literal and expression parts,
 * checked against the pipeline, and expanded per run (shell-quoting each substituted value
 * when the result goes to /bin/sh, so that a parameter can never inject shell syntax). */
#include "pipeline/diag.h"
#include "pipeline/spec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

static void add_part(struct tmpl *t, size_t *alloc, char *lit, struct expr *e)
{
    XGROW(t->parts, *alloc, t->nparts + 1);
    t->parts[t->nparts].lit = lit;
    t->parts[t->nparts].expr = e;
    t->nparts++;
}

/* expr_parse counts offsets from the start of the hole; the template's users want them from
 * the start of the template. */
static void shift_offsets(struct expr *e, int by)
{
    for (; e; e = e->rhs) {
        e->offset += by;
        shift_offsets(e->lhs, by);
    }
}

/* The end of the hole whose text starts at src[i]: the offset of its closing "}}", skipping
 * quoted strings so that `${{ "}}" }}` works. Returns -1 with *err_at and *what set. */
static long find_close(const char *src, size_t i, size_t *err_at, const char **what)
{
    for (; src[i]; i++) {
        if (src[i] == '}' && src[i + 1] == '}')
            return (long)i;
        if (src[i] == '\'' || src[i] == '"') {
            char q = src[i];
            size_t open = i;
            for (i++; src[i] && src[i] != q; i++) {
                if (src[i] == '\\' && src[i + 1])
                    i++;
            }
            if (!src[i]) {
                *err_at = open;
                *what = "unterminated string";
                return -1;
            }
        }
    }
    *what = NULL;
    return -1;
}

/* A "${ params.x }" in literal text src[0..n): a hole written with one brace. ${VAR} is
 * shell, so only what no shell variable can be (a reference of the language: params.,
 * steps., run.) counts. Returns its offset, or -1; *len is the length of what it spans. */
static long one_brace(const char *src, size_t n, size_t *len)
{
    static const char *const refs[] = {"params.", "steps.", "run."};
    for (size_t k = 0; k + 2 < n; k++) {
        if (src[k] != '$' || src[k + 1] != '{')
            continue;
        size_t j = k + 2;
        while (j < n && (src[j] == ' ' || src[j] == '\t'))
            j++;
        for (size_t r = 0; r < sizeof(refs) / sizeof(refs[0]); r++) {
            if (n - j < strlen(refs[r]) || strncmp(src + j, refs[r], strlen(refs[r])))
                continue;
            /* up to its "}" on the same line, else the reference alone */
            size_t end = j;
            while (end < n && src[end] != '\n' && src[end] != '}')
                end++;
            if (end < n && src[end] == '}')
                end++;
            else
                for (end = j; end < n && !strchr(" \t\n\"'", src[end]); end++)
                    ;
            *len = end - k;
            return (long)k;
        }
    }
    return -1;
}

/* "'${ params.lr }' has one brace; a template is written '${{ params.lr }}'" */
static void one_brace_msg(const char *typo, size_t len, char *msg, size_t msgsz)
{
    char shown[DIAG_QUOTE_SIZE], inner[DIAG_QUOTE_SIZE];
    size_t b = 2, e = len;
    if (e > b && typo[e - 1] == '}')
        e--;
    while (b < e && (typo[b] == ' ' || typo[b] == '\t'))
        b++;
    while (e > b && (typo[e - 1] == ' ' || typo[e - 1] == '\t'))
        e--;
    diag_excerpt(shown, typo, len);
    diag_excerpt(inner, typo + b, e - b);
    snprintf(msg, msgsz, "'%s' has one brace; a template is written '${{ %s }}'", shown, inner);
}

int tmpl_parse(struct tmpl *t, const char *src, int *err_offset, char *msg, size_t msgsz)
{
    size_t alloc = 0;
    if (!src)
        src = "";
    t->src = xstrdup(src);
    t->nparts = 0;
    t->parts = NULL;
    if (msg && msgsz)
        msg[0] = '\0';

    size_t lit_start = 0, i = 0;
    for (;;) {
        const char *hole = strstr(src + i, "${{");
        size_t end = hole ? (size_t)(hole - src) : strlen(src), typo_len;
        long typo = one_brace(src + lit_start, end - lit_start, &typo_len);
        if (typo >= 0) {
            if (err_offset)
                *err_offset = (int)(lit_start + (size_t)typo);
            if (msg && msgsz)
                one_brace_msg(src + lit_start + typo, typo_len, msg, msgsz);
            goto fail;
        }
        if (end > lit_start)
            add_part(t, &alloc, xstrndup(src + lit_start, end - lit_start), NULL);
        if (!hole)
            break;
        size_t body = end + 3, err_at = end;
        const char *what = NULL;
        long close = find_close(src, body, &err_at, &what);
        if (close < 0) {
            if (err_offset)
                *err_offset = (int)err_at;
            if (msg && msgsz)
                snprintf(msg, msgsz, "%s", what ? what : "unterminated '${{'");
            goto fail;
        }
        int off;
        struct expr *e = expr_parse(src + body, (size_t)close - body, &off, msg, msgsz);
        if (!e) {
            if (err_offset)
                *err_offset = off + (int)body;
            goto fail;
        }
        shift_offsets(e, (int)body);
        add_part(t, &alloc, NULL, e);
        i = lit_start = (size_t)close + 2;
    }
    return 0;
fail:
    tmpl_release(t);
    return -1;
}

void tmpl_release(struct tmpl *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nparts; i++) {
        free(t->parts[i].lit);
        expr_free(t->parts[i].expr);
    }
    free(t->parts);
    free(t->src);
    t->parts = NULL;
    t->nparts = 0;
    t->src = NULL;
}

int tmpl_check(const struct tmpl *t, const struct expr_scope *scope, int *err_offset, char *msg,
               size_t msgsz)
{
    for (size_t i = 0; i < t->nparts; i++) {
        enum expr_type type;
        if (t->parts[i].expr &&
            expr_check(t->parts[i].expr, scope, &type, err_offset, msg, msgsz) < 0)
            return -1;
    }
    return 0;
}

char *tmpl_expand(const struct tmpl *t, const struct expr_env *env, bool shell_quote, char *msg,
                  size_t msgsz)
{
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < t->nparts; i++) {
        const struct tmpl_part *part = &t->parts[i];
        if (part->lit) {
            strbuf_addstr(&sb, part->lit);
            continue;
        }
        struct value v;
        if (expr_eval(part->expr, env, &v, msg, msgsz) < 0) {
            strbuf_release(&sb);
            return NULL;
        }
        char *s = value_to_string(&v);
        value_release(&v);
        if (shell_quote)
            strbuf_add_shell_quoted(&sb, s);
        else
            strbuf_addstr(&sb, s);
        free(s);
    }
    return strbuf_detach(&sb, NULL);
}
