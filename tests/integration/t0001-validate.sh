#!/usr/bin/env bash
# sluice validate: exit 0 and 'ok: FILE (N steps)' on valid files, 2 with FILE:LINE:COL errors on
# invalid ones, several files in one call, unreadable files, usage; and the top-level CLI.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code

cat >good.yaml <<'EOF'
pipeline: good
params:
  threshold: 0.5
steps:
  prep:
    run: echo prep
    outputs: [data.csv]
  train:
    kind: train
    run: [echo, train]
    inputs: { data: prep/data.csv }
  gate:
    needs: [train]
    run: echo gate
    when: steps.train.metrics.f1 >= params.threshold
EOF

# Line 9 is the `needs:` line; the unknown name is the error.
cat >bad.yaml <<'EOF'
pipeline: bad
steps:
  transform:
    run: echo transform
    outputs: [x.csv]
  train:
    kind: train
    run: echo train
    needs: [trasnform]
EOF

# Two independent errors: both are reported in one pass.
cat >two.yaml <<'EOF'
pipeline: two
steps:
  a:
    run: echo a
    needs: [nowhere]
  b:
    run: echo b
    timeout: forever
EOF

cat >cycle.yaml <<'EOF'
pipeline: cycle
steps:
  a:
    run: echo a
    needs: [c]
  b:
    run: echo b
    needs: [a]
  c:
    run: echo c
    needs: [b]
EOF

expect_success 'a valid file exits 0 and says ok: FILE (N steps), on stdout only' '
    sluice validate good.yaml >out 2>err &&
    echo "ok: good.yaml (3 steps)" >expect &&
    test_cmp expect out && test ! -s err
'

expect_success '-v (kept for old scripts) prints the same' '
    sluice validate -v good.yaml >out &&
    echo "ok: good.yaml (3 steps)" >expect &&
    test_cmp expect out
'

expect_success 'one step is "1 step"' '
    printf "pipeline: one\nsteps:\n  a:\n    run: echo a\n" >one.yaml &&
    sluice validate one.yaml >out &&
    echo "ok: one.yaml (1 step)" >expect &&
    test_cmp expect out
'

expect_success 'the example pipeline validates' '
    sluice validate --verbose "$ROOT/dags/tumour.yaml" >out &&
    grep -q "^ok: .*tumour.yaml (7 steps)$" out
'

expect_exit 2 'an invalid file exits 2' 'sluice validate bad.yaml'

expect_success 'the error names FILE:LINE:COL and the unknown step' '
    sluice validate bad.yaml >out 2>err; test $? = 2 &&
    grep -q "^bad.yaml:9:[0-9][0-9]*: error: .*${q}trasnform${q}" err &&
    test ! -s out
'

expect_success 'the error shows the source line' '
    sluice validate bad.yaml 2>err; test $? = 2 &&
    grep -q "needs: \[trasnform\]" err
'

expect_success 'every error of a file is reported in one pass' '
    sluice validate two.yaml 2>err; test $? = 2 &&
    grep -q "^two.yaml:5:[0-9][0-9]*: error: .*nowhere" err &&
    grep -q "^two.yaml:8:[0-9][0-9]*: error: .*forever" err
'

expect_success 'a cycle is an error naming the cycle, at the needs: entry that closes it' '
    sluice validate cycle.yaml 2>err; test $? = 2 &&
    grep -q "^cycle.yaml:5:13: error: dependency cycle: a -> b -> c -> a$" err &&
    grep -q "^    5 |     needs: \[c\]$" err
'

expect_success 'several files: all valid exits 0, one ok line each' '
    cp good.yaml good2.yaml &&
    sluice validate good.yaml good2.yaml >out &&
    printf "ok: good.yaml (3 steps)\nok: good2.yaml (3 steps)\n" >expect &&
    test_cmp expect out
'

expect_success 'several files: one invalid exits 2, the others are still checked' '
    sluice validate bad.yaml good.yaml two.yaml >out 2>err; test $? = 2 &&
    grep -q "^bad.yaml:9:" err && grep -q "^two.yaml:5:" err &&
    echo "ok: good.yaml (3 steps)" >expect && test_cmp expect out
'

expect_success 'a missing file is an error naming the file and the reason' '
    sluice validate missing.yaml 2>err; test $? = 2 &&
    grep -q "^error: .*${q}missing.yaml${q}.*No such file or directory" err
'

expect_success 'a missing file does not stop the others' '
    sluice validate missing.yaml good.yaml >out 2>err; test $? = 2 &&
    grep -qx "ok: good.yaml (3 steps)" out && grep -q "missing.yaml" err
'

expect_success '--help prints the usage and exits 0' '
    sluice validate --help >out && grep -q "^usage: sluice validate" out
'

expect_exit 2 'no FILE is a usage error' 'sluice validate'

expect_success 'no FILE prints the usage on stderr' '
    sluice validate 2>err; test $? = 2 && grep -q "^usage: sluice validate" err
'

expect_exit 2 'an unknown option is a usage error' 'sluice validate --frobnicate good.yaml'

expect_success 'sluice --version' '
    sluice --version >out && grep -Eq "^sluice [0-9]+\.[0-9]+\.[0-9]+$" out
'

expect_success 'sluice --help lists validate and graph' '
    sluice --help >out && grep -q "validate" out && grep -q "graph" out
'

expect_exit 2 'an unknown command exits 2' 'sluice frobnicate'

expect_success 'an unknown command is named in the error' '
    sluice frobnicate 2>err; test $? = 2 && grep -q "${q}frobnicate${q}" err
'

expect_exit 2 'no command at all exits 2' 'sluice'

done_testing
