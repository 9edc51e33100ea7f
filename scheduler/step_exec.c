/* What one attempt of a step runs (argv, environment), its cache key, and what it leaves
 * behind (outputs into the artifact store, metrics, lineage). */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor/artifact.h"
#include "executor/crawl.h"
#include "executor/deploy.h"
#include "pipeline/duration.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/xalloc.h"

extern char **environ;

#define METRICS_MAX_BYTES (16 * 1024 * 1024)

void argv_free(char **argv)
{
    if (!argv)
        return;
    for (char **a = argv; *a; a++)
        free(*a);
    free(argv);
}

struct argv_buf {
    char **v;
    size_t n, alloc;
};

static void argv_push(struct argv_buf *a, char *s)
{
    XGROW(a->v, a->alloc, a->n + 2);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* ---- expressions over a run ---- */

static int env_param(void *data, const char *name, struct value *out)
{
    struct run_ctx *run = data;
    const struct param *p = pipeline_param(run->pipe, name);
    const char *text = NULL;
    for (size_t i = 0; i < run->row.nparams; i++)
        if (!strcmp(run->row.params[i].name, name))
            text = run->row.params[i].value;
    if (!text && p)
        text = p->value;
    if (!text)
        return -1;
    value_release(&run->param_scratch);
    struct value *v = &run->param_scratch;
    v->type = p ? p->type : TYPE_STRING;
    if (v->type == TYPE_NUMBER)
        v->num = strtod(text, NULL);
    else if (v->type == TYPE_BOOL)
        v->b = !strcmp(text, "true");
    else
        v->str = xstrdup(text);
    *out = *v;
    return 0;
}

static int env_metric(void *data, const char *step, const char *metric, double *out)
{
    struct run_ctx *run = data;
    struct metric_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_metrics_load(run->eng->st, run->id, step, &rows, &n, &e) < 0)
        return -1;
    int rc = -1;
    /* A scalar, or a series standing for its last value (rows come ordered by idx). */
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rows[i].name, metric))
            continue;
        *out = rows[i].value;
        rc = 0;
        if (rows[i].idx < 0)
            break;
    }
    metric_rows_free(rows, n);
    return rc;
}

static int env_status(void *data, const char *step, const char **out)
{
    struct run_ctx *run = data;
    const struct step *sp = pipeline_step(run->pipe, step);
    if (!sp)
        return -1;
    *out = step_status_name(run->plan.status[sp->index]);
    return 0;
}

void run_expr_env(struct run_ctx *run, struct expr_env *env)
{
    env->data = run;
    env->param = env_param;
    env->metric = env_metric;
    env->status = env_status;
    env->run_id = run->id;
}

/* ---- inputs ---- */

static struct output_rec *find_output(struct run_ctx *run, const char *step, const char *name)
{
    const struct step *up = pipeline_step(run->pipe, step);
    if (!up)
        return NULL;
    struct step_rt *u = &run->steps[up->index];
    for (size_t k = 0; k < u->noutputs; k++)
        if (!strcmp(u->outputs[k].name, name))
            return &u->outputs[k];
    return NULL;
}

char *step_input_path(struct run_ctx *run, const struct ref *r, struct err *e)
{
    struct output_rec *o = find_output(run, r->step, r->output);
    if (!o) {
        err_set(e, "input '%s/%s' is not available", r->step, r->output);
        return NULL;
    }
    return artifact_path(run->eng->home, o->digest);
}

/* Every upstream output this step reads: inputs:, input:, model:. */
static size_t step_refs(const struct step *sp, const struct ref **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < sp->ninputs && n < max; i++)
        out[n++] = &sp->inputs[i];
    if (sp->input.step && n < max)
        out[n++] = &sp->input;
    if (sp->model.step && n < max)
        out[n++] = &sp->model;
    return n;
}

int step_record_inputs(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    const struct step *sp = s->spec;
    const struct ref *refs[256];
    size_t n = step_refs(sp, refs, 256);
    for (size_t i = 0; i < n; i++) {
        struct output_rec *o = find_output(run, refs[i]->step, refs[i]->output);
        if (!o)
            return err_set(e, "input '%s/%s' is not available", refs[i]->step,
                           refs[i]->output);
        const char *name = refs[i]->name ? refs[i]->name : refs[i] == &sp->model ? "model"
                                                                                   : "input";
        if (store_io_add(run->eng->st, s->attempt_id, o->artifact_id, "in", name, e) < 0)
            return -1;
    }
    return 0;
}

/* ---- models ---- */

