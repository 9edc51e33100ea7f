/* The model registry's document (`sluice models --json`, /api/models): each version with its
 * metrics and, in detail, its approvals and deployments. */
#include <string.h>

#include "store/doc.h"
#include "store/registry.h"

json_t *doc_model_metrics(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

struct approval_row *doc_model_approvals(struct store *st, const struct model_row *m,
                                         size_t *all, size_t *mine)
{
    struct approval_row *rows = NULL;
    struct err e = ERR_INIT;
    *all = *mine = 0;
    if (!m->run_id || !m->step || store_approvals_list(st, m->run_id, &rows, all, &e) < 0)
        return NULL;
    for (size_t i = 0; i < *all; i++) {
        if (strcmp(rows[i].step, m->step))
            continue;
        struct approval_row tmp = rows[*mine];
        rows[*mine] = rows[i];
        rows[i] = tmp;
        (*mine)++;
    }
    return rows;
}

static json_t *json_approvals(struct store *st, const struct model_row *m)
{
    json_t *a = json_array();
    size_t all, mine;
    struct approval_row *rows = doc_model_approvals(st, m, &all, &mine);
    for (size_t i = 0; i < mine; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "decision", json_string(rows[i].decision));
        json_object_set_new(o, "by", rows[i].by ? json_string(rows[i].by) : json_null());
        json_object_set_new(o, "comment",
                            rows[i].comment ? json_string(rows[i].comment) : json_null());
        json_object_set_new(o, "at", doc_time(rows[i].at));
        json_array_append_new(a, o);
    }
    approval_rows_free(rows, all);
    return a;
}

static json_t *json_deployment(const struct deployment_row *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "version", json_integer(d->version));
    json_object_set_new(o, "target", json_string(d->target));
    json_object_set_new(o, "slot", d->slot ? json_string(d->slot) : json_null());
    json_object_set_new(o, "status", json_string(d->status));
    json_object_set_new(o, "run", d->run_id ? json_integer(d->run_id) : json_null());
    json_object_set_new(o, "at", doc_time(d->at));
    return o;
}

json_t *doc_models_json(struct store *st, const struct model_row *rows, size_t n,
                        const struct deployment_row *deps, size_t ndeps, bool detail)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct model_row *m = &rows[i];
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(m->name));
        json_object_set_new(o, "version", json_integer(m->version));
        json_object_set_new(o, "status", json_string(m->status));
        json_object_set_new(o, "run", m->run_id ? json_integer(m->run_id) : json_null());
        json_object_set_new(o, "sha256", json_string(m->digest ? m->digest : ""));
        json_object_set_new(o, "created_at", doc_time(m->created_at));
        json_object_set_new(o, "metrics", doc_model_metrics(m->metrics));
        json_object_set_new(o, "step", m->step ? json_string(m->step) : json_null());
        json_object_set_new(o, "size", json_integer(m->size));
        if (detail) {
            json_object_set_new(o, "approvals", json_approvals(st, m));
            json_t *d = json_array();
            for (size_t k = 0; k < ndeps; k++)
                if (deps[k].model_id == m->id)
                    json_array_append_new(d, json_deployment(&deps[k]));
            json_object_set_new(o, "deployments", d);
        }
        json_array_append_new(a, o);
    }
    return a;
}
