#!/usr/bin/env bash
# slurmctld stopped for 20 s in the middle of a run, then started again: running jobs go on
# without it, and so does the run; a step that becomes ready meanwhile is submitted once the
# controller answers (its failed sbatch waited out with backoff, never a failed step), and no
# attempt is submitted twice.
# shellcheck disable=SC2016 # the tests' code is single-quoted, for expect_success's eval
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/slurm/lib.sh
. "$ROOT/tests/slurm/lib.sh"

db() { sqlite3 .sluice/sluice.db "$@"; }
statuses() {
    db "SELECT group_concat(name || '=' || status, ' ') FROM
        (SELECT name, status FROM steps WHERE run_id = $1 ORDER BY name)"
}
CTLD_PID=/var/lib/sluice-slurm/slurmctld.pid

# Whatever happens here, the cluster is up again for the tests after this one.
restore() {
    slurm_available || bash "$ROOT/tests/slurm/cluster-up.sh" >cluster-up.out 2>&1 ||
        cat cluster-up.out
    cleanup_trash
}
trap restore EXIT

cat >down.yaml <<'EOF'
pipeline: down
defaults: { executor: slurm }
steps:
  a: { run: "sleep 6; echo a > $SLUICE_OUT/a.txt", outputs: [a.txt] }
  b: { run: "sleep 6" }
  c: { inputs: { a: a/a.txt }, run: "cat $SLUICE_IN_A" }
EOF

expect_success 'the controller is ours to stop' 'test -s $CTLD_PID && kill -0 "$(cat $CTLD_PID)"'

expect_success 'slurmctld down for 20 s mid-run: the run completes, each attempt submitted once' '
    "$SLUICE" run down.yaml >out 2>&1 &
    pid=$! &&
    for _ in $(seq 150); do
        [ "$(db "SELECT count(*) FROM attempts WHERE job_state = '"'"'RUNNING'"'"'" 2>/dev/null)" = 2 ] &&
            break
        sleep 0.2
    done &&
    kill "$(cat $CTLD_PID)" &&
    sleep 20 &&
    bash "$ROOT/tests/slurm/cluster-up.sh" >cluster-up.out 2>&1 &&
    wait $pid || { cat out cluster-up.out; false; }
    test "$(statuses 1)" = "a=succeeded b=succeeded c=succeeded" &&
    grep -qx a .sluice/runs/1/c/1/log &&
    slurm_submitted_once .sluice/sluice.db 1
'

done_testing