/* The model version an approve step of this run registered for the artifact r names. */
static int find_run_model(struct run_ctx *run, const struct ref *r, struct model_row *out,
                          struct err *e)
{
    for (size_t i = 0; i < run->pipe->nsteps; i++) {
        const struct step *sp = &run->pipe->steps[i];
        if (sp->kind != KIND_APPROVE || !sp->model.step || strcmp(sp->model.step, r->step) ||
            strcmp(sp->model.output, r->output))
            continue;
        if (store_model_for_step(run->eng->st, run->id, sp->name, out, e) == 0)
            return 0;
    }
    e->code = STORE_NOT_FOUND;
    return err_set(e, "no model version registered for '%s/%s'", r->step, r->output);
}

static json_t *run_metrics_json(struct run_ctx *run)
{
    json_t *o = json_object();
    struct metric_row *rows = NULL;
    size_t n = 0;
    struct err e = ERR_INIT;
    if (store_metrics_load(run->eng->st, run->id, NULL, &rows, &n, &e) < 0)
        return o;
    for (size_t i = 0; i < n; i++) {
        char *key = xasprintf("%s.%s", rows[i].step, rows[i].name);
        if (rows[i].idx < 0) {
            json_object_set_new(o, key, json_real(rows[i].value));
        } else {
            json_t *arr = json_object_get(o, key);
            if (!json_is_array(arr)) {
                arr = json_array();
                json_object_set_new(o, key, arr);
            }
            json_array_append_new(arr, json_real(rows[i].value));
        }
        free(key);
    }
    metric_rows_free(rows, n);
    return o;
}

int step_register_model(struct run_ctx *run, struct step_rt *s, const char *name,
                        struct model_row *out, struct err *e)
{
    const struct step *sp = s->spec;
    struct output_rec *o = find_output(run, sp->model.step, sp->model.output);
    if (!o)
        return err_set(e, "model '%s/%s' is not available", sp->model.step, sp->model.output);
    json_t *m = run_metrics_json(run);
    char *text = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(m);
    int rc = store_model_register(run->eng->st, name, o->artifact_id, run->id, sp->name, text,
                                  out, e);
    free(text);
    return rc;
}

char *step_challenger_summary(struct run_ctx *run, const struct model_row *m)
{
    struct strbuf sb = STRBUF_INIT;
    strbuf_addf(&sb, "%s v%d waits for approval", m->name, m->version);
    struct model_row champ = {0};
    struct err e = ERR_INIT;
    bool has_champ = store_model_deployed(run->eng->st, m->name, &champ, &e) == 0;
    json_t *cm = m->metrics ? json_loads(m->metrics, 0, NULL) : NULL;
    json_t *om = has_champ && champ.metrics ? json_loads(champ.metrics, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    int shown = 0;
    json_object_foreach(cm, k, v) {
        if (!json_is_number(v) || shown == 4)
            continue;
        strbuf_addf(&sb, "%s %s %.4g", shown++ ? "," : ":", k, json_number_value(v));
        json_t *ov = json_object_get(om, k);
        if (json_is_number(ov))
            strbuf_addf(&sb, " (deployed v%d: %.4g, %+.4g)", champ.version, json_number_value(ov),
                        json_number_value(v) - json_number_value(ov));
    }
    if (!has_champ)
        strbuf_addstr(&sb, " (no version deployed yet)");
    json_decref(cm);
    json_decref(om);
    model_row_release(&champ);
    return strbuf_detach(&sb, NULL);
}

/* ---- the command ---- */

static bool shell_free(const char *lit)
{
    for (const char *c = lit; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(" \t_./:=,+%@-", *c))
            return false;
    return true;
}

static char *expand(struct run_ctx *run, const struct tmpl *t, bool quote, struct err *e)
{
    struct expr_env env;
    run_expr_env(run, &env);
    char msg[512];
    char *s = tmpl_expand(t, &env, quote, msg, sizeof(msg));
    if (!s)
        err_set(e, "%s", msg);
    return s;
}

/* A shell string whose literal text has no shell syntax is split into words here and exec'd
 * directly, as make does: a /bin/sh per step costs as much as the step's own exec. A
 * substituted value stays inside its word, unsplit, as the quoting would have kept it. */
static char **split_direct(struct run_ctx *run, const struct tmpl *t, struct err *e)
{
    struct argv_buf a = {0};
    struct strbuf word = STRBUF_INIT;
    bool in_word = false;
    struct expr_env env;
    run_expr_env(run, &env);
    for (size_t i = 0; i < t->nparts; i++) {
        const struct tmpl_part *p = &t->parts[i];
        if (p->lit) {
            for (const char *c = p->lit; *c; c++) {
                if (*c == ' ' || *c == '\t') {
                    if (in_word)
                        argv_push(&a, strbuf_detach(&word, NULL));
                    in_word = false;
                } else {
                    strbuf_addch(&word, *c);
                    in_word = true;
                }
            }
            continue;
        }
        struct value v = {0};
        char msg[512];
        if (expr_eval(p->expr, &env, &v, msg, sizeof(msg)) < 0) {
            err_set(e, "%s", msg);
            strbuf_release(&word);
            argv_free(a.v);
            return NULL;
        }
        char *txt = value_to_string(&v);
        value_release(&v);
        strbuf_addstr(&word, txt);
        free(txt);
        in_word = true;
    }
    if (in_word)
        argv_push(&a, strbuf_detach(&word, NULL));
    strbuf_release(&word);
    if (!a.n) {
        err_set(e, "step '%s' has an empty 'run'", "?");
        return NULL;
    }
    return a.v;
}

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
static char *shell_render(struct run_ctx *run, struct step_rt *s, const struct tmpl *t,
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

static bool tmpl_shell_free(const struct tmpl *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].lit && !shell_free(t->parts[i].lit))
            return false;
    return true;
}

