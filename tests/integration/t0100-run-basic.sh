#!/usr/bin/env bash
# sluice run, the happy path and its contract with a step: outputs and their digests, the
# SLUICE_* environment, metrics (scalars and series), -p overrides and their errors, invalid
# pipelines, argv vs shell form, stdin, the attempt's log, the step's working folder, exit status,
# and what a step leaves running when it ends (killed).
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
nruns() { if [ -e .sluice/sluice.db ]; then db 'SELECT count(*) FROM runs'; else echo 0; fi; }
# step_field RUN STEP COLUMN
step_field() { db "SELECT $3 FROM steps WHERE run_id = $1 AND name = '$2'"; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }

# The steps write what they see under $PROBE (inherited from this environment), outside both
# the workspace and the pipeline folder.
export PROBE=$TRASH/probe
mkdir -p probe pipe/steps
PIPE_DIR=$(cd pipe && pwd -P)

cat >pipe/p.yaml <<'EOF'
pipeline: basic
params:
  max_depth: 4
  name: hello
steps:
  produce:
    run: |
      pwd -P > "$PROBE/produce.pwd"
      env | grep '^SLUICE_' | sort > "$PROBE/produce.env"
      readlink /proc/self/fd/0 > "$PROBE/produce.stdin"
      cat > "$PROBE/produce.stdin-content"
      printf 'hello, artifact\n' > "$SLUICE_OUT/data.txt"
      mkdir -p "$SLUICE_OUT/model"
      echo weights > "$SLUICE_OUT/model/w.bin"
      echo '{"acc": 0.75, "loss": [0.9, 0.5, 0.25]}' > "$SLUICE_METRICS"
      echo to-stdout
      echo to-stderr >&2
    outputs: [data.txt, model]
  consume:
    kind: train
    run: [steps/args.sh, "${{ params.name }}", "${{ params.max_depth }}", "a b", "$HOME", "*"]
    inputs: { train_set: produce/data.txt }
  shellform:
    needs: [produce]
    run: echo $SLUICE_STEP ${{ params.name }} * > "$PROBE/shellform.out"
EOF

cat >pipe/steps/args.sh <<'EOF'
#!/bin/sh
# One argument per line, then the environment the step was given.
for a in "$@"; do printf '%s\n' "$a"; done > "$PROBE/consume.args"
env | grep '^SLUICE_' | sort > "$PROBE/consume.env"
cp "$SLUICE_IN_TRAIN_SET" "$PROBE/consume.input"
EOF
chmod +x pipe/steps/args.sh

