#!/usr/bin/env bash
# Browser tests of the page: tests/e2e/e2e.js drives Debian's Chromium (headless, never a
# downloaded browser) with playwright-core from npm against a real `sluice serve`. Prints TAP;
# when node, Chromium or playwright-core cannot be had, one "ok 1 - # SKIP reason" line.
#   SLUICE_BIN  the binary under test (default: build/asan/sluice, else ./sluice)
#   CHROMIUM    the browser (default /usr/bin/chromium; installed with apt-get when root)
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ -z "${SLUICE_BIN:-}" ]; then
    SLUICE_BIN=$root/build/asan/sluice
    [ -x "$SLUICE_BIN" ] || SLUICE_BIN=$root/sluice
fi
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

skip() {
    echo "ok 1 - # SKIP $*"
    echo "1..1"
    exit 0
}

command -v node >/dev/null 2>&1 || skip "node is not installed"
if [ ! -x "$CHROMIUM" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # allowed here: Debian's own package, as CI runs as root (a stale package list needs an update)
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq chromium >/dev/null 2>&1 ||
        { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }
fi
[ -x "$CHROMIUM" ] || skip "no Chromium at '$CHROMIUM' (apt-get install chromium)"
if [ ! -f "$here/node_modules/playwright-core/package.json" ]; then
    command -v npm >/dev/null 2>&1 || skip "npm is not installed"
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error >/dev/null 2>&1) ||
        skip "cannot install playwright-core from npm"
fi
if [ ! -x "$SLUICE_BIN" ]; then
    echo "not ok 1 - no sluice binary at '$SLUICE_BIN'"
    echo "1..1"
    exit 1
fi
# the whole run stays well under the 90 s budget; a hang must not outlive it
export SLUICE_BIN CHROMIUM
exec timeout -k 5 120 node "$here/e2e.js"
