#!/usr/bin/env bash
# Crash recovery: the engine is killed (SIGKILL) at each point of a step's attempt — recorded,
# spawned, exited — and while the step runs; `sluice resume` adopts the run, reads back or waits
# for what was running, and finishes it with every step run exactly once. Also: resume of a
# finished run says so, and resume of a run whose engine is alive is refused.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }
statuses() {
    db "SELECT group_concat(name || '=' || status, ' ') FROM
        (SELECT name, status FROM steps WHERE run_id = $1 ORDER BY name)"
}
# attempts RUN STEP: "n:status" of each attempt, in order
attempts() {
    db "SELECT group_concat(n || ':' || status, ' ') FROM (SELECT a.n, a.status FROM attempts a
        JOIN steps s ON s.id = a.step_id WHERE s.run_id = $1 AND s.name = '$2' ORDER BY a.n)"
}
# b_started: wait until a b step has written its pid (after rm -f probe/b.pid.*); print its run
b_started() {
    local i f
    for i in $(seq 50); do
        for f in probe/b.pid.*; do
            [ -s "$f" ] && { echo "${f##*.}"; return 0; }
        done
        sleep 0.1
    done
    return 1
}

export PROBE=$TRASH/probe
mkdir -p probe

# a → b → c, and d on its own. Every step appends its name to one counter file when it starts,
# so a step run twice shows twice. b sleeps $B_SLEEP seconds (0 unless a test sets it).
cat >crash.yaml <<'EOF'
pipeline: crash
steps:
  a:
    run: |
      echo a >> "$PROBE/counter.$SLUICE_RUN_ID"
      echo from-a > "$SLUICE_OUT/a.txt"
    outputs: [a.txt]
  b:
    run: |
      echo b >> "$PROBE/counter.$SLUICE_RUN_ID"
      echo $$ > "$PROBE/b.pid.$SLUICE_RUN_ID"
      sleep "${B_SLEEP:-0}"
      cat "$SLUICE_IN_A" > "$SLUICE_OUT/b.txt"
    inputs: { a: a/a.txt }
    outputs: [b.txt]
  c:
    run: |
      echo c >> "$PROBE/counter.$SLUICE_RUN_ID"
      cp "$SLUICE_IN_B" "$PROBE/c.in.$SLUICE_RUN_ID"
    inputs: { b: b/b.txt }
  d:
    run: |
      echo d >> "$PROBE/counter.$SLUICE_RUN_ID"
      sleep 0.3
EOF

# once RUN: every step ran exactly once in that run
once() {
    sort "probe/counter.$1" >got &&
    printf "%s\n" a b c d >want &&
    test_cmp want got
}

# crash_then_resume POINT: crash at POINT of b's attempt, then resume; checks the outcome.
crash_then_resume() {
    local rc r
    SLUICE_CRASH_AT="$1:b" sluice run --parallel 2 crash.yaml >out 2>err
    rc=$?
    r=$(last_run)
    echo "crash at $1: run $r exited $rc; $(statuses $r); b attempts: $(attempts $r b)"
    test $rc = 137 || { cat err; return 1; }
    test "$(run_status $r)" = running || return 1
    sluice resume last >rout 2>rerr
    rc=$?
    echo "resume exited $rc: $(statuses $r); b attempts: $(attempts $r b)"
    test $rc = 0 || { cat rerr; return 1; }
    test "$(run_status $r)" = succeeded &&
    test "$(statuses $r)" = "a=succeeded b=succeeded c=succeeded d=succeeded" &&
    once $r &&
    echo from-a >want && test_cmp want probe/c.in.$r &&
    test "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r AND a.status = ${q}succeeded$q")" = 4 &&
    test "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r AND a.status = ${q}running$q")" = 0 &&
    test -z "$(db "SELECT lease_owner FROM runs WHERE id = $r")"
}

expect_success 'crash once b'\''s attempt is recorded (nothing spawned): resume runs it once' '
    crash_then_resume recorded
'

# With one slot, the recovered attempt must give back the slot it held, or nothing else starts.
expect_success 'crash at recorded with --parallel 1: resume finishes (within 20 s)' '
    SLUICE_CRASH_AT=recorded:b sluice run --parallel 1 crash.yaml >out 2>err
    rc=$? && r=$(last_run) &&
    test $rc = 137 &&
    timeout 20 "$SLUICE" resume $r >rout 2>rerr
    rc=$?
    echo "resume exited $rc: $(statuses $r); b attempts: $(attempts $r b)" &&
    test $rc = 0 &&
    test "$(statuses $r)" = "a=succeeded b=succeeded c=succeeded d=succeeded" &&
    once $r
'

expect_success 'crash once b'\''s shim is spawned (pid not recorded): resume reads it back' '
    crash_then_resume spawned &&
    test "$(attempts $(last_run) b)" = "1:succeeded"
'

expect_success 'crash once b exited (result not read): resume reads exit.json, no rerun' '
    crash_then_resume exited &&
    test "$(attempts $(last_run) b)" = "1:succeeded"
'

expect_success 'kill -9 of the engine while b runs: resume waits for b, does not rerun it' '
    rm -f probe/b.pid.* &&
    { B_SLEEP=1 "$SLUICE" run --parallel 2 crash.yaml >out 2>err & } &&
    runpid=$! &&
    r=$(b_started) &&
    kill -9 $runpid && { wait $runpid; test $? = 137; } &&
    bpid=$(cat probe/b.pid.$r) &&
    kill -0 "$bpid" &&
    test "$(run_status $r)" = running &&
    sluice resume $r >rout 2>rerr &&
    ! kill -0 "$bpid" 2>/dev/null &&
    echo "$(statuses $r); b attempts: $(attempts $r b)" &&
    test "$(run_status $r)" = succeeded &&
    test "$(statuses $r)" = "a=succeeded b=succeeded c=succeeded d=succeeded" &&
    test "$(attempts $r b)" = "1:succeeded" &&
    once $r
'

expect_success 'resume of a finished run says it has ended (exit 0 for a success)' '
    sluice resume last >rout 2>rerr &&
    grep -q "has already ended" rout rerr &&
    grep -q "succeeded" rout rerr
'

expect_success 'resume of a run whose engine is alive is refused, and changes nothing' '
    rm -f probe/b.pid.* &&
    { B_SLEEP=1 "$SLUICE" run --parallel 2 crash.yaml >out 2>err & } &&
    runpid=$! &&
    r=$(b_started) &&
    { sluice resume $r >rout 2>rerr; rc=$?; true; } &&
    cat rout rerr &&
    wait $runpid && test $rc != 0 &&
    grep -q "live engine" rerr &&
    test "$(run_status $r)" = succeeded &&
    once $r
'

done_testing
