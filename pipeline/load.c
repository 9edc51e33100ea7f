/* Pipeline files: YAML text → a validated struct pipeline. Every error is collected in one
 * pass, each at the line and column of what it is about; yaml.c reads the YAML, this file
 * knows what a pipeline may say: the top level, the references between steps, the checks of
 * the whole file. load_step.c reads each step's keys, load_msg.c words the messages. */
#include "pipeline/load.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/graph.h"
#include "pipeline/load_int.h"
#include "pipeline/rules.h"
#include "pipeline/yaml.h"
#include "util/strbuf.h"
#include "util/strmap.h"
#include "util/xalloc.h"

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
        load_err_pos(L, r->pos, "%s of %s names unknown step '%s'%s", what, L->who,
                     ytext_show(shown, r->step, strlen(r->step)),
                     load_suggest_step(L, sug, r->step));
        return;
    }
    if (L->aux[up->index].bad & KB(K_OUTPUTS) || has_output(L, up, r->output))
        return;
    struct suggest sg;
    load_sug_init(&sg, r->output);
    if (load_suggest_budget(L, up->noutputs))
        for (size_t i = 0; i < up->noutputs; i++)
            load_sug_try(&sg, up->outputs[i].s);
    load_err_pos(L, r->pos, "%s of %s names output '%s' that step '%s' does not declare%s", what,
                 L->who, ytext_show(shown, r->output, strlen(r->output)),
                 ytext_show(shown2, up->name, strlen(up->name)), load_sug_text(sug, &sg));
}

static void check_refs(struct loader *L, const struct step *s, const struct step_aux *a)
{
    char sug[128], shown[YTEXT_SHOW_MAX], what[YTEXT_SHOW_MAX + 16];
    for (size_t i = 0; i < s->nneeds; i++)
        if (!find_step(L, s->needs[i].s))
            load_err_pos(L, s->needs[i].pos, "%s needs unknown step '%s'%s", L->who,
                         ytext_show(shown, s->needs[i].s, strlen(s->needs[i].s)),
                         load_suggest_step(L, sug, s->needs[i].s));
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
            load_err_node(L, v, "'params' must be a mapping of names to default values, got %s",
                          load_describe(d, v));
        return;
    }
    p->params = xcalloc(v->n ? v->n : 1, sizeof(*p->params));
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
        if (k->type != YNODE_SCALAR || !load_valid_ident(k->str, k->len)) {
            load_err_node(L, k, "bad parameter name %s: " IDENT_RULE, load_key_text(d, k));
            continue;
        }
        if (val->type != YNODE_SCALAR || ynode_is_null(val)) {
            load_err_node(L, val,
                          "parameter '%s' must have a default value (a number, true, false "
                          "or a string), got %s",
                          k->str, load_describe(d, val));
            continue;
        }
        struct param *pa = &p->params[p->nparams];
        pa->name = xstrdup(k->str);
        pa->value = xstrndup(val->str, val->len);
        pa->pos = load_node_pos(val);
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
    if (!load_is_scalar(v) || v->len != strlen(v->str)) {
        load_err_node(L, v, "'schedule' must be a cron expression such as \"0 3 * * *\", got %s",
                      load_describe(d, v));
        return;
    }
    int off = 0;
    if (cron_parse(v->str, &L->p->cron, &off, msg, sizeof(msg)) < 0) {
        load_err_pos(L, load_value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        return;
    }
    L->p->schedule = xstrdup(v->str);
}

/* ---- keys at the wrong indentation ---- */

/* The column where the keys of the step whose name is k (with body) sit, or would. */
static int step_keys_col(const struct ynode *k, const struct ynode *body)
{
    return body->type == YNODE_MAP && body->n ? body->kids[0]->col : k->col + 2;
}