char **step_command(struct run_ctx *run, struct step_rt *s, bool *shell, struct err *e)
{
    const struct step *sp = s->spec;
    struct argv_buf a = {0};
    *shell = false;
    switch (sp->kind) {
    case KIND_TASK:
    case KIND_TRANSFORM:
    case KIND_TRAIN:
    case KIND_EVALUATE:
        if (sp->run_argv) {
            for (size_t i = 0; i < sp->run_argc; i++) {
                char *w = expand(run, &sp->run_argv[i], false, e);
                if (!w) {
                    argv_free(a.v);
                    return NULL;
                }
                argv_push(&a, w);
            }
            return a.v;
        }
        if (!sp->run_shell)
            break;
        if (tmpl_shell_free(sp->run_shell))
            return split_direct(run, sp->run_shell, e);
        *shell = true;
        char *cmd = shell_render(run, s, sp->run_shell, e);
        if (!cmd)
            return NULL;
        argv_push(&a, cmd);
        return a.v;
    default:
        break;
    }
    /* Built-ins run as `sluice builtin NAME …` under the same shim. */
    const char *self = run->eng->self_exe;
    char *dir = s->attempt_dir;
    argv_push(&a, xstrdup(self));
    argv_push(&a, xstrdup("builtin"));
    switch (sp->kind) {
    case KIND_INGEST:
        argv_push(&a, xstrdup("ingest"));
        argv_push(&a, xstrdup("--source"));
        argv_push(&a, xstrdup(sp->source.s));
        argv_push(&a, xstrdup("--base"));
        argv_push(&a, xstrdup(run->pipe->dir));
        argv_push(&a, xstrdup("--out"));
        argv_push(&a, xasprintf("%s/out/%s", dir, sp->noutputs ? sp->outputs[0].s : "data"));
        argv_push(&a, xstrdup("--max-size"));
        argv_push(&a, xasprintf("%lld", (long long)sp->max_size));
        if (sp->sha256.s) {
            argv_push(&a, xstrdup("--sha256"));
            argv_push(&a, xstrdup(sp->sha256.s));
        }
        argv_push(&a, xstrdup("--meta"));
        argv_push(&a, xasprintf("%s/ingest.json", dir));
        break;
    case KIND_CRAWL: {
        char *in = step_input_path(run, &sp->input, e);
        if (!in) {
            argv_free(a.v);
            return NULL;
        }
        argv_push(&a, xstrdup("crawl"));
        argv_push(&a, xstrdup("--input"));
        argv_push(&a, in);
        argv_push(&a, xstrdup("--out"));
        argv_push(&a, xasprintf("%s/out/schema.json", dir));
        for (size_t i = 0; i < sp->nexpect; i++) {
            argv_push(&a, xstrdup("--expect"));
            argv_push(&a, xstrdup(sp->expect[i].s));
        }
        break;
    }
    case KIND_DEPLOY: {
        char *model = step_input_path(run, &sp->model, e);
        if (!model) {
            argv_free(a.v);
            return NULL;
        }
        argv_push(&a, xstrdup("deploy"));
        argv_push(&a, xstrdup("--model"));
        argv_push(&a, model);
        argv_push(&a, xstrdup("--target"));
        argv_push(&a, sp->target.s[0] == '/' ? xstrdup(sp->target.s)
                                             : xasprintf("%s/%s", run->pipe->dir, sp->target.s));
        argv_push(&a, xstrdup("--name"));
        argv_push(&a, xstrdup(sp->model.output));
        argv_push(&a, xstrdup("--version"));
        struct model_row m = {0};
        struct err me = ERR_INIT;
        if (find_run_model(run, &sp->model, &m, &me) == 0)
            argv_push(&a, xasprintf("%s:v%d", m.name, m.version));
        else
            argv_push(&a, xasprintf("run-%lld", (long long)run->id));
        model_row_release(&m);
        if (sp->health.s) {
            argv_push(&a, xstrdup("--health"));
            argv_push(&a, xstrdup(sp->health.s));
            argv_push(&a, xstrdup("--health-timeout"));
            argv_push(&a, xasprintf("%lld", (long long)sp->health_timeout_ms));
        }
        break;
    }
    default:
        argv_free(a.v);
        err_set(e, "step '%s' has nothing to run", sp->name);
        return NULL;
    }
    return a.v;
}

