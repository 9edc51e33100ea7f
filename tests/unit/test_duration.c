/* Tests for durations and sizes: parsing (units, fractions, overflow, malformed input) and
 * the compact forms printed for people. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "pipeline/duration.h"

static void assert_duration(const char *s, int64_t want)
{
    int64_t ms = -12345;
    if (duration_parse(s, &ms) < 0)
        fail_msg("duration_parse('%s') failed", s);
    if (ms != want)
        fail_msg("duration_parse('%s') = %lld, want %lld", s, (long long)ms, (long long)want);
}

static void assert_bad_duration(const char *s)
{
    int64_t ms = -12345;
    if (duration_parse(s, &ms) == 0)
        fail_msg("duration_parse('%s') accepted it as %lld", s, (long long)ms);
    assert_true(ms == -12345); /* untouched on failure */
}

static void assert_size(const char *s, int64_t want)
{
    int64_t b = -12345;
    if (size_parse(s, &b) < 0)
        fail_msg("size_parse('%s') failed", s);
    if (b != want)
        fail_msg("size_parse('%s') = %lld, want %lld", s, (long long)b, (long long)want);
}

static void assert_bad_size(const char *s)
{
    int64_t b = -12345;
    if (size_parse(s, &b) == 0)
        fail_msg("size_parse('%s') accepted it as %lld", s, (long long)b);
    assert_true(b == -12345);
}

