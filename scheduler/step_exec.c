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
#include "executor/builtin.h"
#include "pipeline/yaml.h"
#include "scheduler/engine_int.h"
#include "store/registry.h"
#include "util/fs.h"
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

void argv_push(struct argv_buf *a, char *s)
{
    XGROW(a->v, a->alloc, a->n + 2);
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* ---- expressions over a run ---- */

int env_param(void *data, const char *name, struct value *out)
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
    v->str = xstrdup(text); /* substituted as given: -p lr=1.10 gives 1.10, not 1.1 */
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

struct output_rec *find_output(struct run_ctx *run, const char *step, const char *name)
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
size_t step_refs(const struct step *sp, const struct ref **out, size_t max)
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

/* ---- the command ---- */

static bool shell_free(const char *lit)
{
    for (const char *c = lit; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr(" \t_./:=,+%@-", *c))
            return false;
    return true;
}

char *step_expand(struct run_ctx *run, const struct tmpl *t, bool quote, struct err *e)
{
    struct expr_env env;
    run_expr_env(run, &env);
    char msg[512];
    char *s = tmpl_expand(t, &env, quote, msg, sizeof(msg));
    if (!s)
        err_set(e, "%s", msg);
    return s;
}

/* ---- string fields (beside run:, env: and deps:) ---- */

enum field_rule { RULE_TEXT, RULE_NAME, RULE_URL, RULE_PATH };
enum { F_SOURCE, F_SHA256, F_TABLE, F_MODEL_NAME, F_TARGET, F_HEALTH, F_WORKDIR, NFIELDS };

/* What a field must be once expanded. The ingest built-in checks source and sha256 itself,
 * before it reads anything; a name or URL is checked here, before anything runs. */
static const struct field_def {
    const char *key;
    size_t off;
    enum field_rule rule;
} field_defs[] = {
    [F_SOURCE] = {"source", offsetof(struct step, source), RULE_TEXT},
    [F_SHA256] = {"sha256", offsetof(struct step, sha256), RULE_TEXT},
    [F_TABLE] = {"table", offsetof(struct step, table), RULE_NAME},
    [F_MODEL_NAME] = {"model_name", offsetof(struct step, model_name), RULE_NAME},
    [F_TARGET] = {"target", offsetof(struct step, target), RULE_PATH},
    [F_HEALTH] = {"health", offsetof(struct step, health), RULE_URL},
    [F_WORKDIR] = {"workdir", offsetof(struct step, workdir), RULE_PATH},
};

const char *step_field_at(const struct step *sp, size_t i, const struct tmpl **t)
{
    if (i >= NFIELDS)
        return NULL;
    *t = (const struct tmpl *)(const void *)((const char *)sp + field_defs[i].off);
    return field_defs[i].key;
}

static int expand_field(struct run_ctx *run, const struct step *sp, size_t i, char **out,
                        struct err *e)
{
    const struct field_def *def = &field_defs[i];
    const struct tmpl *t = NULL;
    const char *key = step_field_at(sp, i, &t);
    char v_shown[YTEXT_SHOW_MAX], src_shown[YTEXT_SHOW_MAX];
    *out = NULL;
    if (!t->src)
        return 0;
    struct err xe = ERR_INIT;
    char *v = step_expand(run, t, false, &xe);
    if (!v)
        return err_set(e, "cannot expand '%s': %s", key, xe.msg);
    ytext_show(v_shown, v, strlen(v));
    ytext_show(src_shown, t->src, strlen(t->src));
    int rc = 0;
    if (!*v)
        rc = err_set(e, "'%s' is empty: '%s' expands to nothing", key, src_shown);
    else if (def->rule == RULE_NAME && !spec_valid_name(v, strlen(v)))
        rc = err_set(e, "bad %s '%s' (from '%s'): " SPEC_NAME_RULE, key, v_shown, src_shown);
    else if (def->rule == RULE_URL && !spec_valid_url(v))
        rc = err_set(e, "'%s' must be an http:// or https:// URL, got '%s' (from '%s')", key,
                     v_shown, src_shown);
    if (rc < 0) {
        free(v);
        return -1;
    }
    /* a relative path is relative to the pipeline's folder, however it was spelt */
    if (def->rule == RULE_PATH && v[0] != '/') {
        char *abs = xasprintf("%s/%s", run->pipe->dir, v);
        free(v);
        v = abs;
    }
    *out = v;
    return 0;
}

int step_field(struct run_ctx *run, const struct step *sp, const char *key, char **out,
               struct err *e)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (!strcmp(field_defs[i].key, key))
            return expand_field(run, sp, i, out, e);
    BUG("no built-in field '%s'", key);
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

static bool tmpl_shell_free(const struct tmpl *t)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].lit && !shell_free(t->parts[i].lit))
            return false;
    return true;
}

