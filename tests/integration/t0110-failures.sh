#!/usr/bin/env bash
# How runs fail: a failed step fails the run while independent branches go on, and the
# progress lines count what ended and what will not run; --fail-fast cancels the rest; a
# missing output and malformed metrics fail a step that exited 0; `when:` false skips a step
# and its downstream; a metric missing at run time fails the step clearly; each step's
# trigger_rule says whether it runs after its upstream steps failed or were skipped.
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

cat >counter.yaml <<'EOF'
pipeline: counter
steps:
  a:
    run: "false"
  b:
    needs: [a]
    run: "true"
  c:
    needs: [b]
    run: "true"
  e:
    run: "true"
EOF

# The plain progress lines (stderr is not a terminal here) count steps as they end: a failure
# does not count its downstream as done; steps that will never run are counted apart.
expect_success 'progress counts steps that ended, and those that will not run apart, one a line' '
    { sluice run --parallel 1 counter.yaml >out 2>err; test $? = 1; } &&
    cat err &&
    grep -qx "\[1/4\] a failed: exited with status 1" err &&
    grep -qx "\[1/4, 1 not run\] b upstream_failed: upstream step ${q}a$q failed" err &&
    grep -qx "\[1/4, 2 not run\] c upstream_failed: upstream step ${q}a$q failed" err &&
    grep -qx "\[2/4, 2 not run\] e succeeded" err &&
    sed -n "s/^\[\([0-9]*\)\/4\(, \([0-9]*\) not run\)\{0,1\}\].*/\1 \3/p" err >counts &&
    test "$(wc -l <counts)" -ge 6 &&
    awk "{ t = \$1 + \$2; if (t < last || t > last + 1) bad = 1; last = t } END { exit bad }" counts
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

