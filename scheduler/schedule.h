/* The cron schedules of the pipelines in a --dags folder, fired by `sluice serve`'s timer.
 * Each fire records a queued run (trigger "schedule") once however many servers watch the
 * workspace, and hands it to the engine. No catch-up of fires missed while no server ran:
 * the next fire is always computed from now. */
#ifndef SLUICE_SCHEDULE_H
#define SLUICE_SCHEDULE_H

#include <time.h>

#include "scheduler/engine.h"
#include "store/store.h"

struct schedule;

/* The schedules of dir's pipelines (dir is copied); nothing is read before schedule_check. */
struct schedule *schedule_new(const char *dir);
void schedule_free(struct schedule *s); /* NULL is fine */

/* Meant to be called about once a second. Re-reads dir's pipelines at the first call and
 * every tenth after it (a fire already computed is kept while its schedule stays the same;
 * a file that does not load is left out), then fires every schedule whose time has come by
 * now: records its run in st, and adds it to eng with opts when eng is not NULL. A fire that
 * another server recorded first is that server's. Returns how many runs this call recorded;
 * an error (an unreadable folder, a store failure) only skips what it concerns. */
int schedule_check(struct schedule *s, struct store *st, struct engine *eng,
                   const struct engine_opts *opts, time_t now);

#endif
