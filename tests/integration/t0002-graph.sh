#!/usr/bin/env bash
# sluice graph: the text list in topological order, DOT that graphviz reads, SVG laid out by
# libgvc (dlopen'ed), and the usage and pipeline errors. (graphviz's own leaks are suppressed
# for LeakSanitizer by util/gv.c.)
. "$(dirname "$0")/lib.sh"

# report comes first in the file but last in the order; join waits for both branches.
cat >diamond.yaml <<'EOF'
pipeline: diamond
steps:
  report:
    run: echo report
    when: steps.join.metrics.f1 >= 0.5
  prep:
    run: echo prep
    outputs: [x.csv]
  left:
    kind: transform
    needs: [prep]
    run: echo left
  right:
    kind: train
    run: [echo, right]
    inputs: { x: prep/x.csv }
  join:
    kind: evaluate
    needs: [right, left, right]
    run: echo join
EOF

cat >cycle.yaml <<'EOF'
pipeline: cycle
steps:
  a:
    run: echo a
    needs: [b]
  b:
    run: echo b
    needs: [a]
EOF

cat >bad.yaml <<'EOF'
pipeline: bad
steps:
  a:
    run: echo a
    needs: [ghost]
EOF

cat >expect.text <<'EOF'
prep (task)
left (transform) <- prep
right (train) <- prep
join (evaluate) <- left, right
report (task) <- join
EOF

expect_success 'text (the default): topological order, kinds and deps' '
    sluice graph diamond.yaml >out && test_cmp expect.text out
'

expect_success '--format text is the default' '
    sluice graph --format text diamond.yaml >out && test_cmp expect.text out &&
    sluice graph diamond.yaml --format=text >out && test_cmp expect.text out
'

expect_success 'text of the example pipeline starts at ingest and ends at deploy' '
    sluice graph "$ROOT/dags/tumour.yaml" >out &&
    test "$(wc -l <out)" = 7 &&
    head -1 out | grep -q "^ingest (ingest)$" &&
    tail -1 out | grep -q "^deploy (deploy) <- train, approve$"
'

expect_success 'dot: a digraph named after the pipeline, one node and label per step' '
    sluice graph -f dot diamond.yaml >out.dot &&
    head -1 out.dot | grep -q "^digraph \"diamond\" {" &&
    grep -q "rankdir=LR;" out.dot &&
    grep -qF "\"prep\" [label=\"prep\ntask\"" out.dot &&
    grep -qF "\"join\" [label=\"join\nevaluate\"" out.dot &&
    test "$(grep -c "\[label=" out.dot)" = 5 &&
    tail -1 out.dot | grep -q "^}$"
'

cat >rule.yaml <<'EOF'
pipeline: rule
steps:
  a:
    run: echo a
  b:
    run: echo b
  join:
    needs: [a, b]
    trigger_rule: none_failed
    run: echo join
EOF

expect_success 'a trigger_rule other than all_success shows beside the kind (text, dot)' '
    sluice graph rule.yaml >out &&
    printf "%s\n" "a (task)" "b (task)" "join (task, none_failed) <- a, b" >expect &&
    test_cmp expect out &&
    sluice graph -f dot rule.yaml >out.dot &&
    grep -qF "\"join\" [label=\"join\ntask\nnone_failed\"" out.dot &&
    grep -qF "\"a\" [label=\"a\ntask\"" out.dot
'

expect_success 'dot: every edge once, upstream -> downstream' '
    sluice graph --format dot diamond.yaml >out.dot &&
    grep -F " -> " out.dot | sed "s/^ *//" | sort >edges &&
    printf "%s\n" "\"join\" -> \"report\";" "\"left\" -> \"join\";" \
        "\"prep\" -> \"left\";" "\"prep\" -> \"right\";" "\"right\" -> \"join\";" | sort >expect &&
    test_cmp expect edges
'

expect_success 'dot: graphviz reads it back (dot -Tsvg when installed)' '
    sluice graph --format dot diamond.yaml >out.dot &&
    if command -v dot >/dev/null; then
        dot -Tsvg out.dot >via-dot.svg && grep -q "<svg" via-dot.svg
    else
        grep -c " -> " out.dot | grep -qx 5
    fi
'

expect_success 'svg: an SVG document from libgvc' '
    sluice graph --format svg diamond.yaml >out.svg &&
    head -1 out.svg | grep -q "^<?xml" &&
    grep -q "<svg" out.svg && grep -q "</svg>" out.svg
'

expect_success 'svg: one node per step and one edge per dependency' '
    sluice graph --format svg diamond.yaml >out.svg &&
    test "$(grep -c "class=\"node\"" out.svg)" = 5 &&
    test "$(grep -c "class=\"edge\"" out.svg)" = 5 &&
    for s in report prep left right join; do
        grep -q "<title>$s</title>" out.svg || exit 1
    done
'

expect_success 'svg of the example pipeline' '
    sluice graph --format svg "$ROOT/dags/tumour.yaml" >out.svg &&
    test "$(grep -c "class=\"node\"" out.svg)" = 7
'

expect_exit 2 'an unknown format is a usage error' 'sluice graph --format png diamond.yaml'

expect_success 'the unknown format is named' '
    sluice graph --format png diamond.yaml 2>err; test $? = 2 && grep -q "png" err
'

expect_exit 2 '--format without a value is a usage error' 'sluice graph diamond.yaml --format'

expect_exit 2 'an invalid pipeline exits 2' 'sluice graph bad.yaml'

expect_success 'an invalid pipeline prints FILE:LINE:COL and nothing on stdout' '
    sluice graph bad.yaml >out 2>err; test $? = 2 &&
    grep -q "^bad.yaml:5:[0-9][0-9]*: error: .*ghost" err && test ! -s out
'

expect_success 'a cycle exits 2 and names the cycle' '
    sluice graph --format dot cycle.yaml >out 2>err; test $? = 2 &&
    grep -q "dependency cycle: a -> b -> a" err && test ! -s out
'

expect_exit 2 'a missing file exits 2' 'sluice graph missing.yaml'
expect_exit 2 'no FILE is a usage error' 'sluice graph'
expect_exit 2 'two FILEs is a usage error' 'sluice graph diamond.yaml diamond.yaml'

expect_success '--help prints the usage and exits 0' '
    sluice graph --help >out && grep -q "^usage: sluice graph" out
'

done_testing
