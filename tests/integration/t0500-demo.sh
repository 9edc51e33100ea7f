#!/usr/bin/env bash
# The demo pipeline end to end: dags/tumour.yaml (ingest, crawl, split, train, evaluate, approve,
# deploy) with --auto-approve on a copy of dags/, its deploy health-checked against the real
# model server (dags/steps/serve.py) on a free port. Skipped only without scikit-learn.
# DEMO_EXECUTOR=slurm runs it with --executor slurm (tests/slurm/t0110-demo.sh does).
. "$(dirname "$0")/lib.sh"

. "$ROOT/dags/steps/sklearn_python.sh"
if ! sklearn_python_link "$TRASH/bin" >/dev/null; then
    echo "ok 1 - # SKIP no sklearn"
    exit 0
fi
export PATH="$TRASH/bin:$PATH"

# A copy of dags/ without what earlier demos left there (deployments, caches).
mkdir dags
(cd "$ROOT/dags" && tar cf - --exclude=./serving --exclude=__pycache__ .) | (cd dags && tar xf -)
TARGET=$TRASH/dags/serving/tumour
mkdir -p "$TARGET"

python3 dags/steps/serve.py --model-dir "$TARGET" --port 0 --port-file serve.port \
    --pidfile serve.pid 2>serve.log &
SERVE_PID=$!
trap 'kill -TERM "$SERVE_PID" 2>/dev/null; wait "$SERVE_PID"; cleanup_trash' EXIT
for _ in $(seq 100); do
    [ -s serve.pid ] && break
    sleep 0.1
done
PORT=$(cat serve.port 2>/dev/null)
URL=http://127.0.0.1:$PORT
# The pipeline's health URL names the demo's fixed port: point it at ours.
sed -i "s#http://127\.0\.0\.1:8501/health#$URL/health#" dags/tumour.yaml

# json EXPR: evaluate a Python expression over `sluice show last --json` (as r).
json() {
    sluice show last --json >last.json &&
        python3 -c "import json, sys; r = json.load(open('last.json')); print($1)"
}
# metrics STEP: the metrics of a step of the last run, as JSON.
metrics() {
    json "json.dumps(next(s for s in r['steps'] if s['name'] == '$1')['metrics'])"
}
# output STEP NAME: the sha256 of a step's output in the last run.
output() {
    json "next(o['sha256'] for s in r['steps'] if s['name'] == '$1' for o in s['outputs']
               if o['name'] == '$2')"
}

# pick_rows CSV: a /predict body with the first malignant row of CSV (as an object) and the
# first benign one (as a list in column order).
pick_rows() {
    python3 - "$1" <<'EOF'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1])))
picked = [next(r for r in rows if r["diagnosis"] == d) for d in ("malignant", "benign")]
for r in picked:
    del r["diagnosis"]
print(json.dumps({"rows": [{k: float(v) for k, v in picked[0].items()},
                           [float(v) for v in picked[1].values()]]}))
EOF
}

expect_success 'the model server listens before any model is deployed, and says so' '
    test -n "$PORT" &&
    grep -q "^http://127.0.0.1:$PORT/health\$" <(sed -n "s/.*health: //p" dags/tumour.yaml) &&
    code=$(curl -s -o health.json -w "%{http_code}" "$URL/health") &&
    test "$code" = 503 && grep -q "no model" health.json
'

expect_success 'the tumour pipeline runs to the end with --auto-approve' '
    sluice run dags/tumour.yaml --auto-approve ${DEMO_EXECUTOR:+--executor "$DEMO_EXECUTOR"} \
        >run.out 2>&1 ||
        { cat run.out; cat .sluice/runs/*/*/*/log 2>/dev/null | tail -40; false; }
'

expect_success 'the run and every step succeeded' '
    test "$(json "r[\"status\"]")" = succeeded &&
    json "\" \".join(s[\"name\"] + \"=\" + s[\"status\"] for s in r[\"steps\"])" >steps &&
    echo "ingest=succeeded crawl=succeeded transform=succeeded train=succeeded" \
        "evaluate=succeeded approve=succeeded deploy=succeeded" >expect &&
    test_cmp expect steps ||
    { cat last.json; false; }
'

