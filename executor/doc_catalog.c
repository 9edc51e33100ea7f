/* The catalog's documents (`sluice catalog --json`, /api/catalog): a table's schema versions
 * and what changed between them. Here rather than in store/ beside the other documents
 * (store/doc.h): a version's changes are the crawl's schema diff (crawl.h), which store/ may
 * not include. */
#include <stdlib.h>
#include <string.h>

#include "executor/crawl.h"
#include "executor/doc_catalog.h"
#include "store/doc.h"
#include "store/registry.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

/* The columns array of a version's schema.json; an empty array when it has none. */
static json_t *schema_columns(const struct catalog_row *c)
{
    json_t *j = c->schema ? json_loads(c->schema, 0, NULL) : NULL;
    json_t *cols = json_object_get(j, "columns");
    cols = json_is_array(cols) ? json_incref(cols) : json_array();
    json_decref(j);
    return cols;
}

json_t *doc_catalog_columns(const struct catalog_row *c)
{
    json_t *cols = schema_columns(c), *out = json_array();
    size_t i;
    json_t *col;
    json_array_foreach(cols, i, col) {
        json_t *o = json_object();
        json_t *name = json_object_get(col, "name"), *type = json_object_get(col, "type");
        json_t *nulls = json_object_get(col, "nulls");
        json_object_set(o, "name", json_is_string(name) ? name : json_null());
        json_object_set(o, "type", json_is_string(type) ? type : json_null());
        json_object_set(o, "nulls", json_is_integer(nulls) ? nulls : json_null());
        json_array_append_new(out, o);
    }
    json_decref(cols);
    return out;
}

json_t *doc_catalog_changes(const struct catalog_row *older, const struct catalog_row *newer,
                            char **why)
{
    struct strbuf report = STRBUF_INIT;
    struct err e = ERR_INIT;
    bool changed = false;
    *why = NULL;
    if (crawl_schema_diff(older->schema, newer->schema, &report, &changed, &e) < 0) {
        strbuf_release(&report);
        *why = xstrdup(e.msg);
        return NULL;
    }
    json_t *lines = json_array();
    for (char *line = report.buf; *line;) {
        size_t len = strcspn(line, "\n");
        if (len)
            json_array_append_new(lines, json_stringn(line, len));
        line += len + (line[len] == '\n');
    }
    strbuf_release(&report);
    return lines;
}

json_t *doc_catalog_version(const struct catalog_row *c, bool with_name)
{
    json_t *o = json_object();
    if (with_name)
        json_object_set_new(o, "name", json_string(c->name));
    json_object_set_new(o, "version", json_integer(c->version));
    json_object_set_new(o, "run", c->run_id ? json_integer(c->run_id) : json_null());
    json_object_set_new(o, "rows", json_integer(c->rows));
    json_object_set_new(o, "columns", doc_catalog_columns(c));
    json_object_set_new(o, "created_at", doc_time(c->created_at));
    return o;
}

json_t *doc_catalog_table_json(const char *table, const struct catalog_row *rows, size_t n,
                               bool with_schema)
{
    json_t *versions = json_array();
    for (size_t i = 0; i < n; i++) {
        const struct catalog_row *c = &rows[i];
        json_t *o = doc_catalog_version(c, false);
        if (i + 1 < n) {
            char *why = NULL;
            json_t *changes = doc_catalog_changes(&rows[i + 1], c, &why);
            json_object_set_new(o, "changes", changes ? changes : json_null());
            free(why);
        }
        if (with_schema) {
            json_t *schema = c->schema ? json_loads(c->schema, 0, NULL) : NULL;
            json_object_set_new(o, "schema", schema ? schema : json_null());
        }
        json_array_append_new(versions, o);
    }
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(table));
    json_object_set_new(o, "versions", versions);
    return o;
}
