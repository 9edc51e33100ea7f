#!/usr/bin/env bash
# The model registry and the data catalog through the real binary: an approve step with model:
# registers a pending version, `sluice run --no-wait` exits 3, `sluice approve` records the
# decision and drives the rest of the run, a second decision is refused, reject fails the run,
# --auto-approve approves as 'auto', two racing approvers have one winner, the candidate is
# shown against the deployed champion, `sluice rollback` switches back and the registry
# follows, and `sluice catalog` shows schema versions with their diff; a table and a model
# name can come from params.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
run_status() { db "SELECT status FROM runs WHERE id = $1"; }
step_status() { db "SELECT status FROM steps WHERE run_id = $1 AND name = '$2'"; }
# js EXPR: evaluate a Python expression over the JSON document on stdin (bound to d)
js() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# model_field NAME VERSION FIELD: a field of `sluice models --json`
model_field() {
    sluice models --json | js "[m for m in d if m['name'] == '$1' and m['version'] == $2][0]['$3']"
}
# times RUN: how many times the step after the approval ran for that run
times() { if [ -e pipe/after.log ]; then grep -c "^after $1\$" pipe/after.log; else echo 0; fi; }

mkdir -p pipe
cat >pipe/train.sh <<'EOF'
echo "model of run $SLUICE_RUN_ID" > "$SLUICE_OUT/model.pkl"
printf '{"f1": %s, "loss": [0.9, 0.5, 0.3]}\n' "$1" > "$SLUICE_METRICS"
EOF
cat >pipe/p.yaml <<'EOF'
pipeline: clf
params:
  f1: 0.9
steps:
  train:
    kind: train
    run: sh train.sh ${{ params.f1 }}
    outputs: [model.pkl]
  approve:
    kind: approve
    needs: [train]
    model: train/model.pkl
    model_name: tumour
  after:
    needs: [approve]
    run: echo "after $SLUICE_RUN_ID" >> after.log
EOF

# ---- approve after --no-wait -----------------------------------------------------------------

expect_exit 3 'run --no-wait stops at the approval with exit 3' '
    sluice run pipe/p.yaml --no-wait >out 2>err
'
expect_success 'the run waits, its approve step waits, the step after it has not run' '
    r=$(last_run) &&
    test "$(run_status $r)" = waiting &&
    test "$(step_status $r approve)" = waiting &&
    test "$(step_status $r after)" = pending &&
    test "$(times $r)" = 0
'
expect_success 'models --json shows version 1 pending, with the run, digest and metrics' '
    sluice models --json >models.json &&
    test "$(js "len(d)" <models.json)" = 1 &&
    test "$(js "d[0][\"name\"]" <models.json)" = tumour &&
    test "$(js "d[0][\"version\"]" <models.json)" = 1 &&
    test "$(js "d[0][\"status\"]" <models.json)" = pending &&
    test "$(js "d[0][\"run\"]" <models.json)" = "$(last_run)" &&
    want=$(printf "model of run %s\n" "$(last_run)" | sha256sum | cut -d" " -f1) &&
    test "$(js "d[0][\"sha256\"]" <models.json)" = "$want" &&
    test "$(js "d[0][\"metrics\"][\"train.f1\"]" <models.json)" = 0.9 &&
    test "$(js "d[0][\"metrics\"][\"train.loss\"]" <models.json)" = "[0.9, 0.5, 0.3]" &&
    js "d[0][\"created_at\"]" <models.json | grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$"
'
expect_success 'models prints a table with the version' '
    sluice models >out &&
    grep -q "^NAME  *VERSION  *STATUS  *RUN" out &&
    grep -Eq "^tumour  *1  *pending  *$(last_run) .*train.f1=0.9" out
'
expect_success 'approve records the decision and drives the rest of the run: exit 0' '
    r=$(last_run) &&
    sluice approve last --by alice --comment "looks good" >out 2>err &&
    grep -q "candidate: tumour v1 from run $r" out &&
    grep -q "deployed:  none yet" out &&
    grep -q "train.f1  *0.9" out &&
    grep -q "approved by ${q}alice${q}" out &&
    test "$(run_status $r)" = succeeded &&
    test "$(step_status $r approve)" = succeeded &&
    test "$(times $r)" = 1
