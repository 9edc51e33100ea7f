#!/usr/bin/env bash
# Stopping and re-running: `sluice cancel` from another process and SIGINT to `sluice run` both
# stop the running step's whole process group and end the run cancelled (exit 1); `sluice retry`
# starts a new run (trigger retry) that reuses the steps that succeeded and reruns the rest.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
step_field() { db "SELECT $3 FROM steps WHERE run_id = $1 AND name = '$2'"; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }
statuses() {
    db "SELECT group_concat(name || '=' || status, ' ') FROM
        (SELECT name, status FROM steps WHERE run_id = $1 ORDER BY name)"
}
times() { if [ -e "count/$1" ]; then wc -l <"count/$1" | tr -d " "; else echo 0; fi; }
# Background runs call "$SLUICE" itself: $! must be the engine's pid, not a subshell's (which
# would also get SIGINT ignored, as every asynchronous command of a non-interactive shell does).
# gone PID: neither the process nor anything in its process group is left
gone() { ! kill -0 "$1" 2>/dev/null && ! pgrep -g "$1" >/dev/null; }

export COUNT=$TRASH/count PROBE=$TRASH/probe
mkdir -p count probe

# The long step polls for 3 s, then says it finished; a cancel must stop it before that.
cat >long.yaml <<'EOF'
pipeline: long
steps:
  long:
    run: |
      echo $$ > "$PROBE/long.pid"
      for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30; do
        sleep 0.1
      done
      touch "$PROBE/long-finished"
  after:
    needs: [long]
    run: touch "$PROBE/after-ran"
EOF

expect_success 'sluice cancel last, from another process, cancels the run; run exits 1' '
    rm -f probe/* &&
    { "$SLUICE" run long.yaml >out 2>err & } &&
    runpid=$! &&
    wait_for probe/long.pid &&
    sluice cancel last >cout 2>cerr &&
    wait $runpid; rc=$? &&
    cat cout cerr &&
    test $rc = 1 &&
    r=$(last_run) &&
    grep -q "run $r cancelled" cout &&
    test "$(run_status $r)" = cancelled &&
    test "$(statuses $r)" = "after=cancelled long=cancelled"
'

expect_success 'after the cancel the step'\''s process group is gone and it did not finish' '
    gone "$(cat probe/long.pid)" &&
    test ! -e probe/long-finished && test ! -e probe/after-ran &&
    test "$(db "SELECT a.status FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $(last_run) AND s.name = ${q}long$q")" = cancelled
'

expect_success 'cancelling a run that has ended is refused' '
    { sluice cancel last >cout 2>cerr; test $? != 0; } &&
    grep -q "already ended" cerr
'

expect_success 'SIGINT to sluice run cancels the run the same way' '
    rm -f probe/* &&
    { "$SLUICE" run long.yaml >out 2>err & } &&
    runpid=$! &&
    wait_for probe/long.pid &&
    kill -INT $runpid &&
    wait $runpid; rc=$? &&
    test $rc = 1 &&
    r=$(last_run) &&
    test "$(run_status $r)" = cancelled &&
    test "$(statuses $r)" = "after=cancelled long=cancelled" &&
    gone "$(cat probe/long.pid)" && test ! -e probe/long-finished
'

# a → b → c, and d on its own; b fails until the flag file exists.
cat >retry.yaml <<'EOF'
pipeline: retry
params:
  greeting: hi
steps:
  a:
    run: |
      echo a >> "$COUNT/a"
      echo ${{ params.greeting }} from a > "$SLUICE_OUT/data.txt"
    outputs: [data.txt]
  b:
    run: |
      echo b >> "$COUNT/b"
      test -e "$PROBE/flag" || exit 1
      cp "$SLUICE_IN_DATA" "$SLUICE_OUT/data.txt"
    inputs: { data: a/data.txt }
    outputs: [data.txt]
  c:
    run: |
      echo c >> "$COUNT/c"
      cp "$SLUICE_IN_DATA" "$PROBE/c.data"
    inputs: { data: b/data.txt }
  d:
    run: echo d >> "$COUNT/d"
EOF

expect_success 'a failed run: b failed, c upstream_failed, a and d succeeded' '
    rm -f probe/* &&
    { sluice run retry.yaml -p greeting=hello >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = "a=succeeded b=failed c=upstream_failed d=succeeded" &&
    test "$(times a)$(times b)$(times c)$(times d)" = 1101
'

expect_success 'sluice retry RUN reruns the failed steps and reuses the succeeded ones' '
    parent=$(last_run) &&
    touch probe/flag &&
    sluice retry $parent >out 2>err &&
    r=$(last_run) && test "$r" != "$parent" &&
    echo "$(statuses $r)" &&
    test "$(run_status $r)" = succeeded &&
    test "$(times a)$(times b)$(times c)$(times d)" = 1211 &&
    test "$(step_field $r b status)" = succeeded &&
    test "$(step_field $r c status)" = succeeded &&
    case "$(step_field $r a status)" in cached|succeeded) ;; *) false ;; esac &&
    case "$(step_field $r d status)" in cached|succeeded) ;; *) false ;; esac
'

expect_success 'the retry run has trigger retry, the parent, and the parent'\''s parameters' '
    r=$(last_run) &&
    test "$(db "SELECT trigger || \" \" || parent_run FROM runs WHERE id = $r")" = \
         "retry $((r - 1))" &&
    test "$(db "SELECT value FROM run_params WHERE run_id = $r AND name = ${q}greeting$q")" = \
         hello &&
    echo "hello from a" >want && test_cmp want probe/c.data
'

expect_success 'the reused outputs are the parent'\''s artifacts' '
    r=$(last_run) &&
    dig() { db "SELECT a.digest FROM artifacts a JOIN step_io io ON io.artifact_id = a.id
                JOIN attempts t ON t.id = io.attempt_id JOIN steps s ON s.id = t.step_id
                WHERE s.run_id = $1 AND s.name = ${q}a$q AND io.dir = ${q}out$q"; } &&
    test -n "$(dig $((r - 1)))" && test "$(dig $((r - 1)))" = "$(dig $r)"
'

expect_success 'retrying a run that succeeded reruns nothing' '
    parent=$(last_run) &&
    sluice retry last >out 2>err &&
    r=$(last_run) && test "$r" != "$parent" &&
    test "$(run_status $r)" = succeeded &&
    test "$(times a)$(times b)$(times c)$(times d)" = 1211
'

done_testing
