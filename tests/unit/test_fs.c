/* Unit tests for util/fs.c: mkdir -p from the bottom up. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fs.h"
#include "util/xalloc.h"

static char *tmp_root(void)
{
    const char *t = getenv("TMPDIR");
    char *root = xasprintf("%s/sluice-fs.XXXXXX", t && *t ? t : "/tmp");
    assert_non_null(mkdtemp(root));
    return root;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static void cleanup(const char *root)
{
    char *cmd = xasprintf("rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void test_creates_missing_parents(void **state)
{
    (void)state;
    char *root = tmp_root();
    char *deep = xasprintf("%s/a/b/c/d", root);
    struct err e = ERR_INIT;
    assert_int_equal(fs_mkdir_p(deep, 0755, &e), 0);
    assert_true(is_dir(deep));
    /* Again: an existing folder is fine. */
    assert_int_equal(fs_mkdir_p(deep, 0755, &e), 0);
    /* A sibling under an existing parent, with a trailing slash. */
    char *sib = xasprintf("%s/a/b/x/", root);
    assert_int_equal(fs_mkdir_p(sib, 0755, &e), 0);
    assert_true(is_dir(sib));
    free(sib);
    free(deep);
    cleanup(root);
    free(root);
}

static void test_names_the_folder_that_failed(void **state)
{
    (void)state;
    char *root = tmp_root();
    char *file = xasprintf("%s/file", root);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    char *under = xasprintf("%s/file/x/y", root);
    struct err e = ERR_INIT;
    assert_int_equal(fs_mkdir_p(under, 0755, &e), -1);
    /* The kernel says ENOTDIR for the path itself: nothing above it is created or blamed. */
    char *want = xasprintf("cannot create folder '%s/file/x/y': Not a directory", root);
    assert_string_equal(e.msg, want);
    free(want);
    free(under);
    free(file);
    cleanup(root);
    free(root);
}

static void test_relative_path(void **state)
{
    (void)state;
    char *root = tmp_root();
    char cwd[4096];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(root), 0);
    struct err e = ERR_INIT;
    assert_int_equal(fs_mkdir_p("p/q", 0755, &e), 0);
    assert_true(is_dir("p/q"));
    assert_int_equal(chdir(cwd), 0);
    cleanup(root);
    free(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creates_missing_parents),
        cmocka_unit_test(test_names_the_folder_that_failed),
        cmocka_unit_test(test_relative_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
