#!/usr/bin/env bash
# Lineage that tells the truth (issue #10), on the churn pipeline of a translated SageMaker
# example: an ingest re-reads one local CSV every run, a copy step writes the very bytes it
# read, an approval registers the copy as a model version and a deploy ships it. Five runs
# later `lineage` must show each run once (the repeats folded), no artifact as its own
# ancestor, a source without a size, and MODEL as its deployed version — the CLI, --json and
# the API alike.
. "$(dirname "$0")/lib.sh"

SERVER_PID=
trap 'stop_server; cleanup_trash' EXIT
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill -TERM "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
        SERVER_PID=
    fi
}

mkdir -p data
printf 'id,churn\n1,0\n2,1\n' >data/customers.csv
cat >churn.yaml <<'EOF'
pipeline: churn
steps:
  ingest:
    kind: ingest
    source: data/customers.csv
    outputs: [raw.csv]
  copy:
    run: cp "$SLUICE_IN_X" "$SLUICE_OUT/y.csv"
    inputs: { x: ingest/raw.csv }
    outputs: [y.csv]
    cache: false
  approve:
    kind: approve
    needs: [copy]
    model: copy/y.csv
  deploy:
    kind: deploy
    needs: [approve]
    model: copy/y.csv
    target: serving/churn
  shadow:
    kind: approve
    needs: [copy]
    model: copy/y.csv
    model_name: churn-shadow
EOF

# js EXPR: a Python expression over the JSON document on stdin (bound to d)
js() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