'
expect_success 'the model is approved, the approval kept with who and why' '
    test "$(model_field tumour 1 status)" = approved &&
    test "$(db "SELECT decision || \"|\" || by || \"|\" || comment FROM approvals
                WHERE run_id = $(last_run)")" = "approved|alice|looks good" &&
    sluice models tumour >out &&
    grep -q "^approvals:" out &&
    grep -Eq "^  1  *approved  *alice  .*looks good$" out &&
    sluice models tumour --json | js "d[0][\"approvals\"][0][\"by\"]" | grep -qx alice
'
expect_exit 1 'a second approve is refused: already decided' '
    sluice approve last --by bob >out 2>err
'
expect_success '... saying so, and changing nothing' '
    r=$(last_run) &&
    grep -q "step ${q}approve${q} of run $r was already decided" err &&
    test "$(db "SELECT count(*) FROM approvals WHERE run_id = $r")" = 1 &&
    test "$(times $r)" = 1 &&
    test "$(model_field tumour 1 status)" = approved
'
expect_exit 1 'a decision on the decided step named with --step is refused too' '
    sluice reject last --step approve 2>err
'
expect_success '... as already decided' '
    grep -q "of run $(last_run) was already decided: approved by ${q}alice${q}" err
'

# ---- reject ------------------------------------------------------------------------------------

expect_exit 3 'a second run waits too' 'sluice run pipe/p.yaml --no-wait >out 2>err'
expect_success 'it registered version 2, pending' '
    test "$(model_field tumour 2 status)" = pending &&
    test "$(model_field tumour 2 run)" = "$(last_run)"
'
expect_exit 1 'reject: the run fails, exit 1' '
    sluice reject last --by bob --comment "too slow" >out 2>err
'
expect_success 'the step failed, the step after it never ran, the model is rejected' '
    r=$(last_run) &&
    test "$(run_status $r)" = failed &&
    test "$(step_status $r approve)" = failed &&
    test "$(step_status $r after)" = upstream_failed &&
    test "$(times $r)" = 0 &&
    test "$(model_field tumour 2 status)" = rejected &&
    test "$(model_field tumour 1 status)" = approved &&
    test "$(db "SELECT decision || \"|\" || by FROM approvals WHERE run_id = $r")" = "rejected|bob"
'

# ---- --auto-approve ----------------------------------------------------------------------------

expect_success '--auto-approve runs through, approved by auto' '
    sluice run pipe/p.yaml --auto-approve >out 2>err &&
    r=$(last_run) &&
    test "$(run_status $r)" = succeeded &&
    test "$(times $r)" = 1 &&
    test "$(model_field tumour 3 status)" = approved &&
    test "$(db "SELECT by FROM approvals WHERE run_id = $r")" = auto
'

# ---- which step, usage -------------------------------------------------------------------------

expect_exit 2 'approve without RUN is a usage error' 'sluice approve 2>err'
expect_exit 2 'approve with an unknown option is a usage error' 'sluice approve last --yes 2>err'
expect_exit 3 'a fourth run waits' 'sluice run pipe/p.yaml --no-wait >out 2>err'
expect_exit 1 'approve --step of an unknown step' 'sluice approve last --step nope 2>err'
expect_success '... names it' 'grep -q "run $(last_run) has no step ${q}nope${q}" err'
expect_exit 1 'approve --step of a step that is no approval' '
    sluice approve last --step train 2>err
'
expect_success '... and nothing was decided' '
    test "$(step_status $(last_run) approve)" = waiting &&
    test "$(model_field tumour 4 status)" = pending
'

# ---- two approvers race ------------------------------------------------------------------------

expect_success 'two concurrent approves: exactly one wins and drives the run' '
    r=$(last_run)
    { sluice approve $r --by p1 >p1.out 2>p1.err; echo $? >p1.rc; } &
    { sluice approve $r --by p2 >p2.out 2>p2.err; echo $? >p2.rc; } &
    wait
    test "$(sort p1.rc p2.rc | tr "\n" " ")" = "0 1 " &&
    cat p1.err p2.err | grep -q "was already decided" &&
    test "$(db "SELECT count(*) FROM approvals WHERE run_id = $r")" = 1 &&
    test "$(run_status $r)" = succeeded &&
    test "$(times $r)" = 1 &&
    test "$(model_field tumour 4 status)" = approved
'

# ---- a live engine keeps the run ---------------------------------------------------------------

expect_success 'approve while sluice run waits in the foreground: that engine goes on' '
    sluice run pipe/p.yaml >fg.out 2>fg.err &
    fg=$! &&
    for _ in $(seq 100); do
        r=$(last_run)
        test "$r" -gt 4 && test "$(step_status $r approve)" = waiting && break
        sleep 0.1
    done &&
    test "$(step_status $r approve)" = waiting &&
    sluice approve $r --by carol >out 2>err &&
    grep -q "recorded; the engine driving run $r continues it" out &&
    wait $fg &&
    test "$(run_status $r)" = succeeded &&
    test "$(times $r)" = 1
