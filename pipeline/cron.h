/* 5-field cron schedules (minute hour day-of-month month day-of-week), UTC.
 * Fields take '*', numbers, ranges 'a-b', lists 'a,b', steps '*\/n' and 'a-b/n', month names
 * jan..dec and day names sun..sat (case-insensitive; day 7 is Sunday too). Macros:
 * @yearly @annually @monthly @weekly @daily @midnight @hourly. As in Vixie cron, when both
 * day-of-month and day-of-week are restricted (neither starts with '*'), a day matches
 * when either matches. */
#ifndef SLUICE_CRON_H
#define SLUICE_CRON_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

struct cron {
    uint64_t minute; /* bit i set: minute i matches (0..59) */
    uint32_t hour;   /* 0..23 */
    uint32_t dom;    /* 1..31 */
    uint16_t month;  /* 1..12 */
    uint8_t dow;     /* 0..6, Sunday = 0 */
    bool dom_star;   /* day-of-month field began with '*' */
    bool dow_star;   /* day-of-week field began with '*' */
};

/* Parse expr. Returns 0, or -1 with msg set (e.g. "minute '61' out of range 0-59") and
 * *err_offset the byte offset in expr of the offending field. A schedule that can never fire
 * ("0 0 30 2 *": "schedule never fires: February has no day '30'") is an error too, at its
 * day-of-month. */
int cron_parse(const char *expr, struct cron *c, int *err_offset, char *msg, size_t msgsz);
/* The first matching minute strictly after `after` (UTC, seconds since the epoch).
 * Returns (time_t)-1 when nothing matches within 5 years (e.g. "0 0 29 2 *" after March
 * 2096: 2100 is not a leap year). */
time_t cron_next(const struct cron *c, time_t after);

#endif
