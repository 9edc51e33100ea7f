#!/usr/bin/env bash
# Fencing by the lease: an engine stopped (SIGSTOP, a debugger, a machine asleep) for longer than
# its 10 s lease loses its run to the engine that resumes it. When the stopped one wakes, it
# must write nothing more about the run and start nothing: it leaves at once, and the other
# engine finishes the run, every step run exactly once. (This test takes about 15 s: the lease
# is DESIGN's 10 s.) Engines racing to resume a dead engine's run: one wins, and the others
# name the winner.
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

cat >slowish.yaml <<'EOF'
pipeline: slowish
steps:
  a: { run: 'echo a >> "$PROBE/slowish"; sleep 1' }
  b: { run: 'echo b >> "$PROBE/slowish"; sleep 1', needs: [a] }
EOF

expect_success 'three resumes at once of a dead engine'\''s run: one drives it, the others name that one' '
    { "$SLUICE" run slowish.yaml >out 2>err & } &&
    first=$! &&
    wait_for probe/slowish &&
    r=$(last_run) &&
    kill -9 $first && { wait $first; test $? = 137; } &&
    { "$SLUICE" resume $r >r1 2>e1 & p1=$!; } &&
    { "$SLUICE" resume $r >r2 2>e2 & p2=$!; } &&
    { "$SLUICE" resume $r >r3 2>e3 & p3=$!; } &&
    wait $p1; c1=$?; wait $p2; c2=$?; wait $p3; c3=$?
    cat e1 e2 e3
    echo "exits: $c1 $c2 $c3"
    winner=
    for i in 1 2 3; do
        eval "c=\$c$i p=\$p$i"
        if [ "$c" = 0 ]; then test -z "$winner" || return 1; winner=$p; fi
    done &&
    test -n "$winner" &&
    for i in 1 2 3; do
        eval "c=\$c$i"
        test "$c" = 0 && continue
        grep -q "is being driven by .*:$winner:" e$i || return 1
    done &&
    printf "a\nb\n" >want && test_cmp want probe/slowish &&
    test "$(db "SELECT status FROM runs WHERE id = $r")" = succeeded
'

done_testing
