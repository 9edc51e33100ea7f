#!/usr/bin/env bash
# Step caching (cache: true): a second identical run reuses the step (status cached, outputs and
# metrics restored, the step's process not run), and each kind of miss re-runs it and says why:
# a parameter it uses, an input's digest, its script, a deps: file, its command, --no-cache.
# The key covers every param a step sees as $SLUICE_PARAM_* (all, or those of its params:).
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
step_field() { db "SELECT $3 FROM steps WHERE run_id = $1 AND name = '$2'"; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }
# out_digest RUN STEP NAME: the digest recorded for an output of the step in that run
out_digest() {
    db "SELECT a.digest FROM artifacts a JOIN step_io io ON io.artifact_id = a.id
        JOIN attempts t ON t.id = io.attempt_id JOIN steps s ON s.id = t.step_id
        WHERE s.run_id = $1 AND s.name = '$2' AND io.dir = 'out' AND io.name = '$3'"
}
# times STEP: how many times the step's process ran so far
times() { if [ -e "count/$1" ]; then wc -l <"count/$1" | tr -d " "; else echo 0; fi; }

export COUNT=$TRASH/count PROBE=$TRASH/probe
mkdir -p count probe pipe/steps pipe/data pipe/conf

cat >pipe/p.yaml <<'EOF'
pipeline: cache
params:
  x: 1
  unused: 1
steps:
  prep:
    run: sh steps/prep.sh
    outputs: [data.txt]
  train:
    kind: train
    run: sh steps/train.sh ${{ params.x }}
    inputs: { data: prep/data.txt }
    outputs: [model.txt]
    deps: [conf/settings.ini]
    params: [x]
    cache: true
  use:
    run: cp "$SLUICE_IN_MODEL" "$PROBE/use.model"
    inputs: { model: train/model.txt }
EOF
cat >pipe/steps/prep.sh <<'EOF'
echo prep >> "$COUNT/prep"
cat data/source.txt > "$SLUICE_OUT/data.txt"
EOF
cat >pipe/steps/train.sh <<'EOF'
echo "$SLUICE_RUN_ID" >> "$COUNT/train"
{ echo "x=$1"; cat "$SLUICE_IN_DATA"; cat conf/settings.ini; } > "$SLUICE_OUT/model.txt"
echo '{"acc": 0.5, "loss": [2, 1]}' > "$SLUICE_METRICS"
EOF
echo "rows 1" >pipe/data/source.txt
echo "lr=0.1" >pipe/conf/settings.ini

# run_ok ARGS...: one more run (of $PIPE, by default pipe/p.yaml) that must succeed; sets r to
# its id (each test's code runs in a subshell of its own: r does not outlive it)
run_ok() {
    sluice run "${PIPE:-pipe/p.yaml}" "$@" >out 2>err || { cat err; return 1; }
    r=$(last_run)
    test "$(run_status "$r")" = succeeded
}
# miss_says TEXT: train ran again in run r and its message contains TEXT
miss_says() {
    local msg
    msg=$(step_field "$r" train message)
    echo "train in run $r: $(step_field "$r" train status): $msg"
    test "$(step_field "$r" train status)" = succeeded &&
    test "$(tail -n 1 count/train)" = "$r" &&
    case "$msg" in *"$1"*) ;; *) return 1 ;; esac
}
# hit: train was cached in run r
hit() {
    echo "train in run $r: $(step_field "$r" train status): $(step_field "$r" train message)"
    test "$(step_field "$r" train status)" = cached && test "$(tail -n 1 count/train)" != "$r"
}

expect_success 'the first run runs the step (a miss: first run of this step)' '
    run_ok && test "$r" = 1 &&
    test "$(times train)" = 1 &&
    test "$(step_field 1 train status)" = succeeded
'

expect_success 'a second identical run reuses it: status cached, the process ran once' '
    run_ok && hit &&
    test "$(times train)" = 1 &&
    test "$(times prep)" = 2 &&
    test "$(step_field $r train cached)" = 1
'

expect_success 'a hit restores the outputs (same digest) and the downstream reads them' '
    r=$(last_run) &&
    test -n "$(out_digest 1 train model.txt)" &&
    test "$(out_digest 1 train model.txt)" = "$(out_digest $r train model.txt)" &&
    test "$(step_field $r use status)" = succeeded &&
    printf "x=1\nrows 1\nlr=0.1\n" >want && test_cmp want probe/use.model
'

expect_success 'a hit restores the metrics and records where it came from' '
    r=$(last_run) &&
    db "SELECT name, idx, value FROM metrics WHERE run_id = $r AND step = ${q}train$q
        ORDER BY name, idx" >got &&
    printf "%s\n" "acc|-1|0.5" "loss|0|2.0" "loss|1|1.0" >want &&
    test_cmp want got &&
    orig=$(db "SELECT a.id FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = 1 AND s.name = ${q}train$q") &&
    test "$(db "SELECT a.status || \" \" || a.cached_from FROM attempts a
               JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r AND s.name = ${q}train$q")" = "cached $orig"
'

expect_success 'a parameter outside the step'"'s"' params: list leaves the key alone (a hit)' '
    run_ok -p unused=5 && hit && test "$(times train)" = 1
'

expect_success 'a changed input digest (upstream output changed) is a miss: input ...' '
    echo "rows 2" >pipe/data/source.txt &&
    run_ok && miss_says "input ${q}data$q" && test "$(times train)" = 2 &&
    printf "x=1\nrows 2\nlr=0.1\n" >want && test_cmp want probe/use.model
'

expect_success 'the same again is a hit on the new result' '
    run_ok && hit && test "$(times train)" = 2
