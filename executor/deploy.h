/* Blue/green deployments in a target folder: TARGET/blue/ and TARGET/green/ each hold one
 * model version (the model under its base name, plus a VERSION file with its label), and
 * TARGET/current is a relative symlink to the live slot, switched with rename() so that a
 * reader always sees either the old or the new model, never neither. A slot holds a model
 * exactly when its VERSION file exists: VERSION is written last and removed first. */
#ifndef SLUICE_DEPLOY_H
#define SLUICE_DEPLOY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"

/* err.code values, beside -1 for any other failure. */
#define DEPLOY_ERR_BUSY 2   /* another deploy or rollback of the target is running: retry later */
#define DEPLOY_ERR_HEALTH 3 /* the health check failed; the switch was undone */

#define DEPLOY_DEFAULT_HEALTH_TIMEOUT_MS 30000
/* A server restarted by the switch may need a moment before it listens; one that has not
 * listened for this long is not coming, however long health_timeout is. */
#define DEPLOY_DEFAULT_REFUSED_MS 5000

struct deploy_options {
    const char *model;         /* the file or folder to deploy */
    const char *target;        /* the deployment folder; created when missing */
    const char *version;       /* label for the slot's VERSION file (one line) */
    const char *name;          /* the model's name inside the slot; NULL: its base name */
    const char *health;        /* http(s) address that must answer 2xx after the switch; NULL */
    int64_t health_timeout_ms; /* keep trying the health check this long; 0: 30 s */
    int64_t refused_ms;        /* but give up once every connection was refused (nothing
                                  listens) this long; 0: DEPLOY_DEFAULT_REFUSED_MS */
    FILE *progress;            /* a line per failed health check attempt; NULL: none */
};

struct deploy_result {
    char slot[8];     /* the slot the model went to and current was switched to; "" if no switch */
    char previous[8]; /* the slot live before, "" when nothing was deployed */
    bool rolled_back; /* the health check failed and current went back to previous (or away) */
};

/* Copy opt->model into the inactive slot (emptied first), switch current to it, and run the
 * health check when asked: it is retried until a 2xx answer or health_timeout_ms, or until
 * connections were refused for refused_ms on end. When it fails, switch current back to the
 * previous slot (or remove current when there was none), unmark the failed slot, and return -1
 * with code DEPLOY_ERR_HEALTH and "health check 'URL' failed: ...; rolled back to version
 * 'LABEL' (slot 'blue')". Returns 0, or -1 with e filled; res is filled either way. */
int deploy_run(const struct deploy_options *opt, struct deploy_result *res, struct err *e);

/* Switch target's current to the other slot, when that slot holds a model. On success writes
 * the now live slot's name to slot_out (size bytes) and returns 0; -1 with e filled otherwise
 * (nothing deployed, no model in the other slot, busy with code DEPLOY_ERR_BUSY). */
int deploy_rollback(const char *target, char *slot_out, size_t size, struct err *e);

struct deploy_state {
    char slot[8];      /* "blue" or "green"; "" when nothing is deployed */
    char version[256]; /* the live slot's VERSION label (truncated); "" when none */
};

/* Read which slot of target is live and its version. A target that does not exist, or has no
 * current link, is "nothing deployed" (returns 0 with st->slot ""). -1 with e filled when the
 * layout is not one deploy_run made. */
int deploy_current(const char *target, struct deploy_state *st, struct err *e);

#endif
