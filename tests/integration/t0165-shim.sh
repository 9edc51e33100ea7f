#!/usr/bin/env bash
# One shim per engine: every attempt of a run is served by the same `sluice shim` process, which
# outlives a killed engine until its steps end. A shim killed under a running step takes the
# step's session with it (the step cannot go on beside its retry), and the attempt is lost and
# retried. An engine that adopts a run can cancel a step that another engine's shim runs. When
# the engine and its shim die together, the engine that resumes the run kills what is left of a
# running step (its whole tree, found by the attempt's environment) before the step's retry.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }
attempts() {
    db "SELECT group_concat(n || ':' || status, ' ') FROM (SELECT a.n, a.status FROM attempts a
        JOIN steps s ON s.id = a.step_id WHERE s.run_id = $1 AND s.name = '$2' ORDER BY a.n)"
}
# shim_of RUN: the shim that served the run's first attempt
shim_of() {
    db "SELECT a.pid FROM attempts a JOIN steps s ON s.id = a.step_id
        WHERE s.run_id = $1 AND a.n = 1 LIMIT 1"
}
# kill_both RUNPID RUN: kill -9 the engine (a background job of this shell) and its shim at once
kill_both() { kill -9 "$1" "$(shim_of "$2")" && { wait "$1"; test $? = 137; }; }
# gone PID: neither the process nor anything in its session is left
# (a zombie counts as gone: an orphan's is reaped by init, which here may take its time)
gone() { ! ps -o stat= -p "$1" -s "$1" 2>/dev/null | grep -qv "^Z"; }
# wait_gone PID [SECONDS]
wait_gone() {
    local i
    for i in $(seq $((${2:-5} * 10))); do
        gone "$1" && return 0
        sleep 0.1
    done
    echo "process $1 still there after ${2:-5} s"
    return 1
}

export PROBE=$TRASH/probe
mkdir -p probe

cat >many.yaml <<'EOF'
pipeline: many
steps:
  a: { run: "true" }
  b: { run: "true", needs: [a] }
  c: { run: "echo c", needs: [a] }
  d: { run: "true", needs: [b, c] }
EOF

expect_success 'every attempt of a run is served by one shim, gone once the run ends' '
    sluice run many.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r")" = 4 &&
    test "$(db "SELECT count(DISTINCT a.pid) FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r")" = 1 &&
    shim=$(db "SELECT a.pid FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r LIMIT 1") &&
    test "$shim" -gt 0 &&
    wait_gone "$shim" &&
    for st in a b c d; do test -f .sluice/runs/$r/$st/1/exit.json || return 1; done &&
    grep -q "\"exit\": 0" .sluice/runs/$r/c/1/exit.json &&
    test "$(cat .sluice/runs/$r/c/1/log)" = c
'

# The step writes its pid, then sleeps; its first attempt is the one the shim dies under.
cat >shimdie.yaml <<'EOF'
pipeline: shimdie
steps:
  s:
    run: |
      echo $$ > "$PROBE/s.pid.$SLUICE_ATTEMPT"
      if [ "$SLUICE_ATTEMPT" = 1 ]; then sleep 30; fi
      echo second > "$SLUICE_OUT/out.txt"
    outputs: [out.txt]
    retries: 1
    retry_delay: 100ms
  u:
    run: touch "$PROBE/u.ran"
EOF

