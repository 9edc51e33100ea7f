#!/usr/bin/env bash
# Retries (a flaky step succeeds on its second attempt, exhausted retries fail it, the delay
# between attempts), timeouts (the whole process group is stopped), and the step slots:
# --parallel N bounds how many steps overlap, resources.cpus takes several slots.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
step_field() { db "SELECT $3 FROM steps WHERE run_id = $1 AND name = '$2'"; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }
# attempts RUN STEP: "n:status" of each attempt, in order, space-separated
attempts() {
    db "SELECT group_concat(n || ':' || status, ' ') FROM (SELECT a.n, a.status FROM attempts a
        JOIN steps s ON s.id = a.step_id WHERE s.run_id = $1 AND s.name = '$2' ORDER BY a.n)"
}

export PROBE=$TRASH/probe
mkdir -p probe

cat >flaky.yaml <<'EOF'
pipeline: flaky
steps:
  flaky:
    run: |
      echo "$SLUICE_ATTEMPT" >> "$PROBE/flaky.attempts"
      test "$SLUICE_ATTEMPT" -ge 2
    retries: 1
    retry_delay: 100ms
  hopeless:
    run: |
      echo "$SLUICE_ATTEMPT" >> "$PROBE/hopeless.attempts"
      exit 1
    retries: 2
    retry_delay: 100ms
EOF

