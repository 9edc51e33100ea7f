/* The step shim: `sluice shim DIR [options] -- ARG...` runs one step attempt as a child, in a
 * session of its own, and records its end in DIR/exit.json, so a step's result outlives the
 * engine that started it. Libc only: it runs once per step, and its cost is every step's cost. */
#ifndef SLUICE_SHIM_H
#define SLUICE_SHIM_H

/*
 * Usage: sluice shim DIR [--timeout MS] [--grace MS] [--workdir D] [--shell] -- ARG...
 *
 *   DIR          the attempt's folder (must exist); the shim writes DIR/pid and DIR/exit.json
 *   --timeout MS stop the step after MS milliseconds (0, the default: never)
 *   --grace MS   between SIGTERM and SIGKILL when stopping the step (default 10000)
 *   --workdir D  the step's working folder
 *   --shell      run `/bin/sh -c ARG` (exactly one ARG); otherwise ARG... is an argv (PATH search)
 *
 * The caller sets up stdin (/dev/null) and stdout/stderr (appended to DIR/log); the shim's own
 * messages go to stderr, so they land in the log too.
 *
 * DIR/pid, written once the step's process exists: "SHIMPID STARTTIME CHILDPID\n", where
 * STARTTIME is field 22 of /proc/SHIMPID/stat and CHILDPID is also the step's process group.
 *
 * DIR/exit.json, written atomically (temporary file, fsync, rename) when the step has ended:
 *   {"exit": N, "signal": N, "cpu_s": F, "max_rss_kb": N, "started_at": "…Z", "ended_at": "…Z",
 *    "timed_out": bool, "cancelled": bool}
 * exit is the exit status when the step exited (else 0), signal the signal that killed it (else
 * 0). The times are UTC with milliseconds. cpu_s and max_rss_kb cover the step's whole process
 * tree as far as it was waited for. The step is stopped (SIGTERM to its process group, SIGKILL
 * after the grace period) when the timeout expires or the shim gets SIGTERM or SIGINT: whichever
 * came first is recorded (timed_out or cancelled); a stopped step's process group is killed
 * and reaped before exit.json is written (a process stuck in the kernel is waited for 5 s at
 * most). A step that ends by itself keeps its background processes, if any. When the command cannot be run, exit is 127 (not found) or 126 (not
 * executable) and the log says why, as a shell would; 125 when the shim itself failed (e.g. a
 * missing workdir).
 *
 * Returns the shim's exit status, mirroring the step's: its exit status, or 128 + the signal.
 * 2 on bad usage, 125 when DIR cannot be opened or exit.json cannot be written: in these three
 * cases there is no exit.json.
 *
 * max_rss_kb is never below the shim's own (~3 MB): Linux carries the high-water mark of the
 * address space a process execs from, which for a vfork-style spawn is the shim's.
 */
int shim_main(int argc, char **argv);

#endif