/* ---- finding the command ---- */

void step_resolve_command(struct engine *eng, char **argv, char *const *envp)
{
    if (!argv || !argv[0] || strchr(argv[0], '/') || !*argv[0])
        return;
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (char *const *ev = envp; ev && *ev; ev++)
        if (!strncmp(*ev, "PATH=", 5))
            path = *ev + 5;
    size_t pl = strlen(path), nl = strlen(argv[0]);
    size_t kl = pl + 1 + nl;
    struct path_entry *pe;
    for (pe = eng->paths; pe; pe = pe->next)
        if (pe->key_len == kl && !memcmp(pe->key, path, pl) && !strcmp(pe->key + pl + 1, argv[0]))
            break;
    if (!pe) {
        pe = xcalloc(1, sizeof(*pe));
        pe->key = xmalloc(kl + 1);
        memcpy(pe->key, path, pl + 1);
        memcpy(pe->key + pl + 1, argv[0], nl + 1);
        pe->key_len = kl;
        for (const char *d = path; !pe->path;) {
            const char *end = strchr(d, ':');
            size_t dl = end ? (size_t)(end - d) : strlen(d);
            char *cand = xasprintf("%.*s/%s", (int)dl, dl ? d : ".", argv[0]);
            struct stat stt;
            if (stat(cand, &stt) == 0 && S_ISREG(stt.st_mode) && access(cand, X_OK) == 0 &&
                cand[0] == '/')
                pe->path = cand;
            else
                free(cand);
            if (!end)
                break;
            d = end + 1;
        }
        pe->next = eng->paths;
        eng->paths = pe;
    }
    if (pe->path) {
        free(argv[0]);
        argv[0] = xstrdup(pe->path);
    }
}

void path_cache_free(struct engine *eng)
{
    while (eng->paths) {
        struct path_entry *next = eng->paths->next;
        free(eng->paths->key);
        free(eng->paths->path);
        free(eng->paths);
        eng->paths = next;
    }
}

/* ---- the environment ---- */

static char *env_name(const char *prefix, const char *name)
{
    char *s = xasprintf("%s%s", prefix, name);
    for (char *c = s + strlen(prefix); *c; c++)
        *c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
    return s;
}

static bool ours(const char *kv)
{
    static const char *const exact[] = {"SLUICE_RUN_ID=", "SLUICE_STEP=", "SLUICE_ATTEMPT=",
                                        "SLUICE_OUT=", "SLUICE_METRICS="};
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (!strncmp(kv, exact[i], strlen(exact[i])))
            return true;
    return !strncmp(kv, "SLUICE_IN_", 10) || !strncmp(kv, "SLUICE_PARAM_", 13) ||
           !strncmp(kv, "SLUICE_V_", 9);
}

char **step_environ(struct run_ctx *run, struct step_rt *s, const char *attempt_dir,
                    struct err *e)
{
    struct argv_buf a = {0};
    const struct step *sp = s->spec;
    for (char **ev = environ; ev && *ev; ev++)
        if (!ours(*ev) && strncmp(*ev, "SLUICE_HOME=", 12))
            argv_push(&a, xstrdup(*ev));
    argv_push(&a, xasprintf("SLUICE_HOME=%s", run->eng->home));
    argv_push(&a, xasprintf("SLUICE_RUN_ID=%lld", (long long)run->id));
    argv_push(&a, xasprintf("SLUICE_STEP=%s", sp->name));
    argv_push(&a, xasprintf("SLUICE_ATTEMPT=%d", s->attempt_n));
    argv_push(&a, xasprintf("SLUICE_OUT=%s/out", attempt_dir));
    argv_push(&a, xasprintf("SLUICE_METRICS=%s/metrics.json", attempt_dir));
    for (char **v = s->shell_env; v && *v; v++)
        argv_push(&a, xstrdup(*v));
    for (size_t i = 0; i < sp->ninputs; i++) {
        char *path = step_input_path(run, &sp->inputs[i], e);
        if (!path) {
            argv_free(a.v);
            return NULL;
        }
        char *name = env_name("SLUICE_IN_", sp->inputs[i].name);
        argv_push(&a, xasprintf("%s=%s", name, path));
        free(name);
        free(path);
    }
    for (size_t i = 0; i < run->pipe->nparams; i++) {
        struct param *p = &run->pipe->params[i];
        const char *v = p->value;
        for (size_t k = 0; k < run->row.nparams; k++)
            if (!strcmp(run->row.params[k].name, p->name))
                v = run->row.params[k].value;
        char *name = env_name("SLUICE_PARAM_", p->name);
        argv_push(&a, xasprintf("%s=%s", name, v));
        free(name);
    }
    for (size_t i = 0; i < sp->nenv; i++) {
        char *v = expand(run, &sp->env[i].value, false, e);
        if (!v) {
            argv_free(a.v);
            return NULL;
        }
        argv_push(&a, xasprintf("%s=%s", sp->env[i].name, v));
        free(v);
    }
    return a.v;
}

