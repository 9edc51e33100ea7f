/* What the shim tests share: the shim binary under test, a step's expected environment, fds and
 * signals, and helpers for temporary folders, logs and process groups. Included by
 * tests/unit/test_spawn.c and test_shim_serve.c; static inline, as each test binary is built
 * from its one .c file (see the Makefile). */
#ifndef SLUICE_TESTS_UNIT_SPAWN_HELPERS_H
#define SLUICE_TESTS_UNIT_SPAWN_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/strbuf.h"
#include "util/xalloc.h"

#define WAIT_MS 20000 /* generous: the sanitizer build on a busy 2-core machine is slow */

static char shim_bin[PATH_MAX];

/* A step's environment is exactly the one asked for, in its order. */
static char *step_envp[] = {"SLUICE_STEP=train", "B=two words", "EMPTY=", "PATH=/usr/bin:/bin",
                            NULL};
#define ENV_EXPECTED "SLUICE_STEP=train\nB=two words\nEMPTY=\nPATH=/usr/bin:/bin\n"

/* The shell lists its fds with builtins only (a listing process or a glob would open fds of its
 * own), then where its stdin comes from, and its ignored standard signals (glibc's posix_spawn
 * leaves its two internal ones, 32 and 33, ignored: not ours). Not its blocked signals: dash
 * unblocks them all, so that takes a process that does not (sigblk_argv). */
#define FD_SCRIPT                                                                                  \
    "n=0; while [ $n -lt 64 ]; do [ -e /proc/$$/fd/$n ] && printf '%s ' $n; n=$((n+1)); done; "    \
    "readlink /proc/$$/fd/0; "                                                                     \
    "while read k v; do case $k in SigIgn:) echo $k $((0x$v & 0x7fffffff));; esac; "               \
    "done < /proc/$$/status"
#define FD_EXPECTED "0 1 2 /dev/null\nSigIgn: 0\n"
static char *sigblk_argv[] = {"/bin/grep", "SigBlk", "/proc/self/status", NULL};
#define SIGBLK_EXPECTED "SigBlk:\t0000000000000000\n"

static inline int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline void temp_dir(char *buf, size_t size)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(buf, size, "%s/sluice-spawn.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(buf));
}

static inline int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void rm_tree(const char *path)
{
    assert_int_equal(nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

static inline void write_file(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    free(path);
}

static inline void read_log(const char *dir, struct strbuf *sb)
{
    char *path = xasprintf("%s/log", dir);
    strbuf_reset(sb);
    assert_int_equal(strbuf_read_file(sb, path, 1 << 20), 0);
    free(path);
}

static inline void assert_log(const char *dir, const char *want)
{
    struct strbuf log = STRBUF_INIT;
    read_log(dir, &log);
    assert_string_equal(log.buf, want);
    strbuf_release(&log);
}

/* The pid a step wrote to DIR/step.pid (`echo $$ > …`), waiting for the whole line. */
static inline pid_t step_pid(const char *dir)
{
    char *path = xasprintf("%s/step.pid", dir);
    struct strbuf sb = STRBUF_INIT;
    int64_t until = mono_ms() + WAIT_MS;
    for (;;) {
        strbuf_reset(&sb);
        if ((strbuf_read_file(&sb, path, 64) == 0 && sb.len && sb.buf[sb.len - 1] == '\n') ||
            mono_ms() > until)
            break;
        usleep(5000);
    }
    long pid = strtol(sb.buf, NULL, 10);
    strbuf_release(&sb);
    free(path);
    assert_true(pid > 0);
    return (pid_t)pid;
}

static inline bool group_gone(pid_t pgid)
{
    return kill(-pgid, 0) < 0 && errno == ESRCH;
}

/* "2026-11-24T19:00:00.123Z" */
static inline void assert_iso_ms(const char *t)
{
    assert_int_equal(strlen(t), 24);
    assert_true(t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' && t[16] == ':' &&
                t[19] == '.' && t[23] == 'Z');
}

static inline int skip_without_bin(void **state)
{
    (void)state;
    if (!shim_bin[0]) {
        print_message("no shim binary: set SLUICE_BIN to a built sluice\n");
        skip();
    }
    return 0;
}

/* A test that runs the shim: skipped when there is none. */
#define WITH_BIN(t) cmocka_unit_test_setup(t, skip_without_bin)

/* Point shim_bin at $SLUICE_BIN (tests/run.sh sets it), or else at this test binary itself,
 * whose main() then serves as the shim by routing "shim" to shim_main. prog names the binary in
 * messages. Returns -1 when SLUICE_BIN cannot be resolved. */
static inline int shim_bin_find(const char *prog)
{
    const char *bin = getenv("SLUICE_BIN");
    if (bin && *bin) {
        if (!realpath(bin, shim_bin)) {
            fprintf(stderr, "%s: SLUICE_BIN '%s': %s\n", prog, bin, strerror(errno));
            return -1;
        }
    } else {
        ssize_t n = readlink("/proc/self/exe", shim_bin, sizeof(shim_bin) - 1);
        if (n > 0) {
            shim_bin[n] = '\0';
            fprintf(stderr, "%s: SLUICE_BIN is not set: this binary runs as the shim\n", prog);
        } else {
            shim_bin[0] = '\0'; /* every test that runs the shim skips */
        }
    }
    return 0;
}

#endif
