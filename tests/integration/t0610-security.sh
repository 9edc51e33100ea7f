#!/usr/bin/env bash
# What keeps `sluice serve` safe: mutations need the token (bearer or the session cookie set
# by the printed address), the Host header must name the server, cross-site POSTs are
# refused, no path leaves its tree (.., encoded, symlinks), the security headers, and
# bounded requests: oversized headers (431) and bodies (413), slow clients cut off at the
# header timeout while others are served, a cap on connections.
. "$(dirname "$0")/lib.sh"

SERVER_PID=
trap 'stop_server; cleanup_trash' EXIT

js() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
start_server() {
    "$SLUICE" serve --port 0 "$@" >serve.out 2>serve.err &
    SERVER_PID=$!
    for _ in $(seq 1 200); do
        [ -s serve.out ] && break
        sleep 0.05
    done
    PORT=$(sed -n 's|^serving http://127.0.0.1:\([0-9]*\)/.*|\1|p' serve.out)
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
# code METHOD PATH [curl args]: the status of one request
code() { local m=$1 p=$2; shift 2; curl -s -o /dev/null -w '%{http_code}' --max-time 10 -X "$m" "$@" "$B$p"; }
auth() { printf 'Authorization: Bearer %s' "$TOKEN"; }

mkdir -p dags outside
echo "secret outside the workspace" >outside/secret.txt
cat >dags/names.yaml <<'EOF'
pipeline: names
steps:
  make:
    run: echo x > "$SLUICE_OUT/<img src=x onerror=alert(5)>.txt"
    outputs: ["<img src=x onerror=alert(5)>.txt"]
  use:
    inputs: { x: "make/<img src=x onerror=alert(5)>.txt" }
    run: cat "$SLUICE_IN_X"
EOF
cat >dags/p.yaml <<'EOF'
pipeline: p
description: "<script>alert(1)</script><img src=x onerror=alert(2)>"
steps:
  make:
    run: |
      echo '<script>alert(3)</script><img src=x onerror=alert(4)>'
      echo data > "$SLUICE_OUT/out.txt"
    outputs: [out.txt]
  gate:
    kind: approve
    needs: [make]
EOF

expect_success 'a run to look at, waiting for an approval' '
    sluice run dags/p.yaml --no-wait >/dev/null 2>&1; test $? = 3
'
expect_success 'a run whose artifact has a hostile name' '
    sluice run dags/names.yaml >/dev/null 2>&1
'

export SLUICE_HTTP_HEADER_TIMEOUT_MS=1500 SLUICE_HTTP_MAX_CONNS=8
start_server --dags dags

# ---- the token ------------------------------------------------------------------------------

expect_success 'every mutation without the token is a 401, and nothing happens' '
    for r in /api/pipelines/p/runs /api/runs/1/approve /api/runs/1/reject /api/runs/1/cancel \
             /api/runs/1/retry /api/models/x/rollback; do
        test "$(code POST $r -d "{}")" = 401 || { echo "$r"; exit 1; }
    done &&
    test "$(curl -s "$B/api/runs/1" | js "d[\"status\"]")" = waiting &&
    test "$(curl -s "$B/api/runs" | js "len(d[\"runs\"])")" = 2
'
expect_success 'a wrong bearer token, or a token in another scheme, is a 401' '
    test "$(code POST /api/runs/1/cancel -H "Authorization: Bearer nope")" = 401 &&
    test "$(code POST /api/runs/1/cancel -H "Authorization: Bearer ${TOKEN}x")" = 401 &&
    test "$(code POST /api/runs/1/cancel -H "Authorization: Basic $TOKEN")" = 401 &&
    test "$(code POST /api/runs/1/cancel -H "Cookie: sluice_session=nope")" = 401
'
expect_success 'GETs are readable without the token, and say so in /api/session' '
    test "$(code GET /api/runs)" = 200 &&
    test "$(curl -s "$B/api/session" | js "d[\"authed\"]")" = False &&
    test "$(curl -s -H "$(auth)" "$B/api/session" | js "d[\"authed\"]")" = True
'
expect_success 'the printed address sets an HttpOnly SameSite=Strict cookie and drops the token' '
    curl -s -D hdr -o /dev/null "$B/runs/1?token=$TOKEN&x=1" &&
    grep -q "^HTTP/1.1 303" hdr &&
    grep -qi "^location: /runs/1?x=1" hdr &&
    grep -i "^set-cookie: sluice_session=$TOKEN;" hdr | grep -i "httponly" | grep -qi "samesite=strict" &&
    test "$(code GET "/?token=wrong")" = 401
'
expect_success 'the session cookie authorises a mutation' '
    test "$(code POST /api/runs/1/approve -H "Cookie: a=b; sluice_session=$TOKEN" -d "{\"by\": \"cookie\"}")" = 200 &&
    for _ in $(seq 1 100); do
        test "$(curl -s "$B/api/runs/1" | js "d[\"status\"]")" = succeeded && break
        sleep 0.1
    done &&
    test "$(curl -s "$B/api/runs/1" | js "d[\"status\"]")" = succeeded
'
expect_success 'the token file is created 0600; a token readable by others is refused' '
    test "$(stat -c %a .sluice/token)" = 600 &&
    mkdir -p other && cp .sluice/token other/token && chmod 644 other/token &&
    ! SLUICE_HOME=$PWD/other sluice serve --port 0 >o.out 2>o.err &&
    grep -q "readable by others" o.err
'

# ---- Host and Origin ------------------------------------------------------------------------

expect_success 'Host must name this server: 127.0.0.1 and localhost with the port' '
    test "$(code GET /api/runs -H "Host: 127.0.0.1:$PORT")" = 200 &&
    test "$(code GET /api/runs -H "Host: localhost:$PORT")" = 200 &&
    test "$(code GET /api/runs -H "Host: LOCALHOST:$PORT")" = 200
'
expect_success 'any other Host is a 421 (DNS rebinding), a missing Host too' '
    test "$(code GET /api/runs -H "Host: evil.example:$PORT")" = 421 &&
    test "$(code GET /api/runs -H "Host: 127.0.0.1")" = 421 &&
    test "$(code GET /api/runs -H "Host: 127.0.0.1:1$PORT")" = 421 &&
    test "$(code GET /api/runs -H "Host: 127.0.0.1.evil.example:$PORT")" = 421 &&
    test "$(code GET / -H "Host: evil.example")" = 421 &&
    test "$(code POST /api/runs/1/cancel -H "$(auth)" -H "Host: evil.example:$PORT")" = 421 &&
    test "$(printf "GET /api/runs HTTP/1.0\r\n\r\n" | python3 -c "
import socket, sys
s = socket.create_connection((\"127.0.0.1\", $PORT)); s.sendall(sys.stdin.buffer.read())
print(s.recv(100).split()[1].decode())")" = 421
'
expect_success 'a cross-site Origin on a POST is a 403, even with the token' '
    test "$(code POST /api/runs/1/cancel -H "$(auth)" -H "Origin: http://evil.example")" = 403 &&
    test "$(code POST /api/runs/1/cancel -H "$(auth)" -H "Origin: null")" = 403 &&
    test "$(code POST /api/runs/1/cancel -H "$(auth)" -H "Origin: https://127.0.0.1:$PORT")" = 403 &&
    test "$(code POST /api/runs/1/cancel -H "$(auth)" -H "Origin: http://127.0.0.1:1$PORT")" = 403
'
expect_success 'a same-origin POST passes the checks (then 404: there is no run 99)' '
    test "$(code POST /api/runs/99/cancel -H "$(auth)" -H "Origin: http://127.0.0.1:$PORT")" = 404 &&
    test "$(code POST /api/runs/99/cancel -H "$(auth)" -H "Origin: http://localhost:$PORT")" = 404
'

# ---- paths ----------------------------------------------------------------------------------

expect_success 'traversal, plain or encoded, is a 404' '
    for p in "/static/../../../etc/passwd" "/static/..%2f..%2f..%2fetc%2fpasswd" \
             "/static/%2e%2e/%2e%2e/etc/passwd" "/static/%2E%2E%2F%2E%2E%2Fetc/passwd" \
             "/static/..%5c..%5cetc%5cpasswd" "/static/%252e%252e/etc/passwd" \
             "/static/./index.html" "/static//etc/passwd" "/static/a%00.js" \
             "/api/runs/..%2f1" "/..%2f..%2fetc/passwd"; do
        c=$(curl -s --path-as-is -o body -w "%{http_code}" "$B$p") &&
        { test "$c" = 404 || { echo "$p: $c"; exit 1; }; } &&
        ! grep -q "root:" body || exit 1
    done
'
expect_success 'an artifact is served from the workspace only: a symlink out of it is a 404' '
    sha=$(curl -s "$B/api/runs/1" | js "d[\"steps\"][0][\"outputs\"][0][\"sha256\"]") &&
    test "$(curl -s "$B/api/artifacts/$sha")" = data &&
    f=$(find .sluice/artifacts -type f -name "*${sha#??}*" | head -n 1) && test -n "$f" &&
    chmod u+w "$(dirname "$f")" "$f" 2>/dev/null; rm -f "$f" && ln -s "$PWD/outside/secret.txt" "$f" &&
    test "$(code GET /api/artifacts/$sha)" = 404 &&
    ! curl -s "$B/api/artifacts/$sha" | grep -q secret &&
    test "$(code GET /api/artifacts/..%2f..%2fetc%2fpasswd)" = 404
'

# ---- what the page gets ---------------------------------------------------------------------

expect_success 'every answer carries the CSP and the other security headers' '
    for p in /api/runs / /api/runs/1/dag.svg /nope; do
        curl -s -D hdr -o /dev/null "$B$p" &&
        grep -qi "^content-security-policy: default-src .self.; script-src .self.; style-src .self.; img-src .self. data:; connect-src .self.; frame-ancestors .none.; base-uri .none.; form-action .self." hdr &&
        grep -qi "^x-content-type-options: nosniff" hdr &&
        grep -qi "^referrer-policy: no-referrer" hdr || { echo "$p"; exit 1; }
    done
'
expect_success 'hostile text comes back as JSON strings, never as markup' '
    curl -s -D hdr "$B/api/pipelines/p" >pl.json &&
    grep -qi "^content-type: application/json" hdr &&
    test "$(js "d[\"description\"]" <pl.json)" = "<script>alert(1)</script><img src=x onerror=alert(2)>" &&
    curl -s -D hdr "$B/api/runs/1/steps/make/log?format=text" >log.txt &&
    grep -qi "^content-type: text/plain" hdr && grep -q "<script>alert(3)" log.txt
'
expect_success 'the SVG pictures hold no markup from names' '
    curl -s "$B/api/pipelines/p/graph.svg" >g.svg && grep -q "<svg" g.svg &&
    ! grep -qi "<script" g.svg && ! grep -qi "onerror" g.svg &&
    sha=$(curl -s "$B/api/runs/2" | js "d[\"steps\"][0][\"outputs\"][0][\"sha256\"]") &&
    curl -s "$B/api/lineage/$sha/graph.svg" >l.svg && grep -q "<svg" l.svg &&
    grep -q "&lt;img src=x onerror=alert(5)&gt;" l.svg && ! grep -q "<img" l.svg
'

# ---- limits ---------------------------------------------------------------------------------

expect_success 'headers over 16 KiB are a 431' '
    big=$(head -c 17000 /dev/zero | tr "\0" a) &&
    test "$(code GET /api/runs -H "X-Big: $big")" = 431 &&
    test "$(code GET "/api/runs?q=$big")" = 431
'
expect_success 'more than 64 header fields is a 431' '
    args=() && for i in $(seq 1 70); do args+=(-H "X-H$i: v"); done &&
    test "$(code GET /api/runs "${args[@]}")" = 431
'
expect_success 'a body over 1 MiB is a 413, announced or chunked' '
    head -c 1100000 /dev/zero | tr "\0" a >big.json &&
    test "$(code POST /api/pipelines/p/runs -H "$(auth)" --data-binary @big.json)" = 413 &&
    test "$(code POST /api/pipelines/p/runs -H "$(auth)" -H "Transfer-Encoding: chunked" --data-binary @big.json)" = 413 &&
    test "$(curl -s "$B/api/runs" | js "len(d[\"runs\"])")" = 2
'
expect_success 'garbage is a 400, an unknown method a 405' '
    test "$(printf "NOT HTTP AT ALL\r\n\r\n" | python3 -c "
import socket, sys
s = socket.create_connection((\"127.0.0.1\", $PORT)); s.sendall(sys.stdin.buffer.read())
print(s.recv(100).split()[1].decode())")" = 400 &&
    test "$(code DELETE /api/runs/1)" = 405 &&
    test "$(code PUT /api/runs/1)" = 405
'
cat >slow.py <<'EOF'
# A client that sends half a header and then nothing: others must be served meanwhile, and
# the server must answer 408 and close it after the header timeout (1.5 s here).
import socket, sys, time, urllib.request
port = int(sys.argv[1])
slow = socket.create_connection(("127.0.0.1", port))
slow.sendall(b"GET /api/runs HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nX-Slow: " % port)
t0 = time.time()
for _ in range(5):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/session" % port, timeout=2) as r:
        assert r.status == 200
assert time.time() - t0 < 1.0, "others waited for the slow client"
slow.settimeout(10)
data = b""
while True:
    chunk = slow.recv(4096)
    if not chunk:
        break
    data += chunk
took = time.time() - t0
assert data.startswith(b"HTTP/1.1 408"), data[:60]
assert 1.0 < took < 5.0, took
print("cut after %.1f s" % took)
EOF
expect_success 'a slow client is cut off at the header timeout, others are served meanwhile' '
    python3 slow.py $PORT
'
cat >conns.py <<'EOF'
# Past SLUICE_HTTP_MAX_CONNS open connections a new one gets a 503 and is closed; once some
# close, new ones are served again.
import socket, sys, time, urllib.request, urllib.error
port, cap = int(sys.argv[1]), int(sys.argv[2])
held = [socket.create_connection(("127.0.0.1", port)) for _ in range(cap)]
time.sleep(0.3)
try:
    urllib.request.urlopen("http://127.0.0.1:%d/api/session" % port, timeout=3)
    sys.exit("served past the cap")
except urllib.error.HTTPError as e:
    assert e.code == 503, e.code
for s in held:
    s.close()
time.sleep(0.3)
with urllib.request.urlopen("http://127.0.0.1:%d/api/session" % port, timeout=3) as r:
    assert r.status == 200
EOF
expect_success 'the connection cap answers 503 past it, and recovers' '
    python3 conns.py $PORT 8
'
cat >vanish.py <<'EOF'
# Clients that reset the connection while their answer (or an event stream) is being written:
# the server must shrug (EPIPE), not die of SIGPIPE.
import socket, struct, sys, time
port = int(sys.argv[1])
req = b"GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n"
for i in range(60):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    path = b"/api/events" if i % 2 else b"/api/runs?limit=500"
    s.sendall(req % (path, port))
    if i % 3 == 0:
        time.sleep(0.01)
    s.close()  # RST: unread data is thrown away
time.sleep(0.5)
EOF
expect_success 'clients that reset the connection mid-answer do not bring the server down' '
    python3 vanish.py $PORT && test "$(code GET /api/session)" = 200
'
expect_success 'after all that the server still answers' '
    test "$(code GET /api/runs)" = 200
'
kill -TERM "$SERVER_PID" && wait "$SERVER_PID"
echo $? >stop.rc
SERVER_PID=
expect_success 'and stops cleanly, with no sanitizer report' '
    test "$(cat stop.rc)" = 0 && ! grep -E "Sanitizer|runtime error" serve.err
'

done_testing