expect_success 'five runs of the churn pipeline deploy five versions' '
    for i in 1 2 3 4 5; do sluice run churn.yaml --auto-approve >/dev/null 2>&1 || exit 1; done &&
    test "$(sluice models --json | js "[(m[\"name\"], m[\"version\"], m[\"status\"])
                                        for m in d if m[\"name\"] == \"churn\"][0]")" = \
        "('\''churn'\'', 5, '\''deployed'\'')"
'
X=$(sluice models --json | js 'd[0]["sha256"]')

# no_self_ancestor: in the --json document on stdin, no input (output) repeats an artifact of
# its path from the root unless it says on_path and goes no further; prints the inputs seen.
no_self_ancestor() {
    python3 -c '
import json, sys
d = json.load(sys.stdin)
seen = []
def walk(attempts, path, up):
    for t in attempts:
        for io in t.get("inputs" if up else "outputs", []):
            sha = io["artifact"]["sha256"]
            seen.append(io["name"])
            beyond = io["producers" if up else "consumers"]
            if sha in path:
                assert io.get("on_path") is True and beyond == [], ("cycle", t, io)
            else:
                walk(beyond, path + [sha], up)
root = d["artifact"]["sha256"]
walk(d["upstream"], [root], True)
walk(d["downstream"], [root], False)
print(" ".join(seen))'
}

expect_success 'a copy step does not make an artifact its own ancestor' '
    sluice lineage churn:1 --json >l1.json &&
    no_self_ancestor <l1.json >seen.txt &&
    grep -w x seen.txt && grep -w source seen.txt &&
    sluice lineage "$X" --json | no_self_ancestor >/dev/null &&
    sluice lineage churn:1 >l1.txt &&
    grep -F "    input '\''x'\'': ${X:0:12} 17B (the same content as above: not followed)" l1.txt
'

expect_success 'each run shows once, the repeats folded into one line' '
    sluice lineage "$X" >lx.txt &&
    test "$(grep -c "made it as '\''raw.csv'\''" lx.txt)" = 1 &&
    test "$(grep -c "read it as" lx.txt)" = 2 &&
    grep -Fx "  run 5 ingest (attempt 1) made it as '\''raw.csv'\''" lx.txt &&
    grep -Fx "  … and 4 earlier runs (1–4) of ingest made it too, with the same source" lx.txt &&
    grep -Fx "  … and 4 earlier runs (1–4) of copy made it too, from the same inputs" lx.txt &&
    grep -Fx "  … and 4 earlier runs (1–4) of deploy read it too" lx.txt &&
    test "$(wc -l <lx.txt)" -lt 25 &&
    grep -Fx "  … and 4 later runs (2–5) of ingest made it too, with the same source" l1.txt &&
    test "$(js "d[\"upstream\"][0][\"other_runs\"]" <l1.json)" = "[2, 3, 4, 5]"
'

expect_success 'a source has no size: the lineage says what it is' '
    src=$(js "d[\"upstream\"][0][\"inputs\"][0][\"artifact\"][\"sha256\"]" <l1.json) &&
    sluice lineage "$src" --json >src.json &&
    test "$(js "(d[\"artifact\"][\"kind\"], d[\"artifact\"][\"size\"])" <src.json)" = \
        "('\''source'\'', None)" &&
    sluice lineage "$src" >src.txt &&
    what="what an ingest read; what it got is stored as its output" &&
    grep -Fx "  source data/customers.csv: $what" src.txt &&
    ! grep -F "0B" src.txt &&
    grep -Fx "  … and 4 earlier runs (1–4) of ingest read it too" src.txt
'

# Run 6 reads changed data and stops at its approvals: a pending version 6, newer than the
# deployed version 5, with other bytes.
expect_success 'MODEL is the deployed version, not the newest, and says so' '
    printf "id,churn\n1,0\n2,1\n3,1\n" >data/customers.csv &&
    { sluice run churn.yaml --no-wait >/dev/null 2>&1; test $? = 3; } &&
    test "$(sluice models churn --json | js "d[0][\"version\"], d[0][\"status\"]")" = \
        "(6, '\''pending'\'')" &&
    sluice lineage churn >lm.txt &&
    head -n 3 lm.txt >lm.head &&
    printf "%s\n" "model churn v5 (deployed), registered by run 5 step '\''approve'\''" \
        "  the deployed version (churn:VERSION names another)" "artifact $X" >lm.want &&
    test_cmp lm.want lm.head &&
    sluice lineage churn --json >lm.json &&
    test "$(js "d[\"model\"][\"picked\"], d[\"model\"][\"version\"], d[\"upstream\"][0][\"run\"]" \
        <lm.json)" = "('\''deployed'\'', 5, 5)"
'

expect_success 'MODEL:VERSION is that version, in its own run; none deployed: the newest' '
    sluice lineage churn:6 --json >l6.json &&
    test "$(js "d[\"model\"][\"picked\"], d[\"upstream\"][0][\"run\"]" <l6.json)" = \
        "('\''version'\'', 6)" &&
    test "$(js "d[\"artifact\"][\"sha256\"]" <l6.json)" != "$X" &&
    sluice lineage churn-shadow >ls.txt &&
    grep -Fx "model churn-shadow v6 (pending), registered by run 6 step '\''shadow'\''" ls.txt &&
    grep -Fx "  the newest version: none is deployed (churn-shadow:VERSION names another)" ls.txt
'

# Started here, not in the test's code: that runs in a subshell, where SERVER_PID would be lost
# and stop_server would leave the server running.
"$SLUICE" serve --port 0 >serve.out 2>serve.err &
SERVER_PID=$!
expect_success 'the API answers the same document; a source is not offered as a download' '
    wait_for serve.out 10 &&
    B=$(head -n 1 serve.out | sed -n "s|^serving \(http://127.0.0.1:[0-9]*\)/.*|\1|p") &&
    curl -sf --max-time 10 "$B/api/lineage/churn" >api.json &&
    python3 -c "import json
a = json.load(open(\"api.json\")); b = json.load(open(\"lm.json\"))
assert [x[\"version\"] for x in a.pop(\"deployments\")] == [5, 4, 3, 2, 1]
assert a == b, (a, b)" &&
    src=$(js "d[\"upstream\"][0][\"inputs\"][0][\"artifact\"][\"sha256\"]" <l1.json) &&
    test "$(curl -s -o art.json -w "%{http_code}" --max-time 10 "$B/api/artifacts/$src")" = 404 &&
    grep -F "source '\''data/customers.csv'\'' is not stored here" art.json
'
stop_server

done_testing
