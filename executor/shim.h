/* The step shim: `sluice shim` runs step attempts as its children, each in a session of its
 * own, and records each one's end in its folder's exit.json, so a step's result outlives the
 * engine that started it. One shim serves every step of an engine (`--serve FD`): a process
 * start costs more here than a no-op step, so the engine pays it once, not once per step.
 * Libc only, one thread, no stdio streams. */
#ifndef SLUICE_SHIM_H
#define SLUICE_SHIM_H

#include <stdint.h>

/*
 * Usage: sluice shim --serve FD
 *        sluice shim DIR [--timeout MS] [--grace MS] [--workdir D] [--shell] -- ARG...
 *
 * Serving: FD is a stream socket to the engine. The engine sends framed requests (below); for
 * each "run" request the shim creates DIR/out (and its parents), opens DIR/log (append), and
 * starts the step with stdin from /dev/null, stdout and stderr into the log, in a new session
 * (its pid is its process group's id), default signal handling and an empty signal mask, no
 * fd above 2. It answers with a SHIM_STARTED report, and with a SHIM_EXITED report once the step
 * has ended; exit.json is then written (temporary file, rename; no fsync, see DESIGN),
 * so a report never waits for the disk. When the engine hangs up (it exited, or was killed),
 * the shim goes on supervising what runs, writes their exit.json, and exits once none is left:
 * an engine that adopts the run waits for the shim's exit, then reads the exit.json files.
 *
 * One step (the second form): DIR must exist; the caller has set up stdin and stdout/stderr
 * (the log). --timeout stops the step after MS milliseconds (0, the default: never), --grace is
 * the time between SIGTERM and SIGKILL (default 10000), --workdir the step's working folder,
 * --shell runs `/bin/sh -c ARG` (exactly one ARG); otherwise ARG... is an argv (PATH search).
 * Returns the step's exit status, or 128 + the signal that killed it; 2 on bad usage, 125 when
 * DIR cannot be opened or exit.json cannot be written (then there is no exit.json).
 *
 * Both forms: a step is stopped (SIGTERM to its process group, SIGCONT, SIGKILL after the
 * grace period) when its timeout expires, on a cancel request, or when the shim gets SIGTERM or
 * SIGINT (every step then); whichever came first is recorded (timed_out or cancelled). A stopped
 * step's process group is killed and reaped before its exit is reported (a process stuck in the
 * kernel is waited for 5 s at most); a step that ends by itself keeps its background processes.
 * The shim is a child subreaper, so orphans of steps are reaped rather than left to init.
 * When the command cannot be run, exit is 127 (not found) or 126 (not executable) and the log
 * says why, as a shell would; 125 when the shim itself failed (e.g. a missing workdir).
 *
 * DIR/exit.json:
 *   {"exit": N, "signal": N, "cpu_s": F, "max_rss_kb": N, "started_at": "…Z", "ended_at": "…Z",
 *    "timed_out": bool, "cancelled": bool}
 * exit is the exit status when the step exited (else 0), signal the signal that killed it (else
 * 0); times are UTC with milliseconds; cpu_s and max_rss_kb cover the step's process and every
 * descendant it waited for.
 */
int shim_main(int argc, char **argv);

/*
 * The protocol. Engine to shim: frames of a 4-byte length (host order, at most SHIM_FRAME_MAX)
 * and that many bytes of NUL-terminated fields:
 *   run:    "R" ID TIMEOUT_MS GRACE_MS SHELL DIR WORKDIR ARGC ARG... ENVC ENV...
 *           (numbers in decimal; SHELL "1": ARG is one /bin/sh -c script; WORKDIR "" for the
 *           shim's own; GRACE_MS "0" for the default). ARG[0] must hold a '/': the engine
 *           resolves commands on the step's PATH, and a name it did not find fails as not found.
 *   cancel: "C" ID
 * Shim to engine: struct shim_report, whole, one per write.
 */
#define SHIM_FRAME_MAX (16u << 20)

enum { SHIM_STARTED = 'S', SHIM_EXITED = 'X' };

struct shim_report {
    int64_t id;           /* the engine's attempt id, from the request */
    int32_t type;         /* SHIM_STARTED or SHIM_EXITED */
    int32_t pid;          /* the step's pid (its process group's and session's id); 0 if none */
    uint64_t pid_start;   /* its start time, field 22 of /proc/PID/stat */
    int32_t exit, signal; /* EXITED: as in exit.json */
    int32_t timed_out, cancelled;
    int32_t metrics;      /* EXITED: DIR/metrics.json exists (saves the engine a look-up) */
    int32_t reserved;
    int64_t max_rss_kb;
    double cpu_s;
    char msg[256];        /* EXITED without a log to say it in: why the step could not start */
};

#endif
