/* The JSON documents of sluice, built from the store: what `sluice runs/show/compare/models/
 * lineage --json` print and what the web API answers — one builder each, so that both say the
 * same thing (the catalog's are executor/doc_catalog.h). Also the views the CLI's text output
 * is made from (a loaded run, a comparison). Times are ISO-8601 UTC strings
 * ("2026-11-24T19:00:00Z") or null. */
#ifndef SLUICE_DOC_H
#define SLUICE_DOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/store.h"
#include "util/err.h"
#include "util/strmap.h"

/* ---- values ---- */

json_t *doc_time(int64_t ms);          /* null when ms <= 0 */
json_t *doc_str_or_null(const char *s);
json_t *doc_number(double v);          /* null for NaN and infinities (JSON has neither) */
/* A parameter stored as text, typed as the pipeline file's YAML reads it: a JSON number,
 * true/false, else the string itself. */
json_t *doc_param(const char *text);
/* The fewest digits (15..17) that print every real of j exactly (jansson uses one precision
 * per document, 17 by default: 0.93 would print 0.93000000000000005). */
int doc_real_precision(json_t *j);
/* Print doc indented by 2, keys in insertion order, reals exact, then a newline.
 * Returns 0, or -1 on a write error. */
int doc_dump(json_t *doc, FILE *out);
/* The same into a string (caller frees); compact when not indent. */
char *doc_dumps(json_t *doc, bool indent);

/* ---- one run (`sluice show`) ---- */

/* Everything shown about a run, loaded in five queries. The per-step slices point into the
 * run-wide arrays (attempts and outputs come ordered by step, metrics by step name). */
struct doc_step_view {
    struct step_row *row;
    struct attempt_row *att;              /* this step's attempts, by n (n = 0: cache record) */
    size_t natt;
    const struct attempt_row *final;      /* the succeeded or cached attempt whose outputs count */
    struct metric_row *met;               /* this step's metrics, by name then idx */
    size_t nmet;
    struct artifact_row *out;             /* outputs of `final` */
    size_t nout;
};

struct doc_run_view {
    struct run_row run;
    struct step_row *steps;
    size_t nsteps;
    struct attempt_row *att;
    size_t natt;
    struct metric_row *met;
    size_t nmet;
    struct artifact_row *outs;
    size_t nouts;
    struct doc_step_view *sv; /* nsteps */
};

/* 0, or -1 with e set (e->code STORE_NOT_FOUND when there is no such run). */
int doc_run_view_load(struct store *st, int64_t run_id, struct doc_run_view *v, struct err *e);
void doc_run_view_release(struct doc_run_view *v);
/* Whether an attempt's outputs count: succeeded or cached. */
bool doc_attempt_ok(const struct attempt_row *a);

/* Where an attempt of a batch executor (any but "local") is in its queue. A local attempt is
 * never queued and always started. */
struct doc_queue {
    bool batch;   /* its executor submits jobs: a->executor is not "local" */
    bool queued;  /* submitted: a->queued_at is set */
    bool started; /* it ran (or runs): a->started_at is its start, not when it was recorded */
    bool waiting; /* still in the queue: queued, neither started nor ended */
    int64_t ms;   /* queued: submission to start, or to the end of a job that never started,
                   * or to now while it waits; 0 otherwise */
};
struct doc_queue doc_attempt_queue(const struct attempt_row *a, int64_t now);

/* `sluice show RUN --json`. */
json_t *doc_run_json(const struct doc_run_view *v);
/* The same loaded from the store; NULL with e set. */
json_t *doc_run(struct store *st, int64_t run_id, struct err *e);

/* ---- runs (`sluice runs`) ---- */

/* One element of `sluice runs --json`. */
json_t *doc_run_summary(const struct run_row *r);
/* The array of `sluice runs --json` for rows. */
json_t *doc_runs_json(const struct run_row *rows, size_t n);

/* ---- compare (`sluice compare`) ---- */