expect_success 'a step failing once with retries: 1 is attempted twice, exhausted retries fail' '
    { sluice run --parallel 2 flaky.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    echo "flaky: $(attempts $r flaky); hopeless: $(attempts $r hopeless)" &&
    test "$(attempts $r hopeless)" = "1:failed 2:failed 3:failed" &&
    test "$(step_field $r hopeless status)" = failed &&
    test "$(step_field $r hopeless attempts)" = 3 &&
    test "$(wc -l <probe/hopeless.attempts)" = 3
'

# The flaky step tells its attempts apart by $SLUICE_ATTEMPT: 1, then 2.
expect_success 'a flaky step (fails on attempt 1, succeeds on 2) succeeds with 2 attempts' '
    r=$(last_run) &&
    printf "%s\n" 1 2 >want &&
    test_cmp want probe/flaky.attempts &&
    test "$(attempts $r flaky)" = "1:failed 2:succeeded" &&
    test "$(step_field $r flaky status)" = succeeded &&
    test "$(step_field $r flaky attempts)" = 2
'

# The message of attempt 1's failure ("…; retry 1 of 1 in 100ms") no longer holds. show --json
# and /api/runs/ID build one document (store/doc_run.c), so this covers the API too.
expect_success 'after a successful retry the step says so, not the retried failure' '
    r=$(last_run) &&
    test "$(step_field $r flaky message)" = "succeeded on attempt 2" &&
    sluice show $r >show.txt &&
    grep -qx "flaky: succeeded on attempt 2" show.txt &&
    sluice show $r --json >show.json &&
    python3 -c "import json, sys
print(*[s[\"message\"] for s in json.load(sys.stdin)[\"steps\"] if s[\"name\"] == \"flaky\"])" \
        <show.json >msg &&
    test "$(cat msg)" = "succeeded on attempt 2"
'

expect_success 'each attempt has its own folder and log' '
    r=$(last_run) &&
    test -e .sluice/runs/$r/hopeless/1/exit.json &&
    test -e .sluice/runs/$r/hopeless/2/exit.json &&
    test -e .sluice/runs/$r/hopeless/3/exit.json &&
    test "$(db "SELECT count(DISTINCT a.dir) FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r AND s.name = ${q}hopeless$q")" = 3
'

expect_success 'the retry delay is kept between attempts, and doubles (100ms, then 200ms)' '
    r=$(last_run) &&
    db "SELECT b.started_at - a.ended_at FROM attempts a JOIN attempts b
        ON b.step_id = a.step_id AND b.n = a.n + 1 JOIN steps s ON s.id = a.step_id
        WHERE s.run_id = $r AND s.name = ${q}hopeless$q ORDER BY a.n" >gaps &&
    cat gaps &&
    test "$(sed -n 1p gaps)" -ge 90 && test "$(sed -n 2p gaps)" -ge 190
'

cat >timeout.yaml <<'EOF'
pipeline: timeout
steps:
  stuck:
    run: [sh, -c, 'echo $$ > "$PROBE/stuck.pid"; sleep 29.123 & sleep 29.123; wait']
    timeout: 1s
  after:
    needs: [stuck]
    run: touch "$PROBE/after-ran"
EOF

expect_success 'timeout: the step is stopped after 1s, failed, and the message says timed out' '
    start=$(date +%s%N) &&
    { sluice run timeout.yaml >out 2>err; test $? = 1; } &&
    elapsed=$(( ($(date +%s%N) - start) / 1000000 )) &&
    r=$(last_run) &&
    echo "elapsed ${elapsed}ms; $(step_field $r stuck message)" &&
    test "$(step_field $r stuck status)" = failed &&
    step_field $r stuck message | grep -q "timed out" &&
    test "$(attempts $r stuck)" = "1:timed_out" &&
    test "$(step_field $r after status)" = upstream_failed &&
    test "$elapsed" -ge 1000 && test "$elapsed" -lt 8000
'

expect_success 'after a timeout nothing of the step'\''s process group is left' '
    ! pgrep -f "sleep 29.123" &&
    ! kill -0 "$(cat probe/stuck.pid)" 2>/dev/null
'

# Each step records when it started and ended (ns); max_overlap reads those records.
cat >slots.yaml <<'EOF'
pipeline: slots
steps:
  s1:
    run: [sh, steps/span.sh]
  s2:
    run: [sh, steps/span.sh]
  s3:
    run: [sh, steps/span.sh]
  s4:
    run: [sh, steps/span.sh]
EOF
mkdir -p steps
cat >steps/span.sh <<'EOF'
echo "$(date +%s%N) 1 $SLUICE_STEP" >> "$PROBE/spans.$SLUICE_RUN_ID"
sleep 0.4
echo "$(date +%s%N) -1 $SLUICE_STEP" >> "$PROBE/spans.$SLUICE_RUN_ID"
EOF

# max_overlap FILE: the most steps that were running at one time (an end sorts before a start
# at the same instant).
max_overlap() {
    sort -k1,1n -k2,2n "$1" | awk '{ n += $2; if (n > m) m = n } END { print m + 0 }'
}

expect_success '--parallel 1 runs one step at a time' '
    sluice run --parallel 1 slots.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(wc -l <probe/spans.$r)" = 8 &&
    test "$(max_overlap probe/spans.$r)" = 1
'

expect_success '--parallel 2 runs two steps at a time, never three' '
    sluice run --parallel 2 slots.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(wc -l <probe/spans.$r)" = 8 &&
    test "$(max_overlap probe/spans.$r)" = 2
'

cat >cpus.yaml <<'EOF'
pipeline: cpus
steps:
  big:
    run: [sh, steps/span.sh]
    resources: { cpus: 2 }
  s1:
    run: [sh, steps/span.sh]
  s2:
    run: [sh, steps/span.sh]
EOF

# big_overlaps FILE: how many other steps were running at some time while big ran.
big_overlaps() {
    sort -k1,1n -k2,2n "$1" | awk '
        $3 == "big" { inbig = ($2 == 1); if (inbig) hits += others; next }
        { others += $2; if ($2 == 1 && inbig) hits++ }
        END { print hits + 0 }'
}

expect_success 'resources: {cpus: 2} with --parallel 2 runs alone' '
    sluice run --parallel 2 cpus.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(wc -l <probe/spans.$r)" = 6 &&
    test "$(big_overlaps probe/spans.$r)" = 0
'

expect_success 'a step asking for more cpus than --parallel still runs (alone)' '
    sluice run --parallel 1 cpus.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(step_field $r big status)" = succeeded &&
    test "$(max_overlap probe/spans.$r)" = 1
'

done_testing