# What a step leaves in $SLUICE_OUT besides its declared outputs is not recorded: the step
# still succeeds, and its message and log say which names were left out (a few, then a count).
cat >extras.yaml <<'EOF'
pipeline: extras
steps:
  train:
    run: |
      cd "$SLUICE_OUT" && mkdir -p sub tmp/deep
      touch model.pkl extra.csv sub/keep.txt sub/junk tmp/deep/x
    outputs: [model.pkl, ./sub//keep.txt]
  many:
    run: cd "$SLUICE_OUT" && touch a b c d e f g
  clean:
    run: touch "$SLUICE_OUT/only.txt"
    outputs: [only.txt]
EOF

expect_success 'files left in SLUICE_OUT but not declared are named in the message and the log' '
    sluice run extras.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(statuses $r)" = "clean=succeeded many=succeeded train=succeeded" &&
    want="not recorded: ${q}extra.csv$q, ${q}sub/junk$q, ${q}tmp/$q (not declared in outputs:)" &&
    test "$(step_field $r train message)" = "$want" &&
    sluice show $r | grep -qxF "train: $want" &&
    sluice logs $r train | grep -qxF "sluice: $want" &&
    test "$(db "SELECT io.name FROM step_io io JOIN attempts a ON a.id = io.attempt_id
               JOIN steps s ON s.id = a.step_id WHERE s.run_id = $r
               AND s.name = ${q}train$q AND io.dir = ${q}out$q ORDER BY io.name" | xargs)" = \
         "./sub//keep.txt model.pkl"
'

expect_success 'the names left out are capped, with how many more; a clean step says nothing' '
    r=$(last_run) &&
    test "$(step_field $r many message)" = "not recorded: ${q}a$q, ${q}b$q, ${q}c$q, ${q}d$q, \
${q}e$q and 2 more (not declared in outputs:)" &&
    test -z "$(step_field $r clean message)"
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

# trigger_rule: the join after a branch (none_failed) runs where the default skips it; a
# one_failed cleanup runs only when something failed, and the run still fails; all_done runs
# after a failure; --fail-fast starts none of them.
cat >join.yaml <<'EOF'
pipeline: join
params:
  big: true
steps:
  start:
    run: "true"
  large:
    needs: [start]
    when: params.big
    run: touch "$PROBE/large-ran"
  small:
    needs: [start]
    when: "!params.big"
    run: touch "$PROBE/small-ran"
  join:
    needs: [large, small]
    trigger_rule: none_failed
    run: touch "$PROBE/join-ran"
  plain_join:
    needs: [large, small]
    run: touch "$PROBE/plain-ran"
  publish:
    needs: [join]
    run: touch "$PROBE/publish-ran"
EOF

expect_success 'after a branch, a none_failed join runs; with the default rule it is skipped' '
    rm -f probe/* &&
    sluice run join.yaml >out 2>err &&
    r=$(last_run) &&
    want="join=succeeded large=succeeded plain_join=skipped publish=succeeded" &&
    test "$(statuses $r)" = "$want small=skipped start=succeeded" &&
    test "$(run_status $r)" = succeeded &&
    test -e probe/large-ran && test ! -e probe/small-ran &&
    test -e probe/join-ran && test -e probe/publish-ran && test ! -e probe/plain-ran &&
    test "$(step_field $r plain_join message)" = "upstream step ${q}small$q skipped"
'

expect_success 'the other side of the branch joins the same way' '
    rm -f probe/* &&
    sluice run join.yaml -p big=false >out 2>err &&
    r=$(last_run) &&
    want="join=succeeded large=skipped plain_join=skipped publish=succeeded" &&
    test "$(statuses $r)" = "$want small=succeeded start=succeeded" &&
    test -e probe/small-ran && test -e probe/join-ran
'

cat >cleanup.yaml <<'EOF'
pipeline: cleanup
params:
  fail: false
steps:
  train:
    run: if [ "$SLUICE_PARAM_FAIL" = true ]; then exit 4; fi
  evaluate:
    needs: [train]
    run: touch "$PROBE/evaluate-ran"
  other:
    run: touch "$PROBE/other-ran"
  undo:
    needs: [evaluate, other]
    trigger_rule: one_failed
    run: touch "$PROBE/undo-ran"
  report:
    needs: [evaluate]
    trigger_rule: all_done
    run: touch "$PROBE/report-ran"
  after_undo:
    needs: [undo]
    run: touch "$PROBE/after-undo-ran"
EOF

expect_success 'nothing failed: the one_failed step is skipped, saying why; all_done runs' '
    rm -f probe/* &&
    sluice run cleanup.yaml >out 2>err &&
    r=$(last_run) &&
    want="after_undo=skipped evaluate=succeeded other=succeeded report=succeeded" &&
    test "$(statuses $r)" = "$want train=succeeded undo=skipped" &&
    test "$(run_status $r)" = succeeded &&
    test ! -e probe/undo-ran && test -e probe/report-ran &&
    test "$(step_field $r undo message)" = "no upstream step failed (trigger_rule one_failed)" &&
    test "$(step_field $r after_undo message)" = "upstream step ${q}undo$q skipped"
'

# upstream_failed counts as failed: evaluate's makes undo run
expect_success 'a failure: the one_failed cleanup and all_done run, and the run fails' '
    rm -f probe/* &&
    { sluice run cleanup.yaml -p fail=true >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    want="after_undo=succeeded evaluate=upstream_failed other=succeeded report=succeeded" &&
    test "$(statuses $r)" = "$want train=failed undo=succeeded" &&
    test "$(run_status $r)" = failed &&
    test -e probe/undo-ran && test -e probe/report-ran && test -e probe/after-undo-ran &&
    test ! -e probe/evaluate-ran
'

expect_success '--fail-fast: a failure cancels the cleanup and all_done steps, which never start' '
    rm -f probe/* &&
    { sluice run --fail-fast --parallel 1 cleanup.yaml -p fail=true >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    echo "$(statuses $r)" &&
    test "$(step_field $r train status)" = failed &&
    test "$(step_field $r undo status)" = cancelled &&
    test "$(step_field $r report status)" = cancelled &&
    test "$(run_status $r)" = failed &&
    test ! -e probe/undo-ran && test ! -e probe/report-ran
'

cat >rules.yaml <<'EOF'
pipeline: rules
defaults:
  trigger_rule: none_failed_min_one_success
steps:
  a:
    when: "false"
    run: "true"
  b:
    when: "false"
    run: "true"
  all_skipped:
    needs: [a, b]
    run: touch "$PROBE/all-skipped-ran"
  any:
    needs: [a, b]
    trigger_rule: one_success
    run: touch "$PROBE/any-ran"
  done:
    needs: [a, b]
    trigger_rule: all_done
    run: touch "$PROBE/done-ran"
EOF

# none_failed_min_one_success and one_success need a success: when all was skipped, so are they
expect_success 'a rule from defaults; after only skipped steps, those needing a success skip' '
    rm -f probe/* &&
    sluice run rules.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(statuses $r)" = "a=skipped all_skipped=skipped any=skipped b=skipped done=succeeded" &&
    test "$(step_field $r all_skipped message)" = \
        "every upstream step was skipped (trigger_rule none_failed_min_one_success)" &&
    test ! -e probe/all-skipped-ran && test ! -e probe/any-ran && test -e probe/done-ran
'

cat >metric.yaml <<'EOF'
pipeline: metric
params:
  big: false
steps:
  large:
    when: params.big
    run: |
      echo '{"f1": 0.9}' > "$SLUICE_METRICS"
  small:
    run: |
      echo '{"f1": 0.7}' > "$SLUICE_METRICS"
  gate:
    needs: [large, small]
    trigger_rule: none_failed
    when: steps.large.metrics.f1 > 0.5
    run: touch "$PROBE/gate-ran"
  guarded:
    needs: [large, small]
    trigger_rule: none_failed
    when: steps.large.status == "succeeded" && steps.large.metrics.f1 > 0.5
    run: touch "$PROBE/guarded-ran"
EOF

# The metric of a skipped step does not exist; a guard on its status (&& short-circuits) skips
expect_success 'when: reading a metric of a skipped upstream fails the step; a status guard skips' '
    rm -f probe/* &&
    { sluice run metric.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = "gate=failed guarded=skipped large=skipped small=succeeded" &&
    msg=$(step_field $r gate message) &&
    echo "message: $msg" &&
    test "$msg" = "when: metric ${q}f1$q of step ${q}large$q does not exist" &&
    test ! -e probe/gate-ran && test ! -e probe/guarded-ran
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

# Where Slurm's commands are not installed, a step with executor: slurm fails saying so; it
# must not quietly run on this machine.
mkdir -p noslurm
for c in sh touch; do ln -sf "$(command -v $c)" noslurm/$c; done
expect_success 'a step with executor: slurm fails without sbatch on PATH, saying so, and does not run here' '
    rm -f probe/* &&
    { PATH=$PWD/noslurm sluice run slurm.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = "here=succeeded remote=failed" &&
    step_field $r remote message | grep -q "needs ${q}sbatch$q on PATH" &&
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

# A run string with no shell syntax is exec'd without a shell, but not when its first word is
# something only a shell can run (a builtin, a reserved word) or an assignment.
cat >builtins.yaml <<'EOF'
pipeline: builtins
steps:
  exit3:
    run: exit 3
  assign:
    run: GREETING=hi printenv GREETING
  cd:
    run: cd /
  colon:
    run: ": nothing to do"
  direct:
    run: printenv SLUICE_STEP
EOF

expect_success 'exit 3 as a run string fails the step with status 3, not 127' '
    { sluice run builtins.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = \
         "assign=succeeded cd=succeeded colon=succeeded direct=succeeded exit3=failed" &&
    test "$(step_field $r exit3 message)" = "exited with status 3"
'

expect_success 'X=1 cmd as a run string assigns X for cmd, as the shell does' '
    sluice logs $(last_run) assign >log &&
    test "$(cat log)" = hi
'

done_testing
