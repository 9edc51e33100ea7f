#!/usr/bin/env bash
# `make demo`, after the build: run dags/tumour.yaml (breast-cancer classifier: ingest, crawl,
# split, train, evaluate, approve, deploy) with ./sluice while a model server for the deploy
# target answers on 127.0.0.1:8501, then show the run, the deployed model's lineage and a
# prediction. Arguments go to `sluice run` (dags/demo.sh -p max_depth=2). Exit status: 0 when
# the run succeeded, else non-zero.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1

PORT=8501                  # the port of the health URL in dags/tumour.yaml
TARGET=dags/serving/tumour # the deploy step's target, relative to the repository
DEMO=build/demo            # our python3 link, the server's log and pid file
SLUICE=./sluice
WORKSPACE=${SLUICE_HOME:-.sluice}

if [ -t 1 ]; then BOLD=$'\033[1m' PLAIN=$'\033[0m'; else BOLD= PLAIN=; fi
say() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$PLAIN"; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}
# show CMD...: echo a command, then run it; a failure is reported, not fatal.
show() {
    local a line=
    for a in "$@"; do
        case $a in
        *[!A-Za-z0-9_./:=@-]*) line+=" '$a'" ;;
        *) line+=" $a" ;;
        esac
    done
    printf '$%s\n' "$line"
    "$@" || printf '(%s exited %d)\n' "$1 $2" "$?"
}

[ -x "$SLUICE" ] || die "'$SLUICE' is missing: build it with 'make'"

. dags/steps/sklearn_python.sh
# Whether the user's own `python3` can run the steps, for the commands suggested at the end.
USER_PY_OK=$(python3 -c 'import sklearn' >/dev/null 2>&1 && echo 1)
PY=$(sklearn_python_link "$DEMO/bin") ||
    die "scikit-learn is missing: apt-get install python3-sklearn"
# Steps say `python3 steps/…`: the engine and every step find ours first.
export PATH="$ROOT/$DEMO/bin:$PATH"

SERVE_PID=
stop_server() {
    [ -n "$SERVE_PID" ] || return 0
    kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    SERVE_PID=
}
trap stop_server EXIT
trap 'exit 130' INT TERM

say "model server"
mkdir -p "$TARGET" "$DEMO"
rm -f "$DEMO/serve.pid"
python3 dags/steps/serve.py --model-dir "$TARGET" --port "$PORT" --pidfile "$DEMO/serve.pid" \
    >"$DEMO/serve.log" 2>&1 &
SERVE_PID=$!
# The pid file appears once the server listens; if the server exits first, say why.
for _ in $(seq 100); do
    [ -s "$DEMO/serve.pid" ] && break
    if ! kill -0 "$SERVE_PID" 2>/dev/null; then
        wait "$SERVE_PID" 2>/dev/null
        SERVE_PID=
        sed 's/^/  /' "$DEMO/serve.log" >&2
        if grep -q 'address already in use' "$DEMO/serve.log"; then
            die "port $PORT is taken; the pipeline's health check expects the model server" \
                "there: stop what listens on it (ss -ltnp 'sport = :$PORT') and run again"
        fi
        die "the model server did not start (log: $DEMO/serve.log)"
    fi
    sleep 0.1
done
[ -s "$DEMO/serve.pid" ] || die "the model server did not start within 10 s (log: $DEMO/serve.log)"
echo "python3:   $PY (has scikit-learn)"
echo "serving:   $TARGET/current/model.pkl on http://127.0.0.1:$PORT/ (log: $DEMO/serve.log)"
echo "workspace: $WORKSPACE (\$SLUICE_HOME overrides; remove it to start afresh)"

say "run dags/tumour.yaml"
echo "\$ $SLUICE run dags/tumour.yaml --auto-approve${*:+ $*}"
"$SLUICE" run dags/tumour.yaml --auto-approve "$@"
rc=$?
"$SLUICE" show last --json >"$DEMO/last.json" 2>/dev/null
status=$(python3 -c 'import json, sys; print(json.load(sys.stdin).get("status", "?"))' \
    <"$DEMO/last.json" 2>/dev/null) || status=unknown
