#!/usr/bin/env bash
# The page in a real browser: tests/e2e/run.sh (headless Chromium driven by playwright-core)
# against the binary under test — runs list, a run's DAG and log, compare with a chart, approval
# by a click, a trigger with a parameter, escaping of hostile text, the runs page's render time.
# Skips (one "ok … # SKIP") when node or Chromium cannot be had.
. "$(dirname "$0")/lib.sh"

out=$(SLUICE_BIN=$SLUICE "$ROOT/tests/e2e/run.sh" 2>&1)
rc=$?
printf '%s\n' "$out" | grep -v '^1\.\.[0-9]*$'
test_count=$(printf '%s\n' "$out" | grep -c '^\(not \)\?ok ')
test_failed=$(printf '%s\n' "$out" | grep -c '^not ok ')
if [ $rc -ne 0 ] && [ "$test_failed" -eq 0 ]; then
    echo "not ok $((test_count + 1)) - tests/e2e/run.sh exited $rc"
    test_count=$((test_count + 1))
    test_failed=1
fi
done_testing
