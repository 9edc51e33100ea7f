#!/usr/bin/env bash
# Run every test: cmocka unit binaries, golden pipeline tests, integration scripts, the fuzzer.
# Ends with one line: "N passed, N failed". Exit status 0 only when nothing failed.
#   SLUICE_BIN   the binary under test (the sanitizer build)
#   UNIT_BINS    the cmocka test binaries
#   FUZZ_SECONDS how long the loader fuzzer runs (0: skip)
#   TESTS        optional glob to select integration scripts (e.g. 't1*'), Slurm ones too
#   SLUICE_REQUIRE_SLURM=1  count the Slurm tests' skip (no cluster answers) as a failure
# The Slurm tests (tests/slurm/t*.sh) run when a Slurm cluster answers (tests/slurm/cluster-up.sh
# starts one, `make slurm-up`); otherwise they are skipped, and the summary says so.
set -u
cd "$(dirname "$0")/.."
export SLUICE_BIN=${SLUICE_BIN:-$PWD/build/asan/sluice}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0
failed=0
failures=()
skipped=()
log=$(mktemp -d /tmp/sluice-tests.XXXXXX)

count_tap() { # file name
    local p f
    p=$(grep -c '^ok ' "$1")
    f=$(grep -c '^not ok ' "$1")
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -gt 0 ]; then
        failures+=("$2: $(grep '^not ok ' "$1" | head -5 | tr '\n' ';')")
    fi
}

for t in ${UNIT_BINS:-}; do
    name=$(basename "$t")
    out="$log/$name.out"
    "$t" >"$out" 2>&1
    rc=$?
    cat "$out"
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ] && [ "${f:-0}" = 0 ]; then
        failed=$((failed + 1))
        failures+=("$name: exited $rc")
    elif [ "${f:-0}" != 0 ]; then
        failures+=("$name: ${f} failed")
    fi
done

run_tap() { # script: a TAP script, its output kept in $log
    local t=$1 name out rc
    name=$(basename "$t" .sh)
    out="$log/$(basename "$(dirname "$t")")-$name.out"
    echo "*** $name"
    bash "$t" >"$out" 2>&1
    rc=$?
    grep -E '^(ok|not ok) ' "$out"
    if [ $rc -ne 0 ] && ! grep -q '^not ok ' "$out"; then
        echo "not ok - $name exited $rc" >>"$out"
        tail -20 "$out"
    elif grep -q '^not ok ' "$out"; then
        sed -n '/^not ok /,/^ok /p' "$out" | head -60
    fi
    count_tap "$out" "$name"
}

for t in tests/golden.sh tests/integration/${TESTS:-t}*.sh; do
    [ -f "$t" ] || continue
    run_tap "$t"
done

slurm_tests=()
for t in tests/slurm/${TESTS:-t}*.sh; do
    [ -f "$t" ] && slurm_tests+=("$t")
done
if [ ${#slurm_tests[@]} -gt 0 ]; then
    # shellcheck source=tests/slurm/lib.sh
    if (. tests/slurm/lib.sh && slurm_available); then
        for t in "${slurm_tests[@]}"; do
            run_tap "$t"
        done
    else
        skip="SKIPPED: ${#slurm_tests[@]} Slurm tests: no Slurm cluster answers (bash tests/slurm/cluster-up.sh starts one)"
        echo "*** slurm"
        echo "$skip"
        skipped+=("$skip")
        if [ "${SLUICE_REQUIRE_SLURM:-}" = 1 ]; then
            echo "not ok - no Slurm cluster answers, and SLUICE_REQUIRE_SLURM=1 requires one"
            failed=$((failed + 1))
            failures+=("slurm: no Slurm cluster answers, and SLUICE_REQUIRE_SLURM=1 requires one")
        fi
    fi
fi

if [ "${FUZZ_SECONDS:-0}" -gt 0 ] && command -v clang >/dev/null; then
    echo "*** fuzz (${FUZZ_SECONDS}s)"
    if make --no-print-directory -s fuzz >"$log/fuzz-build.out" 2>&1; then
        mkdir -p "$log/corpus"
        cp tests/fuzz/corpus/* "$log/corpus/" 2>/dev/null
        if build/fuzz/fuzz_load -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=1024 -dict=tests/fuzz/fuzz_load.dict \
            -max_len=65536 "$log/corpus" tests/fuzz/corpus >"$log/fuzz.out" 2>&1; then
            echo "ok - fuzz_load ran ${FUZZ_SECONDS}s without a crash, leak or hang"
            passed=$((passed + 1))
        else
            tail -40 "$log/fuzz.out"
            echo "not ok - fuzz_load found a failure"
            failed=$((failed + 1))
            failures+=("fuzz_load")
        fi
    else
        cat "$log/fuzz-build.out"
        echo "not ok - fuzz target did not build"
        failed=$((failed + 1))
        failures+=("fuzz build")
    fi
fi

echo
for f in "${skipped[@]}"; do echo "$f"; done
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
