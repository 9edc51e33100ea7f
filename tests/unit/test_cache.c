/* Tests for how the cache's files are named for people: code or data (scheduler/cache.h), and
 * the cache-miss reason that names them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "scheduler/cache.h"
#include "scheduler/engine_int.h"

static void test_file_role(void **state)
{
    (void)state;
    static const char *const code[] = {"steps/train.py", "run.sh", "x/Model.R", "a/b/c.SQL",
                                       "Makefile", "bin/train", "nb.ipynb", "lib/util.c"};
    static const char *const data[] = {"data/churn.csv", "d/x.parquet", "params.json",
                                       "p.yaml", "feat.npy", "model.pkl", "rows.jsonl",
                                       "t.tsv", "archive.tar.gz"};
    for (size_t i = 0; i < sizeof(code) / sizeof(code[0]); i++)
        if (strcmp(cache_file_role("task", code[i]), "code"))
            fail_msg("'%s' should be code", code[i]);
    for (size_t i = 0; i < sizeof(data) / sizeof(data[0]); i++)
        if (strcmp(cache_file_role("train", data[i]), "data"))
            fail_msg("'%s' should be data", data[i]);
    /* a built-in's files are what it reads, whatever their names */
    assert_string_equal(cache_file_role("ingest", "data/raw"), "data");
    assert_string_equal(cache_file_role("ingest", "export.py"), "data");
    assert_string_equal(cache_file_role("crawl", "x.sh"), "data");
    assert_string_equal(cache_file_role(NULL, "x.py"), "code");
}

static void test_miss_names_code_and_data(void **state)
{
    (void)state;
    const char *a = "{\"kind\": \"task\", \"outputs\": [], \"files\": {\"data/lookup.csv\": \"1\", "
                    "\"steps/fit.sh\": \"2\", \"old.py\": \"3\", \"gone.csv\": \"4\"}}";
    const char *b = "{\"kind\": \"task\", \"outputs\": [], \"files\": {\"data/lookup.csv\": \"5\", "
                    "\"steps/fit.sh\": \"6\", \"old.py\": \"3\", \"new.parquet\": \"7\"}}";
    char *why = cache_explain_miss(a, b);
    assert_string_equal(why, "data 'data/lookup.csv' changed, code 'steps/fit.sh' changed, "
                             "data 'new.parquet' is new, data 'gone.csv' is gone");
    free(why);
    const char *c = "{\"kind\": \"ingest\", \"outputs\": [], \"files\": {\"data/raw\": \"1\"}}";
    const char *d = "{\"kind\": \"ingest\", \"outputs\": [], \"files\": {\"data/raw\": \"2\"}}";
    why = cache_explain_miss(c, d);
    assert_string_equal(why, "data 'data/raw' changed");
    free(why);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_role),
        cmocka_unit_test(test_miss_names_code_and_data),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
