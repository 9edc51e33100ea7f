#!/usr/bin/env bash
# How fast `sluice validate` loads big pipelines: 1,000 and 10,000 steps in three shapes
# (wide: independent steps; chain: each needs the previous one; layered: layers of W, each
# step needing every step of the layer before). Prints time and peak RSS per file; the target
# is 10,000 steps in < 150 ms and < 64 MB. A benchmark reports; it does not fail on a miss.
# Steps are lean (run: and needs: only) because the loader refuses documents of more than
# 100,000 YAML nodes (DESIGN.md, hostile files): 10,000 steps have about 10 nodes each.
#   RUNS=N           timed runs per file (default 10)
#   SLUICE_BIN=PATH  the binary to measure (default: ./sluice, built with `make sluice`)
set -u
cd "$(dirname "$0")/.." || exit 1
RUNS=${RUNS:-10}
# Steps per layer: 10 at 1,000 steps; 3 at 10,000, since a step needing 10 others is 16 YAML
# nodes and 10,000 of them pass the loader's 100,000-node cap.
width_for() { if [ "$1" -ge 10000 ]; then echo 3; else echo 10; fi; }

if [ -n "${SLUICE_BIN:-}" ]; then
    SLUICE=$SLUICE_BIN
else
    if ! make --no-print-directory -s sluice; then
        echo "bench/load.sh: cannot build ./sluice" >&2
        exit 1
    fi
    SLUICE=$PWD/sluice
fi
tmp=$(mktemp -d /tmp/sluice-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# gen SHAPE N WIDTH FILE: write a pipeline of N command steps.
gen() {
    awk -v shape="$1" -v n="$2" -v w="$3" 'BEGIN {
        printf "pipeline: bench-%s-%d\nparams:\n  x: 1\nsteps:\n", shape, n
        for (i = 0; i < n; i++) {
            printf "  s%05d:\n    run: echo %d ${{ params.x }}\n", i, i
            if (shape == "chain" && i > 0)
                printf "    needs: [s%05d]\n", i - 1
            if (shape == "layered" && i >= w) {
                first = (int(i / w) - 1) * w
                printf "    needs: ["
                for (j = first; j < first + w; j++)
                    printf "%ss%05d", (j > first ? ", " : ""), j
                printf "]\n"
            }
        }
    }' >"$4"
}

edges() { # SHAPE N WIDTH
    case $1 in
    wide) echo 0 ;;
    chain) echo $(($2 - 1)) ;;
    layered) echo $((($2 > $3 ? $2 - $3 : 0) * $3)) ;;
    esac
}

# time_ms FILE: prints "MEAN STDDEV" in milliseconds.
time_ms() {
    if command -v hyperfine >/dev/null; then
        hyperfine -N --style none --warmup 2 --runs "$RUNS" --export-csv "$tmp/t.csv" \
            "$SLUICE validate $1" >/dev/null 2>&1 || { echo "n/a n/a"; return; }
        awk -F, 'NR == 2 { printf "%.1f %.1f\n", $2 * 1000, $3 * 1000 }' "$tmp/t.csv"
    else
        local i t0 t1
        "$SLUICE" validate "$1" >/dev/null 2>&1 # warm the page cache
        for ((i = 0; i < RUNS; i++)); do
            t0=$(date +%s%N)
            "$SLUICE" validate "$1" >/dev/null 2>&1
            t1=$(date +%s%N)
            echo $(((t1 - t0) / 1000))
        done | awk '{ s += $1; q += $1 * $1 } END {
            m = s / NR; v = q / NR - m * m
            printf "%.1f %.1f\n", m / 1000, sqrt(v > 0 ? v : 0) / 1000 }'
    fi
}

# rss_mb FILE: peak resident memory of one run, in MB: from GNU time, else from a tiny C
# wrapper's wait4() (a wrapper in a script language would add its own memory to the peak:
# the kernel keeps the high-water mark across fork and exec).
rss_mb() {
    local kb=
    if [ -x /usr/bin/time ]; then
        kb=$(/usr/bin/time -f %M "$SLUICE" validate "$1" 2>&1 >/dev/null | tail -1)
    else
        if [ ! -x "$tmp/maxrss" ] && command -v cc >/dev/null; then
            cc -O2 -o "$tmp/maxrss" -x c - <<'EOF' 2>/dev/null
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    (void)argc;
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[1], argv + 1);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0)
        return 1;
    fprintf(stderr, "%ld\n", ru.ru_maxrss);
    return 0;
}
EOF
        fi
        if [ -x "$tmp/maxrss" ]; then
            kb=$("$tmp/maxrss" "$SLUICE" validate "$1" 2>&1 >/dev/null | tail -1)
        fi
    fi
    case $kb in
    '' | *[!0-9]*) echo "n/a" ;;
    *) awk -v kb="$kb" 'BEGIN { printf "%.1f\n", kb / 1024 }' ;;
    esac
}

printf '%-10s %6s %7s %8s %14s %7s  %s\n' shape steps edges "size KB" "time ms" "RSS MB" target
for n in 1000 10000; do
    w=$(width_for "$n")
    for shape in wide chain layered; do
        f=$tmp/$shape-$n.yaml
        gen "$shape" "$n" "$w" "$f"
        size=$(($(wc -c <"$f") / 1024))
        label=$shape
        [ "$shape" = layered ] && label="layered/$w"
        if ! "$SLUICE" validate "$f" >/dev/null 2>"$tmp/err"; then
            printf '%-10s %6s %7s %8s  invalid: %s\n' "$label" "$n" "$(edges "$shape" "$n" "$w")" \
                "$size" "$(head -1 "$tmp/err")"
            continue
        fi
        read -r mean sd < <(time_ms "$f")
        rss=$(rss_mb "$f")
        verdict=
        if [ "$n" = 10000 ]; then
            verdict=$(awk -v t="$mean" -v m="$rss" 'BEGIN {
                fast = t != "n/a" && t + 0 < 150; small = m == "n/a" || m + 0 < 64
                print (fast && small) ? "ok" : "MISSED" }')
        fi
        printf '%-10s %6s %7s %8s %14s %7s  %s\n' "$label" "$n" "$(edges "$shape" "$n" "$w")" \
            "$size" "$mean ± $sd" "$rss" "$verdict"
    done
done
echo "target: 10,000 steps validated in < 150 ms with < 64 MB peak RSS" \
    "($(command -v hyperfine >/dev/null && echo hyperfine || echo date loop), $RUNS runs)"
exit 0