static void assert_dformat(int64_t ms, const char *want)
{
    char buf[32];
    duration_format(ms, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void assert_sformat(int64_t bytes, const char *want)
{
    char buf[32];
    size_format(bytes, buf, sizeof(buf));
    assert_string_equal(buf, want);
}

static void test_duration_units(void **state)
{
    (void)state;
    assert_duration("0", 0);
    assert_duration("0s", 0);
    assert_duration("0ms", 0);
    assert_duration("500ms", 500);
    assert_duration("5s", 5000);
    assert_duration("10m", 600000);
    assert_duration("2h", 7200000);
    assert_duration("7d", 604800000);
    assert_duration("30m", 1800000);
    assert_duration("007s", 7000);
}

static void test_duration_fractions_and_compounds(void **state)
{
    (void)state;
    assert_duration("1.5h", 5400000);
    assert_duration("0.5s", 500);
    assert_duration("0.25d", 21600000);
    assert_duration("1.0005s", 1001); /* rounded to the nearest millisecond */
    assert_duration("1.0004s", 1000);
    assert_duration("0.0004s", 0);
    assert_duration("2.123456789012345678s", 2123);
    assert_duration("1h30m", 5400000);
    assert_duration("1d2h3m4s5ms", 93784005);
    assert_duration("1h1h", 7200000);
}

static void test_duration_limits(void **state)
{
    (void)state;
    assert_duration("9223372036854775807ms", INT64_MAX);
    assert_duration("106751991167d", 106751991167LL * 86400000);
    assert_bad_duration("9223372036854775808ms");
    assert_bad_duration("106751991168d");
    assert_bad_duration("99999999999999999999999s");
    assert_bad_duration("106751991167d1d");
    assert_bad_duration("9223372036854775807ms1ms");
}

static void test_duration_errors(void **state)
{
    (void)state;
    assert_bad_duration("");
    assert_bad_duration("5");      /* no unit */
    assert_bad_duration("00");
    assert_bad_duration("1.5");
    assert_bad_duration("-5s");    /* negative */
    assert_bad_duration("+5s");
    assert_bad_duration("5x");     /* unknown unit */
    assert_bad_duration("5S");
    assert_bad_duration("5M");
    assert_bad_duration("5sec");
    assert_bad_duration("5 s");
    assert_bad_duration(" 5s");
    assert_bad_duration("5s ");
    assert_bad_duration("1h 30m");
    assert_bad_duration("s");
    assert_bad_duration(".5s");
    assert_bad_duration("5.s");
    assert_bad_duration("1e3s");
    assert_bad_duration("5ms5");
    assert_bad_duration("0x10s");
    assert_bad_duration(NULL);
}

static void test_duration_format(void **state)
{
    (void)state;
    assert_dformat(0, "0ms");
    assert_dformat(850, "850ms");
    assert_dformat(999, "999ms");
    assert_dformat(1000, "1s");
    assert_dformat(12000, "12s");
    assert_dformat(12999, "12s");
    assert_dformat(59999, "59s");
    assert_dformat(60000, "1m00s");
    assert_dformat(184000, "3m04s");
    assert_dformat(3599999, "59m59s");
    assert_dformat(3600000, "1h00m");
    assert_dformat(7500000, "2h05m");
    assert_dformat(86399999, "23h59m");
    assert_dformat(86400000, "1d");
    assert_dformat(604800000, "7d");
    assert_dformat(93600000, "1d02h");
    assert_dformat(-1500, "-1s");
    assert_dformat(INT64_MAX, "106751991167d07h");
    assert_dformat(INT64_MIN, "-106751991167d07h");

    /* a short buffer truncates, never overruns */
    char buf[4] = "xxx";
    duration_format(850, buf, sizeof(buf));
    assert_string_equal(buf, "850");
    duration_format(850, buf, 0);
    assert_string_equal(buf, "850");
}

static void test_size_parse(void **state)
{
    (void)state;
    assert_size("0", 0);
    assert_size("512", 512);
    assert_size("512B", 512);
    assert_size("512b", 512);
    assert_size("10K", 10240);
    assert_size("10k", 10240);
    assert_size("1M", 1048576);
    assert_size("1G", 1073741824);
    assert_size("10G", 10737418240LL);
    assert_size("2T", 2199023255552LL);
    assert_size("1KB", 1024);
    assert_size("1KiB", 1024);
    assert_size("1kib", 1024);
    assert_size("3MB", 3145728);
    assert_size("3MiB", 3145728);
    assert_size("1.5K", 1536);
    assert_size("0.5G", 536870912);
    assert_size("1.0", 1);
    assert_size("8388607T", 8388607LL << 40);
    assert_size("9223372036854775807", INT64_MAX);
}

static void test_size_errors(void **state)
{
    (void)state;
    assert_bad_size("");
    assert_bad_size("K");
    assert_bad_size("-1K");
    assert_bad_size("+1K");
    assert_bad_size("1X");
    assert_bad_size("1P");
    assert_bad_size("1Ki");
    assert_bad_size("1KiBB");
    assert_bad_size("1 K");
    assert_bad_size("1K ");
    assert_bad_size("1.5");   /* a fraction of a byte */
    assert_bad_size("1.5B");
    assert_bad_size("1.K");
    assert_bad_size("8388608T");
    assert_bad_size("9223372036854775808");
    assert_bad_size("99999999999999999999999");
    assert_bad_size(NULL);
}

static void test_size_format(void **state)
{
    (void)state;
    assert_sformat(0, "0B");
    assert_sformat(512, "512B");
    assert_sformat(1023, "1023B");
    assert_sformat(1024, "1.0K");
    assert_sformat(1536, "1.5K");
    assert_sformat(20971520, "20.0M");
    assert_sformat(1073741824, "1.0G");
    assert_sformat(1048575, "1.0M"); /* 1023.999K would print as 1024.0K */
    assert_sformat(5LL << 40, "5.0T");
    assert_sformat(INT64_MAX, "8.0E");
    assert_sformat(-2048, "-2.0K");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_units),
        cmocka_unit_test(test_duration_fractions_and_compounds),
        cmocka_unit_test(test_duration_limits),
        cmocka_unit_test(test_duration_errors),
        cmocka_unit_test(test_duration_format),
        cmocka_unit_test(test_size_parse),
        cmocka_unit_test(test_size_errors),
        cmocka_unit_test(test_size_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
