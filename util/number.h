/* Decimal numbers as sluice reads them in data and in rules: `-12`, `2.5`, `1e-3`. */
#ifndef SLUICE_NUMBER_H
#define SLUICE_NUMBER_H

#include <stddef.h>
#include <stdint.h>

enum number_kind { NUMBER_NONE, NUMBER_INT, NUMBER_FLOAT };

/* s[0..n) (not necessarily NUL-terminated) as a decimal number: [+-]digits is NUMBER_INT when
 * it fits 64 bits (*i, and *f = (double)*i); with a fraction or an exponent, or too long,
 * NUMBER_FLOAT (*f, finite only). NUMBER_NONE when it is not a number (*i and *f may have
 * changed). */
enum number_kind number_parse(const char *s, size_t n, int64_t *i, double *f);

#endif
