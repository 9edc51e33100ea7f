#!/usr/bin/env bash
# Schedules: `sluice serve` fires a pipeline's schedule: (5-field cron, UTC) as a run with
# trigger "schedule", driven to its end. Two servers watching one workspace fire each schedule
# time once between them, not once each. (This test waits for the next minute: up to 65 s.)
. "$(dirname "$0")/lib.sh"

q="'" # a single quote, for SQL inside the single-quoted test code
db() { sqlite3 .sluice/sluice.db "$@"; }

mkdir -p dags
cat >dags/tick.yaml <<'EOF'
pipeline: tick
schedule: "* * * * *"
steps:
  t: { run: "echo tick" }
EOF

PIDS=()
# serve: one more server on a free port, pipelines from dags/
serve() {
    "$SLUICE" serve --port 0 --dags dags >"serve$1.out" 2>"serve$1.err" &
    PIDS+=($!)
}
stop_all() { kill -TERM "${PIDS[@]}" 2>/dev/null; wait "${PIDS[@]}" 2>/dev/null; }
trap stop_all EXIT

serve 1
serve 2
# The first fire is at the next minute; give both servers a few seconds after it.
for _ in $(seq 1 700); do
    n=$(db "SELECT count(*) FROM runs WHERE trigger = 'schedule'" 2>/dev/null)
    [ "${n:-0}" -ge 1 ] && break
    sleep 0.1
done
sleep 4
stop_all

expect_success 'a schedule fires a run with trigger schedule, driven to its end' '
    test "$(db "SELECT count(*) FROM runs WHERE trigger = ${q}schedule$q")" -ge 1 &&
    test "$(db "SELECT status FROM runs WHERE trigger = ${q}schedule$q ORDER BY id LIMIT 1")" = \
        succeeded &&
    sluice logs "$(db "SELECT min(id) FROM runs")" t | grep -q "^tick$"
'

expect_success 'two servers fire each schedule time once between them' '
    fires=$(db "SELECT count(*) FROM schedule_fires WHERE pipeline = ${q}tick$q") &&
    runs=$(db "SELECT count(*) FROM runs WHERE trigger = ${q}schedule$q") &&
    echo "fires: $fires, runs: $runs" &&
    test "$runs" = "$fires" &&
    test "$(db "SELECT count(DISTINCT created_at / 60000) FROM runs
                WHERE trigger = ${q}schedule$q")" = "$runs"
'

done_testing
