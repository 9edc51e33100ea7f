/* The Slurm executor's pure parts (executor/slurm_int.h). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "executor/slurm_int.h"
#include "pipeline/duration.h"

static const struct {
    const char *state;
    enum slurm_class cls;
} states[] = {
    {"PENDING", SLURM_WAITING},      {"CONFIGURING", SLURM_WAITING},
    {"REQUEUED", SLURM_WAITING},     {"REQUEUE_FED", SLURM_WAITING},
    {"REQUEUE_HOLD", SLURM_WAITING}, {"RESV_DEL_HOLD", SLURM_WAITING},
    {"SUSPENDED", SLURM_WAITING},    {"RUNNING", SLURM_RUNNING},
    {"COMPLETING", SLURM_RUNNING},   {"STOPPED", SLURM_RUNNING},
    {"SIGNALING", SLURM_RUNNING},    {"STAGE_OUT", SLURM_RUNNING},
    {"RESIZING", SLURM_RUNNING},     {"COMPLETED", SLURM_COMPLETED},
    {"FAILED", SLURM_COMPLETED},     {"TIMEOUT", SLURM_TIMEOUT},
    {"DEADLINE", SLURM_TIMEOUT},     {"OUT_OF_MEMORY", SLURM_OOM},
    {"CANCELLED", SLURM_CANCELLED},  {"NODE_FAIL", SLURM_LOST},
    {"PREEMPTED", SLURM_LOST},       {"BOOT_FAIL", SLURM_LOST},
    {"REVOKED", SLURM_LOST},         {"SPECIAL_EXIT", SLURM_LOST},
};

enum slurm_class slurm_state_class(const char *state)
{
    /* squeue may say "CANCELLED by 0"; sacct does. */
    size_t n = strcspn(state, " +");
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++)
        if (strlen(states[i].state) == n && !strncmp(states[i].state, state, n))
            return states[i].cls;
    return SLURM_WAITING; /* a state this build does not know: not over until it says so */
}

bool slurm_state_ended(const char *state)
{
    return slurm_state_class(state) >= SLURM_COMPLETED;
}

int64_t slurm_time_ms(const char *s)
{
    return strlen(s) == 19 ? exec_time_ms(s) : 0; /* whole seconds, no zone: squeue's */
}

int slurm_parse_squeue_line(char *line, struct squeue_line *out)
{
    char *f[7];
    char *p = line;
    memset(out, 0, sizeof(*out));
    /* The name is last, and may hold '|' (another tool's job): only 6 separators count. */
    for (int i = 0; i < 6; i++) {
        f[i] = p;
        char *bar = strchr(p, '|');
        if (!bar)
            return -1;
        *bar = '\0';
        p = bar + 1;
    }
    f[6] = p;
    p[strcspn(p, "\r\n")] = '\0';
    if (!*f[0] || !*f[1])
        return -1;
    out->job_id = f[0];
    out->state = f[1];
    out->submit_ms = slurm_time_ms(f[2]);
    out->start_ms = slurm_time_ms(f[3]);
    out->node = strcmp(f[4], "(null)") ? f[4] : "";
    out->reason = strcmp(f[5], "None") && strcmp(f[5], "(null)") ? f[5] : "";
    out->name = f[6];
    return 0;
}

int slurm_parse_sacct_line(char *line, const char **job_id, const char **state)
{
    line[strcspn(line, "\r\n")] = '\0';
    char *bar = strchr(line, '|');
    if (!bar || bar == line || !bar[1] || strchr(bar + 1, '|'))
        return -1;
    *bar = '\0';
    if (strspn(line, "0123456789_") != strlen(line))
        return -1; /* "812.batch", "812.extern": a step of the job, not the job */
    *job_id = line;
    *state = bar + 1;
    return 0;
}

/* Lower-cased needles: what Slurm's clients print when the controller is busy, restarting or
 * unreachable, as Snakemake's and Nextflow's executors have collected them. */
static const char *const transient[] = {
    "socket timed out",
    "unable to contact slurm controller",
    "slurm_load_jobs error: unable to contact",
    "temporarily unavailable",
    "temporarily unable",
    "unexpected message received",
    "zero bytes were transmitted or received",
    "connection refused",
    "connection reset",
    "communication connection failure",
    "transport endpoint",
    "try again",
    "resource temporarily",
    "controller is busy",
    "timed out",
    "slurmctld is not responding",
    "not responding",
    "insane message length",
    "protocol authentication error",
};

