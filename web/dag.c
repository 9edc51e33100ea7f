/* Pictures for the page, laid out by graphviz (util/gv.h): a run's step graph filled by step
 * status, a pipeline's step graph, the lineage graph of an artifact. Every label goes through
 * gv_add_quoted, and graphviz escapes it again for XML, so no text from a pipeline, a step or
 * an artifact name ever becomes markup. */
#include <stdlib.h>
#include <string.h>

#include "pipeline/graph.h"
#include "pipeline/load.h"
#include "scheduler/trigger.h"
#include "util/gv.h"
#include "util/strbuf.h"
#include "util/strmap.h"
#include "util/xalloc.h"
#include "web/api.h"
#include "web/dag.h"

/* Fill and text colours by step status (the page's legend uses the same). */
static const char *status_fill(enum step_status s)
{
    switch (s) {
    case STEP_PENDING: return "#e5e7eb";
    case STEP_RUNNING:
    case STEP_RETRYING: return "#93c5fd";
    case STEP_WAITING: return "#fcd34d";
    case STEP_SUCCEEDED: return "#86efac";
    case STEP_CACHED: return "#5eead4";
    case STEP_SKIPPED: return "#f3f4f6";
    case STEP_FAILED:
    case STEP_LOST: return "#fca5a5";
    case STEP_UPSTREAM_FAILED: return "#fdba74";
    case STEP_CANCELLED: return "#9ca3af";
    }
    return "#ffffff";
}

static void graph_head(struct strbuf *dot)
{
    strbuf_addstr(dot, "digraph sluice {\n"
                       "  rankdir=LR; bgcolor=\"transparent\"; nodesep=0.3; ranksep=0.45;\n"
                       "  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\","
                       " fontsize=11, color=\"#6b7280\", fillcolor=\"#ffffff\"];\n"
                       "  edge [color=\"#6b7280\", arrowsize=0.7];\n");
}

void dag_pipeline_dot(const struct pipeline *p, const struct graph *g,
                      const enum step_status *status, struct strbuf *dot)
{
    graph_head(dot);
    for (size_t i = 0; i < p->nsteps; i++) {
        const struct step *s = &p->steps[i];
        char *id = xasprintf("step-%s", s->name);
        strbuf_addstr(dot, "  ");
        gv_add_quoted(dot, id);
        strbuf_addstr(dot, " [id=");
        gv_add_quoted(dot, id);
        strbuf_addstr(dot, ", label=");
        char *label = status ? xasprintf("%s\n%s", s->name, step_status_name(status[i]))
                             : xasprintf("%s\n%s", s->name, step_kind_name(s->kind));
        gv_add_quoted(dot, label);
        if (status)
            strbuf_addf(dot, ", fillcolor=\"%s\"", status_fill(status[i]));
        strbuf_addstr(dot, "];\n");
        free(label);
        free(id);
    }
    for (size_t i = 0; i < g->n; i++) {
        for (size_t k = 0; k < g->nodes[i].ndeps; k++) {
            char *from = xasprintf("step-%s", p->steps[g->nodes[i].deps[k]].name);
            char *to = xasprintf("step-%s", p->steps[i].name);
            strbuf_addstr(dot, "  ");
            gv_add_quoted(dot, from);
            strbuf_addstr(dot, " -> ");
            gv_add_quoted(dot, to);
            strbuf_addstr(dot, ";\n");
            free(from);
            free(to);
        }
    }
    strbuf_addstr(dot, "}\n");
}

/* graphviz's layout grows much faster than the graph: measured here, a step graph of 2,000
 * dependencies takes 0.16 s, 8,000 take 1.7 s and 49,000 (20 layers of 50) 70-115 s, all of it
 * on the loop that also serves the page and drives runs. Bigger graphs are not drawn. */
#define DRAW_MAX_NODES 1000
#define DRAW_MAX_EDGES 2000

/* Answer a picture that says why there is none: only numbers go into it. */
static int answer_too_big(struct http_resp *resp, size_t nodes, const char *what_nodes,
                          size_t edges, const char *what_edges)
{
    resp->status = 200;
    resp->content_type = "image/svg+xml";
    strbuf_reset(&resp->body);
    strbuf_addf(&resp->body,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"640\" height=\"40\" "
                "viewBox=\"0 0 640 40\"><text x=\"8\" y=\"24\" font-family=\"sans-serif\" "
                "font-size=\"13\" fill=\"#6b7280\">%zu %s and %zu %s: too many to draw "
                "(at most %d and %d)</text></svg>\n",
                nodes, what_nodes, edges, what_edges, DRAW_MAX_NODES, DRAW_MAX_EDGES);
    http_resp_header(resp, "Cache-Control", "no-store");
    return 0;
}

/* Answer the SVG of dot, or 503 when graphviz cannot draw it. */
static int answer_svg(struct http_resp *resp, const struct strbuf *dot)
{
    struct err e = ERR_INIT;
    struct strbuf svg = STRBUF_INIT;
    if (gv_render(dot->buf, dot->len, "svg", &svg, &e) < 0) {
        strbuf_release(&svg);
        http_resp_error(resp, 503, e.msg);
        return 0;
    }
    resp->status = 200;
    resp->content_type = "image/svg+xml";
    strbuf_reset(&resp->body);
    strbuf_add(&resp->body, svg.buf, svg.len);
    http_resp_header(resp, "Cache-Control", "no-store");
    strbuf_release(&svg);
    return 0;
}

