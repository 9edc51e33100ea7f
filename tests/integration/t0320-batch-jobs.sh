#!/usr/bin/env bash
# What `show` and `show --json` say of an attempt that ran as a Slurm job: its id, node, state,
# queue wait and, while it waits, Slurm's reason. No command writes a job's fields, so a real
# run's attempts are made Slurm jobs in the database, as the Slurm executor records them.
. "$(dirname "$0")/lib.sh"

db() { sqlite3 .sluice/sluice.db "$@"; }

cat >jobs.yaml <<'EOF'
pipeline: jobs
steps:
  prep:
    run: echo prepared
  train:
    run: echo trained
    needs: [prep]
  flaky:
    run: test -f tried || { touch tried; exit 3; }
    retries: 1
    needs: [prep]
  evaluate:
    run: echo evaluated
    needs: [train]
  report:
    run: echo reported
    needs: [evaluate]
EOF

# json_check 'PYTHON' — run PYTHON with `show 1 --json` loaded as d, and att(STEP, N).
json_check() {
    sluice show 1 --json | python3 -c "import json, re, sys
d = json.load(sys.stdin)
def att(step, n=1):
    return [a for s in d['steps'] if s['name'] == step for a in s['attempts'] if a['n'] == n][0]
iso = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$')
$1"
}

# attempt N of STEP of run 1
where() { echo "step_id = (SELECT id FROM steps WHERE run_id = 1 AND name = '$1') AND n = ${2:-1}"; }

expect_success 'a run with a retried step succeeds' '
    sluice run jobs.yaml >run.out 2>&1
'

now=$(($(date +%s) * 1000))
expect_success 'its attempts are made Slurm jobs: ended, lost, pending, cancelled in the queue' "
    db \"UPDATE attempts SET executor = 'slurm', job_id = '77', node = 'n1',
            queued_at = started_at - 400, job_state = 'COMPLETED' WHERE $(where train);
        UPDATE attempts SET executor = 'slurm', job_id = '80', node = 'n2',
            queued_at = started_at - 1500, job_state = 'NODE_FAIL', status = 'lost'
            WHERE $(where flaky 1);
        UPDATE attempts SET executor = 'slurm', job_id = '81', node = 'n1',
            queued_at = started_at - 200, job_state = 'COMPLETED' WHERE $(where flaky 2);
        UPDATE attempts SET executor = 'slurm', job_id = '78', node = NULL,
            queued_at = $now - 12000, started_at = $now - 12030, ended_at = 0, status = 'running',
            job_state = 'PENDING', job_reason = 'Priority' WHERE $(where evaluate);
        UPDATE attempts SET executor = 'slurm', job_id = '79', queued_at = $now - 9000,
            started_at = $now - 9040, ended_at = $now - 4000, status = 'cancelled',
            job_state = 'CANCELLED' WHERE $(where report);\"
"

expect_success 'show says an ended job: its id, node, final state and queue wait' '
    sluice show 1 >show.out &&
    grep -A1 "^train$" show.out | grep -qx "  job       slurm job 77 on n1 · COMPLETED · queued 400ms"
'

expect_success 'show says a pending job: its state, Slurm'\''s reason and the wait so far' '
    grep -A1 "^evaluate$" show.out |
        grep -Ex "  job       slurm job 78 · PENDING \(Priority\) · waiting 1[2-9]s"
'

expect_success 'show says a job cancelled in its queue never started, and gives it no run time' '
    grep -A2 "^report$" show.out >report.out &&
    grep -x "  attempts  1 cancelled" report.out &&
    grep -x "              slurm job 79 · CANCELLED · queued 5s, never started" report.out
'

expect_success 'show lists each attempt'\''s job under it, and a local step as before' '
    sed -n "/^flaky:/,/^$/p" show.out >flaky.out &&
    cat >flaky.want <<-EOF &&
	flaky: succeeded on attempt 2
	  attempts  1 lost, exit 3
	              slurm job 80 on n2 · NODE_FAIL · queued 1s
	            2 succeeded
	              slurm job 81 on n1 · COMPLETED · queued 200ms
	  logs      sluice logs 1 flaky --attempt N

	EOF
    sed -i -E "s/^(  attempts  1 lost, exit 3|            2 succeeded), [0-9]+m?s$/\1/" flaky.out &&
    test_cmp flaky.want flaky.out &&
    ! grep -q "^prep$" show.out && ! grep -q "local" show.out
'

expect_success 'show --json: an ended job has its executor, id, node, submission, wait and state' '
    json_check "
a = att(\"train\")
assert a[\"executor\"] == \"slurm\" and a[\"job_id\"] == \"77\" and a[\"node\"] == \"n1\", a
assert iso.match(a[\"queued_at\"]) and iso.match(a[\"started_at\"]), a
assert a[\"queue_s\"] == 0.4, a
assert a[\"job_state\"] == \"COMPLETED\" and a[\"job_reason\"] is None, a
"'

expect_success 'show --json: a pending job has its reason, no start and its wait so far' '
    json_check "
a = att(\"evaluate\")
assert a[\"job_id\"] == \"78\" and a[\"node\"] is None, a
assert a[\"started_at\"] is None and a[\"ended_at\"] is None and iso.match(a[\"queued_at\"]), a
assert 12 <= a[\"queue_s\"] < 60, a
assert a[\"job_state\"] == \"PENDING\" and a[\"job_reason\"] == \"Priority\", a
a = att(\"report\")
assert a[\"started_at\"] is None and iso.match(a[\"ended_at\"]) and a[\"queue_s\"] == 5.0, a
"'

expect_success 'show --json: a local attempt says so, with null job fields' '
    json_check "
a = att(\"prep\")
assert a[\"executor\"] == \"local\", a
for k in (\"job_id\", \"node\", \"queued_at\", \"queue_s\", \"job_state\", \"job_reason\"):
    assert k in a and a[k] is None, (k, a)
assert iso.match(a[\"started_at\"]), a
"'

done_testing
