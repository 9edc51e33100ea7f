# shellcheck shell=bash
# Helpers for the Slurm integration tests (tests/slurm/t*.sh), sourced after the integration
# tests' lib.sh, whose helpers (expect_success, wait_for, $TRASH, $ROOT, …) they use:
#   . "$(dirname "$0")/../integration/lib.sh"
#   . "$ROOT/tests/slurm/lib.sh"
# Sourcing it does nothing else (tests/run.sh sources it to ask slurm_available). The cluster
# is tests/slurm/cluster-up.sh's: one node, partition `debug`, jobs run as the submitting user.
# The job-completion log is never emptied: name each test's jobs uniquely (sluice-tNNNN-$$-…).
SLURM_NODE=${SLURM_NODE:-$(hostname -s 2>/dev/null || uname -n)}
SLURM_NODE=${SLURM_NODE%%.*}
SLURM_JOBCOMP_LOG=${SLURM_JOBCOMP_LOG:-/var/log/sluice-slurm/jobcomp.log}

# slurm_available — slurmctld answers and the node can run jobs (idle, or busy with some).
# scontrol ping first: it fails at once without a slurmctld, where sinfo retries for 9 s.
slurm_available() {
    local state
    command -v sinfo >/dev/null || return 1
    timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP' || return 1
    state=$(timeout 10 sinfo -h -n "$SLURM_NODE" -o %T 2>/dev/null | head -1)
    case $state in
    idle | mixed | allocated | completing | planned) return 0 ;;
    esac
    return 1
}

# slurm_jobs_named PREFIX — how many of this user's jobs squeue lists (pending, running,
# completing; an array counts once per listed task or pending rest) whose name starts with
# PREFIX. Fails, printing nothing, when squeue does.
slurm_jobs_named() {
    local names
    names=$(timeout 10 squeue -h -u "$(id -un)" -o %j 2>/dev/null) || {
        echo "slurm_jobs_named: squeue failed" >&2
        return 1
    }
    printf '%s\n' "$names" | awk -v p="$1" 'p != "" && index($0, p) == 1 { n++ } END { print n + 0 }'
}

# slurm_jobcomp_count NAME [STATE] — how many lines of the job-completion log (jobcomp/filetxt)
# are jobs named exactly NAME, ended in STATE when given (COMPLETED, FAILED, CANCELLED,
# TIMEOUT, …). A line reads "JobId=12 UserId=root(0) GroupId=root(0) Name=NAME
# JobState=COMPLETED Partition=debug … ExitCode=0:0": the field is Name=, not JobName=, and
# a name may hold spaces, so the match is " Name=NAME JobState=". An array's tasks have a
# line each (with ArrayJobId= and ArrayTaskId=).
slurm_jobcomp_count() {
    [ -f "$SLURM_JOBCOMP_LOG" ] || { echo 0; return 0; }
    awk -v k=" Name=$1 JobState=${2:-}" 'index($0, k) { n++ } END { print n + 0 }' "$SLURM_JOBCOMP_LOG"
}

# slurm_wait_empty PREFIX [SECONDS] — until squeue lists none of this user's jobs named
# PREFIX* (30 s by default); otherwise says which still are and fails.
slurm_wait_empty() {
    local n=''
    for _ in $(seq $((${2:-30} * 5))); do
        n=$(slurm_jobs_named "$1") && [ "$n" = 0 ] && return 0
        sleep 0.2
    done
    echo "squeue still lists ${n:-?} job(s) named $1* after ${2:-30} s:"
    timeout 10 squeue -u "$(id -un)" -o '%i %j %T %r' 2>&1 | awk -v p="$1" 'NR == 1 || index($2, p) == 1' | head -20
    return 1
}

# slurm_workspace_prefix DB — the name prefix of a sluice workspace's jobs, sluice-ID- (ID: the
# store's workspace id, as executor/slurm.c names them).
slurm_workspace_prefix() {
    echo "sluice-$(sqlite3 "$1" 'SELECT substr(id, 1, 12) FROM workspace')-"
}

# slurm_submitted_once DB RUN — every attempt of the run that has a job id was submitted exactly
# once: one line per job name in the job-completion log, which gets it once the job has ended
# (waited for, 20 s at most per attempt).
slurm_submitted_once() {
    local p id n
    p=$(slurm_workspace_prefix "$1")
    for id in $(sqlite3 "$1" "SELECT a.id FROM attempts a JOIN steps s ON s.id = a.step_id
                              WHERE s.run_id = $2 AND a.job_id IS NOT NULL"); do
        for _ in $(seq 100); do
            n=$(slurm_jobcomp_count "$p$id")
            [ "$n" -ge 1 ] && break
            sleep 0.2
        done
        [ "$n" = 1 ] || { echo "attempt $id: $n jobs named $p$id"; return 1; }
    done
}
