/* Tests for the Slurm executor's pure parts (executor/slurm_int.h): job states, squeue lines and
 * their times, which command failures are transient and how their messages read, job names,
 * --time and --mem values, the job's batch script (run through /bin/sh to check its quoting and
 * its claim), and how a job's end is settled from its exit.json and Slurm's state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "executor/slurm_int.h"
#include "util/strbuf.h"

/* ---- states ---- */

static void test_state_classes(void **state)
{
    (void)state;
    static const struct {
        const char *state;
        enum slurm_class cls;
        bool ended;
    } cases[] = {
        {"PENDING", SLURM_WAITING, false},
        {"CONFIGURING", SLURM_WAITING, false},
        {"REQUEUED", SLURM_WAITING, false},
        {"REQUEUE_FED", SLURM_WAITING, false},
        {"REQUEUE_HOLD", SLURM_WAITING, false},
        {"RESV_DEL_HOLD", SLURM_WAITING, false},
        {"SUSPENDED", SLURM_WAITING, false},
        {"RUNNING", SLURM_RUNNING, false},
        {"COMPLETING", SLURM_RUNNING, false},
        {"STOPPED", SLURM_RUNNING, false},
        {"SIGNALING", SLURM_RUNNING, false},
        {"STAGE_OUT", SLURM_RUNNING, false},
        {"RESIZING", SLURM_RUNNING, false},
        {"COMPLETED", SLURM_COMPLETED, true},
        {"FAILED", SLURM_COMPLETED, true},
        {"TIMEOUT", SLURM_TIMEOUT, true},
        {"DEADLINE", SLURM_TIMEOUT, true},
        {"OUT_OF_MEMORY", SLURM_OOM, true},
        {"CANCELLED", SLURM_CANCELLED, true},
        {"NODE_FAIL", SLURM_LOST, true},
        {"PREEMPTED", SLURM_LOST, true},
        {"BOOT_FAIL", SLURM_LOST, true},
        {"REVOKED", SLURM_LOST, true},
        {"SPECIAL_EXIT", SLURM_LOST, true},
        /* as sacct and some squeue versions print them */
        {"CANCELLED by 0", SLURM_CANCELLED, true},
        {"CANCELLED by 1000", SLURM_CANCELLED, true},
        {"CANCELLED+", SLURM_CANCELLED, true},
        /* what this build does not know: waiting, never over */
        {"LAUNCH_FAILED_SOMEDAY", SLURM_WAITING, false},
        {"", SLURM_WAITING, false},
        {"RUN", SLURM_WAITING, false},        /* a prefix of RUNNING */
        {"COMPLETEDX", SLURM_WAITING, false}, /* COMPLETED and more */
        {"completed", SLURM_WAITING, false},  /* Slurm's states are upper case */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum slurm_class got = slurm_state_class(cases[i].state);
        if (got != cases[i].cls)
            fail_msg("slurm_state_class('%s') = %d, want %d", cases[i].state, (int)got,
                     (int)cases[i].cls);
        if (slurm_state_ended(cases[i].state) != cases[i].ended)
            fail_msg("slurm_state_ended('%s') = %d, want %d", cases[i].state,
                     !cases[i].ended, cases[i].ended);
    }
}

/* ---- squeue ---- */

#define T_140305 1796220185000LL /* 2026-12-02T14:03:05Z (date -u -d ... +%s) */

/* line parses into these fields (node and reason as read, "" for none). */
static void assert_line(const char *line, const char *job_id, const char *st, const char *node,
                        const char *reason, const char *name, int64_t submit_ms, int64_t start_ms)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", line);
    struct squeue_line l;
    if (slurm_parse_squeue_line(buf, &l) != 0)
        fail_msg("slurm_parse_squeue_line('%s') refused it", line);
    assert_ptr_equal(l.job_id, buf); /* the fields point into the line */
    assert_string_equal(l.job_id, job_id);
    assert_string_equal(l.state, st);
    assert_string_equal(l.node, node);
    assert_string_equal(l.reason, reason);
    assert_string_equal(l.name, name);
    if (l.submit_ms != submit_ms || l.start_ms != start_ms)
        fail_msg("'%s': submit %lld, start %lld, want %lld, %lld", line, (long long)l.submit_ms,
                 (long long)l.start_ms, (long long)submit_ms, (long long)start_ms);
}

static void test_squeue_lines(void **state)
{
    (void)state;
    assert_line("812|RUNNING|2026-12-02T14:03:05|2026-12-02T14:03:06|vm|None|sluice-ab12cd34-17",
                "812", "RUNNING", "vm", "", "sluice-ab12cd34-17", T_140305, T_140305 + 1000);
    /* pending: no start yet, no node, Slurm's reason; the newline is not the name's */
    assert_line("813|PENDING|2026-12-02T14:03:05|N/A||Resources|sluice-ab12cd34-18\n", "813",
                "PENDING", "", "Resources", "sluice-ab12cd34-18", T_140305, 0);
    assert_line("815|PENDING|2026-12-02T14:03:05|N/A||Priority|sluice-ab12cd34-20", "815",
                "PENDING", "", "Priority", "sluice-ab12cd34-20", T_140305, 0);
    assert_line("814|PENDING|Unknown|Unknown|(null)|(null)|sluice-ab12cd34-19\r\n", "814",
                "PENDING", "", "", "sluice-ab12cd34-19", 0, 0);
    /* another tool's job: the name is the rest of the line, bars and all */
    assert_line("900|RUNNING|2026-12-02T14:03:05|2026-12-02T14:03:06|n1|None|a|b||c|", "900",
                "RUNNING", "n1", "", "a|b||c|", T_140305, T_140305 + 1000);
    assert_line("901|CANCELLED by 0|N/A|N/A|n1|None|", "901", "CANCELLED by 0", "n1", "", "", 0,
                0);
}