/* ---- the cache key ---- */

static void collect_params(const struct expr *x, json_t *params, struct run_ctx *run)
{
    if (!x)
        return;
    if (x->op == EXPR_PARAM && !json_object_get(params, x->name)) {
        struct value v = {0};
        if (env_param(run, x->name, &v) == 0) {
            char *txt = value_to_string(&v);
            json_object_set_new(params, x->name, json_string(txt));
            free(txt);
        }
    }
    collect_params(x->lhs, params, run);
    collect_params(x->rhs, params, run);
}

static void tmpl_params(const struct tmpl *t, json_t *params, struct run_ctx *run)
{
    for (size_t i = 0; t && i < t->nparts; i++)
        collect_params(t->parts[i].expr, params, run);
}

/* A word names a file under the pipeline's folder: its content is part of the key. */
static void add_file(json_t *files, struct run_ctx *run, const char *workdir, const char *word)
{
    if (!*word || strlen(word) > 4000)
        return;
    char *path = word[0] == '/' ? xstrdup(word) : xasprintf("%s/%s", workdir, word);
    char real[4096];
    struct stat stt;
    if (realpath(path, real) && stat(real, &stt) == 0 && S_ISREG(stt.st_mode)) {
        size_t dl = strlen(run->pipe->dir);
        if (!strncmp(real, run->pipe->dir, dl) && real[dl] == '/') {
            char hex[DIGEST_HEX_LEN + 1];
            int64_t size;
            bool is_dir;
            struct err e = ERR_INIT;
            if (artifact_hash(real, hex, &size, &is_dir, &e) == 0)
                json_object_set_new(files, real + dl + 1, json_string(hex));
        }
    }
    free(path);
}

int step_cache_key(struct run_ctx *run, struct step_rt *s, char **key, char **info,
                   struct err *e)
{
    const struct step *sp = s->spec;
    json_t *o = json_object();
    json_t *params = json_object(), *inputs = json_object(), *files = json_object(),
           *env = json_object();
    json_object_set_new(o, "kind", json_string(step_kind_name(sp->kind)));
    bool shell = false;
    /* The attempt folder differs on every attempt; it is no part of what is computed. */
    char *saved_dir = s->attempt_dir;
    s->attempt_dir = "@attempt";
    char **argv = step_command(run, s, &shell, e);
    s->attempt_dir = saved_dir;
    if (!argv) {
        json_decref(o);
        json_decref(params);
        json_decref(inputs);
        json_decref(files);
        json_decref(env);
        return -1;
    }
    const char *workdir = sp->workdir ? sp->workdir : run->pipe->dir;
    json_t *cmd = json_array();
    for (char **a = argv; *a; a++) {
        json_array_append_new(cmd, json_string(*a));
        if (!shell) {
            add_file(files, run, workdir, *a);
        } else {
            char *copy = xstrdup(*a), *save = NULL;
            for (char *w = strtok_r(copy, " \t'\"", &save); w; w = strtok_r(NULL, " \t'\"", &save))
                add_file(files, run, workdir, w);
            free(copy);
        }
    }
    argv_free(argv);
    json_object_set_new(o, "command", cmd);
    json_object_set_new(o, "shell", json_boolean(shell));
    for (size_t i = 0; i < sp->ndeps; i++)
        add_file(files, run, workdir, sp->deps[i].s);
    tmpl_params(sp->run_shell, params, run);
    for (size_t i = 0; i < sp->run_argc; i++)
        tmpl_params(&sp->run_argv[i], params, run);
    for (size_t i = 0; i < sp->nenv; i++) {
        tmpl_params(&sp->env[i].value, params, run);
        struct err ee = ERR_INIT;
        char *v = expand(run, &sp->env[i].value, false, &ee);
        json_object_set_new(env, sp->env[i].name, json_string(v ? v : ""));
        free(v);
    }
    const struct ref *refs[256];
    size_t nr = step_refs(sp, refs, 256);
    for (size_t i = 0; i < nr; i++) {
        struct output_rec *out = find_output(run, refs[i]->step, refs[i]->output);
        const char *name = refs[i]->name ? refs[i]->name : refs[i] == &sp->model ? "model"
                                                                                   : "input";
        json_object_set_new(inputs, name, json_string(out ? out->digest : ""));
    }
    json_object_set_new(o, "params", params);
    json_object_set_new(o, "inputs", inputs);
    json_object_set_new(o, "files", files);
    json_object_set_new(o, "env", env);
    json_t *outs = json_array();
    for (size_t i = 0; i < sp->noutputs; i++)
        json_array_append_new(outs, json_string(sp->outputs[i].s));
    json_object_set_new(o, "outputs", outs);
    char *text = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(o);
    char hex[DIGEST_HEX_LEN + 1];
    sha256_hex(text, strlen(text), hex);
    *key = xstrdup(hex);
    *info = xstrdup(text);
    free(text);
    return 0;
}

