/* DOT text of the page's pictures (web/dag.c); the SVG routes render it with graphviz. */
#ifndef SLUICE_WEB_DAG_H
#define SLUICE_WEB_DAG_H

#include <jansson.h>

#include "pipeline/graph.h"
#include "pipeline/spec.h"
#include "store/status.h"
#include "util/strbuf.h"

/* p's steps (node ids "step-NAME") and dependencies; filled by status[step index] when
 * status is non-NULL, else labelled with their kinds. */
void dag_pipeline_dot(const struct pipeline *p, const struct graph *g,
                      const enum step_status *status, struct strbuf *dot);
/* The graph of a lineage document (doc_lineage plus "deployments"): artifacts, the
 * attempts that made and read them, deployments; *nodes and *edges say how many it drew. */
void dag_lineage_dot(json_t *lineage, struct strbuf *dot, size_t *nodes, size_t *edges);

#endif
