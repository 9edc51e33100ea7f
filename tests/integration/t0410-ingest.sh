#!/usr/bin/env bash
# The ingest built-in (`sluice builtin ingest`): local paths, file:// and http:// sources, the
# digest check, the size cap, redirects, and exit 0 / 1 (permanent) / 75 (transient), against a
# local HTTP server (httpd.py). After any failure the output must not exist. Then an ingest step
# whose source and sha256 are templates, expanded with each run's params.
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
ZEROS=0000000000000000000000000000000000000000000000000000000000000000

mkdir -p pipe/data out
printf 'id,diagnosis\n1,M\n2,B\n' >pipe/data/raw.csv
RAW_SHA=$(sha256sum pipe/data/raw.csv | cut -d' ' -f1)
RAW_SIZE=$(wc -c <pipe/data/raw.csv)
printf 'hello from httpd.py\n' >expect-ok.txt
OK_SHA=$(sha256sum expect-ok.txt | cut -d' ' -f1)

# ingest_exit STATUS ARGS...: run the built-in into log, and want that exit status.
ingest_exit() {
    local want=$1
    shift
    sluice builtin ingest "$@" >log 2>&1
    local rc=$?
    if [ "$rc" != "$want" ]; then
        cat log
        echo "exited $rc, expected $want"
        return 1
    fi
}

# absent PATH: neither the output nor its temporary file exists.
absent() { test ! -e "$1" && test ! -e "$1.tmp"; }

# meta_field FILE KEY: one field of the --meta JSON, as JSON.
meta_field() {
    python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))[sys.argv[2]]))' \
        "$1" "$2"
}

expect_success 'a relative path is read from --base and copied with its digest' '
    ingest_exit 0 --source data/raw.csv --base pipe --out out/raw.csv --meta out/raw.json &&
    cmp pipe/data/raw.csv out/raw.csv &&
    test "$(tail -n 1 log)" = "ingested data/raw.csv: $RAW_SIZE bytes, sha256 $RAW_SHA" &&
    absent out/raw.csv.tmp
'

expect_success 'the --meta file records source, url, size, digest and no http status' '
    test "$(meta_field out/raw.json source)" = "\"data/raw.csv\"" &&
    test "$(meta_field out/raw.json url)" = "\"file://$TRASH/pipe/data/raw.csv\"" &&
    test "$(meta_field out/raw.json size)" = "$RAW_SIZE" &&
    test "$(meta_field out/raw.json sha256)" = "\"$RAW_SHA\"" &&
    test "$(meta_field out/raw.json http_status)" = null
'

expect_success 'a file:// url names an absolute path; an expected digest in upper case matches' '
    upper=$(printf %s "$RAW_SHA" | tr a-f A-F) &&
    ingest_exit 0 --source "file://$TRASH/pipe/data/raw.csv" --out out/f.csv --sha256 "$upper" &&
    cmp pipe/data/raw.csv out/f.csv
'

expect_success 'a digest mismatch fails permanently and leaves no output' '
    ingest_exit 1 --source data/raw.csv --base pipe --out out/bad.csv --sha256 $ZEROS &&
    grep -q "^error: sha256 mismatch: expected $q$ZEROS$q, got $q$RAW_SHA$q\$" log &&
    absent out/bad.csv
'

expect_success 'a malformed expected digest is refused before reading anything' '
    ingest_exit 1 --source data/raw.csv --base pipe --out out/bad.csv --sha256 abc &&
    grep -q "invalid sha256 ${q}abc$q" log && absent out/bad.csv
'

expect_success 'a local file over --max-size is refused' '
    ingest_exit 1 --source data/raw.csv --base pipe --out out/cap.csv --max-size 5 &&
    grep -q "larger than the size cap of 5 bytes" log && absent out/cap.csv
'

expect_success 'a missing local file fails permanently' '
    ingest_exit 1 --source data/nope.csv --base pipe --out out/nope.csv &&
    grep -q "cannot open source ${q}pipe/data/nope.csv$q: No such file" log &&
    absent out/nope.csv
'

expect_success 'an unsupported scheme is refused' '
    ingest_exit 1 --source ftp://example.com/x.csv --out out/ftp.csv &&
    grep -q "unsupported source scheme ${q}ftp$q" log && absent out/ftp.csv
'

expect_success 'a missing --out is a usage error (permanent)' '
    ingest_exit 1 --source data/raw.csv && grep -q "missing --out" log
'

expect_success 'http 200: the body, its digest and the http status' '
    ingest_exit 0 --source "$URL/ok" --out out/ok.txt --meta out/ok.json --sha256 "$OK_SHA" &&
    cmp expect-ok.txt out/ok.txt &&
    test "$(tail -n 1 log)" = "ingested $URL/ok: 20 bytes, sha256 $OK_SHA" &&
    test "$(meta_field out/ok.json http_status)" = 200 &&
    test "$(meta_field out/ok.json url)" = "\"$URL/ok\""
'

expect_success 'http 404 is permanent (exit 1) and names the status' '
    ingest_exit 1 --source "$URL/status/404" --out out/404.txt &&
    grep -q "HTTP status 404" log && absent out/404.txt
'

