/* Runs side by side (`sluice compare`, /api/compare): their parameters, scalar metrics and
 * series, one row per name and one cell per run. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/doc.h"
#include "util/xalloc.h"

static struct doc_cell *cell_for(struct doc_compare *c, enum doc_row_type type, const char *key,
                                 size_t run)
{
    size_t i;
    if (!strmap_get(&c->index[type], key, &i)) {
        XGROW(c->rows, c->alloc, c->nrows + 1);
        i = c->nrows++;
        c->rows[i].key = xstrdup(key);
        c->rows[i].type = type;
        c->rows[i].cells = xcalloc(c->nruns, sizeof(struct doc_cell));
        strmap_put(&c->index[type], key, i);
    }
    return &c->rows[i].cells[run];
}

void doc_compare_release(struct doc_compare *c)
{
    for (size_t i = 0; i < c->nrows; i++) {
        for (size_t r = 0; r < c->nruns; r++) {
            free(c->rows[i].cells[r].text);
            free(c->rows[i].cells[r].series);
        }
        free(c->rows[i].cells);
        free(c->rows[i].key);
    }
    free(c->rows);
    for (size_t r = 0; r < c->nruns && c->pipelines; r++)
        free(c->pipelines[r]);
    free(c->pipelines);
    free(c->ids);
    for (int t = 0; t < 3; t++)
        strmap_release(&c->index[t]);
    memset(c, 0, sizeof(*c));
}

static int compare_load_run(struct store *st, struct doc_compare *c, size_t run, struct err *e)
{
    struct run_row r;
    if (store_run_get(st, c->ids[run], &r, e) < 0)
        return -1;
    c->pipelines[run] = xstrdup(r.pipeline ? r.pipeline : "");
    for (size_t i = 0; i < r.nparams; i++) {
        struct doc_cell *cl = cell_for(c, DOC_ROW_PARAM, r.params[i].name, run);
        cl->has = true;
        cl->text = xstrdup(r.params[i].value);
    }
    run_row_release(&r);
    struct metric_row *m = NULL;
    size_t n = 0;
    if (store_metrics_load(st, c->ids[run], NULL, &m, &n, e) < 0)
        return -1;
    /* Rows come by step, name, idx: a scalar is one row with idx -1, a series a run of rows. */
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && !strcmp(m[j].step, m[i].step) && !strcmp(m[j].name, m[i].name))
            j++;
        char *key = xasprintf("%s.%s", m[i].step, m[i].name);
        if (j == i + 1 && m[i].idx < 0) {
            struct doc_cell *cl = cell_for(c, DOC_ROW_METRIC, key, run);
            cl->has = true;
            cl->v = m[i].value;
        } else {
            struct doc_cell *cl = cell_for(c, DOC_ROW_SERIES, key, run);
            cl->has = true;
            cl->series = xcalloc(j - i, sizeof(double));
            for (size_t k = i; k < j; k++)
                if (m[k].idx >= 0)
                    cl->series[cl->len++] = m[k].value;
            cl->v = cl->len ? cl->series[cl->len - 1] : NAN;
        }
        free(key);
        i = j;
    }
    metric_rows_free(m, n);
    return 0;
}

/* Metrics by kind (scalars, then series), then by STEP.METRIC. */
static int row_cmp(const void *a, const void *b)
{
    const struct doc_row *x = a, *y = b;
    if (x->type != y->type)
        return (int)x->type - (int)y->type;
    return strcmp(x->key, y->key);
}

int doc_compare_load(struct store *st, const int64_t *ids, size_t n, struct doc_compare *c,
                     struct err *e)
{
    memset(c, 0, sizeof(*c));
    c->nruns = n;
    c->ids = xcalloc(n ? n : 1, sizeof(*c->ids));
    memcpy(c->ids, ids, n * sizeof(*ids));
    c->pipelines = xcalloc(n ? n : 1, sizeof(*c->pipelines));
    for (int t = 0; t < 3; t++)
        strmap_init(&c->index[t]);
    for (size_t r = 0; r < n; r++)
        if (compare_load_run(st, c, r, e) < 0)
            return -1;
    /* Parameters first, in their order of first appearance (the pipeline's); the metrics
     * after them, sorted. The index maps are stale from here on, and no longer used. */
    struct doc_row *sorted = xcalloc(c->nrows ? c->nrows : 1, sizeof(*sorted));
    size_t np = 0, k;
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].type == DOC_ROW_PARAM)
            sorted[np++] = c->rows[i];
    k = np;
    for (size_t i = 0; i < c->nrows; i++)
        if (c->rows[i].type != DOC_ROW_PARAM)
            sorted[k++] = c->rows[i];
    if (c->nrows)
        memcpy(c->rows, sorted, c->nrows * sizeof(*sorted));
    free(sorted);
    qsort(c->rows + np, c->nrows - np, sizeof(*c->rows), row_cmp);
    return 0;
}

json_t *doc_compare_json(const struct doc_compare *c)
{
    json_t *doc = json_object(), *ids = json_array(), *pipes = json_array();
    json_t *sect[3] = {json_object(), json_object(), json_object()};
    for (size_t r = 0; r < c->nruns; r++) {
        json_array_append_new(ids, json_integer(c->ids[r]));
        json_array_append_new(pipes, json_string(c->pipelines[r]));
    }
    for (size_t i = 0; i < c->nrows; i++) {
        const struct doc_row *row = &c->rows[i];
        json_t *vals = json_array();
        for (size_t r = 0; r < c->nruns; r++) {
            const struct doc_cell *cl = &row->cells[r];
            json_t *v;
            if (!cl->has) {
                v = json_null();
            } else if (row->type == DOC_ROW_PARAM) {
                v = doc_param(cl->text);
            } else if (row->type == DOC_ROW_METRIC) {
                v = doc_number(cl->v);
            } else {
                v = json_array();
                for (size_t k = 0; k < cl->len; k++)
                    json_array_append_new(v, doc_number(cl->series[k]));
            }
            json_array_append_new(vals, v);
        }
        json_object_set_new(sect[row->type], row->key, vals);
    }
    json_object_set_new(doc, "runs", ids);
    json_object_set_new(doc, "pipelines", pipes);
    json_object_set_new(doc, "params", sect[DOC_ROW_PARAM]);
    json_object_set_new(doc, "metrics", sect[DOC_ROW_METRIC]);
    json_object_set_new(doc, "series", sect[DOC_ROW_SERIES]);
    return doc;
}
