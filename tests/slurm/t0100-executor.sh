#!/usr/bin/env bash
# The Slurm executor on a real cluster (tests/slurm/cluster-up.sh): local and Slurm steps in one
# run, the step's contract on the node, exit codes, timeouts, an invalid partition, cancel,
# kill -9 of the engine (also between sbatch and recording the job id, and before sbatch), and
# --max-jobs. Every job of this workspace is named sluice-ID-ATTEMPT (ID: the store's), so the
# job-completion log says how often each attempt was submitted.
# shellcheck disable=SC2016 # the tests' code is single-quoted, for expect_success's eval
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/../integration/lib.sh"
# shellcheck source=tests/slurm/lib.sh
. "$ROOT/tests/slurm/lib.sh"

q="'"
db() { sqlite3 .sluice/sluice.db "$@"; }
last_run() { db 'SELECT max(id) FROM runs'; }
step_field() { db "SELECT $3 FROM steps WHERE run_id = $1 AND name = '$2'"; }
statuses() {
    db "SELECT group_concat(name || '=' || status, ' ') FROM
        (SELECT name, status FROM steps WHERE run_id = $1 ORDER BY name)"
}
# attempt_field RUN STEP COLUMN: of the step's last attempt
attempt_field() {
    db "SELECT a.$3 FROM attempts a JOIN steps s ON s.id = a.step_id
        WHERE s.run_id = $1 AND s.name = '$2' ORDER BY a.n DESC LIMIT 1"
}
# prefix: this workspace's job names (the store exists after the first run)
prefix() { slurm_workspace_prefix .sluice/sluice.db; }
submitted_once() { slurm_submitted_once .sluice/sluice.db "$1"; }

export PROBE=$TRASH/probe
mkdir -p probe

cat >mix.yaml <<'EOF'
pipeline: mix
params:
  greeting: hello
steps:
  make:
    executor: slurm
    resources: { cpus: 1, memory: 64M }
    run: |
      echo "$SLUICE_PARAM_GREETING from $SLURM_JOB_NAME on $(hostname)"
      echo "$SLURM_CPUS_PER_TASK" > "$SLUICE_OUT/cpus.txt"
      echo "${{ params.greeting }}" > "$SLUICE_OUT/greeting.txt"
      echo '{"score": 0.75}' > "$SLUICE_METRICS"
    outputs: [cpus.txt, greeting.txt]
  use:
    inputs: { g: make/greeting.txt }
    run: cat "$SLUICE_IN_G" > "$PROBE/used"
  remote_use:
    executor: slurm
    inputs: { g: make/greeting.txt }
    run: [sh, -c, 'cp "$SLUICE_IN_G" "$SLUICE_OUT/copy.txt"']
    outputs: [copy.txt]
EOF

expect_success 'local and Slurm steps in one run: outputs, metrics and inputs cross between them' '
    sluice run mix.yaml >out 2>&1 || { cat out; false; }
    r=$(last_run) &&
    test "$(statuses $r)" = "make=succeeded remote_use=succeeded use=succeeded" &&
    test "$(cat probe/used)" = hello &&
    test "$(attempt_field $r make executor)" = slurm &&
    test "$(attempt_field $r use executor)" = local &&
    test "$(attempt_field $r remote_use executor)" = slurm &&
    grep -q "^hello from $(prefix)[0-9]* on " .sluice/runs/$r/make/1/log &&
    test "$(cat .sluice/runs/$r/make/1/out/cpus.txt)" = 1 &&
    test "$(cat .sluice/runs/$r/remote_use/1/out/copy.txt)" = hello &&
    sluice show $r --json >show.json &&
    python3 - show.json <<EOF
import json, sys
r = json.load(open(sys.argv[1]))
s = {x["name"]: x for x in r["steps"]}
assert s["make"]["metrics"]["score"] == 0.75, s["make"]["metrics"]
a = s["make"]["attempts"][0]
assert a["executor"] == "slurm" and a["job_id"].isdigit(), a
assert a["node"] and a["queued_at"] and a["job_state"] == "COMPLETED", a
assert s["use"]["attempts"][0]["job_id"] is None, s["use"]
EOF
'

