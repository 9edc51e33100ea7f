/* scheduler/lease.c: engine_drives, the one test of whether a live engine drives a run, that
 * cancel, resume, approve and logs --follow share. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler/engine.h"
#include "util/xalloc.h"

#define NOW 1767225600000 /* ms */

static bool drives(const char *owner, int64_t expires)
{
    struct run_row r = {0};
    r.lease_owner = (char *)owner;
    r.lease_expires = expires;
    return engine_drives(&r, NOW);
}

static void test_no_owner(void **state)
{
    (void)state;
    assert_false(drives(NULL, NOW + 10000));
    assert_false(drives("", NOW + 10000));
}

/* This process is a live engine of this host: it drives the run while its lease holds. */
static void test_this_process(void **state)
{
    (void)state;
    const char *me = engine_owner_id();
    assert_true(drives(me, NOW + 10000));
    assert_true(drives(me, NOW + 1));
    assert_false(drives(me, NOW));
    assert_false(drives(me, NOW - 1));
}

/* A process of this host that is gone (here: this pid with another start time, as after a
 * reuse of the pid) drives nothing, whatever its lease says. */
static void test_dead_process_of_this_host(void **state)
{
    (void)state;
    char *owner = xstrdup(engine_owner_id());
    char *start = strrchr(owner, ':');
    assert_non_null(start);
    char *dead = xasprintf("%.*s:%llu", (int)(start - owner), owner,
                           strtoull(start + 1, NULL, 10) + 1);
    assert_false(drives(dead, NOW + 10000));
    free(dead);
    free(owner);
}

/* Another host's engine cannot be asked: only its lease tells. */
static void test_other_host(void **state)
{
    (void)state;
    assert_true(drives("elsewhere.invalid:4242:1", NOW + 10000));
    assert_false(drives("elsewhere.invalid:4242:1", NOW - 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_owner),
        cmocka_unit_test(test_this_process),
        cmocka_unit_test(test_dead_process_of_this_host),
        cmocka_unit_test(test_other_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
