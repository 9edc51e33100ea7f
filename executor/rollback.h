/* Rolling a model's deployment back (`sluice rollback`, the page's Rollback): switch the
 * target's `current` link to its other blue/green slot and record in the registry which
 * version is live again. */
#ifndef SLUICE_ROLLBACK_H
#define SLUICE_ROLLBACK_H

#include "store/store.h"
#include "util/err.h"

#define ROLLBACK_NOT_FOUND 404 /* e->code: no such model */
#define ROLLBACK_CONFLICT 409  /* e->code: never deployed there, nothing to go back to, busy */

struct rollback_result {
    char *target;           /* the deployment folder (absolute); caller frees */
    char slot[8];           /* the slot live now */
    int version;            /* the version live now */
    int retired;            /* the version that was live before; 0 when unknown */
    char retired_slot[8];
};

/* Roll model name back in target_arg (NULL: where its live version was deployed, else its
 * newest deployment's folder). 0 with res filled, or -1 with e set. A switch whose new
 * version cannot be told is undone rather than recorded wrongly. */
int rollback_model(struct store *st, const char *name, const char *target_arg,
                   struct rollback_result *res, struct err *e);
void rollback_result_release(struct rollback_result *res);

#endif
