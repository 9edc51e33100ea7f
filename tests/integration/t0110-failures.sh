#!/usr/bin/env bash
# How runs fail: a failed step fails the run while independent branches go on; --fail-fast
# cancels the rest; a missing output and malformed metrics fail a step that exited 0; `when:`
# false skips a step and its downstream; a metric missing at run time fails the step clearly.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
step_field() { db "SELECT $3 FROM steps WHERE run_id = $1 AND name = '$2'"; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }
# statuses RUN: "name=status ..." in name order
statuses() {
    db "SELECT group_concat(name || '=' || status, ' ') FROM
        (SELECT name, status FROM steps WHERE run_id = $1 ORDER BY name)"
}

export PROBE=$TRASH/probe
mkdir -p probe

cat >branches.yaml <<'EOF'
pipeline: branches
steps:
  bad:
    run: sh -c 'exit 3'
  down:
    needs: [bad]
    run: touch "$PROBE/down-ran"
  down2:
    needs: [down]
    run: touch "$PROBE/down2-ran"
  indep:
    run: sleep 0.3 && touch "$PROBE/indep-ran"
  indep2:
    needs: [indep]
    run: touch "$PROBE/indep2-ran"
EOF

expect_success 'a failed step fails the run (exit 1); its downstream is upstream_failed' '
    { sluice run branches.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(run_status $r)" = failed &&
    test "$(step_field $r bad status)" = failed &&
    test "$(step_field $r down status)" = upstream_failed &&
    test "$(step_field $r down2 status)" = upstream_failed &&
    test ! -e probe/down-ran && test ! -e probe/down2-ran
'

expect_success 'the failed step says how it failed' '
    step_field $(last_run) bad message | grep -q "exited with status 3"
'

expect_success 'an independent branch still runs to success' '
    r=$(last_run) &&
    test "$(step_field $r indep status)" = succeeded &&
    test "$(step_field $r indep2 status)" = succeeded &&
    test -e probe/indep-ran && test -e probe/indep2-ran
'

cat >fast.yaml <<'EOF'
pipeline: fast
steps:
  bad:
    run: sleep 0.2; exit 1
  slow:
    run: |
      echo $$ > "$PROBE/slow.pid"
      sleep 2
      touch "$PROBE/slow-finished"
  after:
    needs: [slow]
    run: touch "$PROBE/after-ran"
EOF

expect_success '--fail-fast: the first failure cancels the running and the pending steps' '
    rm -f probe/* &&
    start=$(date +%s%N) &&
    { sluice run --fail-fast --parallel 4 fast.yaml >out 2>err; test $? = 1; } &&
    elapsed=$(( ($(date +%s%N) - start) / 1000000 )) &&
    r=$(last_run) &&
    echo "elapsed ${elapsed}ms; $(statuses $r); run $(run_status $r)" &&
    test "$(step_field $r bad status)" = failed &&
    test "$(step_field $r slow status)" = cancelled &&
    case "$(step_field $r after status)" in cancelled|upstream_failed) ;; *) false ;; esac &&
    case "$(run_status $r)" in failed|cancelled) ;; *) false ;; esac &&
    test "$elapsed" -lt 1900 &&
    test -s probe/slow.pid && ! kill -0 "$(cat probe/slow.pid)" 2>/dev/null &&
    test ! -e probe/slow-finished && test ! -e probe/after-ran
'

expect_success 'without --fail-fast the same pipeline lets the slow branch finish' '
    rm -f probe/* &&
    { sluice run --parallel 4 fast.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = "after=succeeded bad=failed slow=succeeded" &&
    test "$(run_status $r)" = failed &&
    test -e probe/slow-finished && test -e probe/after-ran
'

cat >outputs.yaml <<'EOF'
pipeline: outputs
steps:
  train:
    run: echo "forgot to write the model"; touch "$SLUICE_OUT/other.txt"
    outputs: [model.pkl]
  use:
    run: "true"
    inputs: { model: train/model.pkl }
EOF

expect_success 'a declared output missing after exit 0 fails the step, naming the output' '
    { sluice run outputs.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(step_field $r train status)" = failed &&
    step_field $r train message | grep -q "${q}model.pkl$q" &&
    test "$(step_field $r use status)" = upstream_failed &&
    test "$(db "SELECT a.status FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r AND s.name = ${q}train$q")" = failed
'

cat >metrics.yaml <<'EOF'
pipeline: metrics
steps:
  broken:
    run: |
      printf '{"f1": 0.9,' > "$SLUICE_METRICS"
  notobject:
    run: echo '[1, 2]' > "$SLUICE_METRICS"
  nonnumber:
    run: |
      echo '{"f1": "high"}' > "$SLUICE_METRICS"
  fine:
    run: |
      echo '{"f1": 0.9}' > "$SLUICE_METRICS"
EOF

expect_success 'malformed metrics JSON fails the step with a message about the metrics' '
    { sluice run metrics.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    echo "$(statuses $r)" &&
    test "$(step_field $r broken status)" = failed &&
    step_field $r broken message | grep -qi "metrics" &&
    test "$(step_field $r fine status)" = succeeded &&
    test "$(db "SELECT count(*) FROM metrics WHERE run_id = $r AND step = ${q}broken$q")" = 0
'

expect_success 'metrics that are not an object of numbers (or lists) fail the step' '
    r=$(last_run) &&
    test "$(step_field $r notobject status)" = failed &&
    test "$(step_field $r nonnumber status)" = failed &&
    step_field $r nonnumber message | grep -q "${q}f1$q"
'

cat >when.yaml <<'EOF'
pipeline: when
params:
  gate: 0.5
steps:
  train:
    run: |
      echo '{"f1": 0.3}' > "$SLUICE_METRICS"
  deploy:
    needs: [train]
    when: steps.train.metrics.f1 >= params.gate
    run: touch "$PROBE/deploy-ran"
  notify:
    needs: [deploy]
    run: touch "$PROBE/notify-ran"
  report:
    needs: [train]
    run: touch "$PROBE/report-ran"
EOF

expect_success 'when: false skips the step and everything downstream; the run succeeds' '
    rm -f probe/* &&
    sluice run when.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(statuses $r)" = "deploy=skipped notify=skipped report=succeeded train=succeeded" &&
    test "$(run_status $r)" = succeeded &&
    test ! -e probe/deploy-ran && test ! -e probe/notify-ran && test -e probe/report-ran &&
    test "$(step_field $r deploy message)" = "when is false: 0.3 >= 0.5"
'

expect_success 'when: true (by a -p override) runs the step and its downstream' '
    rm -f probe/* &&
    sluice run when.yaml -p gate=0.1 >out 2>err &&
    r=$(last_run) &&
    test "$(statuses $r)" = "deploy=succeeded notify=succeeded report=succeeded train=succeeded" &&
    test -e probe/deploy-ran && test -e probe/notify-ran
'

cat >arith.yaml <<'EOF'
pipeline: arith
params:
  champion_f1: 0.9
  margin: 0.02
  n: 0
steps:
  evaluate:
    run: |
      echo '{"f1": 0.91}' > "$SLUICE_METRICS"
  promote:
    needs: [evaluate]
    when: steps.evaluate.metrics.f1 > params.champion_f1 + params.margin
    run: touch "$PROBE/promote-ran"
  gate:
    needs: [evaluate]
    when: steps.evaluate.metrics.f1 >= 0.95 && steps.evaluate.status == 'succeeded'
    run: touch "$PROBE/gate-ran"
  ratio:
    needs: [evaluate]
    when: max(steps.evaluate.metrics.f1 / params.n, 0) > 0.4
    run: touch "$PROBE/ratio-ran"
EOF

expect_success 'when: arithmetic decides; a false when says what it compared' '
    rm -f probe/* &&
    { sluice run arith.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(step_field $r promote status)" = skipped &&
    test "$(step_field $r promote message)" = "when is false: 0.91 > 0.9 + 0.02" &&
    test "$(step_field $r gate message)" = \
        "when is false: 0.91 >= 0.95 && ${q}succeeded$q == ${q}succeeded$q" &&
    test ! -e probe/promote-ran && test ! -e probe/gate-ran
'

expect_success 'when: a division by zero fails the step, saying where' '
    r=$(last_run) &&
    test "$(step_field $r ratio status)" = failed &&
    msg=$(step_field $r ratio message) && echo "message: $msg" &&
    want="when: division by zero in ${q}steps.evaluate.metrics.f1 / params.n$q (0.91 / 0)" &&
    test "$msg" = "$want" &&
    test ! -e probe/ratio-ran
'

expect_success 'when: with other params the same arithmetic runs the steps' '
    rm -f probe/* &&
    sluice run arith.yaml -p margin=0 -p n=2 >out 2>err &&
    r=$(last_run) &&
    test "$(step_field $r promote status)" = succeeded &&
    test "$(step_field $r ratio status)" = succeeded &&
    test -e probe/promote-ran && test -e probe/ratio-ran
'

cat >nometric.yaml <<'EOF'
pipeline: nometric
steps:
  train:
    run: |
      echo '{"f1": 0.3}' > "$SLUICE_METRICS"
  deploy:
    needs: [train]
    when: steps.train.metrics.accuracy > 0.5
    run: touch "$PROBE/deploy-ran"
EOF

expect_success 'a metric missing at run time in when: fails the step, naming the metric' '
    rm -f probe/* &&
    { sluice run nometric.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(step_field $r deploy status)" = failed &&
    msg=$(step_field $r deploy message) &&
    echo "message: $msg" &&
    echo "$msg" | grep -q "accuracy" &&
    test "$(run_status $r)" = failed &&
    test ! -e probe/deploy-ran
'

# What a step may leave in place of a file the engine reads: a FIFO (reading it would wait for
# a writer forever) or a device that never ends. Each fails its step; the run ends.
cat >odd.yaml <<'EOF'
pipeline: odd
steps:
  fifo_metrics:
    run: mkfifo "$SLUICE_METRICS"
  zero_output:
    run: ln -s /dev/zero "$SLUICE_OUT/o"
    outputs: [o]
  fifo_output:
    run: mkfifo "$SLUICE_OUT/p"
    outputs: [p]
  fine:
    run: echo fine
EOF

expect_success 'a FIFO or a device in place of metrics or an output fails the step, and the run ends' '
    { timeout 60 "$SLUICE" run odd.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = "fifo_metrics=failed fifo_output=failed fine=succeeded zero_output=failed" &&
    test "$(step_field $r fifo_metrics message)" = "metrics file is not a regular file" &&
    step_field $r zero_output message | grep -q "/o${q} is not a regular file or a folder$" &&
    step_field $r fifo_output message | grep -q "/p${q} is not a regular file or a folder$"
'

cat >slurm.yaml <<'EOF'
pipeline: slurm
steps:
  remote:
    executor: slurm
    run: touch "$PROBE/remote-ran"
  here:
    run: touch "$PROBE/here-ran"
EOF

# DESIGN's Slurm executor is not built yet: such a step must not quietly run on this machine.
expect_success 'a step with executor: slurm fails, saying so, and does not run here' '
    rm -f probe/* &&
    { sluice run slurm.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = "here=succeeded remote=failed" &&
    step_field $r remote message | grep -q "^executor ${q}slurm$q is not available in this build yet" &&
    test ! -e probe/remote-ran && test -e probe/here-ran
'

cat >longline.yaml <<'EOF'
pipeline: longline
steps:
  loud:
    run: 'printf "error: %0400d\n" 0; exit 3'
EOF

expect_success 'a long last log line makes a message of 300 bytes that says it was cut' '
    { sluice run longline.yaml >out 2>err; test $? = 1; } &&
    msg=$(step_field $(last_run) loud message) &&
    echo "$msg" | cut -c1-60 &&
    test "${#msg}" = $((22 + 300)) &&
    case "$msg" in "exited with status 3: error: 000"*"000...") ;; *) false ;; esac
'

done_testing
