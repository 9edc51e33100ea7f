/* The script of a shell-form run: substitutions travel as environment variables, each
 * reference written for the quoting context it stands in. And which run strings need a shell. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scheduler/engine_int.h"
#include "util/xalloc.h"

/* Where in a shell script a substitution stands: what decides how it may be written. */
enum sh_state { SH_PLAIN, SH_SQUOTE, SH_DQUOTE, SH_COMMENT, SH_HEREDOC };

struct sh_scan {
    enum sh_state state;
    bool word_start;     /* the previous character ended a word */
    bool line_start;
    struct strbuf line;  /* the current line, in a here-document body */
    char delim[128];     /* here-document delimiter pending or open */
    bool delim_quoted;   /* <<'EOF': the body is literal */
    bool delim_tabs;     /* <<-EOF */
    bool pending;        /* a here-document starts at the next newline */
};

/* Read the here-document operator after "<<" at text[i]; returns the index after it. */
static size_t sh_heredoc_op(struct sh_scan *sc, const char *text, size_t i)
{
    if (text[i] == '-') {
        sc->delim_tabs = true;
        i++;
    } else {
        sc->delim_tabs = false;
    }
    while (text[i] == ' ' || text[i] == '\t')
        i++;
    size_t n = 0;
    sc->delim_quoted = false;
    while (text[i] && !strchr(" \t\n;&|<>()", text[i]) && n + 1 < sizeof(sc->delim)) {
        if (text[i] == '\'' || text[i] == '"' || text[i] == '\\') {
            sc->delim_quoted = true;
            i++;
            continue;
        }
        sc->delim[n++] = text[i++];
    }
    sc->delim[n] = '\0';
    sc->pending = n > 0;
    return i;
}

/* Advance the scanner over literal script text. A sketch of the POSIX shell grammar that
 * needs to be right only about quotes, comments and here-documents. */
static void sh_scan_text(struct sh_scan *sc, const char *text)
{
    for (size_t i = 0; text[i]; i++) {
        char c = text[i];
        switch (sc->state) {
        case SH_PLAIN:
            if (c == '\\' && text[i + 1]) {
                i++;
            } else if (c == '\'') {
                sc->state = SH_SQUOTE;
            } else if (c == '"') {
                sc->state = SH_DQUOTE;
            } else if (c == '#' && sc->word_start) {
                sc->state = SH_COMMENT;
            } else if (c == '<' && text[i + 1] == '<' && text[i + 2] != '<') {
                i = sh_heredoc_op(sc, text, i + 2) - 1;
            } else if (c == '\n' && sc->pending) {
                sc->state = SH_HEREDOC;
                sc->pending = false;
                strbuf_reset(&sc->line);
            }
            break;
        case SH_SQUOTE:
            if (c == '\'')
                sc->state = SH_PLAIN;
            break;
        case SH_DQUOTE:
            if (c == '\\' && text[i + 1])
                i++;
            else if (c == '"')
                sc->state = SH_PLAIN;
            break;
        case SH_COMMENT:
            if (c == '\n') {
                sc->state = sc->pending ? SH_HEREDOC : SH_PLAIN;
                sc->pending = false;
                strbuf_reset(&sc->line);
            }
            break;
        case SH_HEREDOC:
            if (c != '\n') {
                strbuf_addch(&sc->line, c);
                break;
            }
            const char *l = sc->line.buf;
            while (sc->delim_tabs && *l == '\t')
                l++;
            if (!strcmp(l, sc->delim))
                sc->state = SH_PLAIN;
            strbuf_reset(&sc->line);
            break;
        }
        sc->word_start = strchr(" \t\n;&|()", c) != NULL;
    }
}

/* The script of a shell-form run. A substituted value never enters the script text: each
 * ${{ }} becomes a reference to an environment variable (SLUICE_V_1, …) that holds the value,
 * written for where it stands — "${V}" in plain text, ${V} inside double quotes or an
 * expanding here-document, '"${V}"' inside single quotes — because the shell never parses the
 * result of a variable expansion as code. Only a literal (quoted-delimiter) here-document
 * gets the value itself, and one that would end the document is refused. */