'

# ---- champion against challenger, deploy, rollback ---------------------------------------------

cat >pipe/svc.yaml <<'EOF'
pipeline: svc
params:
  f1: 0.8
steps:
  train:
    kind: train
    run: sh train.sh ${{ params.f1 }}
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

expect_success 'a deployed version 1 of svc' '
    sluice run pipe/svc.yaml --auto-approve >out 2>err &&
    test "$(model_field svc 1 status)" = deployed &&
    test "$(readlink pipe/serving/svc/current)" = blue
'
expect_exit 3 'version 2 waits' 'sluice run pipe/svc.yaml -p f1=0.95 --no-wait >out 2>err'
expect_success 'approve shows the candidate against the deployed version, with deltas' '
    sluice approve last --by dana >out 2>err &&
    grep -q "candidate: svc v2 from run $(last_run)" out &&
    grep -q "deployed:  svc v1 from run $(($(last_run) - 1))" out &&
    grep -Eq "METRIC  *CANDIDATE v2  *DEPLOYED v1  *DELTA" out &&
    grep -Eq "train.f1  *0.95  *0.8  *\+0.15" out
'
expect_success 'version 2 deployed, version 1 retired' '
    test "$(model_field svc 2 status)" = deployed &&
    test "$(model_field svc 1 status)" = retired &&
    test "$(readlink pipe/serving/svc/current)" = green
'
expect_success 'rollback switches back to version 1, and the registry follows' '
    sluice rollback svc >out 2>err &&
    grep -q "version 1 is live in slot ${q}blue${q}" out &&
    test "$(readlink pipe/serving/svc/current)" = blue &&
    test "$(model_field svc 1 status)" = deployed &&
    test "$(model_field svc 2 status)" = retired &&
    test "$(db "SELECT count(*) FROM deployments WHERE run_id IS NULL
                AND status = ${q}deployed${q}")" = 1
'
expect_success 'models NAME shows the deployment history' '
    sluice models svc >out &&
    grep -q "^deployments:" out &&
    grep -Eq "^  .*  1  *deployed  *blue  *rollback  " out &&
    grep -Eq "^  .*  2  *superseded  *green  *run " out
'
expect_success 'a second rollback goes forward again to version 2' '
    sluice rollback svc >out 2>err &&
    test "$(readlink pipe/serving/svc/current)" = green &&
    test "$(model_field svc 2 status)" = deployed &&
    test "$(model_field svc 1 status)" = retired
'
expect_exit 1 'rollback of an unknown model' 'sluice rollback nothing 2>err'
expect_success '... says so' 'grep -q "no model ${q}nothing${q}" err'
expect_exit 1 'rollback of a model never deployed' 'sluice rollback tumour 2>err'
expect_success '... says so' 'grep -q "model ${q}tumour${q} was never deployed" err'
expect_success 'rollback with nothing to roll back to' '
    sed -e "s/^pipeline: svc/pipeline: solo/" -e "s|serving/svc|serving/solo|" pipe/svc.yaml \
        >pipe/solo.yaml &&
    sluice run pipe/solo.yaml --auto-approve >out 2>err &&
    test "$(model_field solo 1 status)" = deployed &&
    { sluice rollback solo 2>err; test $? = 1; } &&
    grep -q "no previous version to roll back to" err &&
    test "$(model_field solo 1 status)" = deployed
'

# ---- the catalog -------------------------------------------------------------------------------

cat >pipe/crawl.yaml <<'EOF'
pipeline: crawler
steps:
  load:
    run: cp data.csv "$SLUICE_OUT/raw.csv"
    outputs: [raw.csv]
  crawl:
    kind: crawl
    input: load/raw.csv
    table: tumours
EOF
printf 'id,diagnosis\n1,M\n2,B\n3,\n' >pipe/data.csv

expect_success 'catalog without tables' 'sluice catalog >out && grep -q "no tables" out'
expect_exit 1 'an unknown table' 'sluice catalog tumours 2>err'
expect_success '... says so' 'grep -q "no table ${q}tumours${q} in the catalog" err'
expect_success 'a crawl adds version 1 of its table' '
    sluice run pipe/crawl.yaml >out 2>err &&
    sluice catalog >out &&
    grep -Eq "^tumours  *1  *3  *2  *$(last_run) " out