static void test_squeue_bad_lines(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "\n",
        "812",
        "812|RUNNING",
        "812|RUNNING|2026-12-02T14:03:05|2026-12-02T14:03:06|vm|None", /* no name field */
        "|RUNNING|2026-12-02T14:03:05|2026-12-02T14:03:06|vm|None|sluice-ab12cd34-17",
        "812||2026-12-02T14:03:05|2026-12-02T14:03:06|vm|None|sluice-ab12cd34-17",
        "squeue: error: slurm_load_jobs error: Unable to contact slurm controller",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[256];
        snprintf(buf, sizeof(buf), "%s", bad[i]);
        struct squeue_line l;
        if (slurm_parse_squeue_line(buf, &l) != -1)
            fail_msg("slurm_parse_squeue_line('%s') accepted it", bad[i]);
    }
}

/* sacct -n -P -X -o JobID,State: the job's line, never a step's. */
static void test_sacct_lines(void **state)
{
    (void)state;
    const char *id, *st;
    char a[] = "812|CANCELLED by 1000\n";
    assert_int_equal(slurm_parse_sacct_line(a, &id, &st), 0);
    assert_string_equal(id, "812");
    assert_string_equal(st, "CANCELLED by 1000");
    assert_int_equal(slurm_state_class(st), SLURM_CANCELLED);
    char b[] = "77_3|NODE_FAIL";
    assert_int_equal(slurm_parse_sacct_line(b, &id, &st), 0);
    assert_string_equal(id, "77_3");
    assert_string_equal(st, "NODE_FAIL");
    char step[] = "812.batch|COMPLETED", none[] = "", nostate[] = "812|", noid[] = "|FAILED",
         extra[] = "812|FAILED|x", words[] = "Slurm accounting storage is disabled";
    assert_int_equal(slurm_parse_sacct_line(step, &id, &st), -1);
    assert_int_equal(slurm_parse_sacct_line(none, &id, &st), -1);
    assert_int_equal(slurm_parse_sacct_line(nostate, &id, &st), -1);
    assert_int_equal(slurm_parse_sacct_line(noid, &id, &st), -1);
    assert_int_equal(slurm_parse_sacct_line(extra, &id, &st), -1);
    assert_int_equal(slurm_parse_sacct_line(words, &id, &st), -1);
}

static void test_time_ms(void **state)
{
    (void)state;
    assert_true(slurm_time_ms("2026-12-02T14:03:05") == T_140305);
    assert_true(slurm_time_ms("1970-01-01T00:00:01") == 1000);
    assert_true(slurm_time_ms("2000-02-29T23:59:59") == 951868799000LL);
    /* UTC whatever this process's time zone */
    const char *tz = getenv("TZ");
    char *saved = tz ? strdup(tz) : NULL;
    setenv("TZ", "America/New_York", 1);
    tzset();
    int64_t ny = slurm_time_ms("2026-12-02T14:03:05");
    if (saved) {
        setenv("TZ", saved, 1);
        free(saved);
    } else {
        unsetenv("TZ");
    }
    tzset();
    assert_true(ny == T_140305);

    static const char *const none[] = {
        "N/A", "Unknown", "", "None", "yesterday", "2026-12-02", "2026-12-02 14:03:05",
        "2026-12-02T14:03:05Z", "2026-12-02T14:03", "2026-13-02T14:03:05", "1970-01-01T00:00:00",
    };
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        if (slurm_time_ms(none[i]) != 0)
            fail_msg("slurm_time_ms('%s') = %lld, want 0", none[i],
                     (long long)slurm_time_ms(none[i]));
}

/* ---- command failures ---- */

static void test_error_transient(void **state)
{
    (void)state;
    static const char *const transient[] = {
        "sbatch: error: Batch job submission failed: Socket timed out on send/recv operation",
        "slurm_load_jobs error: Unable to contact slurm controller (connect failure)",
        "sbatch: error: Slurm temporarily unable to accept job, sleeping and retrying",
        "Unexpected message received",
        "squeue: error: slurm_receive_msg: Zero Bytes were transmitted or received\n"
        "slurm_load_jobs error: Zero Bytes were transmitted or received\n",
        "scancel: error: Kill job error on job id 812: Socket timed out on send/recv operation",
        "sbatch: error: Batch job submission failed: Resource temporarily unavailable",
        "SBATCH: ERROR: SOCKET TIMED OUT ON SEND/RECV OPERATION", /* any case */
    };
    static const char *const permanent[] = {
        "sbatch: error: Batch job submission failed: Invalid partition name specified",
        "sbatch: error: Batch job submission failed: Invalid account or account/partition "
        "combination specified",
        "sbatch: error: Batch job submission failed: Invalid qos specification",
        "sbatch: error: Batch job submission failed: Requested node configuration is not "
        "available",
        "Invalid qos specification",
        "Requested node configuration is not available",
        "sbatch: error: invalid partition specified: nope\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n",
        "",
    };
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (!slurm_error_transient(transient[i]))
            fail_msg("'%s' taken for permanent", transient[i]);
    for (size_t i = 0; i < sizeof(permanent) / sizeof(permanent[0]); i++)
        if (slurm_error_transient(permanent[i]))
            fail_msg("'%s' taken for transient", permanent[i]);
}

