#!/usr/bin/env bash
# The history commands on real runs: runs, show (and `run --json`), logs (--attempt, --follow,
# cache hits), compare, diff and lineage, their JSON shapes and their errors.
. "$(dirname "$0")/lib.sh"

# prep -> train (cached, metrics f1 and a loss series) -> evaluate; depth changes the model.
cat >hist.yaml <<'EOF'
pipeline: hist
params:
  depth: 4
  rate: 0.5
  label: base
steps:
  prep:
    run: printf 'x,y\n1,2\n3,4\n' > "$SLUICE_OUT/data.csv"; echo prepared rows
    outputs: [data.csv]
  train:
    run: |
      echo training depth ${{ params.depth }}
      echo "model depth=$SLUICE_PARAM_DEPTH" > "$SLUICE_OUT/model.txt"
      cat "$SLUICE_IN_DATA" >> "$SLUICE_OUT/model.txt"
      printf '{"f1": 0.%s, "loss": [0.9, 0.5, 0.31]}' "$SLUICE_PARAM_DEPTH" > "$SLUICE_METRICS"
    inputs: { data: prep/data.csv }
    outputs: [model.txt]
    cache: true
  evaluate:
    run: |
      echo "report on $(head -n 1 "$SLUICE_IN_MODEL")" > "$SLUICE_OUT/report.txt"
      echo '{"acc": 0.75, "n": 3}' > "$SLUICE_METRICS"
    inputs: { model: train/model.txt }
    outputs: [report.txt]
EOF

# json_check 'PYTHON' — run PYTHON with the JSON document on stdin loaded as d.
json_check() {
    python3 -c "import json, re, sys
d = json.load(sys.stdin)
$1"
}

expect_success 'run 1 (depth 4) and run 2 (depth 6) succeed' '
    sluice run hist.yaml >run1.out 2>run1.err &&
    sluice run hist.yaml -p depth=6 >run2.out 2>run2.err
'

expect_success 'the end-of-run summary lists every step and the wall time' '
    grep -E "^STEP +STATUS +DURATION +CPU +PEAK MEM +CACHED$" run1.out &&
    grep -E "^prep +succeeded " run1.out && grep -E "^evaluate +succeeded " run1.out &&
    grep -E "^run 1 succeeded in [0-9]+(ms|s)$" run1.out
'

# ---- runs ----

expect_success 'runs --json lists both runs newest first with ISO times' '
    sluice runs --json >runs.json &&
    json_check "
