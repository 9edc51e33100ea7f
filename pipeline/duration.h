/* Durations (`500ms 5s 10m 2h 7d`) and sizes (`512`, `10K`, `1G`). */
#ifndef SLUICE_DURATION_H
#define SLUICE_DURATION_H

#include <stdint.h>

/* Parse "<digits><unit>" with unit one of ms, s, m, h, d (a bare "0" is allowed). Decimal
 * fractions are allowed ("1.5h"). Returns 0 and sets *ms, or -1 (empty, no unit, unknown unit,
 * negative, overflow). */
int duration_parse(const char *s, int64_t *ms);
/* Format milliseconds compactly for humans: "850ms", "12s", "3m04s", "2h05m", "7d". */
void duration_format(int64_t ms, char *buf, int bufsz);

/* Parse a size: digits with an optional unit B, K, M, G, T (powers of 1024; KB/KiB/MB/MiB
 * etc. accepted too). Returns 0 and sets *bytes, or -1. */
int size_parse(const char *s, int64_t *bytes);
/* "512B", "1.5K", "20.0M", "1.0G" */
void size_format(int64_t bytes, char *buf, int bufsz);

#endif
