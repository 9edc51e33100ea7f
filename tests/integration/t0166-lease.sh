#!/usr/bin/env bash
# Fencing by the lease: an engine stopped (SIGSTOP, a debugger, a machine asleep) for longer than
# its 10 s lease loses its run to the engine that resumes it. When the stopped one wakes, it
# must write nothing more about the run and start nothing: it leaves at once, and the other
# engine finishes the run, every step run exactly once. (This test takes about 15 s: the lease
# is DESIGN's 10 s.)
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for SQL inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }

export PROBE=$TRASH/probe
mkdir -p probe

cat >chain.yaml <<'EOF'
pipeline: chain
steps:
  s0: { run: 'echo s0 >> "$PROBE/ran"; sleep 1' }
  s1: { run: 'echo s1 >> "$PROBE/ran"; sleep 1', needs: [s0] }
  s2: { run: 'echo s2 >> "$PROBE/ran"; sleep 1', needs: [s1] }
  s3: { run: 'echo s3 >> "$PROBE/ran"; sleep 1', needs: [s2] }
  s4: { run: 'echo s4 >> "$PROBE/ran"', needs: [s3] }
EOF

expect_success 'an engine stopped past its lease leaves the run to the engine that took it over' '
    { "$SLUICE" run chain.yaml >out1 2>err1 & } &&
    first=$! &&
    wait_for probe/ran &&
    r=$(last_run) &&
    kill -STOP $first &&
    sleep 11 &&
    { timeout 60 "$SLUICE" resume $r >out2 2>err2 & } &&
    second=$! &&
    for i in $(seq 100); do grep -q s1 probe/ran && break; sleep 0.1; done &&
    grep -q s1 probe/ran &&
    kill -CONT $first &&
    { wait $first; rc1=$?; } ; wait $second; rc2=$?
    cat err1 err2
    echo "stopped engine exited $rc1, the other $rc2; ran: $(tr "\n" " " <probe/ran)"
    test $rc1 = 1 && test $rc2 = 0 &&
    grep -q "taken over by another engine" err1 &&
    printf "s0\ns1\ns2\ns3\ns4\n" >want && test_cmp want probe/ran &&
    test "$(db "SELECT status FROM runs WHERE id = $r")" = succeeded &&
    test "$(db "SELECT group_concat(name || ${q}=$q || status, ${q} $q) FROM
        (SELECT name, status FROM steps WHERE run_id = $r ORDER BY name)")" = \
        "s0=succeeded s1=succeeded s2=succeeded s3=succeeded s4=succeeded" &&
    test "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
        WHERE s.run_id = $r")" = 5
'

done_testing