if [ "$status" != succeeded ]; then
    say "the run did not succeed ($status)"
    "$SLUICE" show last
    echo
    echo "a step's log: $SLUICE logs last STEP"
    exit 1
fi
[ "$rc" = 0 ] || die "'sluice run' exited $rc although the run succeeded"

say "the run"
show "$SLUICE" show last

# field STEP OUTPUT: the sha256 of a step's output in the last run.
field() {
    python3 - "$DEMO/last.json" "$1" "$2" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    run = json.load(f)
step, name = sys.argv[2], sys.argv[3]
for s in run["steps"]:
    if s["name"] == step:
        for o in s.get("outputs", []):
            if o["name"] == name:
                print(o["sha256"])
EOF
}
RUN_ID=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])' <"$DEMO/last.json")
MODEL_SHA=$(field train model.pkl)
TEST_SHA=$(field transform test.csv)

say "lineage of the model"
if [ -n "$MODEL_SHA" ]; then
    show "$SLUICE" lineage "$MODEL_SHA"
    if "$SLUICE" --help 2>&1 | grep -q '^  models'; then
        show "$SLUICE" models tumour
    fi
else
    echo "(the run recorded no output model.pkl for step train)"
fi

say "ask the deployed model"
DEPLOY_STATUS=$(python3 - "$DEMO/last.json" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    run = json.load(f)
print(next((s["status"] for s in run["steps"] if s["name"] == "deploy"), "missing"))
EOF
)
if [ "$DEPLOY_STATUS" != succeeded ]; then
    echo "this run deployed nothing (deploy: $DEPLOY_STATUS; see the approve step above)"
fi
echo "deployed: $(readlink "$TARGET/current" 2>/dev/null || echo '?'), version" \
    "$(cat "$TARGET/current/VERSION" 2>/dev/null || echo '?')"
show curl -sS "http://127.0.0.1:$PORT/health"
TEST_CSV=$WORKSPACE/artifacts/sha256/${TEST_SHA:0:2}/${TEST_SHA:2}
if [ -n "$TEST_SHA" ] && [ -f "$TEST_CSV" ]; then
    # One malignant and one benign tumour of the test set, which training never saw.
    truth=$(python3 - "$TEST_CSV" "$DEMO/predict.json" <<'EOF'
import csv, json, sys
with open(sys.argv[1], newline="") as f:
    rows = list(csv.DictReader(f))
picked = [next(r for r in rows if r["diagnosis"] == d) for d in ("malignant", "benign")]
truth = [r.pop("diagnosis") for r in picked]
with open(sys.argv[2], "w") as f:
    json.dump({"rows": [{k: float(v) for k, v in r.items()} for r in picked]}, f)
print(", ".join(truth))
EOF
)
    echo "request: two tumours of the test set ($DEMO/predict.json), truly: $truth"
    show curl -sS -X POST -H 'Content-Type: application/json' --data @"$DEMO/predict.json" \
        "http://127.0.0.1:$PORT/predict"
else
    echo "(test.csv of the run is not in the artifact store)"
fi

say "look at it"
hint() { printf '  %-40s # %s\n' "$1" "$2"; }
hint "./sluice runs" "every run, newest first"
hint "./sluice show $RUN_ID" "this run: steps, attempts, metrics, outputs"
hint "./sluice logs $RUN_ID evaluate" "the evaluation report"
# Where the python3 first on the user's PATH lacks scikit-learn, the steps need ours first.
WITH=
[ -n "$USER_PY_OK" ] || WITH="PATH=$ROOT/$DEMO/bin:\$PATH "
[ -z "$WITH" ] ||
    printf '  (the python3 first on your PATH has no scikit-learn: runs need %s first)\n' "$ROOT/$DEMO/bin"
# The deploy step checks the model server's health: it must run for another experiment.
hint "$PY dags/steps/serve.py --model-dir $TARGET &" "serve the deployed model (deploys need it)"
hint "${WITH}./sluice run dags/tumour.yaml --auto-approve -p max_depth=2" "another experiment, then"
hint "./sluice compare $RUN_ID last" "params and metrics side by side"
hint "./sluice lineage ${MODEL_SHA:0:12}" "lineage (a digest prefix will do)"
hint "${WITH}./sluice serve" "the page: http://127.0.0.1:8080/"
exit 0