/* The argv of a built-in: `sluice builtin NAME …` (executor/builtin.h), run under the same
 * shim; field holds its fields as this run expands them (by F_*). NULL with e set. */
static char **builtin_command(struct run_ctx *run, struct step_rt *s, char *const *field,
                              struct err *e)
{
    const struct step *sp = s->spec;
    const char *dir = s->attempt_dir;
    struct builtin_req req = {.self = run->eng->self_exe};
    char *path[2] = {NULL, NULL}; /* what req borrows from here */
    const char **expect = NULL;
    switch (sp->kind) {
    case KIND_INGEST:
        req.kind = BUILTIN_INGEST;
        req.source = field[F_SOURCE];
        req.base = run->pipe->dir;
        req.out = path[0] = xasprintf("%s/out/%s", dir, sp->noutputs ? sp->outputs[0].s : "data");
        req.max_size = sp->max_size;
        req.sha256 = field[F_SHA256];
        req.meta = path[1] = xasprintf("%s/ingest.json", dir);
        break;
    case KIND_CRAWL:
        req.kind = BUILTIN_CRAWL;
        if (!(req.input = path[0] = step_input_path(run, &sp->input, e)))
            return NULL;
        req.out = path[1] = xasprintf("%s/out/schema.json", dir);
        expect = xcalloc(sp->nexpect + 1, sizeof(*expect));
        for (size_t i = 0; i < sp->nexpect; i++)
            expect[i] = sp->expect[i].s;
        req.expect = expect;
        req.nexpect = sp->nexpect;
        break;
    case KIND_DEPLOY: {
        req.kind = BUILTIN_DEPLOY;
        if (!(req.model = path[0] = step_input_path(run, &sp->model, e)))
            return NULL;
        req.target = field[F_TARGET];
        req.name = sp->model.output;
        struct model_row m = {0};
        struct err me = ERR_INIT;
        if (find_run_model(run, &sp->model, &m, &me) == 0)
            req.version = path[1] = xasprintf("%s:v%d", m.name, m.version);
        else
            req.version = path[1] = xasprintf("run-%lld", (long long)run->id);
        model_row_release(&m);
        req.health = field[F_HEALTH];
        req.health_timeout_ms = sp->health_timeout_ms;
        break;
    }
    default:
        err_set(e, "step '%s' has nothing to run", sp->name);
        return NULL;
    }
    char **argv = builtin_argv(&req, e);
    free(path[0]);
    free(path[1]);
    free(expect);
    return argv;
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
                char *w = step_expand(run, &sp->run_argv[i], false, e);
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
        if (tmpl_shell_free(sp->run_shell)) {
            char **argv = split_direct(run, sp->run_shell, e);
            if (!argv || !shell_needed(sp->run_shell, argv[0]))
                return argv;
            argv_free(argv);
        }
        *shell = true;
        char *cmd = shell_render(run, s, sp->run_shell, e);
        if (!cmd)
            return NULL;
        argv_push(&a, cmd);
        return a.v;
    default:
        break;
    }
    /* A built-in's fields are expanded and checked first: a bad one fails the step before
     * anything runs. */
    char *field[NFIELDS] = {NULL}, **argv = NULL;
    size_t n = 0;
    while (n < NFIELDS && expand_field(run, sp, n, &field[n], e) == 0)
        n++;
    if (n == NFIELDS)
        argv = builtin_command(run, s, field, e);
    for (size_t i = 0; i < NFIELDS; i++)
        free(field[i]);
    return argv;
}

/* ---- finding the command ---- */


/* ---- the environment ---- */