static void assert_error_text(const char *in, const char *want)
{
    char out[256];
    memset(out, 'x', sizeof(out));
    slurm_error_text(in, out, sizeof(out));
    if (strcmp(out, want))
        fail_msg("slurm_error_text('%s') = '%s', want '%s'", in, out, want);
}

static void test_error_text(void **state)
{
    (void)state;
    assert_error_text(
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n",
        "Invalid partition name specified");
    assert_error_text("sbatch: error: invalid partition specified: nope\n"
                      "sbatch: error: Batch job submission failed: Invalid partition name "
                      "specified\n",
                      "invalid partition specified: nope; Invalid partition name specified");
    assert_error_text("squeue: error: Invalid user: nobody\r\n", "Invalid user: nobody");
    assert_error_text("scancel: error: Kill job error on job id 812: Invalid job id specified",
                      "Kill job error on job id 812: Invalid job id specified");
    /* other tools' lines as they are, blank lines and bare prefixes dropped */
    assert_error_text("slurm_load_jobs error: Unable to contact slurm controller (connect "
                      "failure)\n\n   \nsbatch: error: \n",
                      "slurm_load_jobs error: Unable to contact slurm controller (connect "
                      "failure)");
    assert_error_text("", "no message");
    assert_error_text("\n\n", "no message");
    assert_error_text("sbatch: error: \n", "no message");
    assert_error_text("sbatch: error: Batch job submission failed: \n", "no message");

    char small[12];
    slurm_error_text("sbatch: error: Batch job submission failed: Invalid qos specification",
                     small, sizeof(small));
    assert_string_equal(small, "Invalid qos"); /* cut, NUL-terminated */
}

/* ---- job names ---- */

static void test_job_name(void **state)
{
    (void)state;
    static const int64_t ids[] = {1, 9, 10, 17, 123456789, INT64_MAX};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        char name[128];
        slurm_job_name("ab12cd34", ids[i], name, sizeof(name));
        int64_t got = -1;
        if (!slurm_job_name_attempt("ab12cd34", name, &got) || got != ids[i])
            fail_msg("'%s' did not give attempt %lld back", name, (long long)ids[i]);
        /* another workspace's tag never takes it */
        got = -1;
        assert_false(slurm_job_name_attempt("ab12cd35", name, &got));
        assert_true(got == -1);
    }
    char name[64];
    slurm_job_name("ab12cd34", 17, name, sizeof(name));
    assert_string_equal(name, "sluice-ab12cd34-17");

    static const char *const bad[] = {
        "sluice-ffffffff-17",   /* another tag */
        "sluice-ab12cd3-17",    /* a shorter one */
        "sluice-ab12cd345-17",  /* a longer one */
        "sluicex-ab12cd34-17",  /* another prefix */
        "Sluice-ab12cd34-17",
        "snakemake-ab12cd34-17",
        "xsluice-ab12cd34-17",
        "ab12cd34-17",
        "sluice-ab12cd34",
        "sluice-ab12cd34-",
        "sluice-ab12cd34_17",
        "sluice-ab12cd34-17x",  /* trailing junk */
        "sluice-ab12cd34-17 ",
        "sluice-ab12cd34-17-2",
        "sluice-ab12cd34-1.5",
        "sluice-ab12cd34-0",    /* zero and negative ids */
        "sluice-ab12cd34--5",
        "sluice-ab12cd34-+5",
        "sluice-ab12cd34- 5",
        "sluice-ab12cd34-017",  /* not as slurm_job_name writes it */
        "sluice-ab12cd34-9223372036854775808", /* past INT64_MAX */
        "sluice-ab12cd34-99999999999999999999999",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t got = -1;
        if (slurm_job_name_attempt("ab12cd34", bad[i], &got))
            fail_msg("'%s' taken for attempt %lld", bad[i], (long long)got);
        assert_true(got == -1);
    }
}

/* ---- --time and --mem ---- */

static void test_minutes_and_mem(void **state)
{
    (void)state;
    assert_true(slurm_minutes(0) == 1);
    assert_true(slurm_minutes(1) == 1);
    assert_true(slurm_minutes(59999) == 1);
    assert_true(slurm_minutes(60000) == 1);
    assert_true(slurm_minutes(60001) == 2);
    assert_true(slurm_minutes(5000) == 1);
    assert_true(slurm_minutes(7200000) == 120);
    assert_true(slurm_minutes(7200001) == 121);
    assert_true(slurm_minutes(INT64_MAX) == INT64_MAX / 60000 + 1); /* no overflow */

    assert_true(slurm_mem_mib(1) == 1);
    assert_true(slurm_mem_mib(1 << 20) == 1);
    assert_true(slurm_mem_mib((1 << 20) + 1) == 2);
    assert_true(slurm_mem_mib(512LL << 20) == 512);
    assert_true(slurm_mem_mib(16LL << 30) == 16384);
    assert_true(slurm_mem_mib(3LL << 29) == 1536); /* 1.5G */
    assert_true(slurm_mem_mib(INT64_MAX) == (INT64_MAX >> 20) + 1);
}

