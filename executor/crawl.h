/* The schema crawler behind the `crawl` built-in step: stream a CSV or JSON Lines file once,
 * infer each column's type and statistics, check data-quality rules against them, render
 * schema.json, and diff two schemas (drift). Library code: it never prints. */
#ifndef SLUICE_CRAWL_H
#define SLUICE_CRAWL_H

/*
 * Decisions, pinned by tests/unit/test_crawl.c:
 *
 * Format: `.jsonl` / `.ndjson` (any case) is JSON Lines, `.csv` is CSV; any other name is
 * sniffed: JSON Lines when the first byte after a UTF-8 BOM and whitespace is '{' (or '[',
 * so that a JSON array gets a clear error), else CSV.
 *
 * CSV: RFC 4180 through libcsv in strict mode (a stray quote in an unquoted field or an
 * unterminated quoted field is an error); embedded newlines, CRLF and a leading UTF-8 BOM
 * are fine; spaces around unquoted fields are trimmed; blank lines are skipped. The first
 * record is the header: an empty or duplicate name is an error. A row whose field count
 * differs from the header's is an error naming both its data row (1-based, the header not
 * counted) and the file line it starts on: "'f.csv' line 18: row 17 has 5 fields, header
 * has 4".
 *
 * JSON Lines: one object per line (blank lines skipped, duplicate keys refused); the columns
 * are the union of the keys in first-seen order, and a key missing from a row is a null.
 * JSON types are kept, not re-inferred: a number is integer or float, true/false boolean, a
 * string is timestamp when it reads as one, else string; a nested object or array is a
 * string holding its compact JSON text.
 *
 * Rows: CSV data rows (not the header, not blank lines) or JSON objects; messages give the
 * 1-based file line ("'f.csv' line 18: ...") and, for a ragged row, also the data row.
 *
 * Nulls: an empty cell (quoted or not), an empty JSON string, JSON null, and a missing key.
 * "NA", "null", "NaN" are ordinary strings: guessing would hide data problems.
 *
 * Types of a CSV cell: integer ([+-]digits, fits in 64 bits; a longer one is a float), float
 * (decimal with optional fraction and exponent; never inf/nan), boolean (true/false in any
 * case; yes/no and 0/1 are not booleans), timestamp (ISO-8601 date `2024-01-31` or date-time
 * `2024-01-31T10:00[:00[.123]]` with 'T' or a space, optional `Z` or `+HH[:MM]`/`-HH[:MM]`;
 * also the dates `1/31/2024` (M/D/YYYY) and `31.1.2024` (D.M.YYYY), with the same optional
 * time; validated: month, day of month, hours), else string. A column's type is its values'
 * common type: integer and float widen to float, any other mix is string; a column with no
 * values at all is string. So a column is timestamp only when every value parses as one: one
 * `13/45/2020`, or one day-first `25/12/2024`, makes it string (slashes are month first).
 *
 * Statistics: nulls; distinct = number of distinct non-null texts (so "1" and "1.0", or
 * "true" and "TRUE", are two), counted by 64-bit hash (memory: 8 bytes a value, whatever its
 * length; odds of a collision about 1e-9 at the cap), exact up to a cap (see
 * CRAWL_DISTINCT_CAP) past which it is a lower bound and distinct_capped is set; min/max are
 * numbers for integer/float columns, false/true for boolean, the earliest/latest value's text
 * for timestamp (compared as instants; no offset means UTC), bytewise-smallest/largest text
 * for string (cut to CRAWL_TEXT_MAX bytes with "…"); mean for integer and float columns.
 * Texts in the result are valid UTF-8 without NUL (such bytes become U+FFFD).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/err.h"
#include "util/strbuf.h"

/* Per-column cap on tracked distinct values; lowered so that the columns together track at
 * most CRAWL_DISTINCT_BUDGET values (8 bytes each), which bounds memory for wide files. */
#define CRAWL_DISTINCT_CAP 100000
#define CRAWL_DISTINCT_BUDGET (16u * 1024 * 1024)
#define CRAWL_MAX_COLUMNS 10000
#define CRAWL_LINE_MAX (64u * 1024 * 1024) /* longest JSON line or CSV field */
#define CRAWL_TEXT_MAX 256                 /* longest min/max text kept in the result */

enum crawl_type { CRAWL_INTEGER, CRAWL_FLOAT, CRAWL_BOOLEAN, CRAWL_TIMESTAMP, CRAWL_STRING };

