/* The model registry (versions, approval, deployment) and the data catalog (table schema
 * versions), in the store. Same conventions as store.h: 0 or -1 with e set; STORE_NOT_FOUND
 * in e->code when a look-up finds nothing; returned strings owned by the rows. */
#ifndef SLUICE_REGISTRY_H
#define SLUICE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Model statuses: pending, approved, rejected, deployed, retired. */

struct model_row {
    int64_t id;
    char *name;
    int version;        /* 1, 2, … per name */
    char *status;
    int64_t run_id;     /* the run that produced it */
    char *step;         /* the approve step that registered it */
    int64_t artifact_id;
    char *digest;       /* the model artifact's sha256 */
    int64_t size;
    char *metrics;      /* JSON object {"step.metric": number or [numbers]} of the run, at registration */
    int64_t created_at;
};
void model_row_release(struct model_row *m);
void model_rows_free(struct model_row *rows, size_t n);

/* Register a new version of name (version = previous max + 1) with status pending. When the
 * same run and step already registered one (an engine restart), return that one instead. */
int store_model_register(struct store *st, const char *name, int64_t artifact_id, int64_t run_id,
                         const char *step, const char *metrics_json, struct model_row *out,
                         struct err *e);
/* version 0 = the newest version. */
int store_model_get(struct store *st, const char *name, int version, struct model_row *out,
                    struct err *e);
/* The version registered by run_id's step. */
int store_model_for_step(struct store *st, int64_t run_id, const char *step, struct model_row *out,
                         struct err *e);
/* The version currently deployed under name (status deployed), the champion. */
int store_model_deployed(struct store *st, const char *name, struct model_row *out, struct err *e);
/* name NULL = every model; newest first. */
int store_model_list(struct store *st, const char *name, struct model_row **rows, size_t *n,
                     struct err *e);
/* Conditional when from is non-NULL. */
int store_model_set_status(struct store *st, int64_t model_id, const char *from, const char *to,
                           bool *changed, struct err *e);

struct approval_row {
    int64_t id;
    int64_t run_id;
    char *step;
    char *decision; /* approved | rejected */
    char *by;
    char *comment;
    int64_t at;
};
void approval_rows_free(struct approval_row *rows, size_t n);

/* Record a decision on step (of run_id), in one transaction: the step moves waiting →
 * succeeded (approved) or failed (rejected) only if it is still waiting — *won says whether
 * this call decided it; then the approvals row, and the model version the step registered (if
 * any) moves pending → approved/rejected. A lost race changes nothing. */
int store_approval_decide(struct store *st, int64_t run_id, const char *step, bool approve,
                          const char *by, const char *comment, bool *won, struct err *e);
int store_approvals_list(struct store *st, int64_t run_id, struct approval_row **rows, size_t *n,
                         struct err *e);

struct deployment_row {
    int64_t id;
    int64_t model_id;
    char *name;
    int version;
    int64_t run_id;   /* the run whose deploy step made it (0 for a rollback) */
    char *target;     /* absolute folder */
    char *slot;       /* blue | green */
    char *status;     /* deployed | rolled_back | failed | superseded */
    int64_t at;
};
void deployment_rows_free(struct deployment_row *rows, size_t n);

/* Record a deployment; when status is "deployed", in the same transaction the model becomes
 * deployed, the previously deployed version of the same name retired, and earlier deployed
 * rows of that target superseded. */
int store_deployment_add(struct store *st, int64_t model_id, int64_t run_id, const char *target,
                         const char *slot, const char *status, struct err *e);
/* name NULL = all; newest first. */
int store_deployments_list(struct store *st, const char *name, struct deployment_row **rows,
                           size_t *n, struct err *e);

struct catalog_row {
    int64_t id;
    char *name;
    int version;
    char *schema;   /* the crawl's schema.json text */
    int64_t rows;
    int64_t artifact_id;
    int64_t run_id;
    int64_t created_at;
};
void catalog_row_release(struct catalog_row *c);
void catalog_rows_free(struct catalog_row *rows, size_t n);

/* The newest version of table; STORE_NOT_FOUND when the table is new. */
int store_catalog_latest(struct store *st, const char *table, struct catalog_row *out,
                         struct err *e);
/* Add the next version of table. */
int store_catalog_add(struct store *st, const char *table, const char *schema_json, int64_t rows,
                      int64_t artifact_id, int64_t run_id, int *version, struct err *e);
/* table NULL = the newest version of every table; else every version of table, newest first. */
int store_catalog_list(struct store *st, const char *table, struct catalog_row **rows, size_t *n,
                       struct err *e);

#endif