expect_success 'show says each Slurm attempt'"'"'s job, node, state and queue wait' '
    r=$(last_run) &&
    sluice show $r >show.out &&
    grep -Eq "slurm job [0-9]+ on [^ ]+ · COMPLETED · queued" show.out
'

expect_success 'each attempt was submitted once' 'submitted_once $(last_run)'

cat >fail.yaml <<'EOF'
pipeline: fail
defaults: { executor: slurm }
steps:
  bad:
    run: "echo about to fail; exit 7"
  after:
    needs: [bad]
    run: touch "$PROBE/after-ran"
EOF

expect_success 'a failing step on Slurm fails with its exit code and last log line' '
    { sluice run fail.yaml >out 2>&1; test $? = 1; } &&
    r=$(last_run) &&
    test "$(statuses $r)" = "after=upstream_failed bad=failed" &&
    step_field $r bad message | grep -q "^exited with status 7: about to fail" &&
    test "$(attempt_field $r bad exit)" = 7 &&
    test "$(attempt_field $r bad job_state)" = FAILED &&
    test ! -e probe/after-ran
'

cat >timeout.yaml <<'EOF'
pipeline: timeout
defaults: { executor: slurm }
steps:
  slow:
    timeout: 5s
    run: "sleep 60"
EOF

expect_success 'a step with timeout: 5s sleeping 60 times out on Slurm, its job gone' '
    start=$(date +%s) &&
    { sluice run timeout.yaml >out 2>&1; test $? = 1; } &&
    test $(( $(date +%s) - start )) -lt 40 &&
    r=$(last_run) &&
    test "$(step_field $r slow status)" = failed &&
    step_field $r slow message | grep -q "^timed out after 5s" &&
    test "$(attempt_field $r slow status)" = timed_out &&
    grep -q -- "--timeout 5000" .sluice/runs/$r/slow/1/job.sh &&
    slurm_wait_empty "$(prefix)" 30
'

cat >badpart.yaml <<'EOF'
pipeline: badpart
defaults: { executor: slurm }
steps:
  nowhere:
    retries: 3
    retry_delay: 1s
    slurm: { partition: no-such-partition }
    run: "true"
EOF

expect_success 'an invalid partition fails the step with Slurm'"'"'s message, once, without retries' '
    { sluice run badpart.yaml >out 2>&1; test $? = 1; } &&
    r=$(last_run) &&
    step_field $r nowhere message | grep -q "sbatch: .*invalid partition.*no-such-partition" &&
    test "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
                WHERE s.run_id = $r")" = 1
'

cat >many.yaml <<'EOF'
pipeline: many
defaults: { executor: slurm }
steps:
  a: { run: "sleep 30" }
  b: { run: "sleep 30" }
  c: { run: "sleep 30" }
  d: { run: "sleep 30" }
  e: { run: "sleep 30" }
EOF

expect_success 'sluice cancel stops pending and running jobs: none is left in squeue' '
    before=$(last_run)
    sluice run many.yaml >out 2>&1 &
    pid=$! &&
    r=$(for _ in $(seq 50); do x=$(last_run); [ "$x" != "$before" ] && echo $x && break; sleep 0.2; done) &&
    for _ in $(seq 100); do
        [ "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
                 WHERE s.run_id = $r AND a.job_state = ${q}RUNNING$q")" -ge 1 ] &&
        [ "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
                 WHERE s.run_id = $r AND a.job_state = ${q}PENDING$q")" -ge 1 ] && break
        sleep 0.2
    done &&
    sluice cancel $r &&
    wait $pid; rc=$?
    test $rc = 1 &&
    test "$(statuses $r)" = "a=cancelled b=cancelled c=cancelled d=cancelled e=cancelled" &&
    slurm_wait_empty "$(prefix)" 30