struct doc_cell {
    bool has;
    char *text;     /* a parameter's value */
    double v;       /* a scalar metric; a series' last value */
    double *series; /* a series' values */
    size_t len;
};

enum doc_row_type { DOC_ROW_PARAM, DOC_ROW_METRIC, DOC_ROW_SERIES };

struct doc_row {
    char *key; /* parameter name, or STEP.METRIC */
    enum doc_row_type type;
    struct doc_cell *cells; /* one per run */
};

/* Runs side by side: parameters first in their order of first appearance (the pipeline's),
 * then scalar metrics, then series, each sorted by STEP.METRIC. */
struct doc_compare {
    size_t nruns;
    int64_t *ids;
    char **pipelines;
    struct doc_row *rows;
    size_t nrows, alloc;
    struct strmap index[3]; /* by row type: key -> row index (while loading) */
};

/* Load the runs ids[0..n); 0, or -1 with e set (STORE_NOT_FOUND for a missing run). */
int doc_compare_load(struct store *st, const int64_t *ids, size_t n, struct doc_compare *c,
                     struct err *e);
void doc_compare_release(struct doc_compare *c);
/* `sluice compare --json`. */
json_t *doc_compare_json(const struct doc_compare *c);

/* ---- the model registry (`sluice models`) ---- */

struct model_row;
struct deployment_row;
struct approval_row;

/* A model version's stored metrics object; {} when there are none or they do not parse. */
json_t *doc_model_metrics(const char *text);
/* The approvals of one version: those of the step of its run that registered it. Returns the
 * run's decisions (freed with approval_rows_free), the version's own first: *mine of them. */
struct approval_row *doc_model_approvals(struct store *st, const struct model_row *m,
                                         size_t *all, size_t *mine);
/* `sluice models [NAME] --json` for rows (newest first); detail (with NAME) adds each
 * version's "approvals" and, from deps, its "deployments". Print with
 * JSON_REAL_PRECISION(DOC_MODELS_PRECISION). */
json_t *doc_models_json(struct store *st, const struct model_row *rows, size_t n,
                        const struct deployment_row *deps, size_t ndeps, bool detail);
/* 15 digits: a metric stored as 0.9 reads 0.9, not 0.90000000000000002 */
#define DOC_MODELS_PRECISION 15

/* ---- lineage (`sluice lineage`) ---- */

/* The walk's caps: lineage grows with every run. */
#define DOC_LINEAGE_MAX_DEPTH 32
#define DOC_LINEAGE_MAX_PER_ARTIFACT 20
#define DOC_LINEAGE_MAX_NODES 500

/* `sluice lineage REF --json`. REF is an ARTIFACT (a sha256 or a unique prefix of >= 6 hex
 * digits), else MODEL:VERSION (VERSION as 3 or v3) or MODEL, which is its deployed version,
 * else its newest. {"artifact": {"sha256", "size" (null for a source), "kind", "uri"},
 * "model"? (REF named one: {"name", "version", "status", "run", "step", "picked": "version" |
 * "deployed" | "newest"}), "upstream": [attempts with "inputs"], "downstream": [attempts with
 * "outputs"], "more_upstream"?, "more_downstream"?, "truncated"}. An attempt is {"run",
 * "step", "attempt", "attempt_id", "status", "cached_from", "as", "reused"?, "other_runs"?
 * (the runs that did the same work, folded into this one), "seen"? (expanded elsewhere),
 * "inputs"/"outputs": [{"name", "artifact", "producers"/"consumers", "on_path"? (the same
 * bytes as an artifact above it: not followed), "more"?}]}. Below the root, only attempts of
 * the same run (unless none of them made an input). At the root, the model's run when REF
 * named a model, else the newest run. NULL with e set (STORE_NOT_FOUND: "no artifact or
 * model 'x'"). */
json_t *doc_lineage(struct store *st, const char *ref, struct err *e);

#endif