/* Is the pair k: v of 'steps' a step key dedented to the level of step names (a "run:" under
 * its step's name rather than its other keys)? Then it is reported, against the step before
 * it (pk: pv, NULL when none), and is no step. A step may be named like a key, so only a
 * value no step could have counts: a scalar or a list, or a mapping without a step key where
 * the key takes one. */
static bool misplaced_step_key(struct loader *L, const struct ynode *k, const struct ynode *v,
                               const struct ynode *pk, const struct ynode *pv)
{
    static const char *const map_keys[] = {"inputs", "env", "resources"};
    char shown[YTEXT_SHOW_MAX], prev[YTEXT_SHOW_MAX];
    if (k->type != YNODE_SCALAR || !load_step_key_known(k->str))
        return false;
    if (v->type == YNODE_MAP) {
        bool takes_map = false;
        for (size_t j = 0; j < sizeof(map_keys) / sizeof(map_keys[0]); j++)
            takes_map |= !strcmp(k->str, map_keys[j]);
        for (size_t j = 0; takes_map && j < v->n; j++)
            if (v->kids[2 * j]->type == YNODE_SCALAR && load_step_key_known(v->kids[2 * j]->str))
                takes_map = false;
        if (!takes_map)
            return false;
    }
    load_show(shown, k);
    if (!pk) {
        load_err_node(L, k,
                      "'%s' is a key of a step, but it is indented like a step name (column %d); "
                      "write it under its step's name, indented more",
                      shown, k->col);
        return true;
    }
    load_show(prev, pk);
    load_err_node(L, k,
                  "'%s' is not part of step '%s': it is indented like a step name (column %d); "
                  "indent it like the keys of step '%s' (column %d)",
                  shown, prev, k->col, prev, step_keys_col(pk, pv));
    return true;
}

/* An unknown top-level key k that is a step key or a step, at the indentation of the
 * top-level keys: says where it belongs. */
static bool misplaced_top_key(struct loader *L, const struct ynode *root, const struct ynode *k,
                              const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX], name[YTEXT_SHOW_MAX];
    if (k->type != YNODE_SCALAR)
        return false;
    load_show(shown, k);
    for (size_t j = 0; v->type == YNODE_MAP && j < v->n; j++)
        if (v->kids[2 * j]->type == YNODE_SCALAR && load_step_key_known(v->kids[2 * j]->str)) {
            load_err_node(L, k,
                          "unknown top-level key '%s': it looks like a step; indent it under "
                          "'steps'",
                          shown);
            return true;
        }
    if (!load_step_key_known(k->str))
        return false;
    /* the step it follows in the file */
    const struct ynode *steps = NULL, *pk = NULL, *pv = NULL;
    for (size_t i = 0; i < root->n; i++)
        if (root->kids[2 * i]->type == YNODE_SCALAR && !strcmp(root->kids[2 * i]->str, "steps"))
            steps = root->kids[2 * i + 1];
    for (size_t i = 0; steps && steps->type == YNODE_MAP && i < steps->n; i++)
        if (steps->kids[2 * i]->type == YNODE_SCALAR && steps->kids[2 * i]->line < k->line) {
            pk = steps->kids[2 * i];
            pv = steps->kids[2 * i + 1];
        }
    if (!pk) {
        load_err_node(L, k,
                      "unknown top-level key '%s': it is a key of a step; write it under its "
                      "step's name in 'steps', indented more",
                      shown);
        return true;
    }
    load_err_node(L, k,
                  "unknown top-level key '%s': it is a key of a step; indent it like the keys "
                  "of step '%s' (column %d)",
                  shown, load_show(name, pk), step_keys_col(pk, pv));
    return true;
}