static void explain_section(struct strbuf *sb, json_t *a, json_t *b, const char *section,
                            const char *what)
{
    json_t *oa = json_object_get(a, section), *ob = json_object_get(b, section);
    const char *k;
    json_t *v;
    json_object_foreach(ob, k, v) {
        json_t *old = json_object_get(oa, k);
        const char *nv = json_string_value(v);
        const char *ov = old ? json_string_value(old) : NULL;
        if (ov && nv && !strcmp(ov, nv))
            continue;
        if (sb->len)
            strbuf_addstr(sb, ", ");
        if (!strcmp(section, "params"))
            strbuf_addf(sb, "%s '%s' %s -> %s", what, k, ov ? ov : "(unset)", nv ? nv : "");
        else if (!ov)
            strbuf_addf(sb, "%s '%s' is new", what, k);
        else
            strbuf_addf(sb, "%s '%s' changed", what, k);
    }
    json_object_foreach(oa, k, v) {
        if (json_object_get(ob, k))
            continue;
        if (sb->len)
            strbuf_addstr(sb, ", ");
        strbuf_addf(sb, "%s '%s' is gone", what, k);
    }
}

char *step_log_last_line(const char *dir)
{
    char *path = xasprintf("%s/log", dir);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f)
        return NULL;
    char buf[4096];
    long size = 0;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    long from = size > (long)sizeof(buf) - 1 ? size - (long)sizeof(buf) + 1 : 0;
    fseek(f, from, SEEK_SET);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (!n)
        return NULL;
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    if (strlen(line) > 200)
        line[200] = '\0';
    return xstrdup(line);
}

char *cache_explain_miss(const char *old_info, const char *new_info)
{
    json_t *a = old_info ? json_loads(old_info, 0, NULL) : NULL;
    json_t *b = new_info ? json_loads(new_info, 0, NULL) : NULL;
    struct strbuf sb = STRBUF_INIT;
    if (!a || !b) {
        strbuf_addstr(&sb, "no earlier key to compare with");
    } else {
        explain_section(&sb, a, b, "params", "param");
        explain_section(&sb, a, b, "inputs", "input");
        explain_section(&sb, a, b, "files", "code");
        explain_section(&sb, a, b, "env", "env");
        if (!json_equal(json_object_get(a, "command"), json_object_get(b, "command")) &&
            !sb.len)
            strbuf_addstr(&sb, "command changed");
        if (!json_equal(json_object_get(a, "kind"), json_object_get(b, "kind")))
            strbuf_addf(&sb, "%skind changed", sb.len ? ", " : "");
        if (!json_equal(json_object_get(a, "outputs"), json_object_get(b, "outputs")))
            strbuf_addf(&sb, "%soutputs changed", sb.len ? ", " : "");
        if (!sb.len)
            strbuf_addstr(&sb, "the earlier result is no longer available");
    }
    json_decref(a);
    json_decref(b);
    return strbuf_detach(&sb, NULL);
}

/* ---- outputs and metrics ---- */

static void set_outputs(struct step_rt *s, struct output_rec *outs, size_t n)
{
    for (size_t k = 0; k < s->noutputs; k++)
        free(s->outputs[k].name);
    free(s->outputs);
    s->outputs = outs;
    s->noutputs = n;
}

static int read_metrics(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    char *path = xasprintf("%s/metrics.json", s->attempt_dir);
    struct stat stt;
    int rc = 0;
    if (stat(path, &stt) < 0)
        goto out; /* no metrics: fine */
    if (stt.st_size > METRICS_MAX_BYTES) {
        rc = err_set(e, "metrics file is larger than 16 MiB");
        goto out;
    }
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) {
        rc = err_set(e, "metrics file is not valid JSON: %s (line %d)", je.text, je.line);
        goto out;
    }
    if (!json_is_object(o)) {
        json_decref(o);
        rc = err_set(e, "metrics file must hold one JSON object");
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v) {
        if (json_is_number(v)) {
            rc = store_metric_put(run->eng->st, run->id, s->spec->name, k, -1,
                                  json_number_value(v), e);
        } else if (json_is_array(v)) {
            size_t i;
            json_t *x;
            json_array_foreach(v, i, x) {
                if (!json_is_number(x)) {
                    rc = err_set(e, "metric '%s': item %zu is not a number", k, i);
                    break;
                }
                rc = store_metric_put(run->eng->st, run->id, s->spec->name, k, (int)i,
                                      json_number_value(x), e);
                if (rc < 0)
                    break;
            }
        } else {
            rc = err_set(e, "metric '%s' must be a number or a list of numbers", k);
        }
        if (rc < 0)
            break;
    }
    json_decref(o);
