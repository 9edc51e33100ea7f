/* The pipeline spec: kind names, look-ups, and freeing a spec however far it was built. */
#include "pipeline/spec.h"

#include <stdlib.h>
#include <string.h>

static const char *const kind_names[KIND_COUNT] = {
    [KIND_TASK] = "task",         [KIND_TRANSFORM] = "transform", [KIND_TRAIN] = "train",
    [KIND_EVALUATE] = "evaluate", [KIND_INGEST] = "ingest",       [KIND_CRAWL] = "crawl",
    [KIND_APPROVE] = "approve",   [KIND_DEPLOY] = "deploy",
};

const char *step_kind_name(enum step_kind k)
{
    return (unsigned)k < KIND_COUNT ? kind_names[k] : "unknown";
}

static const char *const trigger_names[TRIGGER_RULE_COUNT] = {
    [TRIGGER_ALL_SUCCESS] = "all_success",
    [TRIGGER_NONE_FAILED] = "none_failed",
    [TRIGGER_NONE_FAILED_MIN_ONE_SUCCESS] = "none_failed_min_one_success",
    [TRIGGER_ALL_DONE] = "all_done",
    [TRIGGER_ONE_SUCCESS] = "one_success",
    [TRIGGER_ONE_FAILED] = "one_failed",
};

const char *trigger_rule_name(enum trigger_rule r)
{
    return (unsigned)r < TRIGGER_RULE_COUNT ? trigger_names[r] : "unknown";
}

bool step_kind_builtin(enum step_kind k)
{
    return k == KIND_INGEST || k == KIND_CRAWL || k == KIND_APPROVE || k == KIND_DEPLOY;
}

bool spec_valid_name(const char *s, size_t len)
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

/* nothing blank or control in it; a port, when given, 1 to 65535 */
bool spec_valid_url(const char *u)
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

/* A linear scan: callers look up a name now and then (a command-line argument, a row read
 * back from the store); the loader and the graph keep their own hash of names. */
struct step *pipeline_step(const struct pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->nsteps; i++)
        if (p->steps[i].name && !strcmp(p->steps[i].name, name))
            return &p->steps[i];
    return NULL;
}

struct param *pipeline_param(const struct pipeline *p, const char *name)
{
    for (size_t i = 0; i < p->nparams; i++)
        if (p->params[i].name && !strcmp(p->params[i].name, name))
            return &p->params[i];
    return NULL;
}

static void svals_free(struct sval *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].s);
    free(v);
}

static void ref_release(struct ref *r)
{
    free(r->name);
    free(r->step);
    free(r->output);
}

static void step_release(struct step *s)
{
    free(s->name);
    if (s->run_shell) {
        tmpl_release(s->run_shell);
        free(s->run_shell);
    }
    for (size_t i = 0; s->run_argv && i < s->run_argc; i++)
        tmpl_release(&s->run_argv[i]);
    free(s->run_argv);
    svals_free(s->needs, s->nneeds);
    for (size_t i = 0; i < s->ninputs; i++)
        ref_release(&s->inputs[i]);
    free(s->inputs);
    svals_free(s->outputs, s->noutputs);
    for (size_t i = 0; s->deps && i < s->ndeps; i++)
        tmpl_release(&s->deps[i]);
    free(s->deps);
    expr_free(s->when);
    free(s->when_src);
    free(s->executor);
    tmpl_release(&s->slurm.partition);
    tmpl_release(&s->slurm.account);
    tmpl_release(&s->slurm.qos);
    tmpl_release(&s->slurm.gres);
    tmpl_release(&s->slurm.constraint);
    svals_free(s->slurm.options, s->slurm.noptions);
    tmpl_release(&s->workdir);
    for (size_t i = 0; i < s->nenv; i++) {
        free(s->env[i].name);
        tmpl_release(&s->env[i].value);
    }
    free(s->env);
    svals_free(s->params, s->nparams);
    tmpl_release(&s->source);
    tmpl_release(&s->sha256);
    ref_release(&s->input);
    tmpl_release(&s->table);
    svals_free(s->expect, s->nexpect);
    ref_release(&s->model);
    tmpl_release(&s->model_name);
    tmpl_release(&s->target);
    tmpl_release(&s->health);
}

void pipeline_free(struct pipeline *p)
{
    if (!p)
        return;
    free(p->path);
    free(p->dir);
    free(p->text);
    free(p->name);
    free(p->description);
    for (size_t i = 0; i < p->nparams; i++) {
        free(p->params[i].name);
        free(p->params[i].value);
    }
    free(p->params);
    free(p->schedule);
    for (size_t i = 0; p->steps && i < p->nsteps; i++)
        step_release(&p->steps[i]);
    free(p->steps);
    free(p);
}