assert [r[\"id\"] for r in d] == [2, 1], d
iso = re.compile(r\"^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$\")
for r in d:
    assert r[\"pipeline\"] == \"hist\" and r[\"status\"] == \"succeeded\", r
    assert r[\"trigger\"] == \"cli\", r
    for k in (\"created_at\", \"started_at\", \"ended_at\"):
        assert iso.match(r[k]), (k, r[k])
" <runs.json
'

expect_success 'runs prints a table with a header and one row per run' '
    sluice runs >runs.txt &&
    grep -E "^ID +PIPELINE +STATUS +TRIGGER +CREATED +DURATION$" runs.txt &&
    grep -E "^2 +hist +succeeded +cli +[0-9-]+ [0-9:]+ +[0-9]+(ms|s)$" runs.txt &&
    grep -E "^1 +hist +succeeded " runs.txt &&
    test "$(wc -l <runs.txt)" = 3
'

expect_success 'runs filters by pipeline and status, and pages with --limit and --before' '
    test "$(sluice runs --pipeline nope --json | tr -d " \n")" = "[]" &&
    test "$(sluice runs --status failed --json | tr -d " \n")" = "[]" &&
    sluice runs --pipeline hist --status succeeded --json | json_check "assert len(d) == 2" &&
    sluice runs --limit 1 --json | json_check "assert [r[\"id\"] for r in d] == [2], d" &&
    sluice runs --before 2 --json | json_check "assert [r[\"id\"] for r in d] == [1], d"
'

expect_success 'runs --status with an unknown status exits 2 and lists the statuses' '
    sluice runs --status bogus 2>err; test $? = 2 &&
    grep -F "error: unknown status '\''bogus'\''; one of: queued, running, waiting," err &&
    grep -F "waiting, succeeded, failed, cancelled" err
'

expect_exit 2 'runs --limit 0 is bad usage' 'sluice runs --limit 0'

# ---- show ----

expect_success 'show --json has the run, typed params, steps, attempts, metrics and outputs' '
    sluice show 1 --json >show1.json &&
    json_check "
assert d[\"id\"] == 1 and d[\"pipeline\"] == \"hist\" and d[\"status\"] == \"succeeded\"
assert d[\"trigger\"] == \"cli\" and d[\"parent_run\"] is None
assert d[\"params\"] == {\"depth\": 4, \"rate\": 0.5, \"label\": \"base\"}, d[\"params\"]
assert [s[\"name\"] for s in d[\"steps\"]] == [\"prep\", \"train\", \"evaluate\"]
train = d[\"steps\"][1]
assert train[\"kind\"] == \"task\" and train[\"status\"] == \"succeeded\"
assert train[\"cached\"] is False
assert train[\"metrics\"] == {\"f1\": 0.4, \"loss\": [0.9, 0.5, 0.31]}, train[\"metrics\"]
assert d[\"steps\"][2][\"metrics\"] == {\"acc\": 0.75, \"n\": 3}
(a,) = train[\"attempts\"]
assert a[\"n\"] == 1 and a[\"status\"] == \"succeeded\" and a[\"exit\"] == 0
assert a[\"signal\"] == 0 and a[\"cpu_s\"] >= 0 and a[\"max_rss_kb\"] > 0
assert a[\"started_at\"].endswith(\"Z\") and a[\"ended_at\"].endswith(\"Z\")
(o,) = train[\"outputs\"]
assert o[\"name\"] == \"model.txt\" and o[\"size\"] == 26, o
" <show1.json
'

# sha256 of a step's output file in its attempt folder
out_sha() { sha256sum ".sluice/runs/$1/$2/1/out/$3" | cut -d" " -f1; }
# a step's output digest from show --json on stdin
json_out() {
    json_check "(s,) = [s for s in d[\"steps\"] if s[\"name\"] == \"$1\"]
print(s[\"outputs\"][0][\"sha256\"])"
}

expect_success 'output digests in show --json are the sha256 of the files' '
    test "$(json_out prep <show1.json)" = "$(out_sha 1 prep data.csv)" &&
    test "$(json_out train <show1.json)" = "$(out_sha 1 train model.txt)" &&
    test "$(json_out evaluate <show1.json)" = "$(out_sha 1 evaluate report.txt)" &&
    d=$(json_out train <show1.json) &&
    test "$(sha256sum ".sluice/artifacts/sha256/${d:0:2}/${d:2}" | cut -d" " -f1)" = "$d"
'

expect_success 'show last is the newest run' '
    sluice show last --json | json_check "assert d[\"id\"] == 2 and d[\"params\"][\"depth\"] == 6"
'

expect_success 'show prints the header, the step table and the cache miss reason' '
    sluice show 2 >show2.txt &&
    grep -E "^run 2  hist  succeeded$" show2.txt &&
    grep -E "^  params +depth=6 rate=0.5 label=base$" show2.txt &&
    grep -E "^STEP +KIND +STATUS +ATTEMPTS +DURATION +CPU +PEAK MEM +CACHED$" show2.txt &&
    grep -E "^train +task +succeeded +1 +[0-9]+(ms|s) +[0-9.]+(ms|s) +[0-9.]+[BKMG]$" show2.txt &&
    grep -F "train: cache miss: param '\''depth'\'' 4 -> 6" show2.txt &&
    grep -E "^ +loss: 0.9 0.5 0.31 \(3 values\)$" show2.txt &&
    grep -E "^  metrics +f1: 0.6$" show2.txt &&
    grep -E "^  outputs +model.txt  [0-9a-f]{12}  26B$" show2.txt
'

expect_success 'run --json prints the show document' '
    sluice run hist.yaml -p depth=5 --json >run3.json 2>/dev/null &&
    json_check "
assert d[\"id\"] == 3 and d[\"status\"] == \"succeeded\"
assert d[\"steps\"][1][\"metrics\"][\"f1\"] == 0.5
" <run3.json
'

expect_success 'a cache hit shows as cached, with its n = 0 record and the reused outputs' '
    sluice run hist.yaml >run4.out 2>/dev/null &&
    grep -E "^train +cached +- +- +- +yes$" run4.out &&
    sluice show 4 --json >show4.json &&
    json_check "
train = d[\"steps\"][1]
assert train[\"status\"] == \"cached\" and train[\"cached\"] is True, train
(a,) = train[\"attempts\"]
assert a[\"n\"] == 0 and a[\"status\"] == \"cached\" and a[\"cached_from\"], a
assert train[\"metrics\"][\"f1\"] == 0.4
" <show4.json &&
    test "$(json_out train <show4.json)" = "$(json_out train <show1.json)"
'

# ---- logs ----

expect_success 'logs prints the latest attempt of a step' '
    test "$(sluice logs 1 train)" = "training depth 4" &&
    test "$(sluice logs 2 train)" = "training depth 6" &&
    test "$(sluice logs 1 prep --attempt 1)" = "prepared rows"
'

expect_success 'logs of a cache hit shows the reused attempt and says so' '
    sluice logs 4 train >out 2>err &&
    test "$(cat out)" = "training depth 4" &&
    grep -F "this is the log of run 1 step '\''train'\'' attempt 1" err
'

expect_success 'logs RUN without a step lists the steps, their attempts, and how to pick one' '
    { sluice logs 4 >out 2>err; test $? = 2; } &&
    test ! -s out &&
    grep -Fx "error: which step of run 4? name one: sluice logs 4 STEP" err &&
    grep -E "^  STEP +STATUS +ATTEMPTS$" err &&
    grep -E "^  prep +succeeded +1$" err && grep -E "^  evaluate +succeeded +1$" err &&
    grep -E "^  train +cached +0 \(a cache hit: its log is run 1.s\)$" err
'

expect_success 'logs of an unknown step lists the run steps' '
    ! sluice logs 1 nope 2>err &&
    grep -F "error: run 1 has no step '\''nope'\''; its steps: prep, train, evaluate" err
'

expect_success 'logs --attempt of a missing attempt says which exist' '
    ! sluice logs 1 train --attempt 3 2>err &&
    grep -F "error: step '\''train'\'' of run 1 has no attempt 3; it has: 1" err
'

expect_success 'logs streams a large log whole' '
    printf "pipeline: big\nsteps:\n  spew:\n    run: seq 1 300000\n" >big.yaml &&
    sluice run big.yaml >/dev/null 2>&1 &&
    sluice logs last spew >big.log &&
    test "$(wc -l <big.log)" = 300000 && test "$(tail -n 1 big.log)" = 300000
'

# The step prints "first", then waits for the file go (30 s at most): follow must have printed
# "first" while the step still runs, and must end (with "second") once the step does.
expect_success 'logs --follow prints new output until the attempt ends' '
    printf "%s\n" "pipeline: slow" "steps:" "  tick:" \
        "    run: echo first; i=0; while [ ! -e go ] && [ \$i -lt 600 ]; do" \
        "      sleep 0.05; i=\$((i+1)); done; echo second" >slow.yaml &&
    { sluice run slow.yaml >/dev/null 2>&1 & } &&
    for _ in $(seq 200); do
        sluice runs --pipeline slow --json 2>/dev/null | grep -q "\"id\"" && break
        sleep 0.05
    done &&
    { timeout 20 "$SLUICE" logs last tick --follow >follow.out 2>follow.err; echo $? >follow.rc; } &
    for _ in $(seq 300); do
        grep -q first follow.out && break
        sleep 0.05
    done
    streaming=no
    grep -qx first follow.out && ! grep -q second follow.out && streaming=yes
    touch go
    wait
    test $streaming = yes && test "$(cat follow.rc)" = 0 &&
    printf "first\nsecond\n" >follow.want && test_cmp follow.want follow.out
'

# ---- compare ----

expect_success 'compare shows params and metrics side by side with deltas' '
    sluice compare 1 2 >cmp.txt &&
    grep -E "^ +RUN +1 +2 +Δ2$" cmp.txt &&
    grep -E "^\* +depth +4 +6 +\+2$" cmp.txt &&
    grep -E "^ +rate +0.5 +0.5$" cmp.txt &&
    grep -E "^\* +train.f1 +0.4 +0.6 +\+0.2$" cmp.txt &&
    grep -E "^ +evaluate.acc +0.75 +0.75$" cmp.txt &&
    grep -E "^ +train.loss +0.31 \(n=3\) +0.31 \(n=3\)$" cmp.txt
'

# runs so far: 1 depth 4, 2 depth 6, 3 depth 5, 4 depth 4 (cache hit), 5 big, 6 slow
expect_success 'compare --json has runs, params, metrics and series per run' '
    sluice compare 1 2 4 5 --json | json_check "
assert d[\"runs\"] == [1, 2, 4, 5], d[\"runs\"]
assert d[\"params\"][\"depth\"] == [4, 6, 4, None], d[\"params\"]
assert d[\"params\"][\"rate\"] == [0.5, 0.5, 0.5, None]
assert d[\"params\"][\"label\"] == [\"base\"] * 3 + [None]
assert d[\"metrics\"][\"train.f1\"] == [0.4, 0.6, 0.4, None], d[\"metrics\"]
assert d[\"metrics\"][\"evaluate.acc\"] == [0.75] * 3 + [None], d[\"metrics\"]
assert d[\"series\"][\"train.loss\"] == [[0.9, 0.5, 0.31]] * 3 + [None], d[\"series\"]
"
'

expect_exit 2 'compare needs two runs' 'sluice compare 1'

# ---- diff ----

expect_success 'diff reports the param change, changed digests and metrics' '
    sluice diff 1 2 >diff.txt &&
    grep -E "^pipeline text: unchanged \(version [0-9a-f]{12}\)$" diff.txt &&
    grep -E "^  ~ depth: 4 -> 6$" diff.txt &&
    m1=$(json_out train <show1.json) && m2=$(sluice show 2 --json | json_out train) &&
    grep -F "  ~ train output model.txt: ${m1:0:12} -> ${m2:0:12}" diff.txt &&
    grep -F "  ~ evaluate input model: ${m1:0:12} -> ${m2:0:12}" diff.txt &&
    grep -F "  ~ train.f1: 0.4 -> 0.6 (+0.2)" diff.txt &&
    ! grep -F "prep output" diff.txt
'

expect_success 'diff shows a changed pipeline text as a line diff' '
    sed -e "s/label: base/label: other\n  extra: 7/" hist.yaml >hist2.yaml &&
    sluice run hist2.yaml >/dev/null 2>&1 &&
    sluice diff 1 last >diff2.txt &&
    grep -E "^pipeline text: version [0-9a-f]{12} -> [0-9a-f]{12}$" diff2.txt &&
    grep -Fx -- "-  label: base" diff2.txt && grep -Fx -- "+  label: other" diff2.txt &&
    grep -Fx -- "+  extra: 7" diff2.txt &&
    grep -E "^@@ -[0-9]+,[0-9]+ \+[0-9]+,[0-9]+ @@$" diff2.txt &&
    grep -Fx "  ~ label: base -> other" diff2.txt && grep -Fx "  + extra: 7" diff2.txt
'

# ---- lineage ----

# Runs 1, 4 and 7 made the same report: the newest shows, the others are folded into it, and
# below it every attempt is of that run.
expect_success 'lineage goes up from the final output to the first step output' '
    r=$(json_out evaluate <show1.json) && m=$(json_out train <show1.json) &&
    p=$(json_out prep <show1.json) &&
    sluice lineage "$r" --json >lin.json &&
    json_check "
assert d[\"artifact\"][\"sha256\"] == \"$r\" and d[\"artifact\"][\"kind\"] == \"file\"
(ev,) = d[\"upstream\"]
assert ev[\"run\"] == 7 and ev[\"step\"] == \"evaluate\" and ev[\"as\"] == \"report.txt\", ev
assert ev[\"other_runs\"] == [1, 4], ev
(model,) = ev[\"inputs\"]
assert model[\"name\"] == \"model\" and model[\"artifact\"][\"sha256\"] == \"$m\"
(train,) = model[\"producers\"]
assert train[\"step\"] == \"train\" and train[\"run\"] == 7 and \"other_runs\" not in train
(data,) = train[\"inputs\"]
assert data[\"artifact\"][\"sha256\"] == \"$p\"
(prep,) = data[\"producers\"]
assert prep[\"step\"] == \"prep\" and prep[\"run\"] == 7 and prep[\"inputs\"] == []
assert d[\"downstream\"] == []
" <lin.json
'

expect_success 'lineage takes a digest prefix and goes down to the consumers' '
    p=$(json_out prep <show1.json) &&
    sluice lineage "${p:0:10}" >lin.txt &&
    grep -Fx "artifact $p" lin.txt &&
    grep -E "^  run 7 train \(.*\) read it as .data.$" lin.txt &&
    grep -E "^      run 7 evaluate \(attempt 1\) read it as .model.$" lin.txt &&
    grep -Fx "  … and 4 earlier runs (1–4) of train read it too" lin.txt
'

expect_success 'lineage of something unknown says so' '
    ! sluice lineage nope 2>err && grep -Fx "error: no artifact or model '\''nope'\''" err &&
    ! sluice lineage 0000000000 2>err && grep -F "error: no artifact or model" err
'

# ---- diff: sources, cached ingests, code and data ----

mkdir -p data steps
printf 'id\n1\n' >data/customers_raw_2024_q1.csv
printf 'id\n2\n' >data/customers_raw_2024_q2.csv
printf 'k\n1\n' >data/lookup.csv
printf 'cat "$1" "$2" >"$SLUICE_OUT/m.txt"\n' >steps/fit.sh
cat >src.yaml <<'EOF'
pipeline: src
steps:
  ingest:
    kind: ingest
    source: data/customers_raw_2024_q1.csv
    outputs: [raw.csv]
    cache: true
  fit:
    run: sh steps/fit.sh $SLUICE_IN_RAW data/lookup.csv
    inputs: { raw: ingest/raw.csv }
    outputs: [m.txt]
    cache: true
EOF
sed "s/_q1/_q2/" src.yaml >src2.yaml
last_id() { sluice show last --json | json_check 'print(d["id"])'; }

expect_success 'diff shows a source whole, and a cached ingest still read its source' '
    sluice run src.yaml >/dev/null 2>&1 && s1=$(last_id) &&
    sluice run src.yaml >/dev/null 2>&1 && s2=$(last_id) &&
    sluice run src2.yaml >/dev/null 2>&1 && s3=$(last_id) &&
    sluice diff $s1 $s2 >d12.txt &&
    grep -Fx "  ~ ingest status: succeeded -> cached" d12.txt &&
    ! grep -F "source" d12.txt &&
    sluice diff $s2 $s3 >d23.txt &&
    q1=data/customers_raw_2024_q1.csv q2=data/customers_raw_2024_q2.csv &&
    grep -Fx "  ~ ingest input source: $q1 -> $q2" d23.txt
'

expect_success 'a changed data file is data, a changed script code: in diff and the miss reason' '
    s3=$(last_id) &&
    printf "k\n2\n" >data/lookup.csv && printf "id\n3\n" >data/customers_raw_2024_q2.csv &&
    printf "\n" >>steps/fit.sh &&
    sluice run src2.yaml >/dev/null 2>&1 && s4=$(last_id) &&
    sluice diff $s3 $s4 >d34.txt &&
    grep -E "^  ~ fit data data/lookup.csv: [0-9a-f]{12} -> [0-9a-f]{12}$" d34.txt &&
    grep -E "^  ~ fit code steps/fit.sh: [0-9a-f]{12} -> [0-9a-f]{12}$" d34.txt &&
    grep -E "^  ~ ingest data data/customers_raw_2024_q2.csv: [0-9a-f]{12} -> " d34.txt &&
    ! grep -F " file " d34.txt &&
    sluice show $s4 >show4.txt &&
    grep -F "ingest: cache miss: data '\''data/customers_raw_2024_q2.csv'\'' changed" show4.txt &&
    grep -F "changed, data '\''data/lookup.csv'\'' changed, code '\''steps/fit.sh'\'' changed" \
        show4.txt
'

# ---- errors and help ----

expect_success 'a bad run id fails with a clear message' '
    ! sluice show 99 2>err && grep -F "error: no run '\''99'\''" err &&
    ! sluice show abc 2>err && grep -F "error: '\''abc'\'' is not a run id" err &&
    ! sluice logs 99 train 2>err && grep -F "error: no run '\''99'\''" err &&
    ! sluice compare 1 99 2>err && grep -F "error: no run '\''99'\''" err &&
    ! sluice diff 99 1 2>err && grep -F "error: no run '\''99'\''" err
'

for cmd in runs show logs compare diff lineage; do
    expect_success "$cmd --help prints its usage" "
        sluice $cmd --help >help.out && grep -q '^usage: sluice $cmd' help.out
    "
done

done_testing