static char *env_name(const char *prefix, const char *name)
{
    char *s = xasprintf("%s%s", prefix, name);
    for (char *c = s + strlen(prefix); *c; c++)
        *c = isalnum((unsigned char)*c) ? (char)toupper((unsigned char)*c) : '_';
    return s;
}

const char *run_param_text(const struct run_ctx *run, const struct param *p)
{
    for (size_t k = 0; k < run->row.nparams; k++)
        if (!strcmp(run->row.params[k].name, p->name))
            return run->row.params[k].value;
    return p->value;
}

bool step_sees_param(const struct step *sp, const char *name)
{
    if (!sp->params)
        return true;
    for (size_t i = 0; i < sp->nparams; i++)
        if (!strcmp(sp->params[i].s, name))
            return true;
    return false;
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
        const struct param *p = &run->pipe->params[i];
        if (!step_sees_param(sp, p->name))
            continue;
        char *name = env_name("SLUICE_PARAM_", p->name);
        argv_push(&a, xasprintf("%s=%s", name, run_param_text(run, p)));
        free(name);
    }
    for (size_t i = 0; i < sp->nenv; i++) {
        char *v = step_expand(run, &sp->env[i].value, false, e);
        if (!v) {
            argv_free(a.v);
            return NULL;
        }
        argv_push(&a, xasprintf("%s=%s", sp->env[i].name, v));
        free(v);
    }
    return a.v;
}

char *step_log_last_line(const char *dir)
{
    char *path = xasprintf("%s/log", dir);
    /* The step could have put anything in its log's place: only a regular file is read. */
    struct stat st;
    int fd = fs_open_regular(path, &st);
    free(path);
    if (fd < 0)
        return NULL;
    char buf[4096];
    off_t from = st.st_size > (off_t)sizeof(buf) - 1 ? st.st_size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t got = pread(fd, buf, sizeof(buf) - 1, from);
    close(fd);
    size_t n = got > 0 ? (size_t)got : 0;
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    if (!n)
        return NULL;
    char *line = strrchr(buf, '\n');
    line = line ? line + 1 : buf;
    /* long enough for a tool's whole error line; a longer one says that it was cut */
    if (strlen(line) > 300)
        memcpy(line + 297, "...", 4);
    return xstrdup(line);
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
    struct strbuf text = STRBUF_INIT;
    int rc = 0;
    if (s->no_metrics)
        goto out;
    int rd = strbuf_read_regular(&text, path, METRICS_MAX_BYTES);
    if (rd == -1 && errno == ENOENT)
        goto out; /* no metrics: fine */
    if (rd != 0) {
        rc = rd == -3   ? err_set(e, "metrics file is not a regular file")
             : rd == -2 ? err_set(e, "metrics file is larger than 16 MiB")
                        : err_set(e, "cannot read the metrics file: %s", strerror(errno));
        goto out;
    }
    json_error_t je;
    json_t *o = json_loadb(text.buf, text.len, 0, &je);
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
    strbuf_release(&text);
    free(path);
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
        if (access(p, F_OK) < 0) {
            rc = err_set(e, "cached artifact '%s' is gone", rows[i].digest);
            e->code = REUSE_GONE;
        }
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
    char *source = NULL;
    if (rc == 0 && sp->kind == KIND_INGEST)
        rc = step_field(run, sp, "source", &source, e);
    if (source) {
        /* The source is the root of every lineage tree: record it as the ingest's input. */
        char hex[DIGEST_HEX_LEN + 1];
        sha256_hex(source, strlen(source), hex);
        int64_t id = 0;
        rc = store_artifact_put(st, hex, 0, "source", source, &id, e);
        if (rc == 0)
            rc = store_io_add(st, s->attempt_id, id, "in", "source", e);
    }
    free(source);
    if (rc == 0)
        rc = read_metrics(run, s, e);
    if (rc == 0 && sp->kind == KIND_CRAWL && sp->table.src && n)
        rc = record_catalog(run, s, &outs[0], e);
    if (rc == 0 && sp->kind == KIND_DEPLOY)
        rc = record_deployment(run, s, e);
    if (rc == 0)
        rc = record_undeclared(s, e);
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