'
expect_success 'the same schema again adds no version; a new column does' '
    sluice run pipe/crawl.yaml >out 2>err &&
    printf "id,diagnosis,age\n1,M,40\n2,B,51\n3,,62\n4,B,\n" >pipe/data.csv &&
    sluice run pipe/crawl.yaml >out 2>err &&
    sluice catalog >out &&
    grep -Eq "^tumours  *2  *4  *3  *$(last_run) " out
'
expect_success 'catalog TABLE --json: every version, newest first, with columns' '
    sluice catalog tumours --json >cat.json &&
    test "$(js "d[\"name\"]" <cat.json)" = tumours &&
    test "$(js "[v[\"version\"] for v in d[\"versions\"]]" <cat.json)" = "[2, 1]" &&
    test "$(js "[v[\"rows\"] for v in d[\"versions\"]]" <cat.json)" = "[4, 3]" &&
    test "$(js "d[\"versions\"][0][\"run\"]" <cat.json)" = "$(last_run)" &&
    test "$(js "d[\"versions\"][0][\"columns\"][2]" <cat.json)" = \
        "{${q}name${q}: ${q}age${q}, ${q}type${q}: ${q}integer${q}, ${q}nulls${q}: 1}" &&
    test "$(js "d[\"versions\"][1][\"columns\"][1]" <cat.json)" = \
        "{${q}name${q}: ${q}diagnosis${q}, ${q}type${q}: ${q}string${q}, ${q}nulls${q}: 1}"
'
expect_success 'catalog TABLE shows the columns and the schema diff' '
    sluice catalog tumours >out &&
    grep -q "^table tumours: 2 versions" out &&
    grep -q "^version 2: run $(last_run), 4 rows" out &&
    grep -q "changes from version 1:" out &&
    grep -q "    column ${q}age${q} added (integer)" out &&
    grep -Eq "^  age  *integer  *1$" out
'
expect_exit 2 'catalog with two tables is a usage error' 'sluice catalog a b 2>err'

# ---- names from params -------------------------------------------------------------------------

# the crawler's pipeline with its table from a param (and cached), and an approve step naming
# its model
sed -e "s/^pipeline: crawler/pipeline: named/" \
    -e "s/table: tumours/table: \${{ params.table }}\n    cache: true/" pipe/crawl.yaml >pipe/named.yaml
cat >>pipe/named.yaml <<'EOF'
  approve:
    kind: approve
    needs: [crawl]
    model: load/raw.csv
    model_name: ${{ params.model }}-m
params: { table: events, model: clf-a }
EOF
step_message() { db "SELECT message FROM steps WHERE run_id = $1 AND name = '$2'"; }

expect_success 'table: and model_name: from params name the catalog table and the model' '
    sluice run pipe/named.yaml --auto-approve -p table=visits -p model=clf-b >out 2>err &&
    sluice catalog visits --json >cat.json && test "$(js "d[\"name\"]" <cat.json)" = visits &&
    test "$(model_field clf-b-m 1 status)" = approved
'
expect_success 'a table that is no name once expanded fails the crawl before it runs' '
    { sluice run pipe/named.yaml --auto-approve -p table=Visits >out 2>err; test $? = 1; } &&
    r=$(last_run) && test "$(step_status $r crawl)" = failed &&
    step_message $r crawl |
        grep -F "bad table ${q}Visits$q (from ${q}\${{ params.table }}$q): use 1 to 64" &&
    test ! -e .sluice/runs/$r/crawl
'
expect_success 'a cached crawl runs again for another table, which is part of its key' '
    sluice run pipe/named.yaml --auto-approve -p table=visits >out 2>err &&
    test "$(step_status $(last_run) crawl)" = cached &&
    sluice run pipe/named.yaml --auto-approve -p table=trips >out 2>err &&
    r=$(last_run) && test "$(step_status $r crawl)" = succeeded &&
    db "SELECT detail FROM events WHERE run_id = $r AND what = ${q}cache$q" >why && cat why &&
    grep -F "cache miss: param ${q}table$q visits -> trips" why &&
    sluice catalog trips >out
'
expect_success 'a model_name that is no name fails the approve step' '
    { sluice run pipe/named.yaml --auto-approve -p model=A >out 2>err; test $? = 1; } &&
    r=$(last_run) && test "$(step_status $r approve)" = failed &&
    step_message $r approve | grep -F "bad model_name ${q}A-m$q"
'

done_testing