enum crawl_format { CRAWL_FORMAT_AUTO, CRAWL_FORMAT_CSV, CRAWL_FORMAT_JSONL };

struct crawl_opts {
    enum crawl_format format; /* CRAWL_FORMAT_AUTO: by the name's extension, else sniffed */
    size_t distinct_cap;      /* 0: CRAWL_DISTINCT_CAP */
};

struct crawl_column {
    char *name;
    enum crawl_type type;
    uint64_t nulls;
    uint64_t distinct;    /* a lower bound when distinct_capped */
    bool distinct_capped; /* the cap was reached: more distinct values were not tracked */
    bool has_values;      /* false: min, max and mean are null */
    int64_t imin, imax;   /* CRAWL_INTEGER */
    double fmin, fmax;    /* CRAWL_FLOAT */
    double mean;          /* CRAWL_INTEGER and CRAWL_FLOAT */
    bool bmin, bmax;      /* CRAWL_BOOLEAN (false < true) */
    char *smin, *smax;    /* CRAWL_TIMESTAMP and CRAWL_STRING; NULL otherwise */
};

struct crawl_result {
    enum crawl_format format; /* the format that was read */
    uint64_t rows;            /* data rows (the CSV header not counted) */
    struct crawl_column *columns;
    size_t ncolumns;
};

/* A number as a rule sees it: counts and integer columns' min/max stay exact. */
struct crawl_value {
    bool is_int;
    int64_t i; /* when is_int */
    double f;  /* always set (the value as a double) */
};

struct crawl_rule_result {
    char *rule; /* a copy of the rule's text */
    /* The measured side of the rule's first comparison (in reading order): its left side,
     * or its right side when the left is a number, as in `500 <= rows`. The other
     * comparisons of a compound rule are evaluated but not reported. */
    struct crawl_value value;
    /* Every measured term of the rule once, in reading order, with its value: "rows = 120",
     * "mean(x) = 0.5, nulls(id) = 3"; what a failed rule says it saw. */
    char *measured;
    bool pass;
};

const char *crawl_type_name(enum crawl_type t);
const char *crawl_format_name(enum crawl_format f);

/* Crawl the file at path into *res (which the caller releases with crawl_result_release,
 * also after an error). opts may be NULL. Returns 0, or -1 with e filled: "cannot open
 * 'PATH': REASON", "'PATH' is empty", "'PATH' line N: ...". */
int crawl_file(const char *path, const struct crawl_opts *opts, struct crawl_result *res,
               struct err *e);
/* The same on an open stream; name is used for messages and for the format by extension. */
int crawl_stream(FILE *fp, const char *name, const struct crawl_opts *opts,
                 struct crawl_result *res, struct err *e);
void crawl_result_release(struct crawl_result *res);

/* Rules: the expect: language of pipeline/rules.h (`rows >= 500 && nulls(id) == 0`), whose
 * rule_check the loader runs at validate time and the crawl built-in before it reads a file. */

/* Evaluate rule against a crawl. Returns 0 with *out filled (release it with
 * crawl_rule_result_release), or -1 with e filled: "rule 'nulls(x) == 0': no column 'x'",
 * "rule 'mean(name) > 1': column 'name' is string, not numeric", or a syntax error. */
int crawl_rule_eval(const struct crawl_result *res, const char *rule, struct crawl_rule_result *out,
                    struct err *e);
void crawl_rule_result_release(struct crawl_rule_result *rr);

/* Append schema.json's text to out: {"rows", "columns": [{"name", "type", "nulls", "min",
 * "max", "distinct", ("distinct_capped": true when capped), ("mean" for integer/float)}],
 * "rules": [{"rule", "value", "pass"}]}, keys in that order, indented by 2, floats to 15
 * significant digits, ending in a newline: the same input gives the same bytes. */
void crawl_schema_json(const struct crawl_result *res, const struct crawl_rule_result *rules,
                       size_t nrules, struct strbuf *out);

/* Compare two schema.json texts (both required). *changed is set when a column was added or
 * removed or changed type; statistics and column order do not count. report gets one line
 * per change: "column 'age' added (integer)", "column 'x' removed", "column 'y' type integer
 * -> float" (removals and type changes in the old order, then additions in the new order).
 * Returns 0, or -1 with e filled when a text is not a schema: "old schema: ...". */
int crawl_schema_diff(const char *old_schema_json, const char *new_schema_json,
                      struct strbuf *report, bool *changed, struct err *e);

#endif