# With one slot, u waits for s: it starts the moment the lost s gives its slot back, under a
# new shim, while the dead one's connection is still closing.
expect_success 'kill -9 of the shim: the step dies with it, is lost, its retry and the rest run' '
    rm -f probe/* &&
    { "$SLUICE" run --parallel 1 shimdie.yaml >out 2>err & } &&
    runpid=$! &&
    wait_for probe/s.pid.1 &&
    step=$(cat probe/s.pid.1) &&
    r=$(last_run) &&
    kill -9 "$(shim_of $r)" &&
    wait $runpid; rc=$?
    cat err
    echo "run exited $rc; attempts: $(attempts $r s)"
    test $rc = 0 &&
    wait_gone "$step" &&
    test "$(attempts $r s)" = "1:lost 2:succeeded" &&
    test "$(attempts $r u)" = "1:succeeded" &&
    test -e probe/u.ran &&
    test "$(run_status $r)" = succeeded &&
    test "$(db "SELECT count(DISTINCT a.pid) FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r")" = 2 &&
    grep -q "lost" err
'

# b has no retries: were the attempt its shim never got counted as a try, the run would fail.
cat >never.yaml <<'EOF'
pipeline: never
steps:
  a:
    run: echo a >> "$PROBE/never.count"
  b:
    needs: [a]
    run: echo b >> "$PROBE/never.count"
EOF

expect_success 'a shim killed before it gets a request: the step runs once, under a new shim' '
    rm -f probe/* &&
    SLUICE_KILL_SHIM_AT=b sluice run never.yaml >out 2>err; rc=$?
    cat err
    r=$(last_run)
    echo "run exited $rc; b attempts: $(attempts $r b)"
    test $rc = 0 &&
    test "$(attempts $r b)" = "1:lost 2:succeeded" &&
    printf "a\nb\n" >want && test_cmp want probe/never.count &&
    test "$(db "SELECT attempts FROM steps WHERE run_id = $r AND name = ${q}b$q")" = 1 &&
    test ! -e .sluice/runs/$r/b/1/log
'

cat >slow.yaml <<'EOF'
pipeline: slow
steps:
  slow:
    run: |
      echo $$ > "$PROBE/slow.pid"
      sleep 60
      touch "$PROBE/slow-finished"
EOF

# The pid of a running step reaches the store at the engine's next tick (once a second).
expect_success 'an engine that adopted a run cancels a step another engine'\''s shim runs' '
    rm -f probe/* &&
    { "$SLUICE" run slow.yaml >out 2>err & } &&
    runpid=$! &&
    wait_for probe/slow.pid &&
    step=$(cat probe/slow.pid) &&
    r=$(last_run) &&
    for i in $(seq 50); do
        test "$(db "SELECT a.step_pid FROM attempts a JOIN steps s ON s.id = a.step_id
                    WHERE s.run_id = $r")" = "$step" && break
        sleep 0.1
    done &&
    test "$(db "SELECT a.step_pid FROM attempts a JOIN steps s ON s.id = a.step_id
                WHERE s.run_id = $r")" = "$step" &&
    kill -9 $runpid && { wait $runpid; test $? = 137; } &&
    kill -0 "$step" &&
    { "$SLUICE" resume $r >rout 2>rerr & } &&
    respid=$! &&
    sleep 0.5 &&
    sluice cancel $r >cout 2>cerr &&
    wait $respid; rc=$?
    cat rerr
    echo "resume exited $rc; run $(run_status $r); attempts: $(attempts $r slow)"
    test $rc = 1 &&
    wait_gone "$step" &&
    test ! -e probe/slow-finished &&
    test "$(run_status $r)" = cancelled
'

# The step's first attempt leaves a child of its own in a new session (setsid), as a daemon
# would, then sleeps; the retry ends at once.
cat >orphan.yaml <<'EOF'
pipeline: orphan
steps:
  o:
    run: |
      if [ "$SLUICE_ATTEMPT" = 2 ]; then echo retry >> "$PROBE/orphan.log"; exit 0; fi
      setsid sh -c 'echo $$ > "$PROBE/orphan.child"; sleep 30; echo child-end >> "$PROBE/orphan.log"' &
      echo $$ > "$PROBE/orphan.pid"
      sleep 30
      echo end >> "$PROBE/orphan.log"
    retries: 1
    retry_delay: 0s
EOF

# orphan_case SECONDS: kill -9 the engine and its shim SECONDS after the step started (before
# and after the engine's tick records the step's pid), resume, and check that nothing of
# attempt 1 is left: neither the step's session nor the child that left it.
orphan_case() {
    rm -f probe/* &&
    { "$SLUICE" run orphan.yaml >out 2>err & } &&
    runpid=$! &&
    wait_for probe/orphan.pid && wait_for probe/orphan.child &&
    step=$(cat probe/orphan.pid) && child=$(cat probe/orphan.child) &&
    r=$(last_run) &&
    sleep "$1" &&
    echo "recorded step pid: $(db "SELECT a.step_pid FROM attempts a JOIN steps s
               ON s.id = a.step_id WHERE s.run_id = $r AND a.n = 1") (step $step)" &&
    kill_both $runpid $r &&
    kill -0 "$step" && kill -0 "$child" &&
    sluice resume $r >rout 2>rerr; rc=$?
    cat rerr
    echo "resume exited $rc; attempts: $(attempts $r o)"
    test $rc = 0 &&
    test "$(attempts $r o)" = "1:lost 2:succeeded" &&
    wait_gone "$step" 2 && wait_gone "$child" 2 &&
    test "$(cat probe/orphan.log)" = retry
}

expect_success 'engine and shim killed at once: resume kills the orphaned step (pid not recorded yet) before its retry' '
    orphan_case 0
'

expect_success 'engine and shim killed at once: resume kills the orphaned step (pid recorded) before its retry' '
    orphan_case 1.5
'

cat >followdead.yaml <<'EOF'
pipeline: followdead
steps:
  f:
    run: |
      echo $$ > "$PROBE/followdead.pid"
      echo one
      sleep 30
EOF

# logs --follow waits for an attempt's end; when nothing is left to record it (engine and shim
# both gone), it says so and what to do, instead of waiting forever.
expect_success 'logs --follow gives up, saying why, when the engine and the shim are both gone' '
    rm -f probe/* &&
    { "$SLUICE" run followdead.yaml >out 2>err & } &&
    runpid=$! &&
    wait_for probe/followdead.pid &&
    step=$(cat probe/followdead.pid) &&
    r=$(last_run) &&
    kill_both $runpid $r &&
    { timeout 30 "$SLUICE" logs $r f --follow >fout 2>ferr; rc=$?; } ;
    kill -9 -- -"$step" 2>/dev/null # the step and its sleep: it leads its own group
    cat ferr
    echo "follow exited $rc"
    test $rc = 1 &&
    test "$(cat fout)" = one &&
    grep -q "nothing drives run $r any more .*${q}sluice resume $r$q picks it up" ferr
'

expect_success 'logs --follow of a queued run that no engine drives gives up too, saying how to run it' '
    sluice trigger followdead.yaml >tout 2>terr &&
    r=$(sed -n "s/^queued run \([0-9]*\) .*/\1/p" tout) && test -n "$r" &&
    { timeout 30 "$SLUICE" logs $r f --follow >fout 2>ferr; rc=$?; } ;
    cat ferr
    test $rc = 1 &&
    grep -q "nothing drives run $r any more .*${q}sluice resume $r$q picks it up" ferr