out:
    free(path);
    return rc;
}

/* A crawl's schema becomes a new catalog version of its table when the columns changed. */
static int record_catalog(struct run_ctx *run, struct step_rt *s, const struct output_rec *o,
                          struct err *e)
{
    const struct step *sp = s->spec;
    struct store *st = run->eng->st;
    char *path = xasprintf("%s/out/schema.json", s->attempt_dir);
    struct strbuf text = STRBUF_INIT;
    int rc = 0;
    if (strbuf_read_file(&text, path, 64 * 1024 * 1024) != 0) {
        rc = err_set(e, "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    json_t *j = json_loads(text.buf, 0, NULL);
    int64_t rows = j ? (int64_t)json_integer_value(json_object_get(j, "rows")) : 0;
    json_decref(j);
    rc = store_metric_put(st, run->id, sp->name, "rows", -1, (double)rows, e);
    if (rc < 0)
        goto out;
    struct catalog_row last = {0};
    struct err le = ERR_INIT;
    bool have_last = store_catalog_latest(st, sp->table.s, &last, &le) == 0;
    if (!have_last && le.code != STORE_NOT_FOUND) {
        *e = le;
        rc = -1;
        goto out;
    }
    bool changed = true;
    struct strbuf report = STRBUF_INIT;
    if (have_last && crawl_schema_diff(last.schema, text.buf, &report, &changed, e) < 0) {
        rc = -1;
    } else if (changed && have_last && sp->on_drift == DRIFT_FAIL) {
        rc = err_set(e, "schema drift in table '%s' (v%d): %s", sp->table.s, last.version,
                     report.buf);
    } else if (changed) {
        int version = 0;
        rc = store_catalog_add(st, sp->table.s, text.buf, rows, o->artifact_id, run->id, &version,
                               e);
        free(s->note);
        s->note = have_last ? xasprintf("schema drift: table '%s' v%d: %s", sp->table.s, version,
                                        report.buf)
                            : xasprintf("new table '%s' v%d in the catalog", sp->table.s, version);
        for (char *c = s->note; *c; c++)
            if (*c == '\n')
                *c = ';';
    }
    strbuf_release(&report);
    catalog_row_release(&last);
out:
    strbuf_release(&text);
    free(path);
    return rc;
}

/* A deploy switched the target's live slot: the registry follows. */
static int record_deployment(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    const struct step *sp = s->spec;
    char *target = sp->target.s[0] == '/' ? xstrdup(sp->target.s)
                                          : xasprintf("%s/%s", run->pipe->dir, sp->target.s);
    struct deploy_state ds;
    struct model_row m = {0};
    int rc = deploy_current(target, &ds, e);
    if (rc == 0 && find_run_model(run, &sp->model, &m, e) < 0) {
        /* No approve step registered it: a deploy still makes it a version of the registry. */
        struct output_rec *o = find_output(run, sp->model.step, sp->model.output);
        json_t *mj = run_metrics_json(run);
        char *text = json_dumps(mj, JSON_COMPACT | JSON_SORT_KEYS);
        json_decref(mj);
        rc = o ? store_model_register(run->eng->st, run->pipe->name, o->artifact_id, run->id,
                                      sp->name, text, &m, e)
               : err_set(e, "model '%s/%s' is not available", sp->model.step, sp->model.output);
        free(text);
    }
    if (rc == 0)
        rc = store_deployment_add(run->eng->st, m.id, run->id, target, ds.slot, "deployed", e);
    if (rc == 0) {
        free(s->note);
        s->note = xasprintf("deployed %s v%d to '%s' (slot %s)", m.name, m.version, target,
                            ds.slot);
    }
    model_row_release(&m);
    free(target);
    return rc;
}

/* A cache hit: the original attempt's outputs and metrics become this step's. */
static int collect_cached(struct run_ctx *run, struct step_rt *s, int64_t from, struct err *e)
{
    struct store *st = run->eng->st;
    struct artifact_row *rows = NULL;
    size_t n = 0;
    if (store_io_list(st, from, "out", &rows, &n, e) < 0)
        return -1;
    struct output_rec *outs = xcalloc(n ? n : 1, sizeof(*outs));
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *p = artifact_path(run->eng->home, rows[i].digest);
        if (access(p, F_OK) < 0)
            rc = err_set(e, "cached artifact '%s' is gone", rows[i].digest);
        free(p);
        outs[i].name = xstrdup(rows[i].name ? rows[i].name : "");
        memcpy(outs[i].digest, rows[i].digest, DIGEST_HEX_LEN + 1);
        outs[i].size = rows[i].size;
        outs[i].artifact_id = rows[i].id;
        if (rc == 0)
            rc = store_io_add(st, s->attempt_id, rows[i].id, "out", outs[i].name, e);
    }
    artifact_rows_free(rows, n);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(outs[i].name);
        free(outs);
        return -1;
    }
    set_outputs(s, outs, n);
    int64_t from_run = 0;
    char *from_step = NULL;
    if (store_attempt_origin(st, from, &from_run, &from_step, e) < 0)
        return -1;
    struct metric_row *m = NULL;
    size_t nm = 0;
    rc = store_metrics_load(st, from_run, from_step, &m, &nm, e);
    for (size_t i = 0; rc == 0 && i < nm; i++)
        rc = store_metric_put(st, run->id, s->spec->name, m[i].name, m[i].idx, m[i].value, e);
    metric_rows_free(m, nm);
    free(from_step);
    if (rc == 0)
        rc = step_record_inputs(run, s, e);
    return rc;
}

