/* The table of executors, by name, and what every executor reads the same way. */
#include "executor/executor.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include "executor/spawn.h"
#include "util/xalloc.h"

extern const struct executor_ops local_executor;
extern const struct executor_ops slurm_executor;

#define MAX_EXECUTORS 8
static const struct executor_ops *table[MAX_EXECUTORS] = {&local_executor, &slurm_executor};
static size_t ntable = 2;

const struct executor_ops *executor_find(const char *name)
{
    for (size_t i = 0; i < ntable; i++)
        if (!strcmp(table[i]->name, name ? name : "local"))
            return table[i];
    return NULL;
}

void executor_register(const struct executor_ops *ops)
{
    for (size_t i = 0; i < ntable; i++) {
        if (!strcmp(table[i]->name, ops->name)) {
            table[i] = ops;
            return;
        }
    }
    if (ntable == MAX_EXECUTORS)
        BUG("more than %d executors", MAX_EXECUTORS);
    table[ntable++] = ops;
}

const char *exec_why_name(enum exec_why why)
{
    static const char *const names[] = {
        [EXEC_EXITED] = "exited",
        [EXEC_TIMED_OUT] = "timed out",
        [EXEC_CANCELLED] = "cancelled",
        [EXEC_LOST] = "lost",
        [EXEC_OUT_OF_MEMORY] = "out of memory",
        [EXEC_NEVER_STARTED] = "never started",
        [EXEC_START_FAILED] = "could not start",
    };
    return (unsigned)why < sizeof(names) / sizeof(names[0]) ? names[why] : "?";
}

int exec_result_read(const char *dir, struct exec_result *r, struct err *e)
{
    struct shim_exit x;
    int rc = shim_read_exit(dir, &x, e);
    if (rc != 0)
        return rc;
    memset(r, 0, sizeof(*r));
    r->why = x.timed_out ? EXEC_TIMED_OUT : x.cancelled ? EXEC_CANCELLED : EXEC_EXITED;
    r->exit = x.exit;
    r->signal = x.signal;
    r->cpu_s = x.cpu_s;
    r->max_rss_kb = x.max_rss_kb;
    snprintf(r->node, sizeof(r->node), "%s", x.node);
    r->started_ms = exec_time_ms(x.started_at);
    return 0;
}

int64_t exec_time_ms(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest)
        return 0;
    int ms = 0;
    if (rest[0] == '.' && rest[1] >= '0' && rest[1] <= '9' && rest[2] >= '0' && rest[2] <= '9' &&
        rest[3] >= '0' && rest[3] <= '9') {
        ms = (rest[1] - '0') * 100 + (rest[2] - '0') * 10 + (rest[3] - '0');
        rest += 4;
    }
    if (rest[0] == 'Z')
        rest++;
    if (*rest)
        return 0;
    time_t t = timegm(&tm);
    return t > 0 ? (int64_t)t * 1000 + ms : 0;
}