if [ -n "${DEMO_EXECUTOR:-}" ]; then
    expect_success 'its command steps ran under that executor, its built-in steps here' '
        json "\" \".join(s[\"name\"] + \"=\" + a[\"executor\"] for s in r[\"steps\"]
                          for a in s[\"attempts\"])" >executors &&
        x=$DEMO_EXECUTOR &&
        echo "ingest=local crawl=local transform=$x train=$x evaluate=$x deploy=local" >expect &&
        test_cmp expect executors
    '
fi

# The store keeps metrics as floats: 426 may come back as 426.0.
expect_success 'the split is stratified 426/143' '
    json "[s[\"metrics\"][m] for s in r[\"steps\"] if s[\"name\"] == \"transform\"
           for m in (\"train_rows\", \"test_rows\")] == [426, 143]" >split &&
    test "$(cat split)" = True
'

expect_success 'evaluate reaches f1 >= 0.9, with a confusion matrix over the 143 test rows' '
    metrics evaluate >m &&
    python3 -c "import json; m = json.load(open(\"m\"))
assert m[\"f1\"] >= 0.9, m[\"f1\"]
assert m[\"tn\"] + m[\"fp\"] + m[\"fn\"] + m[\"tp\"] == 143, m
assert all(0 <= m[k] <= 1 for k in (\"accuracy\", \"precision\", \"recall\", \"roc_auc\")), m"
'

expect_success 'series metrics come back as lists' '
    json "all(isinstance(next(s for s in r[\"steps\"] if s[\"name\"] == st)[\"metrics\"][m], list)
              for st, m in [(\"evaluate\", \"roc_tpr\"), (\"evaluate\", \"precision_at_threshold\"),
                            (\"train\", \"oob_accuracy_curve\")])" >is_list &&
    test "$(cat is_list)" = True &&
    metrics evaluate >m &&
    python3 -c "import json; assert len(json.load(open(\"m\"))[\"roc_tpr\"]) == 21"
'

expect_success 'the model is deployed: current links to a slot holding the trained model.pkl' '
    test -L "$TARGET/current" &&
    slot=$(readlink "$TARGET/current") && { test "$slot" = blue || test "$slot" = green; } &&
    deployed=$(sha256sum <"$TARGET/current/model.pkl" | cut -d" " -f1) &&
    test "$deployed" = "$(output train model.pkl)" &&
    test -s "$TARGET/current/VERSION"
'

expect_success 'the model server answers /health with the deployed version' '
    curl -sf "$URL/health" >health.json &&
    python3 -c "import json, sys; h = json.load(open(\"health.json\"))
sys.exit(0 if h == {\"status\": \"ok\", \"version\": sys.argv[1]} else 1)" \
        "$(cat "$TARGET/current/VERSION")" || { cat health.json; false; }
'

expect_success 'the served model classifies a malignant and a benign test tumour' '
    sha=$(output transform test.csv) &&
    pick_rows ".sluice/artifacts/sha256/${sha:0:2}/${sha:2}" >body.json &&
    curl -sf -X POST -H "Content-Type: application/json" --data @body.json "$URL/predict" \
        >pred.json &&
    python3 -c "import json, sys; p = json.load(open(\"pred.json\"))
assert p[\"predictions\"] == [\"malignant\", \"benign\"], p
assert len(p[\"probabilities\"]) == 2 and p[\"probabilities\"][0][\"malignant\"] > 0.5, p" ||
    { cat pred.json; false; }
'

expect_success 'a bad request is refused with 400 and a message' '
    code=$(curl -s -o bad.json -w "%{http_code}" -X POST --data "{\"rows\": [[1, 2]]}" \
        "$URL/predict") &&
    test "$code" = 400 && grep -q "the model needs 30" bad.json
'

# The server is the child of this shell, not of the test code (a subshell), which cannot wait(1)
# for it: watch its log instead.
expect_success 'the model server stops cleanly on SIGTERM and removes its pid file' '
    kill -TERM "$SERVE_PID" &&
    for _ in $(seq 50); do grep -q "^serve: stopped$" serve.log && break; sleep 0.1; done &&
    grep -q "^serve: stopped$" serve.log && test ! -e serve.pid
'

done_testing
