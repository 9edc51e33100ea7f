/* Tests for cron schedules: parse errors with their offsets, the parsed bit sets, and next
 * firing times checked against hand-computed UTC times. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pipeline/cron.h"

static time_t utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return timegm(&tm);
}

static void show(time_t t, char *buf, size_t n)
{
    struct tm tm;
    if (t == (time_t)-1 || !gmtime_r(&t, &tm))
        snprintf(buf, n, "never");
    else
        strftime(buf, n, "%Y-%m-%d %H:%M:%S %a", &tm);
}

static struct cron parse_ok(const char *expr)
{
    struct cron c;
    int off = -1;
    char msg[256] = "";
    if (cron_parse(expr, &c, &off, msg, sizeof(msg)) < 0)
        fail_msg("cron_parse('%s') failed at %d: %s", expr, off, msg);
    return c;
}

/* Compare as text, so that a failure shows both times readably. */
static void assert_next(const char *expr, time_t after, time_t want)
{
    struct cron c = parse_ok(expr);
    char got_s[64], want_s[64];
    show(cron_next(&c, after), got_s, sizeof(got_s));
    show(want, want_s, sizeof(want_s));
    if (strcmp(got_s, want_s) != 0) {
        char after_s[64];
        show(after, after_s, sizeof(after_s));
        fail_msg("'%s' after %s: got %s, want %s", expr, after_s, got_s, want_s);
    }
}

static void assert_parse_error(const char *expr, int want_off, const char *want_msg)
{
    struct cron c;
    int off = -1;
    char msg[256] = "";
    if (cron_parse(expr, &c, &off, msg, sizeof(msg)) == 0)
        fail_msg("'%s' parsed, expected error '%s'", expr, want_msg);
    assert_string_equal(msg, want_msg);
    assert_int_equal(off, want_off);
}

static uint64_t bits(int lo, int hi, int step)
{
    uint64_t b = 0;
    for (int i = lo; i <= hi; i += step)
        b |= (uint64_t)1 << i;
    return b;
}

/* ---- parsing ---- */

static void test_parse_fields(void **state)
{
    (void)state;
    struct cron c = parse_ok("*/15 9-17 1,15 * 1-5");
    assert_true(c.minute == bits(0, 45, 15));
    assert_true(c.hour == bits(9, 17, 1));
    assert_true(c.dom == (bits(1, 1, 1) | bits(15, 15, 1)));
    assert_true(c.month == bits(1, 12, 1));
    assert_true(c.dow == bits(1, 5, 1));
    assert_false(c.dom_star);
    assert_false(c.dow_star);

    c = parse_ok("* * * * *");
    assert_true(c.minute == bits(0, 59, 1));
    assert_true(c.hour == bits(0, 23, 1));
    assert_true(c.dom == bits(1, 31, 1));
    assert_true(c.dow == bits(0, 6, 1));
    assert_true(c.dom_star);
    assert_true(c.dow_star);

    /* steps on ranges and on a start value ("a/n" runs to the end of the field) */
    c = parse_ok("10-30/10 5/6 */10 */5 *");
    assert_true(c.minute == bits(10, 30, 10));
    assert_true(c.hour == bits(5, 23, 6));
    assert_true(c.dom == bits(1, 31, 10));
    assert_true(c.month == bits(1, 12, 5));
    assert_true(c.dom_star); /* "*\/10" starts with '*': not restricted, as in Vixie cron */

    /* blanks: leading, trailing, tabs, several */
    c = parse_ok("  0\t0   1 1  *  ");
    assert_true(c.minute == 1 && c.hour == 1 && c.dom == 2 && c.month == 2);
}

static void test_parse_names(void **state)
{
    (void)state;
    struct cron c = parse_ok("0 0 * jan,JUL,Dec mon-FRI");
    assert_true(c.month == (bits(1, 1, 1) | bits(7, 7, 1) | bits(12, 12, 1)));
    assert_true(c.dow == bits(1, 5, 1));
    c = parse_ok("0 0 * feb-apr/2 sun,sat");
    assert_true(c.month == (bits(2, 2, 1) | bits(4, 4, 1)));
    assert_true(c.dow == (bits(0, 0, 1) | bits(6, 6, 1)));
    /* day 7 is Sunday too, and a range may end on it */
    c = parse_ok("0 0 * * 7");
    assert_true(c.dow == 1);
    c = parse_ok("0 0 * * 5-7");
    assert_true(c.dow == (bits(5, 6, 1) | 1));
    c = parse_ok("0 0 * * fri-sun");
    assert_true(c.dow == (bits(5, 6, 1) | 1));
    c = parse_ok("0 0 * * 0-7");
    assert_true(c.dow == bits(0, 6, 1));
}

