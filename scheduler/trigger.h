/* Starting runs from outside the CLI's `sluice run`: a pipeline of the --dags folder by its
 * name with parameter overrides (the page's Trigger, `sluice trigger`, schedules), and the
 * retry of an ended run (the page, `sluice retry`). The runs are recorded queued; whoever
 * drives them (serve's engine, the CLI) is the caller's business. */
#ifndef SLUICE_TRIGGER_H
#define SLUICE_TRIGGER_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/spec.h"
#include "scheduler/engine.h"
#include "store/store.h"
#include "util/err.h"

#define TRIGGER_NOT_FOUND 404 /* e->code: no pipeline of that name */
#define TRIGGER_BAD_PARAM 400 /* e->code: an unknown parameter or a value of the wrong type */
#define TRIGGER_CONFLICT 409  /* e->code: the run to retry has not ended */

/* The pipeline files of dir: *.yaml and *.yml, sorted by name; *paths is a NULL-terminated
 * array the caller frees with trigger_paths_free. 0, or -1 with e set when dir cannot be read. */
int trigger_list_files(const char *dir, char ***paths, struct err *e);
void trigger_paths_free(char **paths);

/* Load the pipeline called name from dir's files. NULL with e set (TRIGGER_NOT_FOUND when no
 * valid file declares it). */
struct pipeline *trigger_find_pipeline(const char *dir, const char *name, struct err *e);

/* Check one override against p's declared parameters: an unknown name or a value of the wrong
 * type (number, true/false) is an error (code TRIGGER_BAD_PARAM) naming what is declared. */
int trigger_check_param(const struct pipeline *p, const char *name, const char *value,
                        struct err *e);

/* Record a queued run of p (its text, absolute path, defaults overridden by set[0..nset)) with
 * trigger ("cli", "schedule", "api") and opts. The overrides must have passed
 * trigger_check_param. */
int trigger_run(struct store *st, const struct pipeline *p, const struct run_param *set,
                size_t nset, const char *trigger, const struct engine_opts *opts,
                int64_t *run_id, struct err *e);

/* Record the queued run of p's schedule fire at fire_at (the cron time, unix seconds), trigger
 * "schedule", once however many servers fire it: 0 with *run_id set, 1 when another server
 * recorded that fire first (nothing is created), -1 with e set. */
int trigger_scheduled(struct store *st, const struct pipeline *p, int64_t fire_at,
                      const struct engine_opts *opts, int64_t *run_id, struct err *e);

/* Record a queued retry of run parent (trigger "retry"): its exact pipeline text, parameters
 * and options; the engine reuses the steps that succeeded in parent. *opts receives the
 * options to drive it with. TRIGGER_CONFLICT when parent has not ended. */
int trigger_retry(struct store *st, int64_t parent, int64_t *run_id, struct engine_opts *opts,
                  struct err *e);

#endif
