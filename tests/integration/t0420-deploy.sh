#!/usr/bin/env bash
# The deploy built-in (`sluice builtin deploy`): blue/green switching of `current`, VERSION
# files, the JSON result line, health checks against a local HTTP server (httpd.py) that roll
# back on failure, and exit 0 / 1 / 75 (target busy). Then a deploy step whose target and health
# are templates, expanded with each run's params.
. "$(dirname "$0")/lib.sh"

python3 "$ROOT/tests/integration/httpd.py" "$TRASH/httpd.port" 120 &
HTTPD_PID=$!
trap 'kill "$HTTPD_PID" 2>/dev/null; cleanup_trash' EXIT
for _ in $(seq 100); do
    [ -f "$TRASH/httpd.port" ] && break
    sleep 0.1
done
URL=http://127.0.0.1:$(cat "$TRASH/httpd.port")
# A port nothing listens on: bound once by the kernel's choice, then released.
DEAD_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
q="'" # a single quote, for patterns inside the single-quoted test code

# deploy_exit STATUS LABEL [ARGS...]: deploy model.pkl (holding "model LABEL") to serving/ as
# version LABEL; stdout goes to out, stderr to err; want that exit status.
deploy_exit() {
    local want=$1 label=$2
    shift 2
    printf 'model %s\n' "$label" >model.pkl
    sluice builtin deploy --model model.pkl --target serving --version "$label" "$@" >out 2>err
    local rc=$?
    if [ "$rc" != "$want" ]; then
        cat out err
        echo "exited $rc, expected $want"
        return 1
    fi
}

# result SLOT PREVIOUS ROLLED_BACK LABEL: the JSON line deploy printed last (PREVIOUS as JSON).
result() {
    test "$(tail -n 1 out)" = \
        "{\"slot\": \"$1\", \"previous\": $2, \"rolled_back\": $3, \"version\": \"$4\"}"
}

# live SLOT LABEL: current links to SLOT, which holds model LABEL.
live() {
    test "$(readlink serving/current)" = "$1" &&
        test "$(cat serving/current/VERSION)" = "$2" &&
        test "$(cat serving/current/model.pkl)" = "model $2" &&
        test ! -e serving/.current.tmp
}

expect_success 'the first deploy goes to blue' '
    deploy_exit 0 v1 &&
    result blue null false v1 &&
    live blue v1
'

expect_success 'the second goes to green and keeps blue' '
    deploy_exit 0 v2 &&
    result green "\"blue\"" false v2 &&
    live green v2 && test "$(cat serving/blue/VERSION)" = v1
'

expect_success 'a passing health check keeps the switch' '
    deploy_exit 0 v3 --health "$URL/ok" &&
    result blue "\"green\"" false v3 &&
    live blue v3
'

expect_success 'a health URL nobody listens on rolls back to the previous slot' '
    deploy_exit 1 v4 --health "http://127.0.0.1:$DEAD_PORT/health" --health-timeout 1500 &&
    grep -q "^error: health check ${q}http://127.0.0.1:$DEAD_PORT/health$q failed: " err &&
    grep -q "; rolled back to version ${q}v3$q (slot ${q}blue$q)\$" err &&
    result green "\"blue\"" true v4 &&
    grep -q "attempt 2:" out &&
    live blue v3 && test ! -e serving/green/VERSION
'

expect_success 'a health URL answering 500 rolls back too' '
    deploy_exit 1 v5 --health "$URL/status/500" --health-timeout 1000 &&
    grep -q "failed: HTTP status 500 (.*); rolled back to version ${q}v3$q (slot ${q}blue$q)$" err &&
    live blue v3
'

# Refused connections are retried for 5 s (a server restarted by the switch may need a moment
# to listen), not for the whole health_timeout; a server that answers 5xx is waited for.
expect_success 'a health URL nobody listens on gives up after 5 s of refusals, not the timeout' '
    start=$(date +%s%N) &&
    deploy_exit 1 v4 --health "http://127.0.0.1:$DEAD_PORT/health" --health-timeout 60000 &&
    elapsed=$(( ($(date +%s%N) - start) / 1000000 )) &&
    echo "elapsed ${elapsed}ms: $(cat err)" &&
    test "$elapsed" -ge 5000 && test "$elapsed" -lt 20000 &&
    grep -q "; refused for 5\.[0-9] s: nothing listens); rolled back to version ${q}v3$q" err &&
    live blue v3