bool slurm_error_transient(const char *text)
{
    size_t n = strlen(text);
    char *low = malloc(n + 1);
    if (!low)
        return true;
    for (size_t i = 0; i <= n; i++)
        low[i] = (char)tolower((unsigned char)text[i]);
    bool found = false;
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]) && !found; i++)
        found = strstr(low, transient[i]) != NULL;
    free(low);
    return found;
}

void slurm_error_text(const char *text, char *out, size_t outsz)
{
    struct strbuf sb = STRBUF_INIT;
    const char *p = text;
    while (*p) {
        size_t len = strcspn(p, "\n");
        const char *l = p, *end = p + len;
        p = *end ? end + 1 : end;
        /* "sbatch: error: Batch job submission failed: Invalid partition name specified" */
        for (int again = 1; again;) {
            again = 0;
            static const char *const prefixes[] = {"sbatch: ", "squeue: ", "scancel: ",
                                                   "error: ", "Batch job submission failed: "};
            for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
                size_t pl = strlen(prefixes[i]);
                if ((size_t)(end - l) >= pl && !strncmp(l, prefixes[i], pl)) {
                    l += pl;
                    again = 1;
                }
            }
        }
        while (l < end && isspace((unsigned char)end[-1]))
            end--;
        if (l == end)
            continue;
        if (sb.len)
            strbuf_addstr(&sb, "; ");
        strbuf_add(&sb, l, (size_t)(end - l));
    }
    snprintf(out, outsz, "%s", sb.len ? sb.buf : "no message");
    strbuf_release(&sb);
}

void slurm_job_name(const char *tag, int64_t attempt_id, char *out, size_t outsz)
{
    snprintf(out, outsz, "sluice-%s-%" PRId64, tag, attempt_id);
}

bool slurm_job_name_attempt(const char *tag, const char *name, int64_t *attempt_id)
{
    size_t tl = strlen(tag);
    if (strncmp(name, "sluice-", 7) || strncmp(name + 7, tag, tl) || name[7 + tl] != '-')
        return false;
    const char *d = name + 8 + tl;
    if (!isdigit((unsigned char)*d) || *d == '0') /* only the digits slurm_job_name writes */
        return false;
    char *end;
    errno = 0;
    long long v = strtoll(d, &end, 10);
    if (*end || v <= 0 || errno == ERANGE)
        return false;
    *attempt_id = v;
    return true;
}

int64_t slurm_minutes(int64_t ms)
{
    int64_t m = ms / 60000 + (ms % 60000 > 0); /* ms + 59999 would overflow near INT64_MAX */
    return m < 1 ? 1 : m;
}

int64_t slurm_mem_mib(int64_t bytes)
{
    int64_t m = bytes / (1 << 20) + (bytes % (1 << 20) > 0);
    return m < 1 ? 1 : m;
}

void slurm_script_write(struct strbuf *sb, const struct slurm_script *s)
{
    strbuf_addf(sb, "#!/bin/sh\n# sluice: run %" PRId64 ", step %s, attempt %d (attempt id %" PRId64
                    ")\n",
                s->run_id, s->step, s->n, s->attempt_id);
    strbuf_addstr(sb, "# An engine that adopted this attempt without its job id may have claimed it"
                      " first: then it never runs.\nmkdir ");
    struct strbuf claim = STRBUF_INIT;
    strbuf_addf(&claim, "%s/claim", s->dir);
    strbuf_add_shell_quoted(sb, claim.buf);
    strbuf_release(&claim);
    strbuf_addstr(sb, " 2>/dev/null || exit 0\nexec ");
    strbuf_add_shell_quoted(sb, s->self_exe);
    strbuf_addstr(sb, " shim ");
    strbuf_add_shell_quoted(sb, s->dir);
    strbuf_addf(sb, " --grace %" PRId64, s->grace_ms > 0 ? s->grace_ms : 10000);
    if (s->timeout_ms > 0)
        strbuf_addf(sb, " --timeout %" PRId64, s->timeout_ms);
    if (s->workdir) {
        strbuf_addstr(sb, " --workdir ");
        strbuf_add_shell_quoted(sb, s->workdir);
    }
    if (s->shell) {
        strbuf_addstr(sb, " --shell -- ");
        strbuf_add_shell_quoted(sb, s->shell);
    } else {
        strbuf_addstr(sb, " --");
        for (char *const *a = s->argv; a && *a; a++) {
            strbuf_addch(sb, ' ');
            strbuf_add_shell_quoted(sb, *a);
        }
    }
    strbuf_addch(sb, '\n');
}

struct unit {
    int64_t size;
    char name;
};

/* v as a whole number of the largest of units (largest first) that divides it: "16G", "2h".
 * False when none does. */