expect_success 'a pipeline that succeeds exits 0 and the run and every step succeed' '
    sluice run pipe/p.yaml >out 2>err &&
    test "$(last_run)" = 1 &&
    test "$(run_status 1)" = succeeded &&
    test "$(db "SELECT group_concat(name || \"=\" || status, \" \") FROM
               (SELECT name, status FROM steps WHERE run_id = 1 ORDER BY name)")" = \
         "consume=succeeded produce=succeeded shellform=succeeded"
'

expect_success 'each declared output is recorded with the sha256 and size of the produced file' '
    f=.sluice/runs/1/produce/1/out/data.txt &&
    printf "hello, artifact\n" >expect-data &&
    want=$(sha256sum expect-data | cut -d" " -f1) &&
    got=$(db "SELECT a.digest FROM artifacts a JOIN step_io io ON io.artifact_id = a.id
              JOIN attempts t ON t.id = io.attempt_id JOIN steps s ON s.id = t.step_id
              WHERE s.run_id = 1 AND s.name = ${q}produce$q AND io.dir = ${q}out$q
              AND io.name = ${q}data.txt$q") &&
    test "$got" = "$want" &&
    test "$(db "SELECT size FROM artifacts WHERE digest = $q$want$q")" = "$(wc -c <expect-data)" &&
    test "$(sha256sum <"$f" | cut -d" " -f1)" = "$want" &&
    cmp expect-data .sluice/artifacts/sha256/${want:0:2}/${want:2}
'

expect_success 'a folder output is recorded once, as kind dir' '
    test "$(db "SELECT a.kind FROM artifacts a JOIN step_io io ON io.artifact_id = a.id
               WHERE io.dir = ${q}out$q AND io.name = ${q}model$q")" = dir
'

expect_success 'the consumer reads the input as a file with the producer'\''s bytes' '
    cmp expect-data probe/consume.input &&
    test "$(db "SELECT count(*) FROM step_io io JOIN attempts t ON t.id = io.attempt_id
               JOIN steps s ON s.id = t.step_id
               WHERE s.name = ${q}consume$q AND io.dir = ${q}in$q
               AND io.name = ${q}train_set$q")" = 1
'

expect_success 'the step gets SLUICE_RUN_ID, STEP, ATTEMPT, OUT, METRICS and PARAM_*' '
    A=$TRASH/.sluice/runs/1/produce/1 &&
    grep -qx "SLUICE_RUN_ID=1" probe/produce.env &&
    grep -qx "SLUICE_STEP=produce" probe/produce.env &&
    grep -qx "SLUICE_OUT=$A/out" probe/produce.env &&
    grep -qx "SLUICE_METRICS=$A/metrics.json" probe/produce.env &&
    grep -qx "SLUICE_PARAM_MAX_DEPTH=4" probe/produce.env &&
    grep -qx "SLUICE_PARAM_NAME=hello" probe/produce.env
'

# The first attempt is attempt 1 (DESIGN: "which run, step, attempt (1-based)").
expect_success 'SLUICE_ATTEMPT is 1 on the first attempt' '
    grep -x "SLUICE_ATTEMPT=.*" probe/produce.env probe/consume.env &&
    grep -qx "SLUICE_ATTEMPT=1" probe/produce.env &&
    grep -qx "SLUICE_ATTEMPT=1" probe/consume.env
'

expect_success 'an input arrives as SLUICE_IN_<NAME>, upper-cased, in the artifact store' '
    grep -q "^SLUICE_IN_TRAIN_SET=$TRASH/.sluice/artifacts/sha256/" probe/consume.env &&
    grep -qx "SLUICE_STEP=consume" probe/consume.env
'

expect_success 'metrics: a scalar is stored with index -1, a list as a series 0..n-1' '
    db "SELECT name, idx, value FROM metrics WHERE run_id = 1 AND step = ${q}produce$q
        ORDER BY name, idx" >got &&
    printf "%s\n" "acc|-1|0.75" "loss|0|0.9" "loss|1|0.5" "loss|2|0.25" >want &&
    test_cmp want got
'

expect_success 'argv form: each item is one argument, with no shell expansion' '
    printf "%s\n" hello 4 "a b" "\$HOME" "*" >want &&
    test_cmp want probe/consume.args
'

expect_success 'shell form: runs under /bin/sh (variables and globs expand)' '
    echo "shellform hello p.yaml steps" >want &&
    test_cmp want probe/shellform.out
'

expect_success 'the step runs in the pipeline file'\''s folder, not the caller'\''s' '
    echo "$PIPE_DIR" >want &&
    test_cmp want probe/produce.pwd
'

expect_success 'the step'\''s stdin is /dev/null' '
    echo /dev/null >want &&
    test_cmp want probe/produce.stdin &&
    test ! -s probe/produce.stdin-content
'

expect_success 'stdout and stderr of the step land in the attempt'\''s log' '
    log=.sluice/runs/1/produce/1/log &&
    grep -qx to-stdout "$log" && grep -qx to-stderr "$log" &&
    test "$(db "SELECT log FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = 1 AND s.name = ${q}produce$q")" = "$TRASH/$log"
'

expect_success 'the attempt records exit 0, signal 0 and its pid' '
    test "$(db "SELECT a.status || \" \" || a.exit || \" \" || a.signal || \" \" || (a.pid > 0)
               FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = 1 AND s.name = ${q}produce$q")" = "succeeded 0 0 1"
'

expect_success 'the run stores its trigger, parameters, the exact pipeline text and its sha256' '
    test "$(db "SELECT trigger FROM runs WHERE id = 1")" = cli &&
    test "$(db "SELECT value FROM run_params WHERE run_id = 1 AND name = ${q}max_depth$q")" = 4 &&
    db "SELECT hex(v.yaml) || \" \" || v.digest FROM runs r
        JOIN pipeline_versions v ON v.id = r.version_id WHERE r.id = 1" >stored &&
    echo "$(od -An -v -tx1 pipe/p.yaml | tr -d " \n" | tr a-f A-F) $(sha256sum <pipe/p.yaml |
        cut -d" " -f1)" >want &&
    test_cmp want stored
'

expect_success '-p before FILE overrides a parameter' '
    sluice run -p name=world pipe/p.yaml >out 2>err &&
    r=$(last_run) &&
    grep -qx world probe/consume.args &&
    grep -qx "SLUICE_PARAM_NAME=world" probe/produce.env &&
    test "$(db "SELECT value FROM run_params WHERE run_id = $r AND name = ${q}name$q")" = world
'

expect_success '-p after FILE overrides too, and --param is its long form' '
    sluice run pipe/p.yaml -p max_depth=7 --param name=again >out 2>err &&
    grep -qx "SLUICE_PARAM_MAX_DEPTH=7" probe/produce.env &&
    grep -qx "SLUICE_PARAM_NAME=again" probe/produce.env &&
    sed -n 2p probe/consume.args | grep -qx 7
'

expect_success 'an unknown -p parameter is bad usage (exit 2) and records no run' '
    before=$(nruns) &&
    { sluice run pipe/p.yaml -p nope=1 >out 2>err; test $? = 2; } &&
    grep -q "unknown parameter ${q}nope$q" err &&
    test "$(nruns)" = "$before"
'

expect_success 'a misspelt -p parameter gets a did-you-mean and the declared ones' '
    { sluice run pipe/p.yaml -p max_dpth=3 >out 2>err; test $? = 2; } &&
    cat err &&
    grep -q "unknown parameter ${q}max_dpth$q; did you mean ${q}max_depth$q?" err &&
    grep -q "declares: .*max_depth" err
'

expect_success 'a non-numeric value for a numeric parameter is exit 2, naming the value' '
    before=$(nruns) &&
    { sluice run pipe/p.yaml -p max_depth=deep >out 2>err; test $? = 2; } &&
    grep -q "max_depth" err && grep -q "${q}deep$q" err &&
    test "$(nruns)" = "$before"
'

expect_success '-p without = is exit 2' '
    { sluice run pipe/p.yaml -p name >out 2>err; test $? = 2; }
'

cat >pipe/text.yaml <<'EOF'
pipeline: text
params:
  lr: 1.10
  id: 12345678901234567890
steps:
  argv:
    run: [sh, -c, 'echo "$@" > "$PROBE/text.argv"', x, "${{ params.lr }}", "${{ params.id }}",
          "${{ params.lr * 2 }}", "${{ params.id / 1e19 }}"]
  shell:
    run: echo ${{ params.lr }} "${{ params.id }}" ${{ params.lr + 1 }} > "$PROBE/text.shell"
EOF

expect_success 'a param is substituted as the text it was given, in a file default or by -p' '
    sluice run pipe/text.yaml >out 2>err &&
    echo "1.10 12345678901234567890 2.2 1.2345678901234567" >want &&
    test_cmp want probe/text.argv &&
    echo "1.10 12345678901234567890 2.1" >want &&
    test_cmp want probe/text.shell &&
    sluice run pipe/text.yaml -p lr=0.50 -p id=00042 >out 2>err &&
    echo "0.50 00042 1 4.2e-18" >want &&
    test_cmp want probe/text.argv &&
    echo "0.50 00042 1.5" >want &&
    test_cmp want probe/text.shell
'

mkdir -p pipe/data
printf 'id,diagnosis\n1,M\n2,B\n' >pipe/data/raw.csv
cat >pipe/builtin.yaml <<'EOF'
pipeline: builtin
steps:
  ingest:
    kind: ingest
    source: data/raw.csv
    outputs: [raw.csv]
  count:
    run: [sh, -c, 'wc -l < "$SLUICE_IN_RAW" > "$PROBE/count.lines"']
    inputs: { raw: ingest/raw.csv }
EOF

expect_success 'a built-in step (ingest) runs under sluice run; its output is recorded' '
    sluice run pipe/builtin.yaml >out 2>err &&
    r=$(last_run) &&
    test "$(step_field $r ingest status)" = succeeded &&
    want=$(sha256sum <pipe/data/raw.csv | cut -d" " -f1) &&
    test "$(db "SELECT a.digest FROM artifacts a JOIN step_io io ON io.artifact_id = a.id
               JOIN attempts t ON t.id = io.attempt_id JOIN steps s ON s.id = t.step_id
               WHERE s.run_id = $r AND s.name = ${q}ingest$q AND io.dir = ${q}out$q")" = "$want" &&
    test "$(cat probe/count.lines)" = 3
'

cat >bad.yaml <<'EOF'
pipeline: bad
steps:
  a:
    run: echo a
    needs: [nowhere]
EOF

expect_success 'an invalid pipeline is exit 2 with FILE:LINE:COL and records no run' '
    mkdir -p fresh && (
        cd fresh &&
        { sluice run ../bad.yaml >out 2>err; test $? = 2; } &&
        grep -q "^\.\./bad\.yaml:5:[0-9]*: error: .*nowhere" err &&
        { test ! -e .sluice/sluice.db ||
          test "$(sqlite3 .sluice/sluice.db "SELECT count(*) FROM runs")" = 0; }
    )
'

expect_success 'an invalid pipeline runs nothing even in a workspace with runs' '
    before=$(nruns) &&
    { sluice run bad.yaml >out 2>err; test $? = 2; } &&
    test "$(nruns)" = "$before"
'

cat >pipe/fail.yaml <<'EOF'
pipeline: exits
steps:
  ok:
    run: "true"
  bad:
    run: sh -c 'exit 1'
EOF

expect_success 'a failing step makes sluice run exit 1 and the run failed' '
    { sluice run pipe/fail.yaml >out 2>err; test $? = 1; } &&
    r=$(last_run) &&
    test "$(run_status $r)" = failed &&
    test "$(step_field $r ok status)" = succeeded &&
    test "$(step_field $r bad status)" = failed &&
    test "$(db "SELECT a.exit FROM attempts a JOIN steps s ON s.id = a.step_id
               WHERE s.run_id = $r AND s.name = ${q}bad$q")" = 1
'

# A writer the step leaves behind would change the output after its digest was taken.
cat >bg.yaml <<'EOF'
pipeline: bg
steps:
  leave:
    run: |
      (sleep 1; echo late >> "$SLUICE_OUT/o.txt"; touch "$PROBE/bg-wrote") &
      echo $! > "$PROBE/bg.pid"
      echo early > "$SLUICE_OUT/o.txt"
    outputs: [o.txt]
EOF

expect_success 'a step ends with its own process: what it left running is killed, its output stays as hashed' '
    rm -f probe/bg-wrote probe/bg.pid &&
    sluice run bg.yaml >out 2>err &&
    r=$(last_run) &&
    bg=$(cat probe/bg.pid) &&
    ! kill -0 "$bg" 2>/dev/null &&
    sleep 1.5 &&
    test ! -e probe/bg-wrote &&
    test "$(cat .sluice/runs/$r/leave/1/out/o.txt)" = early &&
    sluice logs $r leave >log &&
    grep -q "processes of its own still running: they were killed" log
'

# An output may be a link: to a file beside it in out/ ("latest"), or to a file of the user's.
cat >links.yaml <<'EOF'
pipeline: links
steps:
  make:
    run: |
      echo model-v3 > "$SLUICE_OUT/model_v3.pkl"
      ln -s model_v3.pkl "$SLUICE_OUT/latest"
      ln -s "$PROBE/users-file" "$SLUICE_OUT/ext"
    outputs: [latest, ext]
  use:
    inputs: { m: make/latest, x: make/ext }
    run: cat "$SLUICE_IN_M" "$SLUICE_IN_X"
EOF

expect_success 'an output that is a link is stored as what it names: a copy, the user'\''s file untouched' '
    echo "the user${q}s data" >probe/users-file && chmod 644 probe/users-file &&
    sluice run links.yaml >out 2>err &&
    r=$(last_run) &&
    sluice logs $r use >log &&
    printf "model-v3\nthe user${q}s data\n" >want && test_cmp want log &&
    for d in $(db "SELECT a.digest FROM artifacts a JOIN step_io io ON io.artifact_id = a.id
                   JOIN attempts t ON t.id = io.attempt_id JOIN steps s ON s.id = t.step_id
                   WHERE s.run_id = $r AND s.name = ${q}make$q AND io.dir = ${q}out$q"); do
        f=.sluice/artifacts/sha256/${d:0:2}/${d:2} &&
        test -f "$f" && test ! -L "$f" &&
        test "$(sha256sum <"$f" | cut -d" " -f1)" = "$d" || return 1
    done &&
    test "$(stat -c %a probe/users-file)" = 644 &&
    test "$(stat -c %h probe/users-file)" = 1
'

expect_exit 2 'a missing FILE is bad usage' 'sluice run'
expect_exit 2 'a missing pipeline file is exit 2' 'sluice run no-such-file.yaml'

done_testing
