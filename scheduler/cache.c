/* The cache key of a step — kind, command, env, the params it sees or uses, input digests,
 * the contents of the files it names — and what changed when a key misses. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "executor/artifact.h"
#include "scheduler/cache.h"
#include "scheduler/engine_int.h"
#include "util/xalloc.h"

/* A param's text as given: -p x=1.10 and x=1.1 reach a step's environment differently. */
static void add_param(json_t *params, struct run_ctx *run, const char *name)
{
    const struct param *p = pipeline_param(run->pipe, name);
    if (p && !json_object_get(params, name))
        json_object_set_new(params, name, json_string(run_param_text(run, p)));
}

static void collect_params(const struct expr *x, json_t *params, struct run_ctx *run)
{
    if (!x)
        return;
    if (x->op == EXPR_PARAM)
        add_param(params, run, x->name);
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

/* A section of the key's JSON, held by o. */
static json_t *section(json_t *o, const char *name)
{
    json_t *x = json_object();
    json_object_set_new(o, name, x);
    return x;
}

int step_cache_key(struct run_ctx *run, struct step_rt *s, char **key, char **info,
                   struct err *e)
{
    const struct step *sp = s->spec;
    bool shell = false;
    char *wd = NULL;
    /* The attempt folder differs on every attempt; it is no part of what is computed. */
    char *saved_dir = s->attempt_dir;
    s->attempt_dir = "@attempt";
    char **argv = step_command(run, s, &shell, e);
    s->attempt_dir = saved_dir;
    if (!argv || step_field(run, sp, "workdir", &wd, e) < 0) {
        argv_free(argv);
        return -1;
    }
    const char *workdir = wd ? wd : run->pipe->dir;
    json_t *o = json_object();
    json_t *params = section(o, "params"), *inputs = section(o, "inputs"),
           *files = section(o, "files"), *env = section(o, "env"), *fields = section(o, "fields");
    json_object_set_new(o, "kind", json_string(step_kind_name(sp->kind)));
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
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sp->ndeps; i++) {
        struct err de = ERR_INIT;
        char *dep = step_expand(run, &sp->deps[i], false, &de);
        if (dep)
            add_file(files, run, workdir, dep);
        else
            rc = err_set(e, "cannot expand 'deps': %s", de.msg);
        tmpl_params(&sp->deps[i], params, run);
        free(dep);
    }
    /* A command step sees params as SLUICE_PARAM_*: all of them, or those of its params:. */
    for (size_t i = 0; !step_kind_builtin(sp->kind) && i < run->pipe->nparams; i++)
        if (step_sees_param(sp, run->pipe->params[i].name))
            add_param(params, run, run->pipe->params[i].name);
    tmpl_params(sp->run_shell, params, run);
    for (size_t i = 0; i < sp->run_argc; i++)
        tmpl_params(&sp->run_argv[i], params, run);
    /* The other string fields as expanded: no command shows a crawl's table or a workdir. */
    const struct tmpl *t;
    const char *k;
    for (size_t i = 0; rc == 0 && (k = step_field_at(sp, i, &t)); i++) {
        char *v = NULL;
        if (t->src && (rc = step_field(run, sp, k, &v, e)) == 0) {
            json_object_set_new(fields, k, json_string(v));
            tmpl_params(t, params, run);
        }
        free(v);
    }
    for (size_t i = 0; i < sp->nenv; i++) {
        tmpl_params(&sp->env[i].value, params, run);
        struct err ee = ERR_INIT;
        char *v = step_expand(run, &sp->env[i].value, false, &ee);
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
    json_t *outs = json_array();
    for (size_t i = 0; i < sp->noutputs; i++)
        json_array_append_new(outs, json_string(sp->outputs[i].s));
    json_object_set_new(o, "outputs", outs);
    char *text = rc == 0 ? json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
    json_decref(o);
    free(wd);
    if (!text)
        return rc < 0 ? -1 : err_set(e, "cannot encode the cache key of step '%s'", sp->name);
    char hex[DIGEST_HEX_LEN + 1];
    sha256_hex(text, strlen(text), hex);
    *key = xstrdup(hex);
    *info = xstrdup(text);
    free(text);
    return 0;
}

const char *cache_file_role(const char *kind, const char *path)
{
    static const char *const code[] = {
        "py", "pyw", "pyx", "ipynb", "sh", "bash", "zsh", "ksh", "r", "rmd", "jl", "js", "mjs",
        "cjs", "ts", "rb", "pl", "pm", "php", "lua", "tcl", "awk", "sed", "sql", "c", "h", "cc",
        "cpp", "cxx", "hpp", "go", "rs", "java", "kt", "scala", "swift", "m", "f90", "hs", "ml",
        "cs", "cu", "mk", "cmake",
    };
    if (kind && (!strcmp(kind, "ingest") || !strcmp(kind, "crawl")))
        return "data";
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot || dot == base)
        return "code";
    for (size_t i = 0; i < sizeof(code) / sizeof(code[0]); i++)
        if (!strcasecmp(dot + 1, code[i]))
            return "code";
    return "data";
}

/* what NULL: each file by its role (cache_file_role). */
static void explain_section(struct strbuf *sb, json_t *a, json_t *b, const char *section,
                            const char *what)
{
    json_t *oa = json_object_get(a, section), *ob = json_object_get(b, section);
    const char *kind = json_string_value(json_object_get(b, "kind"));
    const char *k;
    json_t *v;
    json_object_foreach(ob, k, v) {
        json_t *old = json_object_get(oa, k);
        const char *nv = json_string_value(v);
        const char *ov = old ? json_string_value(old) : NULL;
        const char *w = what ? what : cache_file_role(kind, k);
        if (ov && nv && !strcmp(ov, nv))
            continue;
        if (sb->len)
            strbuf_addstr(sb, ", ");
        if (!strcmp(section, "params"))
            strbuf_addf(sb, "%s '%s' %s -> %s", w, k, ov ? ov : "(unset)", nv ? nv : "");
        else if (!ov)
            strbuf_addf(sb, "%s '%s' is new", w, k);
        else
            strbuf_addf(sb, "%s '%s' changed", w, k);
    }
    json_object_foreach(oa, k, v) {
        if (json_object_get(ob, k))
            continue;
        if (sb->len)
            strbuf_addstr(sb, ", ");
        strbuf_addf(sb, "%s '%s' is gone", what ? what : cache_file_role(kind, k), k);
    }
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
        explain_section(&sb, a, b, "files", NULL);
        explain_section(&sb, a, b, "env", "env");
        explain_section(&sb, a, b, "fields", "field");
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
