/* Processes identified by pid plus start time (see proc.c). */
#ifndef SLUICE_PROC_H
#define SLUICE_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The start time of process pid: field 22 of /proc/PID/stat. Returns 0, or -1 with errno set
 * (ENOENT: no such process). Libc only: the shim uses it too. */
int proc_start_time(pid_t pid, unsigned long long *out);

/* Whether pid is a running process that started at start. False for a zombie (it has exited)
 * and for a pid reused by another process. */
bool proc_alive(pid_t pid, unsigned long long start);

/* pidfd_open(pid) with O_CLOEXEC, whatever process pid is now: -1 with errno set (ENOSYS
 * before Linux 5.3). */
int proc_pidfd_open(pid_t pid);

/* A pidfd (O_CLOEXEC) for pid, if it is still the process that started at start: what a
 * restarted engine watches (readable at exit) for a live attempt that is not its child.
 * Returns the fd, or -1 with errno set (ESRCH: gone, a zombie, or another process now). */
int proc_pidfd(pid_t pid, unsigned long long start);

/* Send sig to the process group that pid leads (a step, or a shim: each is a session leader),
 * if pid is still the process that started at start, checked through a pidfd against pid
 * reuse. Returns 0, or -1 with errno set (ESRCH: the process is gone, a zombie, or another
 * process now). */
int proc_kill_group(pid_t pid, unsigned long long start, int sig);

/* SIGKILL the process group of every process (readable by this user, other than the caller)
 * whose environment holds each NAME=VALUE entry of kv[0..n) and a variable dir_var naming the
 * same folder as dir (compared by device and inode: two spellings of one path match). Scans
 * again until nothing matches (a process may start another before it dies), 10 rounds at most.
 * What finds everything left of an attempt whose shim died, by its SLUICE_* variables: the
 * step's session and any process of it that made a session of its own. Returns how many
 * processes the first scan found (and killed), or -1 with errno set when /proc cannot be read
 * or dir cannot be examined. */
int proc_kill_env(const char *const *kv, size_t n, const char *dir_var, const char *dir);

/* Test hook: SLUICE_CRASH_AT="POINT:STEP" kills this process with SIGKILL at that point of that
 * step's attempt, so the crash-recovery tests can stop an engine exactly where a crash would.
 * Points: recorded (attempt committed, nothing sent to its executor), spawned (sent to the
 * shim, or queued for sbatch), exited (its end reported, nothing recorded yet), submitted
 * (sbatch answered with the job's id, not yet recorded). */
void proc_crash_point(const char *point, const char *step);

#endif
