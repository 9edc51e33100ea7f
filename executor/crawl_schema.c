/* A crawl as schema.json (deterministic bytes for the same input), and the drift report
 * between two schema.json texts: columns added, removed or changed type. */
#include "executor/crawl_int.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

/* ---- schema.json ------------------------------------------------------------------------ */

static json_t *jcheck(json_t *j)
{
    if (!j)
        BUG("cannot build a JSON value");
    return j;
}

static json_t *json_number(const struct crawl_value *v)
{
    if (v->is_int)
        return jcheck(json_integer(v->i));
    return isfinite(v->f) ? jcheck(json_real(v->f)) : json_null();
}

static void column_minmax(const struct crawl_column *col, json_t **min, json_t **max)
{
    struct crawl_value a = {0}, b = {0};
    if (!col->has_values) {
        *min = json_null();
        *max = json_null();
        return;
    }
    switch (col->type) {
    case CRAWL_INTEGER:
        value_int(&a, col->imin);
        value_int(&b, col->imax);
        break;
    case CRAWL_FLOAT:
        value_real(&a, col->fmin);
        value_real(&b, col->fmax);
        break;
    case CRAWL_BOOLEAN:
        *min = json_boolean(col->bmin);
        *max = json_boolean(col->bmax);
        return;
    case CRAWL_TIMESTAMP:
    case CRAWL_STRING:
        *min = jcheck(json_string(col->smin));
        *max = jcheck(json_string(col->smax));
        return;
    }
    *min = json_number(&a);
    *max = json_number(&b);
}

void crawl_schema_json(const struct crawl_result *res, const struct crawl_rule_result *rules,
                       size_t nrules, struct strbuf *out)
{
    json_t *root = jcheck(json_object());
    json_object_set_new(root, "rows", jcheck(json_integer((json_int_t)res->rows)));
    json_t *cols = jcheck(json_array());
    for (size_t i = 0; i < res->ncolumns; i++) {
        const struct crawl_column *col = &res->columns[i];
        json_t *o = jcheck(json_object()), *min, *max;
        column_minmax(col, &min, &max);
        json_object_set_new(o, "name", jcheck(json_string(col->name)));
        json_object_set_new(o, "type", jcheck(json_string(crawl_type_name(col->type))));
        json_object_set_new(o, "nulls", jcheck(json_integer((json_int_t)col->nulls)));
        json_object_set_new(o, "min", min);
        json_object_set_new(o, "max", max);
        json_object_set_new(o, "distinct", jcheck(json_integer((json_int_t)col->distinct)));
        if (col->distinct_capped)
            json_object_set_new(o, "distinct_capped", json_true());
        if (col->type == CRAWL_INTEGER || col->type == CRAWL_FLOAT) {
            struct crawl_value m;
            value_real(&m, col->mean);
            json_object_set_new(o, "mean", col->has_values ? json_number(&m) : json_null());
        }
        json_array_append_new(cols, o);
    }
    json_object_set_new(root, "columns", cols);
    json_t *jr = jcheck(json_array());
    for (size_t i = 0; i < nrules; i++) {
        json_t *o = jcheck(json_object());
        json_object_set_new(o, "rule", jcheck(json_string(rules[i].rule)));
        json_object_set_new(o, "value", json_number(&rules[i].value));
        json_object_set_new(o, "pass", json_boolean(rules[i].pass));
        json_array_append_new(jr, o);
    }
    json_object_set_new(root, "rules", jr);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
    if (!text)
        BUG("json_dumps failed");
    strbuf_addstr(out, text);
    strbuf_addch(out, '\n');
    free(text);
    json_decref(root);
}

/* ---- drift ------------------------------------------------------------------------------ */

/* The columns of a schema text as a name -> type object (borrowed from *root), and in order. */
static int schema_load(const char *text, const char *which, json_t **root, json_t **cols,
                       json_t **types, struct err *e)
{
    json_error_t je;
    *root = json_loads(text, 0, &je);
    if (!*root)
        return err_set(e, "%s schema: invalid JSON at line %d: %s", which, je.line, je.text);
    *cols = json_object_get(*root, "columns");
    if (!json_is_array(*cols))
        return err_set(e, "%s schema: no 'columns' array", which);
    *types = jcheck(json_object());
    size_t i;
    json_t *col;
    json_array_foreach (*cols, i, col) {
        json_t *name = json_object_get(col, "name"), *type = json_object_get(col, "type");
        if (!json_is_string(name) || !json_is_string(type))
            return err_set(e, "%s schema: column %zu has no name or type", which, i + 1);
        json_object_set(*types, json_string_value(name), type);
    }
    return 0;
}

int crawl_schema_diff(const char *old_schema_json, const char *new_schema_json,
                      struct strbuf *report, bool *changed, struct err *e)
{
    json_t *old_root = NULL, *new_root = NULL, *old_cols, *new_cols;
    json_t *old_types = NULL, *new_types = NULL;
    int rc = -1;
    size_t before = report->len, i;
    json_t *col;
    *changed = false;
    if (schema_load(old_schema_json, "old", &old_root, &old_cols, &old_types, e) < 0 ||
        schema_load(new_schema_json, "new", &new_root, &new_cols, &new_types, e) < 0)
        goto out;
    json_array_foreach (old_cols, i, col) {
        const char *name = json_string_value(json_object_get(col, "name"));
        const char *type = json_string_value(json_object_get(col, "type"));
        json_t *now = json_object_get(new_types, name);
        if (!now)
            strbuf_addf(report, "column '%s' removed\n", name);
        else if (strcmp(type, json_string_value(now)))
            strbuf_addf(report, "column '%s' type %s -> %s\n", name, type, json_string_value(now));
    }
    json_array_foreach (new_cols, i, col) {
        const char *name = json_string_value(json_object_get(col, "name"));
        if (!json_object_get(old_types, name))
            strbuf_addf(report, "column '%s' added (%s)\n", name,
                        json_string_value(json_object_get(col, "type")));
    }
    *changed = report->len > before;
    rc = 0;
out:
    json_decref(old_types);
    json_decref(new_types);
    json_decref(old_root);
    json_decref(new_root);
    return rc;
}