'

# An engine of another host cannot be asked whether it lives: its lease says so, and once the
# lease has expired nothing drives the run, as resume and cancel judge it (engine_drives).
expect_success 'logs --follow gives up on a run whose other-host engine let its lease expire' '
    sluice trigger followdead.yaml >tout 2>terr &&
    r=$(sed -n "s/^queued run \([0-9]*\) .*/\1/p" tout) && test -n "$r" &&
    db "UPDATE runs SET lease_owner = ${q}elsewhere.invalid:4242:1$q, lease_expires = 1
        WHERE id = $r" &&
    { timeout 20 "$SLUICE" logs $r f --follow >fout 2>ferr; rc=$?; } ;
    cat ferr
    echo "follow exited $rc"
    test $rc = 1 &&
    grep -q "nothing drives run $r any more .*${q}sluice resume $r$q picks it up" ferr
'

cat >canceldead.yaml <<'EOF'
pipeline: canceldead
steps:
  a:
    run: |
      echo $$ > "$PROBE/canceldead.pid"
      sleep 30
    retries: 2
    retry_delay: 0s
  b: { run: "true", needs: [a] }
EOF

expect_success 'cancel of a run whose engine and shim died: the run ends cancelled, its orphan is killed, nothing retried' '
    rm -f probe/* &&
    { "$SLUICE" run canceldead.yaml >out 2>err & } &&
    runpid=$! &&
    wait_for probe/canceldead.pid &&
    step=$(cat probe/canceldead.pid) &&
    r=$(last_run) &&
    kill_both $runpid $r &&
    kill -0 "$step" &&
    sluice cancel $r >cout 2>cerr; crc=$?
    cat cout cerr
    echo "cancel exited $crc; run $(run_status $r); a: $(attempts $r a)"
    test $crc = 0 &&
    test "$(run_status $r)" = cancelled &&
    test "$(attempts $r a)" = "1:lost" &&
    test "$(db "SELECT status FROM steps WHERE run_id = $r AND name = ${q}a$q")" = cancelled &&
    test "$(db "SELECT status FROM steps WHERE run_id = $r AND name = ${q}b$q")" = cancelled &&
    wait_gone "$step" 2
'

done_testing
