#!/usr/bin/env bash
# The `crawl` built-in: golden files under tests/crawl/ and the command's own behaviour.
# For each tests/crawl/CASE.csv|.jsonl, `sluice builtin crawl` runs with one --expect per line
# of CASE.rules (if any). With CASE.err, it must fail with exactly that stderr and write no
# schema; else schema.json must equal CASE.schema.json (exit 1 when a rule in it fails, else
# 0), and stdout CASE.out when there is one.
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for patterns inside the single-quoted test code

GOLDEN=$ROOT/tests/crawl

# run_case CASE FILE — copies FILE here so that messages name it without its folder.
run_case() {
    local case=$1 file=$2 rc want=0
    local -a expect=()
    rm -rf "$case.d" && mkdir "$case.d" && cp "$GOLDEN/$file" "$case.d/$file" || return 1
    if [ -f "$GOLDEN/$case.rules" ]; then
        while IFS= read -r rule; do
            expect+=(--expect "$rule")
        done <"$GOLDEN/$case.rules"
    fi
    (cd "$case.d" &&
        sluice builtin crawl --input "$file" --out schema.json ${expect[@]+"${expect[@]}"} \
            >stdout 2>stderr)
    rc=$?
    if [ -f "$GOLDEN/$case.err" ]; then
        [ $rc -eq 1 ] || { echo "exit $rc, expected 1"; return 1; }
        test_cmp "$GOLDEN/$case.err" "$case.d/stderr" || return 1
        [ ! -e "$case.d/schema.json" ] || { echo "schema.json written on error"; return 1; }
        return 0
    fi
    grep -q '"pass": false' "$GOLDEN/$case.schema.json" && want=1
    [ $rc -eq $want ] || { cat "$case.d/stderr"; echo "exit $rc, expected $want"; return 1; }
    test_cmp "$GOLDEN/$case.schema.json" "$case.d/schema.json" || return 1
    if [ -f "$GOLDEN/$case.out" ]; then
        test_cmp "$GOLDEN/$case.out" "$case.d/stdout" || return 1
    fi
    # the temporary file of the atomic write is gone
    ! ls -a "$case.d" | grep -q '\.tmp\.'
}