'

expect_success 'a service that becomes healthy within the timeout passes' '
    deploy_exit 0 v6 --health "$URL/health/after/a?fails=2" --health-timeout 10000 &&
    test "$(grep -c "HTTP status 503" out)" = 2 &&
    live green v6
'

expect_success 'a failed health check on the first deploy removes current' '
    mkdir fresh && printf "m\n" >fresh-model.bin &&
    sluice builtin deploy --model fresh-model.bin --target fresh/serving --version f1 \
        --health "$URL/status/503" --health-timeout 600 >out 2>err
    test $? = 1 &&
    grep -q "nothing was deployed before, ${q}current$q removed" err &&
    test ! -e fresh/serving/current && test ! -L fresh/serving/current
'

expect_success 'a folder model is copied whole' '
    mkdir -p bundle/weights && printf "w\n" >bundle/weights/w.bin &&
    printf "{}\n" >bundle/config.json &&
    sluice builtin deploy --model bundle --target bundles --version b1 >out 2>err &&
    test "$(readlink bundles/current)" = blue &&
    cmp bundle/weights/w.bin bundles/current/bundle/weights/w.bin &&
    cmp bundle/config.json bundles/current/bundle/config.json
'

expect_success 'a deploy while another holds the target is transient (75)' '
    flock serving/.lock "$SLUICE" builtin deploy --model model.pkl --target serving \
        --version v7 >out 2>err
    test $? = 75 && grep -q "is busy" err && live green v6
'

expect_success 'a missing --version is a permanent usage error' '
    sluice builtin deploy --model model.pkl --target serving >out 2>err
    test $? = 1 && grep -q "missing --version" err && live green v6
'

expect_success 'a missing model fails without touching the deployment' '
    sluice builtin deploy --model nope.pkl --target serving --version v8 >out 2>err
    test $? = 1 && grep -q "cannot deploy model ${q}nope.pkl$q" err && live green v6
'

# ---- through a pipeline: target and health from params -----------------------------------------

mkdir -p pipe
cat >pipe/deploy.yaml <<EOF
pipeline: deploy-params
params:
  where: serving/p
  health: $URL/health/after/p?fails=1
steps:
  train:
    run: echo "model \$SLUICE_RUN_ID" > "\$SLUICE_OUT/model.pkl"
    outputs: [model.pkl]
  deploy:
    kind: deploy
    model: train/model.pkl
    target: \${{ params.where }}
    health: \${{ params.health }}
    health_timeout: 2s
EOF
last_message() { sqlite3 .sluice/sluice.db "SELECT message FROM steps ORDER BY id DESC LIMIT 1"; }

expect_success 'target: and health: from params; a relative target is under the pipeline folder' '
    sluice run pipe/deploy.yaml >log 2>&1 &&
    test "$(readlink pipe/serving/p/current)" = blue &&
    test "$(cat pipe/serving/p/current/model.pkl)" = "model 1" &&
    grep -q "HTTP status 503" .sluice/runs/1/deploy/1/log
'

expect_success 'an absolute target from -p' '
    sluice run pipe/deploy.yaml -p where="$TRASH/abs" >log 2>&1 &&
    test "$(readlink abs/current)" = blue && test "$(cat abs/current/model.pkl)" = "model 2"
'

expect_success 'a health from -p that is no http URL fails the step before it switches' '
    { sluice run pipe/deploy.yaml -p health=ftp://127.0.0.1/health >log 2>&1; test $? = 1; } &&
    last_message >msg &&
    grep -F "${q}health$q must be an http:// or https:// URL, got ${q}ftp://127.0.0.1/health" msg &&
    test ! -e .sluice/runs/3/deploy &&
    test "$(readlink pipe/serving/p/current)" = blue
'

done_testing