static bool whole_units(int64_t v, const struct unit *units, size_t nunits, char *buf, size_t n)
{
    for (size_t i = 0; i < nunits; i++) {
        if (v >= units[i].size && v % units[i].size == 0) {
            snprintf(buf, n, "%" PRId64 "%c", v / units[i].size, units[i].name);
            return true;
        }
    }
    return false;
}

/* A memory limit as it was most likely written: "16G", "512M"; else size_format's "1.5G". */
static void mem_text(int64_t bytes, char *buf, size_t n)
{
    static const struct unit units[] = {{1LL << 40, 'T'}, {1LL << 30, 'G'}, {1LL << 20, 'M'},
                                        {1LL << 10, 'K'}};
    if (!whole_units(bytes, units, sizeof(units) / sizeof(units[0]), buf, n))
        size_format(bytes, buf, (int)n);
}

/* A time limit as it was most likely written: "2h", "90m", "5s"; else duration_format's. */
static void limit_text(int64_t ms, char *buf, size_t n)
{
    static const struct unit units[] = {{86400000, 'd'}, {3600000, 'h'}, {60000, 'm'}, {1000, 's'}};
    if (!whole_units(ms, units, sizeof(units) / sizeof(units[0]), buf, n))
        duration_format(ms, buf, (int)n);
}

/* A step stopped from outside sluice: failed (not retried), saying so. */
static void stopped_outside(struct exec_result *r, const char *job_id, const char *what)
{
    r->why = EXEC_EXITED;
    r->permanent = true; /* someone meant it: a retry would undo their cancel */
    if (!r->signal && !r->exit)
        r->signal = SIGTERM;
    snprintf(r->msg, sizeof(r->msg), "%s (slurm job %s)", what, job_id ? job_id : "?");
}

bool slurm_settle(const struct slurm_end *in, struct exec_result *r)
{
    const struct exec_result *file = in->file;
    const char *job = in->job_id ? in->job_id : "?";
    enum slurm_class cls = in->state ? slurm_state_class(in->state) : SLURM_COMPLETED;
    bool ended = !in->state || cls >= SLURM_COMPLETED;
    memset(r, 0, sizeof(*r));
    if (file) {
        *r = *file;
        r->msg[0] = '\0';
    }
    if (in->timed_out_by_us) {
        r->why = EXEC_TIMED_OUT;
        return true;
    }
    if (file && (file->why == EXEC_TIMED_OUT ||
                 (file->why == EXEC_EXITED && !file->signal)))
        return true; /* it ended by itself, or by the shim's own timeout */
    if (in->cancelled_by_us && (file || ended || in->late)) {
        r->why = EXEC_CANCELLED;
        return true;
    }
    if (!ended && (!in->late || !file))
        return false; /* Slurm will say why it was stopped (a time limit, memory); and a job
                       * it lists as queued or running has not ended, however late */
    switch (in->state ? cls : SLURM_COMPLETED) {
    case SLURM_TIMEOUT: {
        char d[32];
        r->why = EXEC_TIMED_OUT;
        if (in->limit_ms > 0) {
            limit_text(in->limit_ms, d, sizeof(d));
            snprintf(r->msg, sizeof(r->msg), "slurm's time limit of %s ended job %s", d, job);
        } else {
            snprintf(r->msg, sizeof(r->msg), "slurm's time limit ended job %s", job);
        }
        return true;
    }
    case SLURM_OOM: {
        char m[32];
        r->why = EXEC_OUT_OF_MEMORY;
        if (in->memory_bytes > 0) {
            mem_text(in->memory_bytes, m, sizeof(m));
            snprintf(r->msg, sizeof(r->msg), "(limit %s, slurm job %s)", m, job);
        } else {
            snprintf(r->msg, sizeof(r->msg), "(slurm job %s)", job);
        }
        return true;
    }
    case SLURM_CANCELLED:
        stopped_outside(r, job, "cancelled outside sluice");
        return true;
    case SLURM_LOST:
        r->why = EXEC_LOST;
        snprintf(r->msg, sizeof(r->msg), "slurm job %s ended %s", job, in->state);
        return true;
    default:
        break;
    }
    if (file) {
        /* Killed or stopped, and Slurm does not say by whom: a signal from outside. */
        if (file->why == EXEC_CANCELLED)
            stopped_outside(r, job, "stopped by a signal from outside sluice");
        return true;
    }
    if (!in->late)
        return false; /* its exit.json may not be visible here yet */
    r->why = EXEC_LOST;
    snprintf(r->msg, sizeof(r->msg),
             "slurm job %s ended %s without an exit.json (is the workspace on a file system the "
             "nodes share? its log may say more)",
             job, in->state ? in->state : "and left the queue");
    return true;
}
