/* Unit tests for util/sha256.c, the one SHA-256 of sluice: the digest in one call and piece by
 * piece, the hex it is written in, and the store's pipeline versions made with it. */
#include "tests/unit/store_fixture.h"

#include "util/sha256.h"

/* FIPS 180-2's examples */
#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void test_one_call(void **state)
{
    (void)state;
    char hex[DIGEST_HEX_LEN + 1];
    sha256_hex("abc", 3, hex);
    assert_string_equal(hex, ABC);
    sha256_hex("", 0, hex);
    assert_string_equal(hex, EMPTY);
}

static void test_pieces(void **state)
{
    (void)state;
    char hex[DIGEST_HEX_LEN + 1];
    struct sha256 *h = sha256_new();
    sha256_update(h, "a", 1);
    sha256_update(h, "", 0);
    sha256_update(h, "bc", 2);
    sha256_final(h, hex);
    sha256_free(h);
    assert_string_equal(hex, ABC);
    sha256_free(sha256_new()); /* abandoned midway */
    sha256_free(NULL);
}

static void test_hex_encode(void **state)
{
    (void)state;
    const unsigned char raw[] = {0x00, 0xff, 0x1a, 0xa1};
    char hex[2 * sizeof(raw) + 1];
    memset(hex, 'x', sizeof(hex));
    hex_encode(raw, sizeof(raw), hex);
    assert_string_equal(hex, "00ff1aa1");
    hex_encode(raw, 0, hex);
    assert_string_equal(hex, "");
}

/* A run's pipeline version is the SHA-256 of its text, the same digest as everywhere else. */
static void test_store_version(void **state)
{
    struct fx *f = *state;
    int64_t id = new_run(f->st, "alpha");
    struct run_row r;
    OK(store_run_get(f->st, id, &r, E));
    char hex[DIGEST_HEX_LEN + 1];
    sha256_hex(yaml_a, strlen(yaml_a), hex);
    assert_string_equal(r.version, hex);
    run_row_release(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_call),
        cmocka_unit_test(test_pieces),
        cmocka_unit_test(test_hex_encode),
        cmocka_unit_test_setup_teardown(test_store_version, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
