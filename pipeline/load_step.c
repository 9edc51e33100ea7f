/* The pipeline loader's step keys: readers for scalar values, the table of every key a step
 * may set (which kinds it applies to, how its value is read), one step read and completed,
 * and 'defaults' read once and copied into the steps that do not set a key. */
#include "pipeline/load_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/duration.h"
#include "util/strbuf.h"
#include "util/strmap.h"
#include "util/xalloc.h"

/* ---- scalar values ---- */

bool load_is_scalar(const struct ynode *v)
{
    return v->type == YNODE_SCALAR && !ynode_is_null(v);
}

/* [A-Za-z_][A-Za-z0-9_]*: params, inputs and env names, which become variable names */
bool load_valid_ident(const char *s, size_t len)
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

bool load_get_str(struct loader *L, const char *key, const struct ynode *v, const char **out)
{
    char d[DESC_MAX];
    if (!load_is_scalar(v) || !v->len) {
        load_err_node(L, v, "'%s' must be a string, got %s", key, load_describe(d, v));
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
        load_err_node(L, v, "'%s' must be an integer, got %s", key, load_describe(d, v));
        return false;
    }
    long long n = strtoll(s, NULL, 10); /* clamped on overflow, which the range check catches */
    if (n < min) {
        load_err_node(L, v, "'%s' must be %lld or more, got '%s'", key, min, s);
        return false;
    }
    if (n > max) {
        load_err_node(L, v, "'%s' must be at most %lld, got '%s'", key, max, s);
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
    load_err_node(L, v, "'%s' must be true or false, got %s", key, load_describe(d, v));
    return false;
}

static bool get_duration(struct loader *L, const char *key, const struct ynode *v, int64_t *ms)
{
    char d[DESC_MAX];
    if (load_is_scalar(v) && v->len == strlen(v->str) && duration_parse(v->str, ms) == 0)
        return true;
    load_err_node(L, v, "'%s' must be a duration such as 30s, 10m, 2h or 7d, got %s", key,
                  load_describe(d, v));
    return false;
}

static bool get_size(struct loader *L, const char *key, const struct ynode *v, int64_t *bytes)
{
    char d[DESC_MAX];
    if (load_is_scalar(v) && v->len == strlen(v->str) && size_parse(v->str, bytes) == 0)
        return true;
    load_err_node(L, v, "'%s' must be a size such as 512M or 10G, got %s", key,
                  load_describe(d, v));
    return false;
}

/* One of the words in choices: its index, or -1 after reporting the value. */
static int get_choice(struct loader *L, const char *key, const struct ynode *v,
                      const char *const *choices, size_t n)
{
    char d[DESC_MAX];
    if (load_is_scalar(v))
        for (size_t i = 0; i < n; i++)
            if (!strcmp(v->str, choices[i]))
                return (int)i;
    struct strbuf sb = STRBUF_INIT;
    for (size_t i = 0; i < n; i++)
        strbuf_addf(&sb, "%s'%s'", i == 0 ? "" : i + 1 == n ? " or " : ", ", choices[i]);
    load_err_node(L, v, "'%s' must be %s, got %s", key, sb.buf, load_describe(d, v));
    strbuf_release(&sb);
    return -1;
}

/* A string or a list of strings. */
static bool get_list(struct loader *L, const char *key, const struct ynode *v, struct sval **out,
                     size_t *n)
{
    char d[DESC_MAX];
    if (v->type == YNODE_MAP || (v->type == YNODE_SCALAR && !load_is_scalar(v))) {
        load_err_node(L, v, "'%s' must be a list of strings, got %s", key, load_describe(d, v));
        return false;
    }
    size_t cnt = v->type == YNODE_SEQ ? v->n : 1;
    bool ok = true;
    for (size_t i = 0; i < cnt; i++) {
        const struct ynode *it = v->type == YNODE_SEQ ? v->kids[i] : v;
        if (!load_is_scalar(it) || !it->len) {
            load_err_node(L, it, "items of '%s' must be strings, got %s", key,
                          load_describe(d, it));
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
        (*out)[i].pos = load_node_pos(it);
    }
    return true;
}

/* "STEP/OUTPUT" into r (name stays as it is). */
static bool get_ref(struct loader *L, const char *what, const struct ynode *v, struct ref *r)
{
    char d[DESC_MAX];
    const char *slash = load_is_scalar(v) ? memchr(v->str, '/', v->len) : NULL;
    if (!slash || slash == v->str || !slash[1] || v->len != strlen(v->str)) {
        load_err_node(L, v, "%s must be 'STEP/OUTPUT', got %s", what, load_describe(d, v));
        return false;
    }
    r->step = xstrndup(v->str, (size_t)(slash - v->str));
    r->output = xstrdup(slash + 1);
    r->pos = load_node_pos(v);
    return true;
}

/* Parse and type-check a template; on failure t is left released. */
static bool get_tmpl(struct loader *L, struct tmpl *t, const struct ynode *v)
{
    char msg[MSG_MAX];
    int off = 0;
    if (tmpl_parse(t, v->str, &off, msg, sizeof(msg)) < 0) {
        load_err_pos(L, load_value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        return false;
    }
    t->pos = load_value_pos(L, v, 0);
    L->miss_kind = 0;
    if (tmpl_check(t, &L->scope, &off, msg, sizeof(msg)) < 0) {
        load_suggest_miss(L, msg, sizeof(msg));
        load_err_pos(L, load_value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        tmpl_release(t);
        return false;
    }
    return true;
}

/* ---- step keys ---- */

static bool key_run(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX];
    s->run_pos = load_node_pos(v);
    if (v->type == YNODE_SCALAR) {
        if (!load_is_scalar(v) || !v->len) {
            load_err_node(L, v, "'run' must be a command or a list of arguments, got %s",
                          load_describe(d, v));
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
        load_err_node(L, v, "'run' must be a command or a list of arguments, got %s",
                      v->type == YNODE_SEQ ? "an empty list" : load_describe(d, v));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *arg = v->kids[i];
        if (arg->type != YNODE_SCALAR || ynode_is_null(arg)) { /* "" is an argument */
            load_err_node(L, arg, "arguments of 'run' must be strings, got %s",
                          load_describe(d, arg));
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
        load_err_node(L, v, "'inputs' must be a mapping of names to 'STEP/OUTPUT', got %s",
                      load_describe(d, v));
        return false;
    }
    bool ok = true;
    struct strmap seen = STRMAP_INIT; /* upper-cased name → input index */
    s->inputs = xcalloc(v->n ? v->n : 1, sizeof(*s->inputs));
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *nk = v->kids[2 * i], *nv = v->kids[2 * i + 1];
        if (nk->type != YNODE_SCALAR || !load_valid_ident(nk->str, nk->len)) {
            load_err_node(L, nk, "bad input name %s: " IDENT_RULE, load_key_text(d, nk));
            ok = false;
            continue;
        }
        char up[130], what[200];
        for (size_t j = 0; j <= nk->len; j++)
            up[j] = (char)(nk->str[j] >= 'a' && nk->str[j] <= 'z' ? nk->str[j] - 32 : nk->str[j]);
        size_t first;
        if (strmap_get(&seen, up, &first)) {
            load_err_node(L, nk, "inputs '%s' and '%s' would both be $SLUICE_IN_%s",
                          s->inputs[first].name, nk->str, up);
            ok = false;
            continue;
        }
        snprintf(what, sizeof(what), "input '%s'", load_show(shown, nk));
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
            load_err_pos(L, o->pos, "output '%s' must be a relative path inside $SLUICE_OUT",
                         ytext_show(shown, o->s, strlen(o->s)));
            ok = false;
        } else if (strstr(o->s, "${{")) { /* other steps name it before any run */
            load_err_pos(L, o->pos, "output '%s' cannot be a template: an output's name is fixed",
                         ytext_show(shown, o->s, strlen(o->s)));
            ok = false;
        } else if (!strmap_add(&seen, o->s, i, &first)) {
            load_err_pos(L, o->pos, "output '%s' is declared twice (first at %d:%d)",
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
    s->when_pos = load_node_pos(v);
    if (v->tag && v->tag[0] == '!') { /* "when: ! x" would silently lose its negation */
        char shown[YTEXT_SHOW_MAX];
        load_err_node(L, v,
                      "'when' starts with a YAML tag '%s': quote an expression that starts "
                      "with '!'",
                      load_show_tag(shown, v));
        return false;
    }
    if (!load_is_scalar(v)) {
        load_err_node(L, v, "'when' must be an expression, got %s", load_describe(d, v));
        return false;
    }
    int off = 0;
    enum expr_type type;
    struct expr *e = expr_parse(v->str, v->len, &off, msg, sizeof(msg));
    if (!e) {
        load_err_pos(L, load_value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        return false;
    }
    L->miss_kind = 0;
    if (expr_check(e, &L->scope, &type, &off, msg, sizeof(msg)) < 0) {
        load_suggest_miss(L, msg, sizeof(msg));
        load_err_pos(L, load_value_pos(L, v, off > 0 ? (size_t)off : 0), "%s", msg);
        expr_free(e);
        return false;
    }
    if (type != TYPE_BOOL) {
        load_err_pos(L, load_value_pos(L, v, 0), "'when' must be a boolean expression, got %s",
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

static bool key_trigger_rule(struct loader *L, struct step *s, const struct ynode *v)
{
    const char *names[TRIGGER_RULE_COUNT];
    for (int k = 0; k < TRIGGER_RULE_COUNT; k++)
        names[k] = trigger_rule_name((enum trigger_rule)k);
    int i = get_choice(L, "trigger_rule", v, names, TRIGGER_RULE_COUNT);
    if (i >= 0)
        s->trigger_rule = (enum trigger_rule)i;
    return i >= 0;
}

static bool key_resources(struct loader *L, struct step *s, const struct ynode *v)
{
    static const char *const keys[] = {"cpus", "memory"};
    char d[DESC_MAX], sug[128];
    if (v->type != YNODE_MAP) {
        load_err_node(L, v, "'resources' must be a mapping such as { cpus: 2, memory: 4G }, got %s",
                      load_describe(d, v));
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
            load_sug_init(&sg, rk->type == YNODE_SCALAR ? rk->str : "");
            for (size_t j = 0; j < 2; j++)
                load_sug_try(&sg, keys[j]);
            load_err_node(L, rk, "unknown key %s in 'resources' of %s%s", load_key_text(d, rk),
                          L->who, load_sug_text(sug, &sg));
            ok = false;
        }
    }
    return ok;
}

static bool get_field(struct loader *L, const char *key, const struct ynode *v, struct tmpl *t);

/* sbatch options sluice sets itself, for every attempt: a step may not set them. */
static const char *const slurm_reserved[] = {
    "--job-name", "-J", "--output", "-o", "--error", "-e", "--chdir", "-D", "--parsable",
    "--wrap", "--array", "-a", "--export", "--time", "-t", "--partition", "-p", "--account",
    "-A", "--qos", "-q", "--gres", "--constraint", "-C", "--cpus-per-task", "-c", "--mem",
};

/* An item of slurm.options: one sbatch option, not one sluice sets (or a key above says). */
static bool slurm_option_ok(struct loader *L, const struct sval *o, const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX];
    if (o->s[0] != '-') {
        load_err_node(L, v, "items of 'slurm.options' are sbatch options such as '--exclusive', "
                            "got '%s'", ytext_show(shown, o->s, strlen(o->s)));
        return false;
    }
    size_t n = strcspn(o->s, "=");
    for (size_t i = 0; i < sizeof(slurm_reserved) / sizeof(slurm_reserved[0]); i++) {
        if (strlen(slurm_reserved[i]) == n && !strncmp(o->s, slurm_reserved[i], n)) {
            load_err_node(L, v, "sbatch option '%.*s' is set by sluice (time, partition, account, "
                                "qos, gres, constraint and resources have keys of their own)",
                          (int)n, o->s);
            return false;
        }
    }
    return true;
}

static bool key_slurm(struct loader *L, struct step *s, const struct ynode *v)
{
    static const char *const keys[] = {"partition", "account", "qos",    "gres",
                                       "constraint", "time",   "options"};
    struct tmpl *fields[] = {&s->slurm.partition, &s->slurm.account, &s->slurm.qos,
                             &s->slurm.gres, &s->slurm.constraint};
    char d[DESC_MAX], sug[128], name[32];
    if (v->type != YNODE_MAP) {
        load_err_node(L, v, "'slurm' must be a mapping such as { partition: gpu, time: 2h }, got %s",
                      load_describe(d, v));
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *sk = v->kids[2 * i], *sv = v->kids[2 * i + 1];
        size_t k = 0;
        while (k < 7 && !(sk->type == YNODE_SCALAR && !strcmp(sk->str, keys[k])))
            k++;
        snprintf(name, sizeof(name), "slurm.%s", k < 7 ? keys[k] : "");
        if (k < 5) {
            ok = get_field(L, name, sv, fields[k]) && ok;
        } else if (k == 5) {
            ok = get_duration(L, name, sv, &s->slurm.time_ms) && ok;
        } else if (k == 6) {
            if (s->slurm.options)
                continue; /* a duplicate key, reported by the YAML reader */
            if (!get_list(L, name, sv, &s->slurm.options, &s->slurm.noptions)) {
                ok = false;
                continue;
            }
            for (size_t j = 0; j < s->slurm.noptions; j++)
                ok = slurm_option_ok(L, &s->slurm.options[j],
                                     sv->type == YNODE_SEQ ? sv->kids[j] : sv) && ok;
        } else {
            struct suggest sg;
            load_sug_init(&sg, sk->type == YNODE_SCALAR ? sk->str : "");
            for (size_t j = 0; j < 7; j++)
                load_sug_try(&sg, keys[j]);
            load_err_node(L, sk, "unknown key %s in 'slurm' of %s (keys: partition, account, qos, "
                                 "gres, constraint, time, options)%s",
                          load_key_text(d, sk), L->who, load_sug_text(sug, &sg));
            ok = false;
        }
    }
    return ok;
}

static bool key_env(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX], shown[YTEXT_SHOW_MAX];
    if (v->type != YNODE_MAP) {
        load_err_node(L, v, "'env' must be a mapping of variable names to values, got %s",
                      load_describe(d, v));
        return false;
    }
    bool ok = true;
    s->env = xcalloc(v->n ? v->n : 1, sizeof(*s->env));
    for (size_t i = 0; i < v->n; i++) {
        const struct ynode *ek = v->kids[2 * i], *ev = v->kids[2 * i + 1];
        if (ek->type != YNODE_SCALAR || !load_valid_ident(ek->str, ek->len)) {
            load_err_node(L, ek, "bad variable name %s in 'env': " IDENT_RULE,
                          load_key_text(d, ek));
            ok = false;
        } else if (!strncmp(ek->str, "SLUICE_", 7)) {
            load_err_node(L, ek, "variable '%s' in 'env' is reserved: sluice sets the SLUICE_ ones",
                          load_show(shown, ek));
            ok = false;
        } else if (ev->type != YNODE_SCALAR || ynode_is_null(ev)) {
            load_err_node(L, ev, "'env' value of '%s' must be a string, got %s", ek->str,
                          load_describe(d, ev));
            ok = false;
        } else if (!get_tmpl(L, &s->env[s->nenv].value, ev)) {
            ok = false;
        } else {
            s->env[s->nenv].name = xstrdup(ek->str);
            s->env[s->nenv].pos = load_node_pos(ek);
            s->nenv++;
        }
    }
    return ok;
}

/* The params a step sees, each a declared one, once. */
static bool key_params(struct loader *L, struct step *s, const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX], msg[MSG_MAX];
    struct sval *list = NULL; /* never NULL after get_list, even for [] (it sees none) */
    size_t n = 0;
    if (!get_list(L, "params", v, &list, &n))
        return false;
    bool ok = true;
    struct strmap seen = STRMAP_INIT;
    for (size_t i = 0; i < n; i++) {
        enum expr_type type;
        size_t first;
        ytext_show(shown, list[i].s, strlen(list[i].s));
        L->miss_kind = 0;
        if (!L->scope.param_type(L->scope.data, list[i].s, &type)) {
            snprintf(msg, sizeof(msg), "unknown parameter '%s' in 'params' of %s", shown, L->who);
            load_suggest_miss(L, msg, sizeof(msg));
            load_err_pos(L, list[i].pos, "%s", msg);
            ok = false;
        } else if (!strmap_add(&seen, list[i].s, i, &first)) {
            load_err_pos(L, list[i].pos, "parameter '%s' is listed twice in 'params' of %s",
                         shown, L->who);
            ok = false;
        }
    }
    strmap_release(&seen);
    for (size_t i = 0; i < s->nparams; i++)
        free(s->params[i].s);
    free(s->params);
    s->params = list;
    s->nparams = n;
    return ok;
}

/* A string field (workdir, the built-ins'): a template, parsed and type-checked as run:'s are. */
static bool get_field(struct loader *L, const char *key, const struct ynode *v, struct tmpl *t)
{
    const char *str = NULL;
    struct tmpl nt = {0};
    if (!load_get_str(L, key, v, &str) || !get_tmpl(L, &nt, v))
        return false;
    tmpl_release(t);
    *t = nt;
    return true;
}

/* deps: a path or a list of paths, each a template. */
static bool key_deps(struct loader *L, struct step *s, const struct ynode *v)
{
    struct sval *items = NULL;
    size_t n = 0;
    if (!get_list(L, "deps", v, &items, &n))
        return false;
    struct tmpl *deps = xcalloc(n, sizeof(*deps));
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        ok = get_tmpl(L, &deps[i], v->type == YNODE_SEQ ? v->kids[i] : v) && ok;
        free(items[i].s);
    }
    free(items);
    for (size_t i = 0; i < s->ndeps; i++)
        tmpl_release(&s->deps[i]);
    free(s->deps);
    s->deps = deps; /* a failed template is left released: nothing to expand */
    s->ndeps = n;
    return ok;
}

/* A value with `${{`: its field's rule is checked on what a run expands it to. */
static bool templated(const struct ynode *v)
{
    return load_is_scalar(v) && strstr(v->str, "${{");
}

static bool key_source(struct loader *L, struct step *s, const struct ynode *v)
{
    char shown[YTEXT_SHOW_MAX];
    if (!get_field(L, "source", v, &s->source))
        return false;
    if (!templated(v) && strstr(v->str, "://") && strncmp(v->str, "file://", 7) &&
        strncmp(v->str, "http://", 7) && strncmp(v->str, "https://", 8)) {
        load_err_node(L, v,
                      "'source' must be a path or a file://, http:// or https:// URL, got '%s'",
                      load_show(shown, v));
        return false;
    }
    return true;
}

static bool key_sha256(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX];
    bool ok = templated(v) || (load_is_scalar(v) && v->len == 64);
    for (size_t i = 0; ok && !templated(v) && i < 64; i++)
        ok = v->str[i] && strchr("0123456789abcdefABCDEF", v->str[i]);
    if (!ok) {
        load_err_node(L, v, "'sha256' must be 64 hexadecimal digits, got %s", load_describe(d, v));
        return false;
    }
    return get_field(L, "sha256", v, &s->sha256);
}

static bool key_health(struct loader *L, struct step *s, const struct ynode *v)
{
    char d[DESC_MAX];
    if (!templated(v) &&
        (!load_is_scalar(v) || v->len != strlen(v->str) || !spec_valid_url(v->str))) {
        load_err_node(L, v, "'health' must be an http:// or https:// URL, got %s",
                      load_describe(d, v));
        return false;
    }
    return get_field(L, "health", v, &s->health);
}

/* How a key's value is read: by its own function, or by type into the field at off. */
enum vtype { V_FN, V_DURATION, V_SIZE, V_BOOL, V_TMPL, V_NAME, V_LIST, V_REF };

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
    [K_DEPS] = {"deps", CMD, CMD_TEXT, 0, V_FN, key_deps, 0, 0},
    [K_WHEN] = {"when", ALL, NULL, SK_WHEN, V_FN, key_when, 0, 0},
    [K_RETRIES] = {"retries", ALL, NULL, SK_RETRIES, V_FN, key_retries, 0, 0},
    [K_RETRY_DELAY] = {"retry_delay", ALL, NULL, SK_RETRY_DELAY, V_DURATION, NULL,
                       F(retry_delay_ms), 0},
    [K_TIMEOUT] = {"timeout", ALL, NULL, SK_TIMEOUT, V_DURATION, NULL, F(timeout_ms), 0},
    [K_EXECUTOR] = {"executor", CMD, CMD_TEXT, SK_EXECUTOR, V_FN, key_executor, 0, 0},
    [K_RESOURCES] = {"resources", CMD, CMD_TEXT, SK_RESOURCES, V_FN, key_resources, 0, 0},
    [K_CACHE] = {"cache", ALL, NULL, SK_CACHE, V_BOOL, NULL, F(cache), 0},
    [K_WORKDIR] = {"workdir", CMD, CMD_TEXT, SK_WORKDIR, V_TMPL, NULL, F(workdir), 0},
    [K_ENV] = {"env", CMD, CMD_TEXT, SK_ENV, V_FN, key_env, 0, 0},
    [K_PARAMS] = {"params", CMD, CMD_TEXT, 0, V_FN, key_params, 0, 0},
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
    [K_TARGET] = {"target", KB(KIND_DEPLOY), "deploy steps", 0, V_TMPL, NULL, F(target), 0},
    [K_HEALTH] = {"health", KB(KIND_DEPLOY), "deploy steps", 0, V_FN, key_health, 0, 0},
    [K_HEALTH_TIMEOUT] = {"health_timeout", KB(KIND_DEPLOY), "deploy steps", SK_HEALTH_TIMEOUT,
                          V_DURATION, NULL, F(health_timeout_ms), 0},
    [K_TRIGGER_RULE] = {"trigger_rule", ALL, NULL, 0, V_FN, key_trigger_rule, 0, 0},
    [K_SLURM] = {"slurm", CMD, CMD_TEXT, 0, V_FN, key_slurm, 0, 0},
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
    case V_TMPL:
        return get_field(L, def->name, v, (struct tmpl *)(void *)field);
    case V_NAME:
        if (!get_field(L, def->name, v, (struct tmpl *)(void *)field))
            return false;
        if (templated(v) || spec_valid_name(v->str, v->len))
            return true;
        load_err_node(L, v, "bad %s '%s': " NAME_RULE, def->name, load_show(shown, v));
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

/* Is name a key of steps? (For messages about a key at the wrong indentation.) */
bool load_step_key_known(const char *name)
{
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(name, step_keys[i].name))
            return true;
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
    load_sug_init(&sg, k->type == YNODE_SCALAR ? k->str : "");
    for (int i = 0; i < NKEYS; i++)
        load_sug_try(&sg, step_keys[i].name);
    load_err_node(L, k, "unknown key %s in %s%s", load_key_text(d, k), L->who,
                  load_sug_text(sug, &sg));
    return -1;
}

/* ---- steps ---- */

static void step_init(struct step *s)
{
    s->retry_delay_ms = 5000;
    s->health_timeout_ms = 30000;
    s->max_size = (int64_t)10 << 30;
    s->cpus = 1;
    s->on_drift = DRIFT_WARN;
}

static bool has_key(const struct step_aux *a, int k)
{
    return (a->written | a->inherited | a->bad) & KB(k);
}

static void require(struct loader *L, struct step *s, const struct step_aux *a, int k)
{
    if (!has_key(a, k))
        load_err_node(L, a->key, "%s is %s '%s' step and needs %s '%s'", L->who,
                      load_article(step_kind_name(s->kind)), step_kind_name(s->kind),
                      load_article(step_keys[k].name), step_keys[k].name);
}

/* Kind from 'kind:', else task when there is a 'run:'. Returns false when unknown. */
static bool step_kind(struct loader *L, struct step *s, const struct step_aux *a,
                      const struct ynode *kv, bool has_run)
{
    char d[DESC_MAX], sug[128];
    s->kind = KIND_TASK;
    if (!kv) {
        if (!has_run)
            load_err_node(L, a->key, "%s has no 'run' and no built-in 'kind'", L->who);
        return has_run;
    }
    for (int i = 0; i < KIND_COUNT; i++)
        if (kv->type == YNODE_SCALAR && !strcmp(kv->str, step_kind_name((enum step_kind)i))) {
            s->kind = (enum step_kind)i;
            return true;
        }
    struct suggest sg;
    load_sug_init(&sg, kv->type == YNODE_SCALAR ? kv->str : "");
    for (int i = 0; i < KIND_COUNT; i++)
        load_sug_try(&sg, step_kind_name((enum step_kind)i));
    if (sg.best)
        load_err_node(L, kv, "unknown kind %s in %s%s", load_describe(d, kv), L->who,
                      load_sug_text(sug, &sg));
    else
        load_err_node(
            L, kv,
            "unknown kind %s in %s (kinds: task, transform, train, evaluate, ingest, crawl, "
            "approve, deploy)",
            load_describe(d, kv), L->who);
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
        load_err_node(L, v,
                      "'defaults' are too big to copy into every step (more than %d nodes or "
                      "%d MiB in all); set large values in the steps that need them",
                      MAX_INHERIT_NODES, MAX_INHERIT_BYTES >> 20);
    return false;
}

void load_step(struct loader *L, size_t idx)
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
                    load_err_node(L, kn[k], "%s is a built-in '%s' step and takes no 'run'", L->who,
                                  step_kind_name(s->kind));
                else
                    load_err_node(L, kn[k], "'%s' applies only to %s; %s is %s '%s' step",
                                  def->name, def->kinds_text, L->who,
                                  load_article(step_kind_name(s->kind)), step_kind_name(s->kind));
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
            load_err_node(L, vn[K_OUTPUTS] ? vn[K_OUTPUTS] : a->key,
                          "%s is an 'ingest' step and must declare exactly one output, not %zu",
                          L->who, s->noutputs);
        break;
    case KIND_CRAWL:
        require(L, s, a, K_INPUT);
        /* its output is always schema.json; declaring it lets inputs name it */
        s->outputs = xcalloc(1, sizeof(*s->outputs));
        s->outputs[0].s = xstrdup("schema.json");
        s->outputs[0].pos = load_node_pos(a->key);
        s->noutputs = 1;
        break;
    case KIND_APPROVE:
        if (!(s->set & SK_TIMEOUT))
            s->timeout_ms = (int64_t)7 * 24 * 3600 * 1000;
        if (!s->model_name.src && L->p->name)
            tmpl_parse(&s->model_name, L->p->name, NULL, NULL, 0);
        break;
    case KIND_DEPLOY:
        require(L, s, a, K_MODEL);
        require(L, s, a, K_TARGET);
        break;
    }
}

/* Read defaults once, with messages, into a pseudo-step; remember which keys are usable. */
void load_defaults(struct loader *L, const struct ynode *v)
{
    char d[DESC_MAX];
    snprintf(L->who, sizeof(L->who), "'defaults'");
    if (v->type != YNODE_MAP) {
        if (!ynode_is_null(v))
            load_err_node(L, v, "'defaults' must be a mapping of step keys, got %s",
                          load_describe(d, v));
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
            load_err_node(L, k, "'%s' cannot be set in 'defaults'; set it in each step", k->str);
            continue;
        }
        if (read_key(L, s, key, val)) {
            L->dflt_v[key] = val;
            L->dflt_aux.written |= KB(key);
        }
    }
}
