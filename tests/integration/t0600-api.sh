#!/usr/bin/env bash
# `sluice serve` and its JSON API against a server on a free 127.0.0.1 port: the documents
# are the CLI's (runs, show, compare, models, catalog, lineage), pagination and filters, logs
# by offset, the DAG as SVG, pipelines, triggering (page and `sluice trigger`), approve,
# reject, cancel, retry, Server-Sent Events, keep-alive, HEAD, and a clean stop on SIGTERM.
. "$(dirname "$0")/lib.sh"

SERVER_PID=
q="'" # a single quote, for the test code inside single quotes
trap 'stop_server; cleanup_trash' EXIT

# js EXPR: evaluate a Python expression over the JSON document on stdin (bound to d)
js() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# same_json A B: two JSON files hold equal documents
same_json() {
    python3 -c 'import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
if a != b:
    print("differ:\n", a, "\n", b)
    sys.exit(1)' "$1" "$2"
}

start_server() {
    "$SLUICE" serve --port 0 "$@" >serve.out 2>serve.err &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        [ -s serve.out ] && break
        sleep 0.05
    done
    URL=$(head -n 1 serve.out | sed 's/^serving //')
    PORT=$(printf '%s\n' "$URL" | sed -n 's|^http://127.0.0.1:\([0-9]*\)/.*|\1|p')
    B=http://127.0.0.1:$PORT
    TOKEN=$(cat .sluice/token 2>/dev/null)
}
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=
    fi
}
# get PATH: body of a GET (fails on a status >= 400)
get() { curl -sf --max-time 10 "$B$1"; }
# code METHOD PATH [curl args]: the status only
code() { local m=$1 p=$2; shift 2; curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$m" "$@" "$B$p"; }
# post PATH BODY: an authorised POST; prints the body, fails on a status >= 400
post() { curl -sf --max-time 10 -X POST -H "Authorization: Bearer $TOKEN" -d "$2" "$B$1"; }
# wait_status RUN STATUS: poll the API until the run has that status (20 s at most)
wait_status() {
    for _ in $(seq 1 200); do
        [ "$(get "/api/runs/$1" | js 'd["status"]')" = "$2" ] && return 0
        sleep 0.1
    done
    echo "run $1 is $(get "/api/runs/$1" | js 'd["status"]'), not $2"
    return 1
}

mkdir -p dags
cat >dags/hello.yaml <<'EOF'
pipeline: hello
description: says hello
params:
  who: world
  n: 3
steps:
  greet:
    run: echo "hello ${{ params.who }}"; for i in 1 2 3; do echo "line $i"; done
  count:
    needs: [greet]
    run: |
      printf '{"f1": 0.93, "loss": [0.9, 0.5]}' > "$SLUICE_METRICS"
EOF
cat >dags/model.yaml <<'EOF'
pipeline: model
params:
  f1: 0.9
steps:
  train:
    kind: train
    run: |
      echo "weights $SLUICE_RUN_ID" > "$SLUICE_OUT/model.pkl"
      printf '{"f1": %s}' ${{ params.f1 }} > "$SLUICE_METRICS"
    outputs: [model.pkl]
  approve:
    kind: approve
    needs: [train]
    model: train/model.pkl
    model_name: clf
  after:
    needs: [approve]
    run: echo after
EOF
cat >dags/svc.yaml <<'EOF'
pipeline: svc
params:
  f1: 0.8
steps:
  train:
    kind: train
    run: |
      echo "weights $SLUICE_RUN_ID" > "$SLUICE_OUT/model.pkl"
      printf '{"f1": %s}' ${{ params.f1 }} > "$SLUICE_METRICS"
    outputs: [model.pkl]
  approve:
    kind: approve
    needs: [train]
    model: train/model.pkl
  deploy:
    kind: deploy
    needs: [approve]
    model: train/model.pkl
    target: serving/svc
EOF
cat >dags/cached.yaml <<'EOF'
pipeline: cached
params:
  k: 1
steps:
  work:
    run: echo "k=${{ params.k }}" > "$SLUICE_OUT/o.txt"
    outputs: [o.txt]
    cache: true
EOF
cat >dags/slow.yaml <<'EOF'
pipeline: slow
params:
  fail: "no"
steps:
  nap:
    run: test "${{ params.fail }}" = "no" && sleep 30
EOF

expect_success 'history to serve: three runs of hello, one failed run of slow' '
    sluice run dags/hello.yaml >/dev/null 2>&1 &&
    sluice run dags/hello.yaml -p who=you -p n=7 >/dev/null 2>&1 &&
    sluice run dags/hello.yaml -p who=them >/dev/null 2>&1 &&
    ! sluice run dags/slow.yaml -p fail=yes >/dev/null 2>&1
'

start_server --dags dags

expect_success 'serve prints the address with a free port and the token, the token file is 0600' '
    test -n "$PORT" &&
    grep -q "^serving http://127.0.0.1:[0-9]*/?token=[0-9a-f]\{64\}$" serve.out &&
    test "$(stat -c %a .sluice/token)" = 600 &&
    test "$(head -n 1 serve.out | sed "s/.*token=//")" = "$TOKEN"
'
expect_success 'GET /api/runs lists the runs newest first, as `sluice runs --json`' '
    get /api/runs >runs.json &&
    test "$(js "[r[\"id\"] for r in d[\"runs\"]]" <runs.json)" = "[4, 3, 2, 1]" &&
    test "$(js "d[\"next_before\"]" <runs.json)" = None &&
    js "d[\"runs\"]" <runs.json >api.txt && sluice runs --json | js d >cli.txt &&
    test_cmp cli.txt api.txt
'
expect_success 'keyset pagination: limit and before walk the list without overlap' '
    get "/api/runs?limit=2" >p1.json &&
    test "$(js "[r[\"id\"] for r in d[\"runs\"]]" <p1.json)" = "[4, 3]" &&
    test "$(js "d[\"next_before\"]" <p1.json)" = 3 &&
    get "/api/runs?limit=2&before=3" >p2.json &&
    test "$(js "[r[\"id\"] for r in d[\"runs\"]]" <p2.json)" = "[2, 1]" &&
    test "$(js "d[\"next_before\"]" <p2.json)" = None
'
expect_success 'filters by pipeline and status' '
    test "$(get "/api/runs?pipeline=hello" | js "len(d[\"runs\"])")" = 3 &&
    test "$(get "/api/runs?status=failed" | js "[r[\"id\"] for r in d[\"runs\"]]")" = "[4]" &&
    test "$(get "/api/runs?pipeline=nope" | js "d[\"runs\"]")" = "[]"
'
expect_success 'a bad status, limit or before is a 400 with a JSON error' '
    test "$(code GET "/api/runs?status=bogus")" = 400 &&
    test "$(code GET "/api/runs?limit=0")" = 400 &&
    test "$(code GET "/api/runs?limit=501")" = 400 &&
    test "$(code GET "/api/runs?before=x")" = 400 &&
    curl -s "$B/api/runs?status=bogus" | js "d[\"error\"]" | grep -q "unknown status .bogus."
'
expect_success 'GET /api/runs/ID is `sluice show ID --json` plus needs and cache' '
    get /api/runs/2 >run.json &&
    sluice show 2 --json >show.json &&
    python3 -c "import json
a = json.load(open(\"run.json\")); b = json.load(open(\"show.json\"))
for s in a[\"steps\"]:
    assert s.pop(\"needs\") is not None and s.pop(\"cache\")[\"enabled\"] is False
assert a.pop(\"pending_approvals\") == [] and a.pop(\"cancel_requested\") is False
assert a == b, (a, b)" &&
    test "$(js "[s[\"needs\"] for s in d[\"steps\"]]" <run.json)" = "[[], [${q}greet${q}]]" &&
    test "$(js "d[\"params\"]" <run.json)" = "{${q}who${q}: ${q}you${q}, ${q}n${q}: 7}"
'
expect_success 'cache: a hit names the run it reused, a miss says why' '
    sluice run dags/cached.yaml >/dev/null 2>&1 && a=$(sluice runs --json | js "d[0][\"id\"]") &&
    sluice run dags/cached.yaml >/dev/null 2>&1 && b=$((a + 1)) &&
    sluice run dags/cached.yaml -p k=2 >/dev/null 2>&1 && c=$((a + 2)) &&
    test "$(get /api/runs/$b | js "d[\"steps\"][0][\"cache\"][\"hit_from_run\"]")" = $a &&
    test "$(get /api/runs/$b | js "d[\"steps\"][0][\"status\"]")" = cached &&
    get /api/runs/$c | js "d[\"steps\"][0][\"cache\"][\"miss\"]" | grep -q "param .k. 1 -> 2" &&
    test "$(get /api/runs/$a | js "d[\"steps\"][0][\"cache\"][\"enabled\"]")" = True
'
expect_success 'an unknown run is 404, a malformed id too' '
    test "$(code GET /api/runs/999)" = 404 &&
    test "$(code GET /api/runs/abc)" = 404 &&
    curl -s "$B/api/runs/999" | js "d[\"error\"]" | grep -q "."
'
expect_success 'a step log by offset: all of it, a slice, the tail, as text' '
    get /api/runs/1/steps/greet/log >log.json &&
    python3 -c "import json
d = json.load(open(\"log.json\"))
assert d[\"text\"] == \"hello world\\nline 1\\nline 2\\nline 3\\n\", d
assert (d[\"attempt\"], d[\"offset\"], d[\"next_offset\"], d[\"size\"], d[\"complete\"]) == (1, 0, 33, 33, True), d" &&
    test "$(get "/api/runs/1/steps/greet/log?offset=12&limit=6" | js "(d[\"text\"], d[\"next_offset\"], d[\"complete\"])")" = "(${q}line 1${q}, 18, False)" &&
    test "$(get "/api/runs/1/steps/greet/log?offset=-7" | js "repr(d[\"text\"])")" = "${q}line 3\\n${q}" &&
    curl -sf -D hdr "$B/api/runs/1/steps/greet/log?format=text&offset=12" >body &&
    grep -qi "^x-sluice-next-offset: 33" hdr && grep -qi "^x-sluice-complete: 1" hdr &&
    test "$(head -n 1 body)" = "line 1"
'
expect_success 'a log of an unknown step or attempt is 404' '
    test "$(code GET /api/runs/1/steps/nope/log)" = 404 &&
    test "$(code GET "/api/runs/1/steps/greet/log?attempt=9")" = 404
'
expect_success 'the DAG is SVG with a node per step, coloured' '
    curl -sf -D hdr "$B/api/runs/2/dag.svg" >dag.svg &&
    grep -qi "^content-type: image/svg+xml" hdr &&
    grep -q "<svg" dag.svg && grep -q "id=\"step&#45;greet\"" dag.svg &&
    grep -q "id=\"step&#45;count\"" dag.svg && grep -q "#86efac" dag.svg
'
expect_success 'GET /api/compare is `sluice compare --json`' '
    get "/api/compare?runs=1,2,3" >cmp.json && sluice compare 1 2 3 --json >cmp-cli.json &&
    same_json cmp-cli.json cmp.json &&
    test "$(js "d[\"params\"][\"n\"]" <cmp.json)" = "[3, 7, 3]"
'
expect_success 'compare needs 2 to 20 existing runs' '
    test "$(code GET "/api/compare?runs=1")" = 400 &&
    test "$(code GET "/api/compare?runs=1,x")" = 400 &&
    test "$(code GET "/api/compare?runs=1,99")" = 404
'
expect_success 'pipelines: the --dags folder with params, steps and the last run; one with its YAML' '
    get /api/pipelines >pl.json &&
    test "$(js "[p[\"name\"] for p in d]" <pl.json)" = "[${q}cached${q}, ${q}hello${q}, ${q}model${q}, ${q}slow${q}, ${q}svc${q}]" &&
    test "$(js "d[1][\"params\"]" <pl.json)" = "{${q}who${q}: ${q}world${q}, ${q}n${q}: 3}" &&
    test "$(js "d[1][\"last_run\"][\"id\"]" <pl.json)" = 3 &&
    get /api/pipelines/hello | js "d[\"yaml\"]" | grep -q "^pipeline: hello" &&
    test "$(code GET /api/pipelines/nope)" = 404 &&
    get /api/pipelines/hello/graph.svg | grep -q "id=\"step&#45;greet\""
'
expect_success 'trigger with parameters: 201, the run is driven by the server to the end' '
    post /api/pipelines/hello/runs "{\"params\": {\"who\": \"api\", \"n\": 5}}" >trig.json &&
    id=$(js "d[\"id\"]" <trig.json) && test "$(js "d[\"status\"]" <trig.json)" = queued &&
    wait_status $id succeeded &&
    get /api/runs/$id >r.json &&
    test "$(js "(d[\"trigger\"], d[\"params\"])" <r.json)" = "(${q}api${q}, {${q}who${q}: ${q}api${q}, ${q}n${q}: 5})" &&
    get /api/runs/$id/steps/greet/log | js "d[\"text\"]" | grep -q "^hello api$"
'
expect_success 'trigger refuses unknown parameters, wrong types, unknown pipelines, bad JSON' '
    test "$(code POST /api/pipelines/hello/runs -H "Authorization: Bearer $TOKEN" -d "{\"params\": {\"nope\": 1}}")" = 400 &&
    test "$(code POST /api/pipelines/hello/runs -H "Authorization: Bearer $TOKEN" -d "{\"params\": {\"n\": \"many\"}}")" = 400 &&
    test "$(code POST /api/pipelines/hello/runs -H "Authorization: Bearer $TOKEN" -d "{\"params\": {\"n\": [1]}}")" = 400 &&
    test "$(code POST /api/pipelines/nope/runs -H "Authorization: Bearer $TOKEN" -d "{}")" = 404 &&
    test "$(code POST /api/pipelines/hello/runs -H "Authorization: Bearer $TOKEN" -d "{not json")" = 400
'
expect_success '`sluice trigger` queues a run (trigger api) that the server picks up' '
    sluice trigger hello -p who=cli --dags dags >trig.out &&
    id=$(sed -n "s/^queued run \([0-9]*\) of hello.*/\1/p" trig.out) && test -n "$id" &&
    wait_status $id succeeded &&
    test "$(get /api/runs/$id | js "d[\"trigger\"]")" = api &&
    get /api/runs/$id/steps/greet/log | js "d[\"text\"]" | grep -q "^hello cli$"
'
expect_success 'sluice trigger checks its parameters before queueing anything' '
    n=$(get /api/runs | js "len(d[\"runs\"])") &&
    ! sluice trigger hello -p nope=1 --dags dags 2>err && grep -q "unknown parameter" err &&
    ! sluice trigger nope --dags dags 2>err && grep -q "no pipeline .nope." err &&
    test "$(get /api/runs | js "len(d[\"runs\"])")" = "$n"
'
expect_success 'approve: a waiting run goes on to the end, the model version is approved' '
    id=$(post /api/pipelines/model/runs "{}" | js "d[\"id\"]") &&
    wait_status $id waiting &&
    test "$(get /api/runs/$id | js "d[\"pending_approvals\"]")" = "[${q}approve${q}]" &&
    post /api/runs/$id/approve "{\"by\": \"alice\", \"comment\": \"fine\"}" >dec.json &&
    test "$(js "(d[\"step\"], d[\"decision\"])" <dec.json)" = "(${q}approve${q}, ${q}approved${q})" &&
    wait_status $id succeeded &&
    get /api/models/clf >m.json &&
    test "$(js "d[\"versions\"][0][\"status\"]" <m.json)" = approved &&
    test "$(js "d[\"versions\"][0][\"approvals\"][0][\"by\"]" <m.json)" = alice &&
    echo $id >approved_run
'
expect_success 'a second decision is a 409' '
    id=$(cat approved_run) &&
    test "$(code POST /api/runs/$id/approve -H "Authorization: Bearer $TOKEN" -d "{}")" = 409
'
expect_success 'reject: the run fails, the version is rejected, by defaults to web' '
    id=$(post /api/pipelines/model/runs "{}" | js "d[\"id\"]") &&
    wait_status $id waiting &&
    post /api/runs/$id/reject "{}" >/dev/null &&
    wait_status $id failed &&
    get /api/models/clf >m.json &&
    test "$(js "d[\"versions\"][0][\"status\"]" <m.json)" = rejected &&
    test "$(js "d[\"versions\"][0][\"approvals\"][0][\"by\"]" <m.json)" = web
'
expect_success 'GET /api/models is `sluice models --json`; an unknown model is 404' '
    get /api/models >m.json && sluice models --json >m-cli.json && same_json m-cli.json m.json &&
    test "$(code GET /api/models/nope)" = 404
'
expect_success 'GET /api/catalog is `sluice catalog --json`; an unknown table is 404' '
    get /api/catalog >c.json && sluice catalog --json >c-cli.json && same_json c-cli.json c.json &&
    test "$(code GET /api/catalog/nope)" = 404
'
expect_success 'GET /api/lineage/SHA is `sluice lineage --json` plus deployments; also MODEL:VERSION' '
    sha=$(get /api/models/clf | js "d[\"versions\"][0][\"sha256\"]") &&
    get /api/lineage/$sha >l.json && sluice lineage $sha --json >l-cli.json &&
    python3 -c "import json
a = json.load(open(\"l.json\")); b = json.load(open(\"l-cli.json\"))
assert a.pop(\"deployments\") == []
assert a == b" &&
    test "$(get /api/lineage/clf:1 | js "d[\"artifact\"][\"kind\"]")" = file &&
    get /api/lineage/$sha/graph.svg | grep -q "<svg" &&
    test "$(code GET /api/lineage/0000000000)" = 404
'
expect_success 'rollback: two deployed versions of svc, back to the first, the registry follows' '
    sluice run dags/svc.yaml --auto-approve >/dev/null 2>&1 &&
    sluice run dags/svc.yaml --auto-approve -p f1=0.9 >/dev/null 2>&1 &&
    test "$(get /api/models/svc | js "d[\"champion\"]")" = 2 &&
    post /api/models/svc/rollback "{}" >rb.json &&
    test "$(js "(d[\"version\"], d[\"slot\"], d[\"retired\"])" <rb.json)" = "(1, ${q}blue${q}, 2)" &&
    test "$(readlink dags/serving/svc/current)" = blue &&
    test "$(get /api/models/svc | js "d[\"champion\"]")" = 1
'
expect_success 'rollback of an unknown model is 404, of one never deployed 409' '
    test "$(code POST /api/models/nope/rollback -H "Authorization: Bearer $TOKEN")" = 404 &&
    test "$(code POST /api/models/clf/rollback -H "Authorization: Bearer $TOKEN")" = 409
'
expect_success 'cancel: a running run is cancelled, cancelling again is a 409' '
    id=$(post /api/pipelines/slow/runs "{}" | js "d[\"id\"]") &&
    wait_status $id running &&
    test "$(curl -s -X POST -H "Authorization: Bearer $TOKEN" "$B/api/runs/$id/cancel" -o /dev/null -w "%{http_code}")" = 202 &&
    wait_status $id cancelled &&
    test "$(code POST /api/runs/$id/cancel -H "Authorization: Bearer $TOKEN")" = 409
'
expect_success 'retry: a new run with the parent, the same parameters, trigger retry' '
    post /api/runs/4/retry "" >retry.json &&
    id=$(js "d[\"id\"]" <retry.json) && test "$(js "d[\"parent_run\"]" <retry.json)" = 4 &&
    wait_status $id failed &&
    test "$(get /api/runs/$id | js "(d[\"trigger\"], d[\"parent_run\"], d[\"params\"])")" = "(${q}retry${q}, 4, {${q}fail${q}: ${q}yes${q}})"
'
expect_success 'retry of a run that has not ended is a 409' '
    id=$(post /api/pipelines/slow/runs "{}" | js "d[\"id\"]") &&
    wait_status $id running &&
    test "$(code POST /api/runs/$id/retry -H "Authorization: Bearer $TOKEN")" = 409 &&
    post /api/runs/$id/cancel "" >/dev/null && wait_status $id cancelled
'
expect_success 'SSE: run and step events of a triggered run, and its log lines' '
    (curl -sN --max-time 6 "$B/api/events" >sse.all &) &&
    sleep 0.5 &&
    id=$(post /api/pipelines/hello/runs "{\"params\": {\"who\": \"sse\"}}" | js "d[\"id\"]") &&
    (curl -sN --max-time 4 "$B/api/events?run=$id&step=greet" >sse.log &) &&
    wait_status $id succeeded && sleep 4.5 &&
    grep -q "^event: run$" sse.all && grep -q "^event: step$" sse.all &&
    grep -q "\"status\":\"succeeded\"" sse.all && grep -q "^event: audit$" sse.all &&
    grep "^data: " sse.log | grep "\"step\":\"greet\"" | grep -q "hello sse" &&
    grep -q "^event: log$" sse.log
'
expect_success 'GET /api/runs/ID/events: the audit trail' '
    get /api/runs/1/events | js "[e[\"what\"] for e in d[\"events\"]]" | grep -q "created" &&
    test "$(code GET /api/runs/999/events)" = 404
'
expect_success 'keep-alive: two requests on one connection' '
    curl -sv "$B/api/session" "$B/api/runs?limit=1" -o /dev/null -o /dev/null 2>verbose &&
    grep -q "Re-using existing connection" verbose
'
cat >pipeline.py <<'EOF'
# Two requests in one write are answered in order on the connection; a client that shuts
# its sending side down after a request still gets the whole answer.
import socket, sys
port = int(sys.argv[1])
host = b"Host: 127.0.0.1:%d\r\n" % port
def read_all(s):
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET /api/session HTTP/1.1\r\n" + host + b"\r\n" +
          b"GET /api/runs/999 HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n")
data = read_all(s)
first, second = data.find(b"HTTP/1.1 200"), data.find(b"HTTP/1.1 404")
assert 0 == first < second, data[:200]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(b"GET /api/runs HTTP/1.1\r\n" + host + b"\r\n")
s.shutdown(socket.SHUT_WR)
data = read_all(s)
assert data.startswith(b"HTTP/1.1 200") and data.rstrip().endswith(b"}"), data[:200]
EOF
expect_success 'pipelined requests are answered in order; a half-closed client gets its answer' '
    python3 pipeline.py $PORT
'
expect_success 'HEAD answers the headers without the body' '
    curl -sI "$B/api/runs" >head.txt &&
    grep -q "^HTTP/1.1 200" head.txt && grep -qi "^content-length: [1-9]" head.txt &&
    test "$(curl -s --head "$B/api/runs" | tail -c 1 | od -An -c | tr -d " ")" = "\\n"
'
expect_success 'an unknown API path is a JSON 404; GET on a POST route is a 405' '
    test "$(code GET /api/nope)" = 404 &&
    test "$(code GET /api/runs/1/approve)" = 405
'
# (stopped and started here, not inside a test: those run in a subshell)
kill -TERM "$SERVER_PID" && wait "$SERVER_PID"
echo $? >stop.rc
SERVER_PID=
expect_success 'SIGTERM stops the server cleanly (exit 0, no sanitizer report), the port is free' '
    test "$(cat stop.rc)" = 0 &&
    ! grep -E "Sanitizer|runtime error" serve.err &&
    ! curl -s --max-time 2 "$B/api/session" >/dev/null
'
sluice trigger hello -p who=later --dags dags >trig.out 2>&1
start_server --dags dags
expect_success 'runs queued while no server ran are picked up by the next one' '
    id=$(sed -n "s/^queued run \([0-9]*\) .*/\1/p" trig.out) && test -n "$id" &&
    wait_status $id succeeded
'

# graphviz took 70-115 s to lay out 20 layers of 50 steps here, on the loop that serves the
# page and drives runs: a graph that big gets a picture saying so, at once.
python3 - <<'PY'
with open("big.yaml", "w") as f:
    f.write("pipeline: big\nsteps:\n")
    for l in range(2):
        for k in range(50):
            f.write(f"  s{l}_{k}:\n    run: 'true'\n")
            if l:
                f.write("    needs: [" + ", ".join(f"s0_{q}" for q in range(50)) + "]\n")
PY
expect_success 'a DAG too big to lay out quickly is a small SVG that says so, at once' '
    sluice run big.yaml >/dev/null 2>&1 &&
    id=$(sluice runs --json | js "d[0][\"id\"]") &&
    curl -sf --max-time 5 -D hdr "$B/api/runs/$id/dag.svg" >big.svg &&
    grep -qi "^content-type: image/svg+xml" hdr &&
    grep -q "100 steps and 2500 dependencies: too many to draw" big.svg &&
    test "$(wc -c <big.svg)" -lt 1000
'

done_testing
