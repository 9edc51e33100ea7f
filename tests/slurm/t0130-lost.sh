#!/usr/bin/env bash
# A job that leaves the queue without an exit.json (its node failed) is asked of sacct where
# accounting exists: NODE_FAIL makes the attempt lost, retried per the step's policy. The test
# cluster has no accounting, so squeue and sacct are wrapped: squeue hides the job named in
# ./hide, as a controller that has purged it would, and sacct answers NODE_FAIL, as a cluster
# with accounting would. The step kills its own shim, so that nothing writes its exit.json.
# shellcheck disable=SC2016 # the tests' code is single-quoted, for expect_success's eval
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/slurm/lib.sh
. "$ROOT/tests/slurm/lib.sh"

db() { sqlite3 .sluice/sluice.db "$@"; }
export PROBE=$TRASH/probe
mkdir -p probe fakebin
real_squeue=$(command -v squeue)
cat >fakebin/squeue <<EOF
#!/bin/sh
[ -s "$TRASH/hide" ] || exec "$real_squeue" "\$@"
out=\$("$real_squeue" "\$@") || exit
printf '%s\n' "\$out" | grep -v "^\$(cat "$TRASH/hide")|" || true
EOF
cat >fakebin/sacct <<'EOF'
#!/bin/sh
# sacct -n -P -X -o JobID,State -j ID,ID…: every job asked about failed with its node
echo "$*" >>"$PROBE/sacct-calls"
while [ $# -gt 0 ]; do
    if [ "$1" = -j ]; then
        echo "$2" | tr , '\n' | sed 's/$/|NODE_FAIL/'
    fi
    shift
done
EOF
chmod +x fakebin/*

cat >lost.yaml <<'EOF'
pipeline: lost
defaults: { executor: slurm }
steps:
  flaky:
    retries: 1
    retry_delay: 1s
    run: |
      if [ -e "$PROBE/second" ]; then echo second time lucky; exit 0; fi
      touch "$PROBE/second"
      while [ ! -e "$PROBE/go" ]; do sleep 0.1; done
      kill -9 $PPID
EOF

expect_success 'a job gone without an exit.json, NODE_FAIL in sacct: lost, and retried' '
    PATH=$TRASH/fakebin:$PATH "$SLUICE" run lost.yaml >out 2>&1 &
    pid=$! &&
    for _ in $(seq 150); do
        [ "$(db "SELECT job_state FROM attempts WHERE n = 1" 2>/dev/null)" = RUNNING ] && break
        sleep 0.2
    done &&
    job=$(db "SELECT job_id FROM attempts WHERE n = 1") && test -n "$job" &&
    echo "$job" >hide && touch probe/go &&
    for _ in $(seq 150); do
        [ "$(db "SELECT status FROM attempts WHERE n = 1")" = lost ] && break
        sleep 0.2
    done &&
    wait $pid || { cat out; false; }
    test "$(db "SELECT status FROM attempts ORDER BY n")" = "$(printf "lost\nsucceeded")" &&
    test "$(db "SELECT job_state FROM attempts WHERE n = 1")" = NODE_FAIL &&
    test ! -e .sluice/runs/1/flaky/1/exit.json &&
    grep -q "slurm job $job ended NODE_FAIL" <(db "SELECT detail FROM events") &&
    grep -q -- "-j $job" probe/sacct-calls &&
    grep -qx "second time lucky" .sluice/runs/1/flaky/2/log
'

# Without accounting (the real sacct: "accounting storage is disabled"), a job that ended
# without an exit.json is lost once the exit-read timeout has passed.
expect_success 'no exit.json after SLUICE_SLURM_EXIT_READ_TIMEOUT, no accounting: lost, and retried' '
    rm -f probe/second probe/go &&
    SLUICE_SLURM_EXIT_READ_TIMEOUT=2s "$SLUICE" run lost.yaml --no-cache >out 2>&1 &
    pid=$! &&
    for _ in $(seq 150); do
        [ "$(db "SELECT job_state FROM attempts a JOIN steps s ON s.id = a.step_id
                 WHERE s.run_id = 2 AND a.n = 1" 2>/dev/null)" = RUNNING ] && break
        sleep 0.2
    done &&
    touch probe/go &&
    wait $pid || { cat out; false; }
    grep -q "attempt 1 was lost: slurm job [0-9]* ended [A-Z]* without an exit.json" \
        <(db "SELECT detail FROM events WHERE run_id = 2") &&
    grep -qx "second time lucky" .sluice/runs/2/flaky/2/log
'

done_testing