char *shell_render(struct run_ctx *run, struct step_rt *s, const struct tmpl *t,
                          struct err *e)
{
    argv_free(s->shell_env);
    s->shell_env = NULL;
    struct argv_buf envs = {0};
    struct strbuf out = STRBUF_INIT;
    struct sh_scan sc = {.state = SH_PLAIN, .word_start = true, .line_start = true};
    strbuf_init(&sc.line);
    struct expr_env env;
    run_expr_env(run, &env);
    int n = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        const struct tmpl_part *p = &t->parts[i];
        if (p->lit) {
            strbuf_addstr(&out, p->lit);
            sh_scan_text(&sc, p->lit);
            continue;
        }
        struct value v = {0};
        char msg[512];
        if (expr_eval(p->expr, &env, &v, msg, sizeof(msg)) < 0) {
            err_set(e, "%s", msg);
            goto fail;
        }
        char *txt = value_to_string(&v);
        value_release(&v);
        if (sc.state == SH_HEREDOC && sc.delim_quoted) {
            bool ends = false;
            for (const char *l = txt; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
                size_t ll = strcspn(l, "\n");
                ends |= ll == strlen(sc.delim) && !strncmp(l, sc.delim, ll);
            }
            if (ends) {
                err_set(e, "a substituted value would end the here-document '%s'", sc.delim);
                free(txt);
                goto fail;
            }
            strbuf_addstr(&out, txt);
            sh_scan_text(&sc, txt);
            free(txt);
            continue;
        }
        n++;
        argv_push(&envs, xasprintf("SLUICE_V_%d=%s", n, txt));
        free(txt);
        switch (sc.state) {
        case SH_SQUOTE:
            strbuf_addf(&out, "'\"${SLUICE_V_%d}\"'", n);
            break;
        case SH_DQUOTE:
        case SH_HEREDOC:
            strbuf_addf(&out, "${SLUICE_V_%d}", n);
            break;
        default:
            strbuf_addf(&out, "\"${SLUICE_V_%d}\"", n);
            break;
        }
        sc.word_start = false;
    }
    strbuf_release(&sc.line);
    s->shell_env = envs.v;
    return strbuf_detach(&out, NULL);
fail:
    strbuf_release(&sc.line);
    strbuf_release(&out);
    argv_free(envs.v);
    return NULL;
}

/* Words that only a shell can run: its reserved words and the builtins that have no program
 * of their name, or whose program cannot do their job (cd, exit and export act on the shell
 * itself; kill's program is not installed everywhere). The list of GNU make's fast path, for
 * the same reason, plus dash's and bash's other builtins and reserved words. */
static const char *const shell_words[] = {
    ".", ":", "alias", "bg", "break", "case", "cd", "command", "continue", "do", "done", "elif",
    "else", "esac", "eval", "exec", "exit", "export", "fc", "fg", "fi", "for", "function",
    "getopts", "hash", "if", "in", "jobs", "kill", "local", "read", "readonly", "return",
    "select", "set", "shift", "source", "then", "times", "trap", "type", "ulimit", "umask",
    "unalias", "unset", "until", "wait", "while",
};

bool shell_needed(const struct tmpl *t, const char *argv0)
{
    /* NAME=value as the first word is an assignment only when written, not substituted. */
    const char *lit = t->nparts && t->parts[0].lit ? t->parts[0].lit : "";
    lit += strspn(lit, " \t");
    if (isalpha((unsigned char)*lit) || *lit == '_') {
        while (isalnum((unsigned char)*lit) || *lit == '_')
            lit++;
        if (*lit == '=')
            return true;
    }
    for (size_t i = 0; i < sizeof(shell_words) / sizeof(shell_words[0]); i++)
        if (!strcmp(argv0, shell_words[i]))
            return true;
    return false;
}
