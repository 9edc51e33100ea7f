# Helpers for integration tests, after git's t/test-lib.sh. Source it first:
#   . "$(dirname "$0")/lib.sh"
# Each test runs in its own temporary workspace ($TRASH, the current folder), with
# SLUICE_HOME unset so that .sluice/ lands there. Output is TAP: "ok N - desc".
set -u
SLUICE=${SLUICE_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build/asan/sluice}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TRASH=$(mktemp -d /tmp/sluice-t.XXXXXX)
unset SLUICE_HOME
cd "$TRASH" || exit 1
test_count=0
test_failed=0
trap 'cleanup_trash' EXIT
cleanup_trash() {
    [ -n "${TEST_KEEP:-}" ] || rm -rf "$TRASH"
}

sluice() { "$SLUICE" "$@"; }

_report() { # status desc
    test_count=$((test_count + 1))
    if [ "$1" = 0 ]; then
        echo "ok $test_count - $2"
    else
        test_failed=$((test_failed + 1))
        echo "not ok $test_count - $2"
    fi
}

# expect_success DESC 'shell code' — the code must exit 0.
expect_success() {
    local desc=$1 code=$2 out rc
    out=$(eval "$code" 2>&1)
    rc=$?
    if [ $rc -ne 0 ]; then
        printf '%s\n' "$out" | sed 's/^/# /' | tail -40
        echo "# exited $rc"
    fi
    _report $rc "$desc"
}

# expect_failure DESC 'shell code' — the code must exit non-zero.
expect_failure() {
    local desc=$1 code=$2 out rc
    out=$(eval "$code" 2>&1)
    rc=$?
    if [ $rc -eq 0 ]; then
        printf '%s\n' "$out" | sed 's/^/# /' | tail -40
        echo "# exited 0, expected a failure"
        _report 1 "$desc"
    else
        _report 0 "$desc"
    fi
}

# expect_exit STATUS DESC 'shell code' — the code must exit with STATUS.
expect_exit() {
    local want=$1 desc=$2 code=$3 out rc
    out=$(eval "$code" 2>&1)
    rc=$?
    if [ $rc -ne "$want" ]; then
        printf '%s\n' "$out" | sed 's/^/# /' | tail -40
        echo "# exited $rc, expected $want"
        _report 1 "$desc"
    else
        _report 0 "$desc"
    fi
}

# test_cmp EXPECTED ACTUAL — files must be equal; shows a diff otherwise.
test_cmp() { diff -u "$1" "$2"; }

# wait_for FILE [SECONDS]: until FILE exists and is not empty (5 s by default)
wait_for() {
    local i
    for i in $(seq $((${2:-5} * 10))); do
        [ -s "$1" ] && return 0
        sleep 0.1
    done
    echo "no $1 after ${2:-5} s"
    return 1
}

# done_testing — call last.
done_testing() {
    echo "# $test_count tests, $test_failed failed"
    [ "$test_failed" -eq 0 ]
}