'

cat >crash.yaml <<'EOF'
pipeline: crash
defaults: { executor: slurm }
steps:
  a: { run: "sleep 3; echo a > $SLUICE_OUT/a.txt", outputs: [a.txt] }
  b: { run: "sleep 3" }
  c: { run: "sleep 3" }
  d: { run: "sleep 3" }
  e: { inputs: { a: a/a.txt }, run: "cat $SLUICE_IN_A" }
EOF

expect_success 'kill -9 of the engine with jobs pending and running; resume collects every job, submits none twice' '
    before=$(last_run)
    "$SLUICE" run crash.yaml >out 2>&1 &
    pid=$! &&
    for _ in $(seq 100); do
        r=$(last_run) && [ "$r" != "$before" ] &&
        [ "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
                 WHERE s.run_id = $r AND a.job_id IS NOT NULL")" -ge 4 ] && break
        sleep 0.1
    done &&
    kill -9 $pid; wait $pid 2>/dev/null
    r=$(last_run) &&
    sluice resume $r >resume.out 2>&1 || { cat resume.out; false; }
    test "$(statuses $r)" = "a=succeeded b=succeeded c=succeeded d=succeeded e=succeeded" &&
    grep -qx a .sluice/runs/$r/e/1/log &&
    submitted_once $r
'

expect_success 'kill -9 between sbatch and recording the job id: resume finds the job by name' '
    { SLUICE_CRASH_AT=submitted:a sluice run crash.yaml --no-cache >out 2>&1; test $? = 137; } &&
    r=$(last_run) &&
    test -z "$(attempt_field $r a job_id)" &&
    sluice resume $r >resume.out 2>&1 || { cat resume.out; false; }
    test "$(statuses $r)" = "a=succeeded b=succeeded c=succeeded d=succeeded e=succeeded" &&
    test "$(db "SELECT count(*) FROM attempts a JOIN steps s ON s.id = a.step_id
                WHERE s.run_id = $r AND s.name = ${q}a$q")" = 1 &&
    test -n "$(attempt_field $r a job_id)" &&
    submitted_once $r
'

expect_success 'kill -9 before sbatch ran: the attempt is claimed, never started, and runs once' '
    { SLUICE_CRASH_AT=spawned:a sluice run crash.yaml --no-cache >out 2>&1; test $? = 137; } &&
    r=$(last_run) &&
    sluice resume $r >resume.out 2>&1 || { cat resume.out; false; }
    test "$(step_field $r a status)" = succeeded &&
    test -d .sluice/runs/$r/a/1/claim && test ! -e .sluice/runs/$r/a/1/exit.json &&
    test "$(slurm_jobcomp_count "$(prefix)$(db "SELECT a.id FROM attempts a JOIN steps s
        ON s.id = a.step_id WHERE s.run_id = $r AND s.name = ${q}a$q AND a.n = 1")")" = 0 &&
    submitted_once $r
'

{
    echo "pipeline: wide"
    echo "defaults: { executor: slurm }"
    echo "steps:"
    for i in $(seq 100); do echo "  s$i: { run: \"true\" }"; done
} >wide.yaml

expect_success 'a 100-step wide pipeline with --max-jobs 20 never has more than 20 jobs queued' '
    sluice run wide.yaml --max-jobs 20 >out 2>&1 &
    pid=$! && max=0 && p=$(prefix) &&
    while kill -0 $pid 2>/dev/null; do
        n=$(slurm_jobs_named "$p") && [ "$n" -gt "$max" ] && max=$n
        sleep 0.1
    done
    wait $pid && echo "at most $max jobs at once" &&
    test "$max" -le 20 && test "$max" -ge 10 &&
    test "$(db "SELECT count(*) FROM steps WHERE run_id = $(last_run) AND status = ${q}succeeded$q")" = 100
'

done_testing
