#!/usr/bin/env bash
# Golden tests: every tests/pipelines/bad/CASE.yaml must fail validation with exit 2 and print
# exactly CASE.err (paths relative to tests/pipelines/bad); every good/*.yaml must validate.
# Regenerate a .err after a deliberate change with: GOLDEN_UPDATE=1 tests/golden.sh
set -u
cd "$(dirname "$0")/pipelines" || exit 1
SLUICE=${SLUICE_BIN:-$PWD/../../build/asan/sluice}
n=0
fail=0
for f in bad/*.yaml; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    exp=${f%.yaml}.err
    act=$(cd bad && "$SLUICE" validate "$(basename "$f")" 2>&1)
    rc=$?
    if [ -n "${GOLDEN_UPDATE:-}" ]; then printf '%s\n' "$act" >"$exp"; fi
    if [ $rc -eq 2 ] && [ -f "$exp" ] && [ "$act" = "$(cat "$exp")" ]; then
        echo "ok $n - bad/$(basename "$f") fails as expected"
    else
        fail=$((fail + 1))
        echo "not ok $n - bad/$(basename "$f") (exit $rc)"
        diff -u "$exp" <(printf '%s\n' "$act") | sed 's/^/# /' | head -30
    fi
done
for f in good/*.yaml ../../dags/*.yaml; do
    [ -f "$f" ] || continue
    n=$((n + 1))
    if out=$("$SLUICE" validate "$f" 2>&1); then
        echo "ok $n - $f validates"
    else
        fail=$((fail + 1))
        echo "not ok $n - $f does not validate"
        printf '%s\n' "$out" | sed 's/^/# /' | head -20
    fi
done
[ $fail -eq 0 ]
