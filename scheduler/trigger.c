/* Runs started by name (the page, `sluice trigger`, schedules) and retries of ended runs:
 * find the pipeline in the --dags folder, check the parameters, record the run queued. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/load.h"
#include "scheduler/trigger.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_pipeline_file(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;
    return (n > 5 && !strcmp(name + n - 5, ".yaml")) || (n > 4 && !strcmp(name + n - 4, ".yml"));
}

int trigger_list_files(const char *dir, char ***paths, struct err *e)
{
    *paths = NULL;
    DIR *d = opendir(dir);
    if (!d)
        return err_set(e, "cannot open '%s': %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, alloc = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_pipeline_file(de->d_name))
            continue;
        XGROW(names, alloc, n + 2);
        names[n++] = xasprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), name_cmp);
    XGROW(names, alloc, n + 1);
    names[n] = NULL;
    *paths = names;
    return 0;
}

void trigger_paths_free(char **paths)
{
    for (char **p = paths; p && *p; p++)
        free(*p);
    free(paths);
}

struct pipeline *trigger_find_pipeline(const char *dir, const char *name, struct err *e)
{
    char **paths;
    if (trigger_list_files(dir, &paths, e) < 0)
        return NULL;
    struct pipeline *found = NULL;
    for (char **p = paths; *p && !found; p++) {
        struct diag_list diags = DIAG_LIST_INIT;
        struct pipeline *pl = pipeline_load(*p, &diags, NULL, NULL);
        diag_list_release(&diags);
        if (pl && !strcmp(pl->name, name))
            found = pl;
        else
            pipeline_free(pl);
    }
    trigger_paths_free(paths);
    if (!found) {
        err_set(e, "no pipeline '%s' in '%s'", name, dir);
        e->code = TRIGGER_NOT_FOUND;
    }
    return found;
}

static int bad_param(struct err *e, const char *fmt, const char *a, const char *b)
{
    err_set(e, fmt, a, b);
    e->code = TRIGGER_BAD_PARAM;
    return -1;
}

int trigger_check_param(const struct pipeline *p, const char *name, const char *value,
                        struct err *e)
{
    struct param *par = pipeline_param(p, name);
    if (!par) {
        struct strbuf known = STRBUF_INIT;
        for (size_t i = 0; i < p->nparams; i++)
            strbuf_addf(&known, "%s%s", i ? ", " : "", p->params[i].name);
        const char *best = pipeline_param_suggest(p, name);
        if (best)
            err_set(e, "unknown parameter '%s'; did you mean '%s'? (pipeline '%s' declares: %s)",
                    name, best, p->name, known.buf);
        else
            err_set(e, "unknown parameter '%s'; pipeline '%s' declares: %s", name, p->name,
                    known.len ? known.buf : "none");
        e->code = TRIGGER_BAD_PARAM;
        strbuf_release(&known);
        return -1;
    }
    if (par->type == TYPE_NUMBER) {
        char *end;
        strtod(value, &end);
        if (!*value || *end)
            return bad_param(e, "parameter '%s' must be a number, got '%s'", name, value);
    } else if (par->type == TYPE_BOOL && strcmp(value, "true") && strcmp(value, "false")) {
        return bad_param(e, "parameter '%s' must be true or false, got '%s'", name, value);
    }
    return 0;
}

static int create_run(struct store *st, const struct pipeline *p, const struct run_param *set,
                      size_t nset, const char *trigger, int64_t fire_at,
                      const struct engine_opts *opts, int64_t *run_id, struct err *e)
{
    struct run_param *params = xcalloc(p->nparams + 1, sizeof(*params));
    const char **names = xcalloc(p->nsteps + 1, sizeof(*names));
    const char **kinds = xcalloc(p->nsteps + 1, sizeof(*kinds));
    for (size_t i = 0; i < p->nparams; i++) {
        params[i].name = p->params[i].name;
        params[i].value = p->params[i].value;
        /* the last override of a name wins, as with repeated -p */
        for (size_t k = 0; k < nset; k++)
            if (!strcmp(set[k].name, p->params[i].name))
                params[i].value = set[k].value;
    }
    for (size_t i = 0; i < p->nsteps; i++) {
        names[i] = p->steps[i].name;
        kinds[i] = step_kind_name(p->steps[i].kind);
    }
    char abs_path[PATH_MAX];
    if (!realpath(p->path, abs_path))
        snprintf(abs_path, sizeof(abs_path), "%s", p->path);
    char *opts_text = engine_opts_to_json(opts);
    struct run_new rn = {
        .pipeline = p->name,
        .yaml = p->text,
        .yaml_len = p->text_len,
        .path = abs_path,
        .trigger = trigger,
        .options = opts_text,
        .params = params,
        .nparams = p->nparams,
        .steps = names,
        .kinds = kinds,
        .nsteps = p->nsteps,
        .fire_at = fire_at,
    };
    int rc = store_run_create(st, &rn, run_id, e);
    free(opts_text);
    free(params);
    free(names);
    free(kinds);
    return rc;
}

int trigger_run(struct store *st, const struct pipeline *p, const struct run_param *set,
                size_t nset, const char *trigger, const struct engine_opts *opts,
                int64_t *run_id, struct err *e)
{
    return create_run(st, p, set, nset, trigger, 0, opts, run_id, e);
}

int trigger_scheduled(struct store *st, const struct pipeline *p, int64_t fire_at,
                      const struct engine_opts *opts, int64_t *run_id, struct err *e)
{
    return create_run(st, p, NULL, 0, "schedule", fire_at, opts, run_id, e);
}

int trigger_retry(struct store *st, int64_t parent, int64_t *run_id, struct engine_opts *opts,
                  struct err *e)
{
    struct run_row r;
    if (store_run_get(st, parent, &r, e) < 0)
        return -1;
    int rc = -1;
    struct pipeline *p = NULL;
    const char **names = NULL, **kinds = NULL;
    if (!run_status_terminal(r.status)) {
        err_set(e, "run %lld has not ended (%s); cancel or resume it first", (long long)parent,
                run_status_name(r.status));
        e->code = TRIGGER_CONFLICT;
        goto out;
    }
    struct diag_list diags = DIAG_LIST_INIT;
    p = pipeline_load_text(r.path, r.yaml, strlen(r.yaml), &diags);
    if (!p) {
        err_set(e, "the pipeline of run %lld no longer loads: %s", (long long)parent,
                diags.n ? diags.items[0].msg : "?");
        diag_list_release(&diags);
        goto out;
    }
    diag_list_release(&diags);
    names = xcalloc(p->nsteps + 1, sizeof(*names));
    kinds = xcalloc(p->nsteps + 1, sizeof(*kinds));
    for (size_t i = 0; i < p->nsteps; i++) {
        names[i] = p->steps[i].name;
        kinds[i] = step_kind_name(p->steps[i].kind);
    }
    struct run_new rn = {
        .pipeline = r.pipeline,
        .yaml = r.yaml,
        .yaml_len = strlen(r.yaml),
        .path = r.path,
        .trigger = "retry",
        .parent_run = parent,
        .options = r.options,
        .params = r.params,
        .nparams = r.nparams,
        .steps = names,
        .kinds = kinds,
        .nsteps = p->nsteps,
    };
    if (store_run_create(st, &rn, run_id, e) < 0)
        goto out;
    memset(opts, 0, sizeof(*opts));
    engine_opts_from_json(r.options, opts);
    rc = 0;
out:
    free(names);
    free(kinds);
    pipeline_free(p);
    run_row_release(&r);
    return rc;
}
