/* Unit tests for util/strmap.c: put, add, get, growth, keys copied. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/strmap.h"

static void test_empty_map(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    size_t v = 7;
    assert_false(strmap_get(&m, "x", &v));
    assert_int_equal(v, 7);
    strmap_release(&m);
    strmap_release(&m); /* releasing twice is harmless */
}

static void test_put_get_replace(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    size_t v;
    assert_true(strmap_put(&m, "train", 3));
    assert_true(strmap_put(&m, "", 9)); /* the empty string is a key like any other */
    assert_true(strmap_get(&m, "train", &v));
    assert_int_equal(v, 3);
    assert_false(strmap_put(&m, "train", 4));
    assert_true(strmap_get(&m, "train", &v));
    assert_int_equal(v, 4);
    assert_true(strmap_get(&m, "", &v));
    assert_int_equal(v, 9);
    assert_false(strmap_get(&m, "trai", NULL));
    assert_false(strmap_get(&m, "trains", NULL));
    assert_int_equal(m.n, 2);
    strmap_release(&m);
    assert_int_equal(m.n, 0);
    assert_false(strmap_get(&m, "train", NULL));
}

static void test_add_keeps_first(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    size_t old = 0, v;
    assert_true(strmap_add(&m, "a", 1, &old));
    assert_false(strmap_add(&m, "a", 2, &old));
    assert_int_equal(old, 1);
    assert_true(strmap_get(&m, "a", &v));
    assert_int_equal(v, 1);
    assert_false(strmap_add(&m, "a", 5, NULL));
    strmap_release(&m);
}

static void test_keys_are_copied(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    char key[] = "ingest";
    strmap_put(&m, key, 1);
    key[0] = 'X';
    assert_true(strmap_get(&m, "ingest", NULL));
    assert_false(strmap_get(&m, "Xngest", NULL));
    strmap_release(&m);
}

/* Many keys through several growths, then every one is still found with its own value. */
static void test_growth(void **state)
{
    (void)state;
    struct strmap m;
    strmap_init(&m);
    char key[32];
    for (size_t i = 0; i < 50000; i++) {
        snprintf(key, sizeof(key), "step-%zu", i);
        assert_true(strmap_put(&m, key, i * 2));
    }
    assert_int_equal(m.n, 50000);
    assert_true(m.cap >= 2 * m.n);
    for (size_t i = 0; i < 50000; i++) {
        size_t v;
        snprintf(key, sizeof(key), "step-%zu", i);
        assert_true(strmap_get(&m, key, &v));
        assert_int_equal(v, i * 2);
    }
    assert_false(strmap_get(&m, "step-50000", NULL));
    strmap_release(&m);
}

static void test_reserve_then_fill(void **state)
{
    (void)state;
    struct strmap m = STRMAP_INIT;
    strmap_reserve(&m, 1000);
    size_t cap = m.cap;
    char key[32];
    for (size_t i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "k%zu", i);
        strmap_put(&m, key, i);
    }
    assert_int_equal(m.cap, cap); /* no growth after reserving */
    strmap_release(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_map),
        cmocka_unit_test(test_put_get_replace),
        cmocka_unit_test(test_add_keeps_first),
        cmocka_unit_test(test_keys_are_copied),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_reserve_then_fill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
