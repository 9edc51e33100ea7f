/* The shim's exit records: DIR/exit.json written to a temporary file and renamed into place,
 * without an fsync (DESIGN "The shim"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h> /* snprintf only */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "executor/shim_int.h"
#include "util/xalloc.h"

static bool is_leap(int year)
{
    return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* UTC "YYYY-MM-DDTHH:MM:SS.mmmZ" by hand: gmtime_r() would initialise the time zone first,
 * which reads /etc/localtime and sets up malloc, a dozen syscalls for nothing. */
static void format_time(char *buf, size_t size, const struct timespec *ts)
{
    static const int month_days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int64_t secs = ts->tv_sec < 0 ? 0 : ts->tv_sec;
    int64_t days = secs / 86400, rest = secs % 86400;
    int year = 1970, month = 0;
    for (; days >= (is_leap(year) ? 366 : 365); year++)
        days -= is_leap(year) ? 366 : 365;
    for (; month < 11; month++) {
        int in_month = month_days[month] + (month == 1 && is_leap(year));
        if (days < in_month)
            break;
        days -= in_month;
    }
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", year, month + 1, (int)days + 1,
             (int)(rest / 3600), (int)(rest / 60 % 60), (int)(rest % 60),
             (int)(ts->tv_nsec / 1000000));
}

double shim_cpu_seconds(const struct rusage *ru)
{
    return (double)(ru->ru_utime.tv_sec + ru->ru_stime.tv_sec) +
           (double)(ru->ru_utime.tv_usec + ru->ru_stime.tv_usec) / 1e6;
}

int shim_exit_write(struct job *j)
{
    char started[96], ended[96]; /* room for any int the compiler cannot rule out */
    format_time(started, sizeof(started), &j->started);
    format_time(ended, sizeof(ended), &j->ended_at);
    /* On a Slurm node, which one (a name of letters, digits, '-', '.', '_' only). */
    const char *node = getenv("SLURMD_NODENAME");
    if (node && (!*node || strlen(node) > 63 ||
                 strspn(node, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") !=
                     strlen(node)))
        node = NULL;
    char buf[640];
    int n = snprintf(buf, sizeof(buf),
                     "{\"exit\": %d, \"signal\": %d, \"cpu_s\": %.6f, \"max_rss_kb\": %ld, "
                     "\"started_at\": \"%s\", \"ended_at\": \"%s\", \"timed_out\": %s, "
                     "\"cancelled\": %s%s%s%s}\n",
                     j->exit_code, j->sig, shim_cpu_seconds(&j->ru), j->ru.ru_maxrss, started,
                     ended, j->cause == STOP_TIMEOUT ? "true" : "false",
                     j->cause == STOP_CANCEL ? "true" : "false", node ? ", \"node\": \"" : "",
                     node ? node : "", node ? "\"" : "");
    errno = 0; /* a short write() leaves it alone */
    int fd = openat(j->dirfd, ".exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, buf, (size_t)n) == n;
    int err = errno ? errno : EIO;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = false;
        err = errno;
    }
    /* No fsync: a crash of a process cannot lose what is in the page cache, and against a power
     * loss the store's own durability is the promise (an attempt whose end was neither
     * committed nor on disk reads as lost, and runs again). The rename makes a reader see no
     * exit.json or the whole of it. */
    if (ok && renameat(j->dirfd, ".exit.json.tmp", j->dirfd, "exit.json") < 0) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        shim_say(j->logfd, "sluice: cannot write '%s/exit.json': %s", j->dir, strerror(err));
        return -1;
    }
    return 0;
}