/* ---- the job's script ---- */

/* A folder for the scripts' runs, with an exec target that records its arguments (at a path
 * that needs quoting), the script's path and where the arguments land. */
struct fx {
    char base[64];
    char *exe, *script, *args;
};

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_true(write(fd, text, n) == (ssize_t)n);
    close(fd);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    strcpy(f->base, "/tmp/sluice-slurm.XXXXXX");
    if (!mkdtemp(f->base)) {
        free(f);
        return -1;
    }
    struct strbuf p = STRBUF_INIT;
    strbuf_addf(&p, "%s/fake sluice's $bin", f->base);
    f->exe = strbuf_detach(&p, NULL);
    strbuf_addf(&p, "%s/job.sh", f->base);
    f->script = strbuf_detach(&p, NULL);
    strbuf_addf(&p, "%s/args", f->base);
    f->args = strbuf_detach(&p, NULL);
    write_file(f->exe,
               "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$ARGS_OUT\"\n",
               0755);
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
    nftw(f->base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f->exe);
    free(f->script);
    free(f->args);
    free(f);
    return 0;
}

/* Write s's script and run it with /bin/sh, the words its exec passes landing in f->args (gone
 * before). Its exit status. */
static int run_script(struct fx *f, const struct slurm_script *s)
{
    struct strbuf sb = STRBUF_INIT;
    slurm_script_write(&sb, s);
    write_file(f->script, sb.buf, 0644);
    strbuf_release(&sb);
    if (unlink(f->args) < 0)
        assert_int_equal(errno, ENOENT);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("ARGS_OUT", f->args, 1);
        execl("/bin/sh", "sh", f->script, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        assert_int_equal(errno, EINTR);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The words in args_path (each ended by a NUL) are exactly want. */
static void assert_words(const char *args_path, const char *const *want)
{
    struct strbuf sb = STRBUF_INIT;
    if (strbuf_read_file(&sb, args_path, 1 << 20) < 0)
        fail_msg("the exec target did not run: no %s", args_path);
    size_t off = 0, i = 0;
    for (; want[i]; i++) {
        if (off >= sb.len)
            fail_msg("word %zu missing, want '%s'", i, want[i]);
        const char *got = sb.buf + off;
        if (strcmp(got, want[i]))
            fail_msg("word %zu is '%s', want '%s'", i, got, want[i]);
        off += strlen(got) + 1;
    }
    if (off != sb.len)
        fail_msg("more words than the %zu wanted, next '%s'", i, sb.buf + off);
    strbuf_release(&sb);
}

static void test_script_text(void **state)
{
    (void)state;
    char *argv[] = {"python3", "train.py", NULL};
    struct slurm_script s = {
        .self_exe = "/opt/sluice/bin/sluice",
        .dir = "/ws/.sluice/runs/7/train/2",
        .workdir = "/ws/proj",
        .argv = argv,
        .timeout_ms = 5000,
        .grace_ms = 2500,
        .run_id = 7,
        .attempt_id = 17,
        .step = "train",
        .n = 2,
    };
    struct strbuf sb = STRBUF_INIT;
    slurm_script_write(&sb, &s);
    assert_true(!strncmp(sb.buf, "#!/bin/sh\n", 10));
    assert_non_null(strstr(sb.buf, "# sluice: run 7, step train, attempt 2 (attempt id 17)\n"));
    const char *claim =
        strstr(sb.buf, "\nmkdir '/ws/.sluice/runs/7/train/2/claim' 2>/dev/null || exit 0\n");
    const char *exec = strstr(sb.buf, "\nexec '/opt/sluice/bin/sluice' shim '/ws/.sluice/runs/7/"
                                      "train/2' --grace 2500 --timeout 5000 --workdir '/ws/proj' "
                                      "-- 'python3' 'train.py'\n");
    assert_non_null(claim);
    assert_non_null(exec);
    assert_true(claim < exec);              /* the claim first */
    assert_true(sb.buf[sb.len - 1] == '\n');
    assert_true(exec + strlen(exec) == sb.buf + sb.len); /* nothing after the exec */

    /* no --timeout without one, the default grace, no --workdir without one, a shell script */
    strbuf_reset(&sb);
    s.timeout_ms = 0;
    s.grace_ms = 0;
    s.workdir = NULL;
    s.argv = NULL;
    s.shell = "make -j4 all";
    slurm_script_write(&sb, &s);
    assert_null(strstr(sb.buf, "--timeout"));
    assert_null(strstr(sb.buf, "--workdir"));
    assert_non_null(strstr(sb.buf, " shim '/ws/.sluice/runs/7/train/2' --grace 10000 --shell -- "
                                   "'make -j4 all'\n"));
    strbuf_release(&sb);
}

static void test_script_runs_argv(void **state)
{
    struct fx *f = *state;
    struct strbuf dir = STRBUF_INIT, wd = STRBUF_INIT;
    strbuf_addf(&dir, "%s/it's attempt 1 $(touch pwned)", f->base);
    assert_int_equal(mkdir(dir.buf, 0755), 0);
    strbuf_addf(&wd, "%s/work dir's `here`", f->base);

    char *argv[] = {"python3",
                    "it's a \"quoted\" arg  with   spaces",
                    "$HOME",
                    "`id`",
                    "$(touch pwned)",
                    "line one\nline two",
                    "",
                    "back\\slash \\'",
                    "*",
                    "'",
                    "''",
                    "--",
                    NULL};
    struct slurm_script s = {
        .self_exe = f->exe,
        .dir = dir.buf,
        .workdir = wd.buf,
        .argv = argv,
        .timeout_ms = 5000,
        .grace_ms = 2500,
        .run_id = 7,
        .attempt_id = 17,
        .step = "train",
        .n = 1,
    };
    assert_int_equal(run_script(f, &s), 0);
    const char *want[] = {"shim",      dir.buf,     "--grace", "2500",    "--timeout",
                          "5000",      "--workdir", wd.buf,    "--",      argv[0],
                          argv[1],     argv[2],     argv[3],   argv[4],   argv[5],
                          argv[6],     argv[7],     argv[8],   argv[9],   argv[10],
                          argv[11],    NULL};
    assert_words(f->args, want);

    /* it claimed the attempt */
    struct strbuf claim = STRBUF_INIT;
    strbuf_addf(&claim, "%s/claim", dir.buf);
    struct stat st;
    assert_int_equal(stat(claim.buf, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    /* nothing was run by the quoting */
    assert_int_not_equal(access("pwned", F_OK), 0);
    char pwned[256];
    snprintf(pwned, sizeof(pwned), "%s/pwned", f->base);
    assert_int_not_equal(access(pwned, F_OK), 0);

    /* claimed already (an adopting engine declared it never started): it does nothing */
    assert_int_equal(run_script(f, &s), 0);
    assert_int_not_equal(access(f->args, F_OK), 0);

    strbuf_release(&claim);
    strbuf_release(&dir);
    strbuf_release(&wd);
}

static void test_script_runs_shell(void **state)
{
    struct fx *f = *state;
    struct strbuf dir = STRBUF_INIT;
    strbuf_addf(&dir, "%s/attempt 2", f->base);
    assert_int_equal(mkdir(dir.buf, 0755), 0);

    const char *shell = "echo \"$HOME\" 'it''s' && cd \"$(dirname x)\"\nexit 3 # done";
    struct slurm_script s = {
        .self_exe = f->exe,
        .dir = dir.buf,
        .shell = shell,
        .run_id = 8,
        .attempt_id = 18,
        .step = "prep",
        .n = 2,
    };
    assert_int_equal(run_script(f, &s), 0);
    const char *want[] = {"shim", dir.buf, "--grace", "10000", "--shell", "--", shell, NULL};
    assert_words(f->args, want);

    /* with the attempt's folder missing (a file system the node does not share), it does
     * nothing and leaves no exit.json: the engine says so */
    strbuf_reset(&dir);
    strbuf_addf(&dir, "%s/not here", f->base);
    s.dir = dir.buf;
    assert_int_equal(run_script(f, &s), 0);
    assert_int_not_equal(access(f->args, F_OK), 0);
    strbuf_release(&dir);
}


/* ---- settling a job's end ---- */

enum file_kind { F_NONE, F_EXIT0, F_EXIT3, F_SIG9, F_SHIM_CANCEL, F_SHIM_TIMEOUT, F_KINDS };

static const char *const file_names[] = {"no exit.json", "exited 0", "exited 3",
                                         "killed by 9", "shim cancelled", "shim timed out"};

static struct exec_result file_of(enum file_kind k)
{
    struct exec_result r;
    memset(&r, 0, sizeof(r));
    r.cpu_s = 1.5;
    r.max_rss_kb = 4096;
    r.started_ms = T_140305;
    snprintf(r.node, sizeof(r.node), "vm");
    switch (k) {
    case F_EXIT3:
        r.exit = 3;
        break;
    case F_SIG9:
        r.signal = SIGKILL;
        break;
    case F_SHIM_CANCEL:
        r.why = EXEC_CANCELLED;
        r.signal = SIGTERM;
        break;
    case F_SHIM_TIMEOUT:
        r.why = EXEC_TIMED_OUT;
        r.signal = SIGTERM;
        break;
    default:
        break;
    }
    return r;
}

/* "wait", or "WHY[ exit N][ signal N][: MSG]" */
static void describe(bool settled, const struct exec_result *r, char *buf, size_t n)
{
    if (!settled) {
        snprintf(buf, n, "wait");
        return;
    }
    struct strbuf sb = STRBUF_INIT;
    strbuf_addstr(&sb, exec_why_name(r->why));
    if (r->exit)
        strbuf_addf(&sb, " exit %d", r->exit);
    if (r->signal)
        strbuf_addf(&sb, " signal %d", r->signal);
    if (r->msg[0])
        strbuf_addf(&sb, ": %s", r->msg);
    snprintf(buf, n, "%s", sb.buf);
    strbuf_release(&sb);
}

static bool settle_says(const struct slurm_end *in, char *buf, size_t n)
{
    struct exec_result r;
    memset(&r, 0x5a, sizeof(r));
    bool settled = slurm_settle(in, &r);
    describe(settled, &r, buf, n);
    if (settled && in->file) {
        /* what the node measured goes through whatever the verdict */
        assert_true(r.cpu_s == in->file->cpu_s);
        assert_true(r.max_rss_kb == in->file->max_rss_kb);
        assert_true(r.started_ms == in->file->started_ms);
        assert_string_equal(r.node, in->file->node);
    }
    return settled;
}

#define WAIT "wait"
#define CANC "cancelled"
#define TL ": slurm's time limit of 2h ended job 77"
#define OOM ": (limit 16G, slurm job 77)"
#define OUTSIDE ": cancelled outside sluice (slurm job 77)"
#define SIGNAL_OUTSIDE ": stopped by a signal from outside sluice (slurm job 77)"
#define NO_FILE(st) "lost: slurm job 77 ended " st " without an exit.json (is the workspace*"
#define ENDED(st) ": slurm job 77 ended " st

/* What each (exit.json, Slurm state) comes to: not cancelled by sluice, before and after the
 * wait for what is late; cancelled by sluice, the same. fnmatch patterns. */
static const struct {
    enum file_kind file;
    const char *state; /* NULL: the job has left the queue */
    const char *early, *late, *cancelled_early, *cancelled_late;
} settle_table[] = {
    /* no exit.json: Slurm's word where it has one; else wait for the file, then lost */
    {F_NONE, NULL, WAIT, NO_FILE("and left the queue"), CANC, CANC},
    /* a job Slurm lists as running has not ended, however late its exit.json; one sluice
     * cancelled is given up on once late */
    {F_NONE, "RUNNING", WAIT, WAIT, WAIT, CANC},
    {F_NONE, "COMPLETED", WAIT, NO_FILE("COMPLETED"), CANC, CANC},
    {F_NONE, "FAILED", WAIT, NO_FILE("FAILED"), CANC, CANC},
    {F_NONE, "TIMEOUT", "timed out" TL, "timed out" TL, CANC, CANC},
    {F_NONE, "OUT_OF_MEMORY", "out of memory" OOM, "out of memory" OOM, CANC, CANC},
    {F_NONE, "CANCELLED", "exited signal 15" OUTSIDE, "exited signal 15" OUTSIDE, CANC, CANC},
    {F_NONE, "NODE_FAIL", "lost" ENDED("NODE_FAIL"), "lost" ENDED("NODE_FAIL"), CANC, CANC},
    {F_NONE, "PREEMPTED", "lost" ENDED("PREEMPTED"), "lost" ENDED("PREEMPTED"), CANC, CANC},
    {F_NONE, "BOOT_FAIL", "lost" ENDED("BOOT_FAIL"), "lost" ENDED("BOOT_FAIL"), CANC, CANC},
    /* it exited by itself: that is its end, at once, whatever Slurm says or is asked */
    {F_EXIT0, NULL, "exited", "exited", "exited", "exited"},
    {F_EXIT0, "RUNNING", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "COMPLETED", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "FAILED", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "TIMEOUT", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "OUT_OF_MEMORY", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "CANCELLED", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "NODE_FAIL", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "PREEMPTED", "exited", "exited", "exited", "exited"},
    {F_EXIT0, "BOOT_FAIL", "exited", "exited", "exited", "exited"},
    {F_EXIT3, NULL, "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "RUNNING", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "COMPLETED", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "FAILED", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "TIMEOUT", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "OUT_OF_MEMORY", "exited exit 3", "exited exit 3", "exited exit 3",
     "exited exit 3"},
    {F_EXIT3, "CANCELLED", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "NODE_FAIL", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "PREEMPTED", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    {F_EXIT3, "BOOT_FAIL", "exited exit 3", "exited exit 3", "exited exit 3", "exited exit 3"},
    /* killed by a signal: Slurm says by what (a limit, memory, a cancel); while it runs, wait
     * for its word; once it ended without one, the signal is the end */
    {F_SIG9, NULL, "exited signal 9", "exited signal 9", CANC " signal 9", CANC " signal 9"},
    {F_SIG9, "RUNNING", WAIT, "exited signal 9", CANC " signal 9", CANC " signal 9"},
    {F_SIG9, "COMPLETED", "exited signal 9", "exited signal 9", CANC " signal 9",
     CANC " signal 9"},
    {F_SIG9, "FAILED", "exited signal 9", "exited signal 9", CANC " signal 9", CANC " signal 9"},
    {F_SIG9, "TIMEOUT", "timed out signal 9" TL, "timed out signal 9" TL, CANC " signal 9",
     CANC " signal 9"},
    {F_SIG9, "OUT_OF_MEMORY", "out of memory signal 9" OOM, "out of memory signal 9" OOM,
     CANC " signal 9", CANC " signal 9"},
    {F_SIG9, "CANCELLED", "exited signal 9" OUTSIDE, "exited signal 9" OUTSIDE, CANC " signal 9",
     CANC " signal 9"},
    {F_SIG9, "NODE_FAIL", "lost signal 9" ENDED("NODE_FAIL"), "lost signal 9" ENDED("NODE_FAIL"),
     CANC " signal 9", CANC " signal 9"},
    {F_SIG9, "PREEMPTED", "lost signal 9" ENDED("PREEMPTED"), "lost signal 9" ENDED("PREEMPTED"),
     CANC " signal 9", CANC " signal 9"},
    {F_SIG9, "BOOT_FAIL", "lost signal 9" ENDED("BOOT_FAIL"), "lost signal 9" ENDED("BOOT_FAIL"),
     CANC " signal 9", CANC " signal 9"},
    /* the shim was signalled (scancel, Slurm's limit, a preemption): the same, and without
     * Slurm's word the step failed, stopped from outside */
    {F_SHIM_CANCEL, NULL, "exited signal 15" SIGNAL_OUTSIDE, "exited signal 15" SIGNAL_OUTSIDE,
     CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "RUNNING", WAIT, "exited signal 15" SIGNAL_OUTSIDE, CANC " signal 15",
     CANC " signal 15"},
    {F_SHIM_CANCEL, "COMPLETED", "exited signal 15" SIGNAL_OUTSIDE,
     "exited signal 15" SIGNAL_OUTSIDE, CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "FAILED", "exited signal 15" SIGNAL_OUTSIDE,
     "exited signal 15" SIGNAL_OUTSIDE, CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "TIMEOUT", "timed out signal 15" TL, "timed out signal 15" TL,
     CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "OUT_OF_MEMORY", "out of memory signal 15" OOM,
     "out of memory signal 15" OOM, CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "CANCELLED", "exited signal 15" OUTSIDE, "exited signal 15" OUTSIDE,
     CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "NODE_FAIL", "lost signal 15" ENDED("NODE_FAIL"),
     "lost signal 15" ENDED("NODE_FAIL"), CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "PREEMPTED", "lost signal 15" ENDED("PREEMPTED"),
     "lost signal 15" ENDED("PREEMPTED"), CANC " signal 15", CANC " signal 15"},
    {F_SHIM_CANCEL, "BOOT_FAIL", "lost signal 15" ENDED("BOOT_FAIL"),
     "lost signal 15" ENDED("BOOT_FAIL"), CANC " signal 15", CANC " signal 15"},
    /* the shim's own timeout: timed out, whatever else */
#define SHIM_TO "timed out signal 15", "timed out signal 15", "timed out signal 15", \
                "timed out signal 15"
    {F_SHIM_TIMEOUT, NULL, SHIM_TO},
    {F_SHIM_TIMEOUT, "RUNNING", SHIM_TO},
    {F_SHIM_TIMEOUT, "COMPLETED", SHIM_TO},
    {F_SHIM_TIMEOUT, "FAILED", SHIM_TO},
    {F_SHIM_TIMEOUT, "TIMEOUT", SHIM_TO},
    {F_SHIM_TIMEOUT, "OUT_OF_MEMORY", SHIM_TO},
    {F_SHIM_TIMEOUT, "CANCELLED", SHIM_TO},
    {F_SHIM_TIMEOUT, "NODE_FAIL", SHIM_TO},
    {F_SHIM_TIMEOUT, "PREEMPTED", SHIM_TO},
    {F_SHIM_TIMEOUT, "BOOT_FAIL", SHIM_TO},
#undef SHIM_TO
};

static void test_settle_table(void **state)
{
    (void)state;
    size_t n = sizeof(settle_table) / sizeof(settle_table[0]);
    assert_int_equal(n, F_KINDS * 10); /* every exit.json with every state */
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        struct exec_result file = file_of(settle_table[i].file);
        const char *want[4] = {settle_table[i].early, settle_table[i].late,
                               settle_table[i].cancelled_early, settle_table[i].cancelled_late};
        for (int k = 0; k < 4; k++) {
            struct slurm_end in = {
                .file = settle_table[i].file == F_NONE ? NULL : &file,
                .state = settle_table[i].state,
                .job_id = "77",
                .cancelled_by_us = k >= 2,
                .late = k % 2,
                .memory_bytes = 16LL << 30,
                .limit_ms = 7200000,
            };
            char got[512];
            bool settled = settle_says(&in, got, sizeof(got));
            if (fnmatch(want[k], got, 0) != 0) {
                print_error("%s, %s%s%s: got '%s', want '%s'\n", file_names[settle_table[i].file],
                            settle_table[i].state ? settle_table[i].state : "left the queue",
                            in.cancelled_by_us ? ", cancelled by sluice" : "",
                            in.late ? ", late" : "", got, want[k]);
                failures++;
            }
            /* late always settles, but for a job Slurm still lists as queued or running
             * without an exit.json */
            bool listed_alive = settle_table[i].file == F_NONE && settle_table[i].state &&
                                !slurm_state_ended(settle_table[i].state) &&
                                !in.cancelled_by_us;
            if (in.late && !settled && !listed_alive) {
                print_error("%s, %s: late, yet not settled\n", file_names[settle_table[i].file],
                            settle_table[i].state ? settle_table[i].state : "left the queue");
                failures++;
            }
        }
    }
    if (failures)
        fail_msg("%d of %zu cases", failures, n * 4);
}

/* Stopped by sluice for its timeout: timed out, whatever the file or Slurm says. */
static void test_settle_timed_out_by_us(void **state)
{
    (void)state;
    static const char *const states[] = {NULL,        "RUNNING",   "COMPLETED", "FAILED",
                                         "TIMEOUT",   "OUT_OF_MEMORY", "CANCELLED",
                                         "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "PENDING"};
    for (int f = 0; f < F_KINDS; f++) {
        struct exec_result file = file_of((enum file_kind)f);
        for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++) {
            for (int late = 0; late < 2; late++) {
                struct slurm_end in = {
                    .file = f == F_NONE ? NULL : &file,
                    .state = states[s],
                    .job_id = "77",
                    .cancelled_by_us = true,
                    .timed_out_by_us = true,
                    .late = late,
                    .limit_ms = 7200000,
                };
                struct exec_result r;
                if (!slurm_settle(&in, &r))
                    fail_msg("%s, %s: not settled", file_names[f],
                             states[s] ? states[s] : "left the queue");
                if (r.why != EXEC_TIMED_OUT)
                    fail_msg("%s, %s: %s, want timed out", file_names[f],
                             states[s] ? states[s] : "left the queue", exec_why_name(r.why));
                assert_int_equal(r.exit, f == F_NONE ? 0 : file.exit);
                assert_int_equal(r.signal, f == F_NONE ? 0 : file.signal);
            }
        }
    }
}

static void assert_settles(const struct slurm_end *in, const char *want)
{
    char got[512];
    settle_says(in, got, sizeof(got));
    if (fnmatch(want, got, 0) != 0)
        fail_msg("got '%s', want '%s'", got, want);
}

/* The messages' parts: limits as they were written, or none; a job without an id. */
static void test_settle_messages(void **state)
{
    (void)state;
    struct slurm_end in = {.state = "TIMEOUT", .job_id = "77", .limit_ms = 0};
    assert_settles(&in, "timed out: slurm's time limit ended job 77");
    in.limit_ms = 90 * 60000;
    assert_settles(&in, "timed out: slurm's time limit of 90m ended job 77");
    in.limit_ms = 86400000;
    assert_settles(&in, "timed out: slurm's time limit of 1d ended job 77");
    in.limit_ms = 5000;
    assert_settles(&in, "timed out: slurm's time limit of 5s ended job 77");
    in.limit_ms = 7200000;
    in.state = "DEADLINE";
    assert_settles(&in, "timed out: slurm's time limit of 2h ended job 77");

    in = (struct slurm_end){.state = "OUT_OF_MEMORY", .job_id = "77"};
    assert_settles(&in, "out of memory: (slurm job 77)");
    in.memory_bytes = 512LL << 20;
    assert_settles(&in, "out of memory: (limit 512M, slurm job 77)");
    in.memory_bytes = 3LL << 29; /* 1.5G: in whole MiB, as --mem has it */
    assert_settles(&in, "out of memory: (limit 1536M, slurm job 77)");
    in.memory_bytes = (3LL << 29) + 1;
    assert_settles(&in, "out of memory: (limit 1.5G, slurm job 77)");
    in.memory_bytes = 2LL << 40;
    assert_settles(&in, "out of memory: (limit 2T, slurm job 77)");

    in = (struct slurm_end){.state = "CANCELLED by 1000", .job_id = "77"};
    assert_settles(&in, "exited signal 15: cancelled outside sluice (slurm job 77)");
    struct exec_result r;
    assert_true(slurm_settle(&in, &r));
    assert_true(r.permanent); /* someone meant it: not retried */
    in = (struct slurm_end){.state = "NODE_FAIL", .job_id = "77"};
    assert_true(slurm_settle(&in, &r));
    assert_false(r.permanent); /* lost: retried per the step's policy */
    in = (struct slurm_end){.state = "REVOKED", .job_id = "77"};
    assert_settles(&in, "lost: slurm job 77 ended REVOKED");
    in = (struct slurm_end){.state = "NODE_FAIL"};
    assert_settles(&in, "lost: slurm job ? ended NODE_FAIL");
    in = (struct slurm_end){.late = true};
    assert_settles(&in, "lost: slurm job ? ended and left the queue without an exit.json*");

    /* a job still waiting to start is never over by Slurm's word */
    in = (struct slurm_end){.state = "PENDING", .job_id = "77"};
    assert_settles(&in, "wait");
    in.cancelled_by_us = true;
    assert_settles(&in, "wait");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_classes),
        cmocka_unit_test(test_squeue_lines),
        cmocka_unit_test(test_squeue_bad_lines),
        cmocka_unit_test(test_sacct_lines),
        cmocka_unit_test(test_time_ms),
        cmocka_unit_test(test_error_transient),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_job_name),
        cmocka_unit_test(test_minutes_and_mem),
        cmocka_unit_test(test_script_text),
        cmocka_unit_test_setup_teardown(test_script_runs_argv, setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_runs_shell, setup, teardown),
        cmocka_unit_test(test_settle_table),
        cmocka_unit_test(test_settle_timed_out_by_us),
        cmocka_unit_test(test_settle_messages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