for path in "$GOLDEN"/*.csv "$GOLDEN"/*.jsonl; do
    [ -f "$path" ] || continue
    file=$(basename "$path")
    case=${file%.*}
    expect_success "golden $file" "run_case '$case' '$file'"
done

printf 'id,score\n1,0.5\n2,0.75\n' >data.csv
printf 'name\nann\n' >names.csv
# expected messages, kept out of the quoted test code
cat >want-syntax <<'EOF'
error: rule 'rows >': expected 'rows', a number or a function such as nulls(COLUMN) at offset 6
EOF
cat >want-open <<'EOF'
error: cannot open 'nope.csv': No such file or directory
EOF
cat >want-numeric <<'EOF'
error: rule 'min(name) > 1': column 'name' is string, not numeric
EOF

expect_success 'crawl --help' 'sluice builtin crawl --help | grep -q "usage: sluice builtin crawl"'
expect_exit 1 'crawl without --input' 'sluice builtin crawl --out s.json'
expect_success 'crawl without --input says so' \
    'sluice builtin crawl --out s.json 2>&1 | grep -qx "error: --input is required"'
expect_exit 1 'crawl with an unknown option' \
    'sluice builtin crawl --input data.csv --out s.json --x'
expect_exit 1 'crawl --expect without a value' \
    'sluice builtin crawl --input data.csv --out s.json --expect'

expect_success 'options as --name=value' '
    sluice builtin crawl --input=data.csv --out=eq.json --expect="rows == 2" >out &&
    grep -qx "PASS rows == 2 (2)" out && grep -q "\"rows\": 2," eq.json'

expect_success 'a failing rule exits 1, still writes the schema, says FAIL' '
    sluice builtin crawl --input data.csv --out fail.json --expect "rows >= 500" \
        --expect "mean(score) > 0.5" >out 2>err; rc=$?
    [ $rc -eq 1 ] &&
    grep -qx "FAIL rows >= 500 (2)" out &&
    grep -qx "PASS mean(score) > 0.5 (0.625)" out &&
    grep -qx "error: rule ${q}rows >= 500$q is false: rows = 2" err &&
    grep -q "\"pass\": false" fail.json'

expect_success 'a rule syntax error stops before the crawl' '
    ! sluice builtin crawl --input missing.csv --out s.json --expect "rows >" 2>err &&
    test_cmp want-syntax err && [ ! -e s.json ]'

expect_success 'an unreadable input is an error with its reason' '
    ! sluice builtin crawl --input nope.csv --out s.json 2>err && test_cmp want-open err'

expect_success 'a non-numeric column in min() is an error, and no schema' '
    ! sluice builtin crawl --input names.csv --out s.json --expect "min(name) > 1" 2>err &&
    test_cmp want-numeric err && [ ! -e s.json ]'

expect_success 'an unwritable output is an error' '
    ! sluice builtin crawl --input data.csv --out no/such/dir/s.json 2>err &&
    grep -q "^error: cannot create .no/such/dir/s.json.tmp.[0-9]*.: No such file" err'

expect_success 'an existing schema is replaced whole' '
    printf "old junk that is longer than the new schema will ever be %0500d\n" 0 >re.json &&
    sluice builtin crawl --input data.csv --out re.json >/dev/null &&
    sluice builtin crawl --input data.csv --out again.json >/dev/null &&
    test_cmp again.json re.json'

expect_success 'the output is the same on every run' '
    sluice builtin crawl --input data.csv --out a.json >/dev/null &&
    sluice builtin crawl --input data.csv --out b.json >/dev/null &&
    cmp a.json b.json'

# ---- a crawl step in a pipeline: what its message says -----------------------------------------

db() { sqlite3 .sluice/sluice.db "$@"; }
# last_msg: the message of the crawl step of the newest run
last_msg() {
    db "SELECT message FROM steps WHERE name = 'crawl' AND run_id = (SELECT max(id) FROM runs)"
}
mkdir -p pipe
cat >pipe/rules.yaml <<'EOF'
pipeline: rules
steps:
  load:
    run: cp data.csv "$SLUICE_OUT/data.csv"
    outputs: [data.csv]
  crawl:
    kind: crawl
    input: load/data.csv
    expect:
      - rows >= 500
      - mean(score) > 0.5
      - nulls(id) == 0 && max(score) > 1
EOF
cp data.csv pipe/data.csv

cat >want-rules <<'EOF'
exited with status 1: error: rule 'rows >= 500' is false: rows = 2; rule 'nulls(id) == 0 && max(score) > 1' is false: nulls(id) = 0, max(score) = 0.75
EOF

expect_success 'a false rule is named in the step'\''s message, with what was measured' '
    { sluice run pipe/rules.yaml >out 2>err; test $? = 1; } &&
    last_msg >msg && test_cmp want-rules msg
'

cat >pipe/drift.yaml <<'EOF'
pipeline: drift
steps:
  load:
    run: cp drift.csv "$SLUICE_OUT/drift.csv"
    outputs: [drift.csv]
  crawl:
    kind: crawl
    input: load/drift.csv
    table: things
EOF
printf 'id,score\n1,0.5\n' >pipe/drift.csv

cat >want-warn <<'EOF'
schema drift: table 'things' v2: column 'score' type float -> string; column 'age' added (integer); column 'name' added (string)
EOF
cat >want-fail <<'EOF'
schema drift in table 'things' (v2): column 'score' removed; column 'age' removed; column 'name' removed
EOF

expect_success 'schema drift (on_drift: warn) is one line in the message, with no stray separator' '
    sluice run pipe/drift.yaml >out 2>err &&
    printf "id,score,age,name\n1,x,3,a\n" >pipe/drift.csv &&
    sluice run pipe/drift.yaml >out 2>err &&
    last_msg >msg && test_cmp want-warn msg
'

expect_success 'schema drift with on_drift: fail fails the step on one line, without a newline' '
    sed "s/table: things/&\n    on_drift: fail/" pipe/drift.yaml >pipe/drift-fail.yaml &&
    printf "id\n1\n" >pipe/drift.csv &&
    { sluice run pipe/drift-fail.yaml >out 2>err; test $? = 1; } &&
    test "$(db "SELECT count(*) FROM steps WHERE instr(message, char(10))")" = 0 &&
    last_msg >msg && test_cmp want-fail msg
'

done_testing
