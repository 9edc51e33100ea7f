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

bool step_kind_builtin(enum step_kind k)
{
    return k == KIND_INGEST || k == KIND_CRAWL || k == KIND_APPROVE || k == KIND_DEPLOY;
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
    svals_free(s->deps, s->ndeps);
    expr_free(s->when);
    free(s->when_src);
    free(s->executor);
    free(s->workdir);
    for (size_t i = 0; i < s->nenv; i++) {
        free(s->env[i].name);
        tmpl_release(&s->env[i].value);
    }
    free(s->env);
    svals_free(s->params, s->nparams);
    free(s->source.s);
    free(s->sha256.s);
    ref_release(&s->input);
    free(s->table.s);
    svals_free(s->expect, s->nexpect);
    ref_release(&s->model);
    free(s->model_name.s);
    free(s->target.s);
    free(s->health.s);
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