static void test_parse_macros(void **state)
{
    (void)state;
    static const struct {
        const char *macro, *same;
    } cases[] = {
        {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
        {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
        {"@hourly", "0 * * * *"}, {"@DAILY", "0 0 * * *"},    {" @hourly ", "0 * * * *"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cron a = parse_ok(cases[i].macro), b = parse_ok(cases[i].same);
        assert_true(a.minute == b.minute);
        assert_true(a.hour == b.hour);
        assert_true(a.dom == b.dom);
        assert_true(a.month == b.month);
        assert_true(a.dow == b.dow);
        assert_true(a.dom_star == b.dom_star);
        assert_true(a.dow_star == b.dow_star);
    }
}

static void test_parse_errors(void **state)
{
    (void)state;
    assert_parse_error("61 * * * *", 0, "minute '61' out of range 0-59");
    assert_parse_error("* 24 * * *", 2, "hour '24' out of range 0-23");
    assert_parse_error("* * 0 * *", 4, "day-of-month '0' out of range 1-31");
    assert_parse_error("* * 32 * *", 4, "day-of-month '32' out of range 1-31");
    assert_parse_error("* * * 13 *", 6, "month '13' out of range 1-12");
    assert_parse_error("* * * 0 *", 6, "month '0' out of range 1-12");
    assert_parse_error("* * * * 8", 8, "day-of-week '8' out of range 0-7");
    assert_parse_error("0 0 1,2,99 * *", 4, "day-of-month '99' out of range 1-31");
    assert_parse_error("99999999999999999999 * * * *", 0,
                       "minute '99999999999999999999' out of range 0-59");
    assert_parse_error("* * * *", 7, "expected 5 fields, got 4");
    assert_parse_error("* * * * * *", 10, "expected 5 fields, got 6");
    assert_parse_error("", 0, "expected 5 fields, got 0");
    assert_parse_error("   ", 3, "expected 5 fields, got 0");
    assert_parse_error("@sometimes", 0, "unknown macro '@sometimes'");
    assert_parse_error("@reboot", 0, "unknown macro '@reboot'");
    assert_parse_error("  @daily extra", 9, "unexpected 'extra' after '@daily'");
    assert_parse_error("*/0 * * * *", 0, "step '0' must be positive");
    assert_parse_error("0 1-5/0 * * *", 2, "step '0' must be positive");
    assert_parse_error("*/x * * * *", 0, "step 'x' is not a number");
    assert_parse_error("*/ * * * *", 0, "step '' is not a number");
    assert_parse_error("* * * foo *", 6, "unknown month name 'foo'");
    assert_parse_error("* * * * funday", 8, "unknown day-of-week name 'funday'");
    assert_parse_error("* * mon * *", 4, "day-of-month 'mon' is not a number");
    assert_parse_error("? * * * *", 0, "minute '?' is not a number");
    assert_parse_error("30-10 * * * *", 0, "minute range '30-10' goes backwards");
    assert_parse_error("0 0 * * sat-mon", 4 + 4, "day-of-week range 'sat-mon' goes backwards");
    assert_parse_error("1,,2 * * * *", 0, "minute '1,,2' is missing a value");
    assert_parse_error("1, * * * *", 0, "minute '1,' is missing a value");
    assert_parse_error("1- * * * *", 0, "minute '1-' is missing a value");
    assert_parse_error("1-5x * * * *", 0, "unexpected 'x' in minute '1-5x'");
    assert_parse_error("** * * * *", 0, "unexpected '*' in minute '**'");
    assert_parse_error("0 0 * * 1\x01", 8, "unexpected '\\x01' in day-of-week '1\\x01'");
}

/* ---- next firing times ---- */

static void test_next_every_quarter_hour(void **state)
{
    (void)state;
    assert_next("*/15 * * * *", utc(2026, 11, 24, 19, 7) + 30, utc(2026, 11, 24, 19, 15));
    /* strictly after: on a firing time, the next one */
    assert_next("*/15 * * * *", utc(2026, 11, 24, 19, 45), utc(2026, 11, 24, 20, 0));
    assert_next("*/15 * * * *", utc(2026, 11, 24, 19, 44) + 59, utc(2026, 11, 24, 19, 45));
    /* across the end of a year */
    assert_next("*/15 * * * *", utc(2026, 12, 31, 23, 50), utc(2027, 1, 1, 0, 0));
    assert_next("* * * * *", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 0, 0));
}

static void test_next_month_ends(void **state)
{
    (void)state;
    assert_next("59 23 * * *", utc(2026, 12, 31, 23, 59), utc(2027, 1, 1, 23, 59));
    assert_next("0 0 1 * *", utc(2026, 1, 31, 12, 0), utc(2026, 2, 1, 0, 0));
    assert_next("0 0 28 2 *", utc(2026, 2, 28, 0, 0), utc(2027, 2, 28, 0, 0));
    /* the 31st: skips February, April, June... */
    assert_next("0 0 31 * *", utc(2026, 1, 31, 0, 0), utc(2026, 3, 31, 0, 0));
    assert_next("0 0 31 * *", utc(2026, 3, 31, 0, 0), utc(2026, 5, 31, 0, 0));
    assert_next("0 0 31 * *", utc(2026, 5, 31, 0, 0), utc(2026, 7, 31, 0, 0));
    assert_next("0 0 31 * *", utc(2026, 7, 31, 0, 0), utc(2026, 8, 31, 0, 0));
    assert_next("0 0 31 * *", utc(2026, 8, 31, 0, 0), utc(2026, 10, 31, 0, 0));
    assert_next("0 0 31 * *", utc(2026, 10, 31, 0, 0), utc(2026, 12, 31, 0, 0));
}

static void test_next_leap_day(void **state)
{
    (void)state;
    assert_next("0 0 29 2 *", utc(2027, 1, 1, 0, 0), utc(2028, 2, 29, 0, 0));
    assert_next("0 0 29 2 *", utc(2028, 2, 29, 0, 0), utc(2032, 2, 29, 0, 0));
    /* 2100 is not a leap year; 2104 is, and within 5 years of the start */
    assert_next("0 0 29 2 *", utc(2099, 3, 1, 0, 0), utc(2104, 2, 29, 0, 0));
    /* from 2096-03-01 the next is 2104, more than 5 years away */
    assert_next("0 0 29 2 *", utc(2096, 3, 1, 0, 0), (time_t)-1);
    /* 2000 was a leap year (divisible by 400) */
    assert_next("0 0 29 2 *", utc(1999, 1, 1, 0, 0), utc(2000, 2, 29, 0, 0));
}

static void test_next_dom_or_dow(void **state)
{
    (void)state;
    /* both restricted: the 13th and every Friday (2026-01-02, 09, 16 are Fridays; the 13th
     * is a Tuesday) */
    const char *f13 = "0 0 13 * fri";
    assert_next(f13, utc(2026, 1, 1, 0, 0), utc(2026, 1, 2, 0, 0));
    assert_next(f13, utc(2026, 1, 2, 0, 0), utc(2026, 1, 9, 0, 0));
    assert_next(f13, utc(2026, 1, 9, 0, 0), utc(2026, 1, 13, 0, 0));
    assert_next(f13, utc(2026, 1, 13, 0, 0), utc(2026, 1, 16, 0, 0));
    /* when dom starts with '*', both must match: odd days that are Mondays. Mondays of June
     * 2026: 1, 8, 15, 22, 29 */
    assert_next("0 0 */2 * mon", utc(2026, 6, 1, 0, 0), utc(2026, 6, 15, 0, 0));
    assert_next("0 0 */2 * mon", utc(2026, 6, 15, 0, 0), utc(2026, 6, 29, 0, 0));
    /* dow alone restricted */
    assert_next("0 0 * * fri", utc(2026, 1, 2, 0, 0), utc(2026, 1, 9, 0, 0));
    /* dom alone restricted: the 13th, whatever its weekday */
    assert_next("0 0 13 * *", utc(2026, 1, 2, 0, 0), utc(2026, 1, 13, 0, 0));
    /* a day-of-week starting with '*' ("*\/2": Sun, Tue, Thu, Sat) counts as unrestricted, so
     * both must match: a 13th on one of those days (Tue 2026-01-13, then Sat 2026-06-13) */
    assert_next("0 0 13 * */2", utc(2026, 1, 12, 0, 0), utc(2026, 1, 13, 0, 0));
    assert_next("0 0 13 * */2", utc(2026, 1, 13, 0, 0), utc(2026, 6, 13, 0, 0));
    /* day 7 = Sunday (2026-11-29 is a Sunday) */
    assert_next("0 0 * * 7", utc(2026, 11, 25, 10, 0), utc(2026, 11, 29, 0, 0));
}

static void test_next_ranges_steps_names(void **state)
{
    (void)state;
    const char *s = "10-30/10 9-17/4 * * *"; /* minutes 10,20,30; hours 9,13,17 */
    assert_next(s, utc(2026, 3, 10, 8, 0), utc(2026, 3, 10, 9, 10));
    assert_next(s, utc(2026, 3, 10, 9, 10), utc(2026, 3, 10, 9, 20));
    assert_next(s, utc(2026, 3, 10, 9, 30), utc(2026, 3, 10, 13, 10));
    assert_next(s, utc(2026, 3, 10, 17, 30), utc(2026, 3, 11, 9, 10));
    assert_next("5/20 * * * *", utc(2026, 3, 10, 8, 45), utc(2026, 3, 10, 9, 5));
    /* noon on weekdays of January and July; 2026-07-01 is a Wednesday */
    assert_next("0 12 * jan,jul mon-fri", utc(2026, 2, 1, 0, 0), utc(2026, 7, 1, 12, 0));
    assert_next("0 12 * JAN,Jul Mon-Fri", utc(2026, 7, 31, 12, 0), utc(2027, 1, 1, 12, 0));
    /* the 2027-01-01 above is a Friday; the next weekday is Monday the 4th */
    assert_next("0 12 * jan,jul mon-fri", utc(2027, 1, 1, 12, 0), utc(2027, 1, 4, 12, 0));
}

static void test_next_macros(void **state)
{
    (void)state;
    /* 2026-11-25 is a Wednesday; the next Sunday is the 29th */
    assert_next("@weekly", utc(2026, 11, 25, 10, 0), utc(2026, 11, 29, 0, 0));
    assert_next("@weekly", utc(2026, 11, 29, 0, 0), utc(2026, 12, 6, 0, 0));
    assert_next("@daily", utc(2026, 11, 25, 10, 0), utc(2026, 11, 26, 0, 0));
    assert_next("@hourly", utc(2026, 11, 25, 10, 0), utc(2026, 11, 25, 11, 0));
    assert_next("@monthly", utc(2026, 11, 25, 10, 0), utc(2026, 12, 1, 0, 0));
    assert_next("@yearly", utc(2026, 11, 25, 10, 0), utc(2027, 1, 1, 0, 0));
}

/* "0 0 DOM MONTHS *" built by hand: cron_parse refuses a schedule that never fires. */
static struct cron unparsed(const char *dom, unsigned months)
{
    char expr[64];
    snprintf(expr, sizeof(expr), "0 0 %s * *", dom);
    struct cron c = parse_ok(expr);
    c.month = (uint16_t)months;
    return c;
}

static void test_parse_never_fires(void **state)
{
    (void)state;
    /* at the day-of-month field */
    assert_parse_error("0 0 30 2 *", 4, "schedule never fires: February has no day '30'");
    assert_parse_error("0 0 30,31 feb *", 4,
                       "schedule never fires: February has no day '30,31'");
    assert_parse_error("0 0 31 4,6,9,11 *", 4,
                       "schedule never fires: none of April, June, September and November has "
                       "a day '31'");
    assert_parse_error("0 0 31 apr */2", 4, "schedule never fires: April has no day '31'");
    /* a leap day comes; so does "the 31st or a Monday" in April (Vixie cron: either) */
    parse_ok("0 0 29 2 *");
    parse_ok("0 0 31 4 mon");
    parse_ok("0 0 31 * *");
    parse_ok("0 0 28-31 2 *");
    parse_ok("0 0 */31 2 *"); /* starts with '*': day 1 */
}

static void test_next_impossible(void **state)
{
    (void)state;
    struct cron c = unparsed("30", 1u << 2);
    assert_true(cron_next(&c, utc(2026, 1, 1, 0, 0)) == (time_t)-1);
    c = unparsed("31", 1u << 4 | 1u << 6 | 1u << 9 | 1u << 11);
    assert_true(cron_next(&c, utc(2026, 1, 1, 0, 0)) == (time_t)-1);
    /* but Vixie OR semantics make "Feb 30 or a Monday" possible */
    assert_next("0 0 30 2 mon", utc(2026, 1, 1, 0, 0), utc(2026, 2, 2, 0, 0));
}

static void test_next_is_fast(void **state)
{
    (void)state;
    /* a minute-by-minute search would need 2.6 million steps per call here */
    struct cron c = unparsed("30", 1u << 2);
    clock_t start = clock();
    for (int i = 0; i < 2000; i++)
        assert_true(cron_next(&c, utc(2026, 1, 1, 0, 0) + i * 3600) == (time_t)-1);
    double secs = (double)(clock() - start) / CLOCKS_PER_SEC;
    assert_true(secs < 5.0);
}

static void test_next_extreme_times(void **state)
{
    (void)state;
    struct cron c = parse_ok("* * * * *");
    /* before the epoch */
    assert_true(cron_next(&c, -30) == 0);
    assert_true(cron_next(&c, -61) == -60);
    /* absurd times give no answer rather than undefined behaviour */
    time_t huge = (time_t)1 << 62;
    assert_true(cron_next(&c, huge) == (time_t)-1);
    assert_true(cron_next(&c, -huge) == (time_t)-1 || cron_next(&c, -huge) > -huge);
}

/* The definition, applied one day at a time: does the day of t match c? */
static bool naive_day_match(const struct cron *c, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    bool dom = c->dom & (1u << tm.tm_mday), dow = c->dow & (1u << tm.tm_wday);
    bool day = (c->dom_star || c->dow_star) ? dom && dow : dom || dow;
    return (c->month >> (tm.tm_mon + 1) & 1) && day;
}

/* ... and one minute at a time: does minute t match c? */
static bool naive_match(const struct cron *c, time_t t)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    return (c->minute >> tm.tm_min & 1) && (c->hour >> tm.tm_hour & 1) && naive_day_match(c, t);
}

static void test_next_agrees_with_naive_search(void **state)
{
    (void)state;
    static const char *const minutes[] = {"*", "0", "*/7", "5-50/15", "59", "3,33"};
    static const char *const hours[] = {"*", "0", "23", "*/5", "9-17", "6,18"};
    static const char *const doms[] = {"*", "1", "31", "*/10", "13", "28-31", "29", "30"};
    static const char *const months[] = {"*", "2", "feb,mar", "*/3", "12", "1-6"};
    static const char *const dows[] = {"*", "0", "fri", "1-5", "6,7", "*/2"};
#define PICK(a) a[(seed >> 16) % (sizeof(a) / sizeof(a[0]))]
    unsigned seed = 7;
    const time_t window = 40 * 86400;
    int found = 0;
    for (int round = 0; round < 150; round++) {
        char expr[128];
        const char *f[5];
        seed = seed * 1103515245u + 12345u;
        f[0] = PICK(minutes);
        seed = seed * 1103515245u + 12345u;
        f[1] = PICK(hours);
        seed = seed * 1103515245u + 12345u;
        f[2] = PICK(doms);
        seed = seed * 1103515245u + 12345u;
        f[3] = PICK(months);
        seed = seed * 1103515245u + 12345u;
        f[4] = PICK(dows);
        seed = seed * 1103515245u + 12345u;
        time_t after = utc(2023, 1, 1, 0, 0) + (time_t)(seed % (4u * 365 * 86400));
        snprintf(expr, sizeof(expr), "%s %s %s %s %s", f[0], f[1], f[2], f[3], f[4]);
        struct cron c;
        int off;
        char msg[256];
        if (cron_parse(expr, &c, &off, msg, sizeof(msg)) < 0) {
            /* refused as never firing: then no day of 8 years matches it */
            if (!strstr(msg, "schedule never fires: "))
                fail_msg("'%s': %s", expr, msg);
            snprintf(expr, sizeof(expr), "%s %s %s * %s", f[0], f[1], f[2], f[4]);
            c = parse_ok(expr);
            snprintf(expr, sizeof(expr), "* * * %s *", f[3]);
            c.month = parse_ok(expr).month;
            for (time_t t = utc(2023, 1, 1, 0, 0); t < utc(2031, 1, 1, 0, 0); t += 86400)
                assert_false(naive_day_match(&c, t));
            continue;
        }
        time_t want = (time_t)-1;
        for (time_t t = after - after % 60 + 60; t <= after + window; t += 60) {
            if (naive_match(&c, t)) {
                want = t;
                break;
            }
        }
        time_t got = cron_next(&c, after);
        if (want != (time_t)-1) {
            found++;
            assert_next(expr, after, want);
        } else if (got != (time_t)-1) {
            /* nothing in the window: the answer must lie beyond it, and match */
            assert_true(got > after + window);
            assert_true(naive_match(&c, got));
        }
    }
#undef PICK
    assert_true(found > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_fields),
        cmocka_unit_test(test_parse_names),
        cmocka_unit_test(test_parse_macros),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_never_fires),
        cmocka_unit_test(test_next_every_quarter_hour),
        cmocka_unit_test(test_next_month_ends),
        cmocka_unit_test(test_next_leap_day),
        cmocka_unit_test(test_next_dom_or_dow),
        cmocka_unit_test(test_next_ranges_steps_names),
        cmocka_unit_test(test_next_macros),
        cmocka_unit_test(test_next_impossible),
        cmocka_unit_test(test_next_is_fast),
        cmocka_unit_test(test_next_extreme_times),
        cmocka_unit_test(test_next_agrees_with_naive_search),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