/* The picture of p, coloured by status when given. */
static int answer_pipeline(struct http_resp *resp, const struct pipeline *p,
                           const enum step_status *status)
{
    struct graph g;
    struct diag_list diags = DIAG_LIST_INIT;
    if (graph_build(&g, p, &diags) < 0) {
        diag_list_release(&diags);
        http_resp_error(resp, 500, "the pipeline's graph has a cycle");
        return 0;
    }
    diag_list_release(&diags);
    size_t edges = 0;
    for (size_t i = 0; i < g.n; i++)
        edges += g.nodes[i].ndeps;
    if (p->nsteps > DRAW_MAX_NODES || edges > DRAW_MAX_EDGES) {
        graph_release(&g);
        return answer_too_big(resp, p->nsteps, "steps", edges, "dependencies");
    }
    struct strbuf dot = STRBUF_INIT;
    dag_pipeline_dot(p, &g, status, &dot);
    graph_release(&g);
    answer_svg(resp, &dot);
    strbuf_release(&dot);
    return 0;
}

int api_run_dag(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    int64_t id = api_parse_id(req->params[0]);
    if (id < 0) {
        http_resp_error(resp, 404, "not found");
        return 0;
    }
    struct run_row r;
    struct err e = ERR_INIT;
    if (store_run_get(app->st, id, &r, &e) < 0)
        return api_store_error(resp, &e);
    struct diag_list diags = DIAG_LIST_INIT;
    struct pipeline *p = pipeline_load_text(r.path ? r.path : "pipeline.yaml", r.yaml,
                                            r.yaml ? strlen(r.yaml) : 0, &diags);
    diag_list_release(&diags);
    struct step_row *rows = NULL;
    size_t n = 0;
    if (!p) {
        http_resp_error(resp, 500, "the run's pipeline no longer loads");
    } else if (store_steps_load(app->st, id, &rows, &n, &e) < 0) {
        api_store_error(resp, &e);
    } else {
        enum step_status *status = xcalloc(p->nsteps + 1, sizeof(*status));
        for (size_t i = 0; i < n; i++) {
            struct step *s = pipeline_step(p, rows[i].name);
            if (s)
                status[s->index] = rows[i].status;
        }
        answer_pipeline(resp, p, status);
        free(status);
    }
    step_rows_free(rows, n);
    pipeline_free(p);
    run_row_release(&r);
    return 0;
}

int api_pipeline_svg(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    struct err e = ERR_INIT;
    struct pipeline *p = trigger_find_pipeline(app->dags, req->params[0], &e);
    if (!p) {
        http_resp_error(resp, e.code == TRIGGER_NOT_FOUND ? 404 : 500, e.msg);
        return 0;
    }
    answer_pipeline(resp, p, NULL);
    pipeline_free(p);
    return 0;
}

/* ---- lineage ---- */

struct lineage_dot {
    struct strbuf *dot;
    struct strmap seen; /* node ids and edges already drawn */
    size_t nodes, edges;
};

static void lineage_node(struct lineage_dot *L, const char *id, const char *label,
                         const char *shape, const char *fill)
{
    if (!strmap_add(&L->seen, id, 0, NULL))
        return;
    L->nodes++;
    strbuf_addstr(L->dot, "  ");
    gv_add_quoted(L->dot, id);
    strbuf_addstr(L->dot, " [id=");
    gv_add_quoted(L->dot, id);
    strbuf_addstr(L->dot, ", label=");
    gv_add_quoted(L->dot, label);
    strbuf_addf(L->dot, ", shape=%s, fillcolor=\"%s\"];\n", shape, fill);
}

static void lineage_edge(struct lineage_dot *L, const char *from, const char *to)
{
    char *key = xasprintf("%s\x1f%s", from, to);
    if (strmap_add(&L->seen, key, 0, NULL)) {
        L->edges++;
        strbuf_addstr(L->dot, "  ");
        gv_add_quoted(L->dot, from);
        strbuf_addstr(L->dot, " -> ");
        gv_add_quoted(L->dot, to);
        strbuf_addstr(L->dot, ";\n");
    }
    free(key);
}

static char *artifact_node(struct lineage_dot *L, json_t *art, const char *name)
{
    const char *sha = json_string_value(json_object_get(art, "sha256"));
    const char *kind = json_string_value(json_object_get(art, "kind"));
    const char *uri = json_string_value(json_object_get(art, "uri"));
    char *id = xasprintf("artifact-%s", sha ? sha : "?");
    char *label;
    if (kind && !strcmp(kind, "source"))
        label = xasprintf("%s\n%.12s", uri ? uri : "source", sha ? sha : "");
    else
        label = xasprintf("%s\n%.12s", name && *name ? name : "artifact", sha ? sha : "");
    lineage_node(L, id, label, "note", kind && !strcmp(kind, "source") ? "#fde68a" : "#e0e7ff");
    free(label);
    return id;
}