int step_collect(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    struct store *st = run->eng->st;
    const struct step *sp = s->spec;
    if (s->attempt_n == 0 || !s->attempt_dir || !*s->attempt_dir) {
        struct attempt_row *rows = NULL;
        size_t n = 0;
        int64_t from = 0;
        if (store_attempts_load(st, s->row_id, &rows, &n, e) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (rows[i].id == s->attempt_id)
                from = rows[i].cached_from;
        attempt_rows_free(rows, n);
        if (!from)
            return err_set(e, "cache record of step '%s' names no attempt", sp->name);
        return collect_cached(run, s, from, e);
    }
    struct output_rec *outs = xcalloc(sp->noutputs ? sp->noutputs : 1, sizeof(*outs));
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < sp->noutputs && rc == 0; i++) {
        char *path = xasprintf("%s/out/%s", s->attempt_dir, sp->outputs[i].s);
        struct stat stt;
        bool is_dir = false;
        if (stat(path, &stt) < 0) {
            rc = err_set(e, "output '%s' was not written (expected at '%s')", sp->outputs[i].s,
                         path);
        } else if (artifact_hash(path, outs[n].digest, &outs[n].size, &is_dir, e) < 0 ||
                   artifact_store(run->eng->home, path, outs[n].digest, is_dir, e) < 0) {
            rc = -1;
        } else {
            char *uri = artifact_path(run->eng->home, outs[n].digest);
            outs[n].name = xstrdup(sp->outputs[i].s);
            rc = store_artifact_put(st, outs[n].digest, outs[n].size, is_dir ? "dir" : "file",
                                    uri, &outs[n].artifact_id, e);
            free(uri);
            if (rc == 0)
                rc = store_io_add(st, s->attempt_id, outs[n].artifact_id, "out",
                                  outs[n].name, e);
            n++;
        }
        free(path);
    }
    if (rc == 0 && sp->kind == KIND_INGEST) {
        /* The source is the root of every lineage tree: record it as the ingest's input. */
        char hex[DIGEST_HEX_LEN + 1];
        sha256_hex(sp->source.s, strlen(sp->source.s), hex);
        int64_t id = 0;
        rc = store_artifact_put(st, hex, 0, "source", sp->source.s, &id, e);
        if (rc == 0)
            rc = store_io_add(st, s->attempt_id, id, "in", "source", e);
    }
    if (rc == 0)
        rc = read_metrics(run, s, e);
    if (rc == 0 && sp->kind == KIND_CRAWL && sp->table.s && n)
        rc = record_catalog(run, s, &outs[0], e);
    if (rc == 0 && sp->kind == KIND_DEPLOY)
        rc = record_deployment(run, s, e);
    if (rc < 0) {
        for (size_t i = 0; i < n; i++)
            free(outs[i].name);
        free(outs);
        return -1;
    }
    set_outputs(s, outs, n);
    return 0;
}

int step_load_outputs(struct run_ctx *run, struct step_rt *s, struct err *e)
{
    struct store *st = run->eng->st;
    struct attempt_row *rows = NULL;
    size_t n = 0;
    if (store_attempts_load(st, s->row_id, &rows, &n, e) < 0)
        return -1;
    int64_t best = 0;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].status, "succeeded") || !strcmp(rows[i].status, "cached"))
            best = rows[i].id;
    attempt_rows_free(rows, n);
    if (!best)
        return 0;
    struct artifact_row *ar = NULL;
    size_t na = 0;
    if (store_io_list(st, best, "out", &ar, &na, e) < 0)
        return -1;
    struct output_rec *outs = xcalloc(na ? na : 1, sizeof(*outs));
    for (size_t i = 0; i < na; i++) {
        outs[i].name = xstrdup(ar[i].name ? ar[i].name : "");
        memcpy(outs[i].digest, ar[i].digest, DIGEST_HEX_LEN + 1);
        outs[i].size = ar[i].size;
        outs[i].artifact_id = ar[i].id;
    }
    artifact_rows_free(ar, na);
    set_outputs(s, outs, na);
    return 0;
}
