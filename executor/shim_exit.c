/* The shim's exit records: DIR/exit.json written to a temporary file, then made durable (fsync)
 * and renamed into place by a thread of its own, so that a step's report to the engine never
 * waits for the disk. */
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

/* A failure to make an exit record durable, said in the attempt's log. */
static void say_in_log(const char *dir, const char *what, int err)
{
    char *path = xasprintf("%s/log", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    free(path);
    shim_say(fd, "sluice: %s '%s/exit.json': %s", what, dir, strerror(err));
    if (fd >= 0)
        close(fd);
}

/* fsync DIR/.exit.json.tmp, then rename it to DIR/exit.json: a reader sees no exit.json or the
 * whole file, even across a crash of the machine. */
static int sync_and_rename(const char *dir)
{
    char *tmp = xasprintf("%s/.exit.json.tmp", dir), *final = xasprintf("%s/exit.json", dir);
    int rc = 0;
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        say_in_log(dir, "cannot write", errno);
        rc = -1;
    } else if (rename(tmp, final) < 0) {
        say_in_log(dir, "cannot rename into place", errno);
        rc = -1;
    }
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(final);
    /* No fsync of the folder: the rename reaches the disk within seconds, and only a power
     * loss in that window could lose it (then the attempt reads as lost and is retried). */
    return rc;
}

static void *syncer_main(void *arg)
{
    struct syncer *sy = arg;
    for (;;) {
        pthread_mutex_lock(&sy->mu);
        while (!sy->head && !sy->stop)
            pthread_cond_wait(&sy->cv, &sy->mu);
        struct sync_item *it = sy->head;
        if (it) {
            sy->head = it->next;
            if (!sy->head)
                sy->tail = &sy->head;
        }
        pthread_mutex_unlock(&sy->mu);
        if (!it)
            return NULL;
        sync_and_rename(it->dir);
        free(it->dir);
        free(it);
    }
}

void shim_syncer_start(struct syncer *sy)
{
    pthread_mutex_init(&sy->mu, NULL);
    pthread_cond_init(&sy->cv, NULL);
    sy->head = NULL;
    sy->tail = &sy->head;
    sy->running = pthread_create(&sy->thread, NULL, syncer_main, sy) == 0;
}

void shim_syncer_stop(struct syncer *sy)
{
    if (!sy->running)
        return;
    pthread_mutex_lock(&sy->mu);
    sy->stop = true;
    pthread_cond_signal(&sy->cv);
    pthread_mutex_unlock(&sy->mu);
    pthread_join(sy->thread, NULL);
    sy->running = false;
}

int shim_exit_write(struct shim *sh, struct job *j)
{
    char started[96], ended[96]; /* room for any int the compiler cannot rule out */
    format_time(started, sizeof(started), &j->started);
    format_time(ended, sizeof(ended), &j->ended_at);
    char buf[512];
    int n = snprintf(buf, sizeof(buf),
                     "{\"exit\": %d, \"signal\": %d, \"cpu_s\": %.6f, \"max_rss_kb\": %ld, "
                     "\"started_at\": \"%s\", \"ended_at\": \"%s\", \"timed_out\": %s, "
                     "\"cancelled\": %s}\n",
                     j->exit_code, j->sig, shim_cpu_seconds(&j->ru), j->ru.ru_maxrss, started,
                     ended, j->cause == STOP_TIMEOUT ? "true" : "false",
                     j->cause == STOP_CANCEL ? "true" : "false");
    errno = 0; /* a short write() leaves it alone */
    int fd = openat(j->dirfd, ".exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    bool ok = fd >= 0 && write(fd, buf, (size_t)n) == n;
    int err = errno ? errno : EIO;
    if (fd >= 0 && close(fd) < 0 && ok) {
        ok = false;
        err = errno;
    }
    if (!ok) {
        shim_say(j->logfd, "sluice: cannot write '%s/exit.json': %s", j->dir, strerror(err));
        return -1;
    }
    if (!sh->sync.running)
        return sync_and_rename(j->dir);
    struct sync_item *it = xcalloc(1, sizeof(*it));
    it->dir = xstrdup(j->dir);
    pthread_mutex_lock(&sh->sync.mu);
    *sh->sync.tail = it;
    sh->sync.tail = &it->next;
    pthread_cond_signal(&sh->sync.cv);
    pthread_mutex_unlock(&sh->sync.mu);
    return 0;
}