expect_success 'http 403 is permanent' '
    ingest_exit 1 --source "$URL/status/403" --out out/403.txt && absent out/403.txt
'

expect_success 'http 429 is transient (exit 75)' '
    ingest_exit 75 --source "$URL/status/429" --out out/429.txt && absent out/429.txt
'

expect_success 'http 500 is transient; the retry then succeeds' '
    ingest_exit 75 --source "$URL/flaky/a?fails=1" --out out/flaky.txt &&
    grep -q "HTTP status 500" log && absent out/flaky.txt &&
    ingest_exit 0 --source "$URL/flaky/a?fails=1" --out out/flaky.txt &&
    test "$(cat out/flaky.txt)" = "flaky ok"
'

expect_success 'a transfer past --timeout is transient and stops in time' '
    start=$(date +%s) &&
    ingest_exit 75 --source "$URL/slow?s=10" --out out/slow.txt --timeout 1000 &&
    test $(($(date +%s) - start)) -le 5 &&
    grep -q "timed out" log && absent out/slow.txt
'

expect_success 'connection refused is transient' '
    ingest_exit 75 --source "http://127.0.0.1:$DEAD_PORT/x" --out out/dead.txt &&
    absent out/dead.txt
'

expect_success 'a redirect to file:///etc/passwd is refused (permanent)' '
    ingest_exit 1 --source "$URL/redirect?to=file:///etc/passwd" --out out/passwd &&
    grep -q "refused a redirect" log && absent out/passwd && ! grep -q "root:" log
'

expect_success 'a redirect to another http path is followed; the meta has the final address' '
    ingest_exit 0 --source "$URL/redirect?to=/ok" --out out/moved.txt --meta out/moved.json &&
    cmp expect-ok.txt out/moved.txt &&
    test "$(meta_field out/moved.json effective_url)" = "\"$URL/ok\""
'

expect_success 'a redirect loop ends with a permanent failure' '
    ingest_exit 1 --source "$URL/loop" --out out/loop.txt &&
    grep -q "too many redirects" log && absent out/loop.txt
'

expect_success 'a body past --max-size with Content-Length is refused' '
    ingest_exit 1 --source "$URL/big?n=200000" --out out/big.bin --max-size 100000 &&
    grep -q "larger than the size cap of 100000 bytes" log && absent out/big.bin
'

expect_success 'a body past --max-size without Content-Length is cut off and refused' '
    ingest_exit 1 --source "$URL/stream?n=3000000" --out out/stream.bin --max-size 1000000 &&
    grep -q "larger than the size cap of 1000000 bytes" log && absent out/stream.bin
'

expect_success 'a body of exactly --max-size bytes is accepted' '
    ingest_exit 0 --source "$URL/stream?n=100000" --out out/exact.bin --max-size 100000 &&
    test "$(wc -c <out/exact.bin)" = 100000 &&
    test "$(tr -d y <out/exact.bin | wc -c)" = 0
'

# ---- through a pipeline: source and sha256 from params ----------------------------------------

cat >pipe/ingest.yaml <<EOF
pipeline: ingest-params
params:
  input_data: data/raw.csv
  digest: "$RAW_SHA"
steps:
  ingest:
    kind: ingest
    source: \${{ params.input_data }}
    sha256: \${{ params.digest }}
    outputs: [raw.csv]
    cache: true
EOF
db() { sqlite3 .sluice/sluice.db "$@"; }
# ingested: the digest of the ingest step's output in the last run
ingested() {
    sluice show last --json |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["steps"][0]["outputs"][0]["sha256"])'
}
last_message() { db "SELECT message FROM steps ORDER BY id DESC LIMIT 1"; }

expect_success 'source: ${{ params.input_data }} ingests the file the param names' '
    sluice run pipe/ingest.yaml >log 2>&1 && test "$(ingested)" = "$RAW_SHA"
'

expect_success 'a relative source from a param is relative to the pipeline folder' '
    mkdir -p elsewhere && (cd elsewhere && sluice --home ../.sluice run ../pipe/ingest.yaml \
        -p input_data=data/raw.csv --no-cache >log 2>&1) && test "$(ingested)" = "$RAW_SHA"
'

expect_success 'the expanded source is the root of the lineage' '
    test "$(db "SELECT DISTINCT uri FROM artifacts WHERE kind = ${q}source$q")" = data/raw.csv
'

expect_success 'another source from -p: an http URL, its digest from -p too; the miss says so' '
    sluice run pipe/ingest.yaml -p input_data="$URL/ok" -p digest="$OK_SHA" >log 2>&1 &&
    test "$(ingested)" = "$OK_SHA" &&
    last_message | grep -F "param ${q}input_data$q data/raw.csv -> $URL/ok"
'

expect_success 'a digest from -p that does not match fails the step' '
    { sluice run pipe/ingest.yaml -p digest=$ZEROS >log 2>&1; test $? = 1; } &&
    last_message | grep -F "sha256 mismatch: expected ${q}$ZEROS$q"
'

expect_success 'a source from -p with another scheme fails the step and says why' '
    { sluice run pipe/ingest.yaml -p input_data=ftp://example.com/x.csv >log 2>&1
      test $? = 1; } &&
    last_message | grep -F "unsupported source scheme ${q}ftp$q"
'

done_testing