/* Pass 1 over 'steps': names and bodies, so that every reference can be checked in pass 2. */
static void collect_steps(struct loader *L, const struct ynode *v)
{
    char d[DESC_MAX], shown[YTEXT_SHOW_MAX];
    struct pipeline *p = L->p;
    const struct ynode *last_k = NULL, *last_v = NULL; /* the step read last */
    if (v->type != YNODE_MAP) {
        load_err_node(L, v, "'steps' must be a mapping of step names to steps, got %s",
                      load_describe(d, v));
        return;
    }
    if (!v->n) {
        load_err_node(L, v, "'steps' has no steps");
        return;
    }
    p->steps = xcalloc(v->n, sizeof(*p->steps));
    L->aux = xcalloc(v->n, sizeof(*L->aux));
    strmap_reserve(&L->steps, v->n);
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *k = v->kids[2 * i], *body = v->kids[2 * i + 1];
        if (k->type != YNODE_SCALAR) {
            load_err_node(L, k, "step names must be strings, got %s", load_describe(d, k));
            continue;
        }
        if (misplaced_step_key(L, k, body, last_k, last_v))
            continue;
        last_k = k;
        last_v = body;
        if (!spec_valid_name(k->str, k->len))
            load_err_node(L, k, "bad step name '%s': " NAME_RULE, load_show(shown, k));
        size_t n = p->nsteps++;
        struct step *s = &p->steps[n];
        s->name = xstrdup(k->str);
        s->pos = load_node_pos(k);
        s->index = n;
        L->aux[n].key = k;
        strmap_add(&L->steps, s->name, n, NULL);
        if (body->type == YNODE_MAP)
            L->aux[n].body = body;
        else if (ynode_is_null(body))
            load_err_node(L, k, "step '%s' is empty; give it a 'run' or a built-in 'kind'",
                          load_show(shown, k));
        else
            load_err_node(L, body,
                          "step '%s' must be a mapping of keys such as 'run' and 'kind', "
                          "got %s",
                          load_show(shown, k), load_describe(d, body));
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
        load_err_node(L, root,
                      "a pipeline file must be a mapping with keys such as 'pipeline' and "
                      "'steps', got %s",
                      load_describe(d, root));
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
        if (misplaced_top_key(L, root, k, root->kids[2 * i + 1]))
            continue;
        struct suggest sg;
        load_sug_init(&sg, k->type == YNODE_SCALAR ? k->str : "");
        for (int j = 0; j < NTOP; j++)
            load_sug_try(&sg, top_keys[j]);
        load_err_node(L, k, "unknown top-level key %s%s", load_key_text(d, k),
                      load_sug_text(sug, &sg));
    }

    const char *s = NULL;
    if (!top[T_PIPELINE])
        load_err_file(L, "missing top-level key 'pipeline' (the pipeline's name)");
    else if (load_get_str(L, "pipeline", top[T_PIPELINE], &s)) {
        p->name = xstrdup(s);
        p->name_pos = load_node_pos(top[T_PIPELINE]);
        if (!spec_valid_name(s, top[T_PIPELINE]->len))
            load_err_node(L, top[T_PIPELINE], "bad pipeline name '%s': " NAME_RULE,
                          load_show(shown, top[T_PIPELINE]));
    }
    if (top[T_DESCRIPTION] && !ynode_is_null(top[T_DESCRIPTION]) &&
        load_get_str(L, "description", top[T_DESCRIPTION], &s))
        p->description = xstrdup(s);
    if (top[T_PARAMS])
        load_params(L, top[T_PARAMS]);
    if (top[T_SCHEDULE])
        load_schedule(L, top[T_SCHEDULE]);
    if (!top[T_STEPS])
        load_err_file(L, "missing top-level key 'steps'");
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
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *sp = &p->steps[i];
        for (size_t k = 0; k < sp->nexpect; k++) {
            int off = 0;
            char msg[256];
            if (rule_check(sp->expect[k].s, &off, msg, sizeof(msg)) < 0)
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
        ytext_pos(load_text_lines(&L), bad, &line, &col);
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
    if (!root || ynode_is_null(root)) /* nothing, or only comments: at the file's start */
        diag_add(diags, 1, 1, "file is empty; a pipeline needs at least 'pipeline' and 'steps'");
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