'

expect_success 'a changed script named in the command is a miss: code steps/train.sh' '
    echo "# a comment" >>pipe/steps/train.sh &&
    run_ok && miss_says "code ${q}steps/train.sh$q" && test "$(times train)" = 3
'

expect_success 'a changed deps: file is a miss: code conf/settings.ini' '
    echo "lr=0.2" >pipe/conf/settings.ini &&
    run_ok && miss_says "${q}conf/settings.ini$q" && test "$(times train)" = 4 &&
    printf "x=1\nrows 2\nlr=0.2\n" >want && test_cmp want probe/use.model
'

expect_success 'a changed parameter the command uses is a miss: param x' '
    run_ok -p x=2 && miss_says "param ${q}x$q" && test "$(times train)" = 5 &&
    printf "x=2\nrows 2\nlr=0.2\n" >want && test_cmp want probe/use.model
'

expect_success 'back to the old value is a hit on the older result' '
    run_ok && hit && test "$(times train)" = 5 &&
    printf "x=1\nrows 2\nlr=0.2\n" >want && test_cmp want probe/use.model
'

expect_success 'a changed command is a miss: command changed' '
    sed -i "s|train.sh \${{ params.x }}\$|train.sh \${{ params.x }} extra|" pipe/p.yaml &&
    grep -q "train.sh \${{ params.x }} extra" pipe/p.yaml &&
    run_ok && miss_says "command" && test "$(times train)" = 6
'

expect_success '--no-cache runs the step although its key is known, and says so' '
    run_ok && hit && test "$(times train)" = 6 &&
    run_ok --no-cache && miss_says "no-cache" && test "$(times train)" = 7
'

# A step that reads a param only from its environment, beside one that sees only y.
cat >pipe/env.yaml <<'EOF'
pipeline: cache-env
params:
  x: 1
  y: a
  sub: conf
steps:
  reads_x:
    run: echo "x=$SLUICE_PARAM_X" > "$SLUICE_OUT/x.txt"; echo "$SLUICE_RUN_ID" >> "$COUNT/reads_x"
    outputs: [x.txt]
    cache: true
  sees_y:
    run: |
      echo "x=${SLUICE_PARAM_X-unset} y=$SLUICE_PARAM_Y" > "$SLUICE_OUT/y.txt"
      echo "$SLUICE_RUN_ID" >> "$COUNT/sees_y"
    params: [y]
    outputs: [y.txt]
    cache: true
  in_conf:
    run: |
      pwd > "$SLUICE_OUT/pwd.txt"
      cat "$SLUICE_PARAM_Y.ini" >> "$SLUICE_OUT/pwd.txt"
    workdir: ${{ params.sub }}
    deps: ["${{ params.y }}.ini"]
    params: [y]
    outputs: [pwd.txt]
    cache: true
EOF
echo a >pipe/conf/a.ini
echo b >pipe/conf/b.ini
env_run() { PIPE=pipe/env.yaml run_ok "$@"; }
# out_text RUN STEP NAME: the content of that output of the step in that run
out_text() {
    local d
    d=$(out_digest "$@") && test -n "$d" && cat ".sluice/artifacts/sha256/${d:0:2}/${d:2}"
}

expect_success 'a step that reads $SLUICE_PARAM_X runs again when x changes, and holds 2' '
    env_run -p x=1 && r1=$r && test "$(out_text $r1 reads_x x.txt)" = "x=1" &&
    env_run -p x=2 &&
    test "$(step_field $r reads_x status)" = succeeded &&
    test "$(times reads_x)" = 2 &&
    test "$(out_text $r reads_x x.txt)" = "x=2"
'

expect_success 'show says why it missed: param x 1 -> 2' '
    sluice show "$(last_run)" >shown && cat shown &&
    grep -F "cache miss: param ${q}x$q 1 -> 2" shown
'

expect_success 'a step with params: [y] stays cached when x changes and does not see x' '
    r=$(last_run) &&
    test "$(step_field $r sees_y status)" = cached && test "$(times sees_y)" = 1 &&
    test "$(out_text $r sees_y y.txt)" = "x=unset y=a"
'

expect_success 'a change of y, which both see, is a miss of both that says so' '
    env_run -p x=2 -p y=b &&
    test "$(step_field $r sees_y status)" = succeeded && test "$(times sees_y)" = 2 &&
    test "$(out_text $r sees_y y.txt)" = "x=unset y=b" && test "$(times reads_x)" = 3 &&
    case "$(step_field $r sees_y message)" in *"param ${q}y$q a -> b"*) ;; *) false ;; esac
'

expect_success 'a param given as other text is a miss: 1.10 is not 1.1 to a step' '
    env_run -p x=1.1 && n=$(times reads_x) &&
    env_run -p x=1.10 && test "$(times reads_x)" = $((n + 1)) &&
    test "$(out_text $r reads_x x.txt)" = "x=1.10" &&
    case "$(step_field $r reads_x message)" in *"param ${q}x$q 1.1 -> 1.10"*) ;; *) false ;; esac
'
expect_success 'workdir: from a param is relative to the pipeline folder' '
    env_run && printf "%s\na\n" "$TRASH/pipe/conf" >want &&
    out_text $r in_conf pwd.txt >got && test_cmp want got
'

expect_success 'a deps: file named by a template is part of the key: data conf/a.ini' '
    env_run && test "$(step_field $r in_conf status)" = cached &&
    echo "a again" >pipe/conf/a.ini &&
    env_run && test "$(step_field $r in_conf status)" = succeeded &&
    step_field $r in_conf message | grep -F "data ${q}conf/a.ini$q changed"
'

done_testing
