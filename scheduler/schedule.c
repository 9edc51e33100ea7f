/* The pipelines' cron schedules: which pipelines of the folder have one, when each fires next,
 * and the fire itself (a queued run, recorded once in schedule_fires). */
#include <stdlib.h>
#include <string.h>

#include "pipeline/load.h"
#include "scheduler/schedule.h"
#include "scheduler/trigger.h"
#include "util/xalloc.h"

#define SCHEDULE_RELOAD 10 /* checks between re-reads of the pipelines */

struct schedule_entry {
    char *name;
    char *expr; /* the schedule as written, to notice a change */
    struct cron cron;
    time_t next; /* the next fire; (time_t)-1 = never */
};

struct schedule {
    char *dir;
    struct schedule_entry *e;
    size_t n, alloc;
    unsigned checks; /* calls of schedule_check */
};

struct schedule *schedule_new(const char *dir)
{
    struct schedule *s = xcalloc(1, sizeof(*s));
    s->dir = xstrdup(dir);
    return s;
}

static void entries_free(struct schedule_entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(e[i].name);
        free(e[i].expr);
    }
    free(e);
}

void schedule_free(struct schedule *s)
{
    if (!s)
        return;
    entries_free(s->e, s->n);
    free(s->dir);
    free(s);
}

static struct schedule_entry *find(struct schedule_entry *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(e[i].name, name))
            return &e[i];
    return NULL;
}

/* Re-read which pipelines have a schedule; a fire already computed is kept while the
 * schedule stays the same. */
static void reload(struct schedule *s, time_t now)
{
    struct schedule_entry *fresh = NULL;
    size_t n = 0, alloc = 0;
    char **paths;
    struct err e = ERR_INIT;
    if (trigger_list_files(s->dir, &paths, &e) < 0)
        return;
    for (char **p = paths; *p; p++) {
        struct diag_list diags = DIAG_LIST_INIT;
        struct pipeline *pl = pipeline_load(*p, &diags, NULL, NULL);
        diag_list_release(&diags);
        if (!pl || !pl->schedule || find(fresh, n, pl->name)) {
            pipeline_free(pl);
            continue;
        }
        XGROW(fresh, alloc, n + 1);
        struct schedule_entry *en = &fresh[n++];
        en->name = xstrdup(pl->name);
        en->expr = xstrdup(pl->schedule);
        en->cron = pl->cron;
        struct schedule_entry *old = find(s->e, s->n, pl->name);
        en->next = old && !strcmp(old->expr, pl->schedule) ? old->next : cron_next(&pl->cron, now);
        pipeline_free(pl);
    }
    trigger_paths_free(paths);
    entries_free(s->e, s->n);
    s->e = fresh;
    s->n = n;
    s->alloc = alloc;
}

/* 1 when this call recorded the run of the fire at `at`. */
static int fire(struct schedule *s, struct store *st, struct engine *eng,
                const struct engine_opts *opts, const char *name, time_t at)
{
    struct err e = ERR_INIT;
    struct pipeline *p = trigger_find_pipeline(s->dir, name, &e);
    int64_t id = 0;
    /* Another server watching the same workspace may have fired it: then it is that one's. */
    int fired = p && trigger_scheduled(st, p, (int64_t)at, opts, &id, &e) == 0;
    if (fired && eng)
        engine_add_run(eng, id, opts, &e);
    pipeline_free(p);
    return fired;
}

int schedule_check(struct schedule *s, struct store *st, struct engine *eng,
                   const struct engine_opts *opts, time_t now)
{
    int fired = 0;
    if (s->checks++ % SCHEDULE_RELOAD == 0)
        reload(s, now);
    for (size_t i = 0; i < s->n; i++) {
        struct schedule_entry *en = &s->e[i];
        if (en->next == (time_t)-1 || now < en->next)
            continue;
        time_t at = en->next;
        en->next = cron_next(&en->cron, now);
        fired += fire(s, st, eng, opts, en->name, at);
    }
    return fired;
}
