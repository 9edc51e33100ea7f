/* Unit tests for util/strbuf.c: building strings, shell quoting, and reading files — whole files
 * with a cap, and strbuf_read_regular, which refuses what a step may put in a file's place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

struct fx {
    char dir[64];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->dir, "/tmp/sluice-strbuf.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    *state = f;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static char *write_tmp(const struct fx *f, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static void test_build_and_quote(void **state)
{
    (void)state;
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, "a");
    strbuf_addch(&sb, '=');
    strbuf_addf(&sb, "%d", 42);
    assert_string_equal(sb.buf, "a=42");
    strbuf_reset(&sb);
    strbuf_add_shell_quoted(&sb, "it's $HOME");
    assert_string_equal(sb.buf, "'it'\\''s $HOME'");
    size_t len;
    char *s = strbuf_detach(&sb, &len);
    assert_int_equal(len, strlen(s));
    free(s);
    assert_int_equal(sb.len, 0); /* detach leaves an empty, usable buffer */
    strbuf_release(&sb);
}

static void test_read_file_and_cap(void **state)
{
    struct fx *f = *state;
    char *path = write_tmp(f, "ten", "0123456789");
    struct strbuf sb = STRBUF_INIT;
    assert_int_equal(strbuf_read_file(&sb, path, 100), 0);
    assert_string_equal(sb.buf, "0123456789");
    strbuf_reset(&sb);
    assert_int_equal(strbuf_read_file(&sb, path, 4), -2);
    assert_string_equal(sb.buf, "0123"); /* the first cap bytes */
    strbuf_reset(&sb);
    assert_int_equal(strbuf_read_regular(&sb, path, 100), 0);
    assert_string_equal(sb.buf, "0123456789");
    strbuf_reset(&sb);
    assert_int_equal(strbuf_read_regular(&sb, path, 4), -2);
    strbuf_reset(&sb);
    char *missing = xasprintf("%s/missing", f->dir);
    assert_int_equal(strbuf_read_regular(&sb, missing, 100), -1);
    assert_int_equal(errno, ENOENT);
    /* a symbolic link is followed to the regular file it names */
    char *link = xasprintf("%s/link", f->dir);
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(strbuf_read_regular(&sb, link, 100), 0);
    assert_string_equal(sb.buf, "0123456789");
    strbuf_release(&sb);
    free(link);
    free(missing);
    free(path);
}

/* A FIFO with no writer, and a device that never ends: refused at once, nothing read. */
static void test_read_regular_refuses_the_rest(void **state)
{
    struct fx *f = *state;
    char *fifo = xasprintf("%s/fifo", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    struct strbuf sb = STRBUF_INIT;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(strbuf_read_regular(&sb, fifo, 100), -3);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 2); /* it did not wait for a writer */
    assert_int_equal(sb.len, 0);
    assert_int_equal(strbuf_read_regular(&sb, "/dev/zero", 100), -3);
    char *link = xasprintf("%s/zero", f->dir);
    assert_int_equal(symlink("/dev/zero", link), 0);
    assert_int_equal(strbuf_read_regular(&sb, link, 100), -3);
    assert_int_equal(strbuf_read_regular(&sb, f->dir, 100), -3); /* a folder */
    assert_int_equal(sb.len, 0);
    strbuf_release(&sb);
    free(link);
    free(fifo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_and_quote),
        cmocka_unit_test_setup_teardown(test_read_file_and_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_regular_refuses_the_rest, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
