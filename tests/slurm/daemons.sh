# shellcheck shell=bash
# Shared by cluster-up.sh and cluster-down.sh (not a test; sourced): where the test cluster
# keeps its state, and the daemons it started, told apart from any other process by pid,
# /proc/PID/comm and start time (a recycled pid never matches all three).
SLURM_STATE=/var/lib/sluice-slurm
# shellcheck disable=SC2034 # used by cluster-up.sh
SLURM_LOGS=/var/log/sluice-slurm
STARTED=$SLURM_STATE/started.pids   # one line per daemon: NAME PID START_TIME

# proc_start PID — the process's start time (field 22 of /proc/PID/stat, clock ticks since
# boot); fails when there is no such process.
proc_start() {
    local stat f
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    read -r -a f <<<"${stat##*) }"   # f[0] is field 3, the state
    echo "${f[19]}"
}

# proc_live PID NAME [START] — PID is a running NAME (a zombie counts as gone), started at
# START when given.
proc_live() {
    local comm stat
    read -r comm 2>/dev/null <"/proc/$1/comm" || return 1
    [ "$comm" = "$2" ] || return 1
    read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ] || return 1
    [ -z "${3:-}" ] || [ "$(proc_start "$1")" = "$3" ]
}

# find_proc NAME — the pid of any live process whose comm is NAME (the first found).
find_proc() {
    local d
    for d in /proc/[0-9]*; do
        if proc_live "${d#/proc/}" "$1"; then
            echo "${d#/proc/}"
            return 0
        fi
    done
    return 1
}

# started_pid NAME — the pid of the NAME that cluster-up.sh started, while it still runs.
started_pid() {
    local name pid start
    [ -f "$STARTED" ] || return 1
    while read -r name pid start; do
        if [ "$name" = "$1" ] && proc_live "$pid" "$name" "$start"; then
            echo "$pid"
            return 0
        fi
    done <"$STARTED"
    return 1
}

# prune_started — keep only the lines of daemons that still run; no file when none does.
prune_started() {
    local name pid start kept=
    [ -f "$STARTED" ] || return 0
    while read -r name pid start; do
        if proc_live "$pid" "$name" "$start"; then
            kept+="$name $pid $start"$'\n'
        fi
    done <"$STARTED"
    if [ -n "$kept" ]; then
        printf '%s' "$kept" >"$STARTED.tmp" && mv "$STARTED.tmp" "$STARTED"
    else
        rm -f "$STARTED"
    fi
}