static char *attempt_node(struct lineage_dot *L, json_t *att)
{
    json_int_t run = json_integer_value(json_object_get(att, "run"));
    const char *step = json_string_value(json_object_get(att, "step"));
    json_int_t aid = json_integer_value(json_object_get(att, "attempt_id"));
    size_t others = json_array_size(json_object_get(att, "other_runs"));
    char *id = xasprintf("attempt-%lld", (long long)aid);
    char *label = others ? xasprintf("run %lld (+%zu runs)\n%s", (long long)run, others,
                                     step ? step : "?")
                         : xasprintf("run %lld\n%s", (long long)run, step ? step : "?");
    lineage_node(L, id, label, "box", "#bbf7d0");
    free(label);
    return id;
}

/* The walk of doc_lineage: an entry is {"name", "artifact", "producers"|"consumers": [attempt
 * {..., "inputs"|"outputs": [entries]}]}. up: edges point from producers to artifacts. */
static void lineage_walk(struct lineage_dot *L, json_t *entries, const char *anchor, bool up,
                         int depth)
{
    size_t i;
    json_t *ent;
    if (depth > 64)
        return;
    json_array_foreach(entries, i, ent) {
        /* the same bytes as an artifact nearer the root (a copy): an edge back would be a cycle */
        if (json_is_true(json_object_get(ent, "on_path")))
            continue;
        const char *name = json_string_value(json_object_get(ent, "name"));
        char *art = artifact_node(L, json_object_get(ent, "artifact"), name);
        if (anchor) {
            if (up)
                lineage_edge(L, art, anchor);
            else
                lineage_edge(L, anchor, art);
        }
        size_t k;
        json_t *att;
        json_array_foreach(json_object_get(ent, up ? "producers" : "consumers"), k, att) {
            char *node = attempt_node(L, att);
            if (up)
                lineage_edge(L, node, art);
            else
                lineage_edge(L, art, node);
            lineage_walk(L, json_object_get(att, up ? "inputs" : "outputs"), node, up,
                         depth + 1);
            free(node);
        }
        free(art);
    }
}

void dag_lineage_dot(json_t *lineage, struct strbuf *dot, size_t *nodes, size_t *edges)
{
    struct lineage_dot L = {dot, STRMAP_INIT, 0, 0};
    graph_head(dot);
    json_t *art = json_object_get(lineage, "artifact");
    /* the root has no name of its own: the one its producer gave it */
    const char *as = json_string_value(
        json_object_get(json_array_get(json_object_get(lineage, "upstream"), 0), "as"));
    char *root = artifact_node(&L, art, as ? as : "");
    strbuf_addstr(dot, "  ");
    gv_add_quoted(dot, root);
    strbuf_addstr(dot, " [penwidth=2.5];\n");
    /* the root's own entry is implicit: its producers and consumers hang off it */
    json_t *up = json_object_get(lineage, "upstream");
    json_t *down = json_object_get(lineage, "downstream");
    size_t k;
    json_t *att;
    json_array_foreach(up, k, att) {
        char *node = attempt_node(&L, att);
        lineage_edge(&L, node, root);
        lineage_walk(&L, json_object_get(att, "inputs"), node, true, 1);
        free(node);
    }
    json_array_foreach(down, k, att) {
        char *node = attempt_node(&L, att);
        lineage_edge(&L, root, node);
        lineage_walk(&L, json_object_get(att, "outputs"), node, false, 1);
        free(node);
    }
    json_t *deps = json_object_get(lineage, "deployments");
    json_t *d;
    json_array_foreach(deps, k, d) {
        const char *target = json_string_value(json_object_get(d, "target"));
        const char *status = json_string_value(json_object_get(d, "status"));
        char *id = xasprintf("deploy-%s", target ? target : "?");
        char *label = xasprintf("deployed to\n%s", target ? target : "?");
        lineage_node(&L, id, label, "box3d",
                     status && !strcmp(status, "deployed") ? "#86efac" : "#e5e7eb");
        lineage_edge(&L, root, id);
        free(label);
        free(id);
    }
    free(root);
    strbuf_addstr(dot, "}\n");
    strmap_release(&L.seen);
    *nodes = L.nodes;
    *edges = L.edges;
}

int api_lineage_svg(struct http_req *req, struct http_resp *resp)
{
    struct web_app *app = req->app;
    struct err e = ERR_INIT;
    json_t *doc = api_lineage_doc(app, req->params[0], &e);
    if (!doc)
        return api_store_error(resp, &e);
    struct strbuf dot = STRBUF_INIT;
    size_t nodes, edges;
    dag_lineage_dot(doc, &dot, &nodes, &edges);
    json_decref(doc);
    if (nodes > DRAW_MAX_NODES || edges > DRAW_MAX_EDGES)
        answer_too_big(resp, nodes, "artifacts and attempts", edges, "links");
    else
        answer_svg(resp, &dot);
    strbuf_release(&dot);
    return 0;
}
