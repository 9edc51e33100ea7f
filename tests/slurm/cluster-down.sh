#!/usr/bin/env bash
# Stop the single-node Slurm cluster that cluster-up.sh started: only the daemons it recorded
# in /var/lib/sluice-slurm/started.pids, and only while pid, name (/proc/PID/comm) and start
# time still match — never another slurmctld, slurmd or munged. Packages, slurm.conf, state
# and logs stay. Stopping everything first cancels the cluster's jobs, so that no job step
# outlives its slurmd. With names, it stops only those and leaves the jobs (cluster-up.sh
# restarts slurmctld and slurmd so when slurm.conf changed).
#   bash tests/slurm/cluster-down.sh [slurmd] [slurmctld] [munged]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/daemons.sh
. "$here/daemons.sh"
t0=$EPOCHREALTIME

if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo bash "$0" "$@"
    fi
    echo "cluster-down.sh: must run as root, as cluster-up.sh did" >&2
    exit 1
fi
if [ ! -f "$STARTED" ]; then
    echo "cluster-down.sh: nothing to stop: cluster-up.sh started no daemon that still runs"
    exit 0
fi
if [ -z "${SLUICE_SLURM_LOCKED:-}" ]; then   # cluster-up.sh holds the lock when it calls us
    exec 9>"$SLURM_STATE/lock"
    flock -w 120 9 || { echo "cluster-down.sh: $SLURM_STATE/lock is held by another cluster-up/down for 120 s" >&2; exit 1; }
fi

names=("$@")
all=
if [ ${#names[@]} -eq 0 ]; then
    names=(slurmd slurmctld munged)   # slurm's daemons first: they use munge to the end
    all=1
fi
for name in "${names[@]}"; do
    case $name in
    slurmd | slurmctld | munged) ;;
    *) echo "cluster-down.sh: unknown daemon '$name' (slurmd, slurmctld or munged)" >&2; exit 2 ;;
    esac
done

# Everything goes: cancel the jobs first, while slurmctld and slurmd can still end them.
if [ -n "$all" ] && started_pid slurmctld >/dev/null && started_pid slurmd >/dev/null; then
    jobs=$(timeout 10 squeue -h -o %A 2>/dev/null || true)
    if [ -n "$jobs" ]; then
        echo "cancelling $(echo "$jobs" | wc -l) job(s) of the test cluster"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs || true
        for _ in $(seq 100); do
            [ -n "$(timeout 10 squeue -h -o %A 2>/dev/null || true)" ] || break
            sleep 0.2
        done
    fi
fi

status=0
for name in "${names[@]}"; do
    if ! pid=$(started_pid "$name"); then
        other=$(find_proc "$name" || true)
        echo "$name: not running as started by cluster-up.sh${other:+ (pid $other is another one: left alone)}"
        continue
    fi
    start=$(proc_start "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do   # 30 s: slurmctld saves its state first
        proc_live "$pid" "$name" "$start" || break
        sleep 0.1
    done
    if proc_live "$pid" "$name" "$start"; then
        echo "$name (pid $pid) still runs 30 s after SIGTERM: sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            proc_live "$pid" "$name" "$start" || break
            sleep 0.1
        done
    fi
    if proc_live "$pid" "$name" "$start"; then
        echo "cluster-down.sh: $name (pid $pid) survived SIGKILL" >&2
        status=1
    else
        echo "stopped $name (pid $pid)"
    fi
done
prune_started
took=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
if [ -n "$all" ]; then
    echo "cluster down in $took s"
else
    echo "${names[*]} down in $took s"
fi
exit $status
