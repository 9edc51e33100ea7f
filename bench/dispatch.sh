#!/usr/bin/env bash
# Dispatch overhead: no-op DAGs run by `sluice run --parallel 2`, `ninja -j2` and `make -j2` on
# equivalent build files, in the same script on the same machine. Prints wall time per step,
# sluice's ratio to each peer, and sluice's peak RSS. Every sluice attempt is recorded in SQLite.
# A fourth runner, bench/floor.c, does only the file work DESIGN.md asks of every attempt (three
# folders, a log, an exit.json renamed into place, the step in its own session) in a blocking
# loop with no engine and no store: "floor" tells how much of sluice's time is the contract.
# A benchmark reports; it does not assert (these machines are noisy).
#   SLUICE=./sluice  ROUNDS=3  TMPDIR=/tmp  bench/dispatch.sh
# sluice creates five inodes per step (the attempt's folders, its log and exit.json), make and
# ninja none: run it where nothing was deleted in the last minutes (see the note in the loop).
set -euo pipefail
cd "$(dirname "$0")/.."
SLUICE=${SLUICE:-$PWD/sluice}
ROUNDS=${ROUNDS:-3}
[ -x "$SLUICE" ] || make -s sluice
command -v ninja >/dev/null || { echo "ninja is missing: apt-get install ninja-build"; exit 1; }
W=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
${CC:-cc} -O2 -o "$W/floor" bench/floor.c

# gen SHAPE: writes $W/SHAPE/{p.yaml,build.ninja,Makefile}; prints the step count
gen() {
    local shape=$1 d=$W/$1
    mkdir -p "$d"
    python3 - "$shape" "$d" <<'PY'
import sys
shape, d = sys.argv[1], sys.argv[2]
steps = []  # (name, [deps])
if shape == "wide":
    steps = [(f"s{i}", []) for i in range(1000)]
elif shape == "chain":
    steps = [(f"s{i}", [f"s{i-1}"] if i else []) for i in range(200)]
else:
    for l in range(20):
        for k in range(50):
            steps.append((f"s{l}_{k}", [f"s{l-1}_{q}" for q in range(50)] if l else []))
with open(f"{d}/p.yaml", "w") as f:
    f.write(f"pipeline: bench-{shape}\nsteps:\n")
    for n, deps in steps:
        f.write(f"  {n}:\n    run: \"true\"\n")
        if deps:
            f.write(f"    needs: [{', '.join(deps)}]\n")
with open(f"{d}/build.ninja", "w") as f:
    f.write("rule t\n  command = true\n")
    for n, deps in steps:
        f.write(f"build {n}: t{' | ' + ' '.join(deps) if deps else ''}\n")
with open(f"{d}/Makefile", "w") as f:
    f.write(".PHONY: all " + " ".join(n for n, _ in steps) + "\nall: " + " ".join(n for n, _ in steps) + "\n")
    for n, deps in steps:
        f.write(f"{n}: {' '.join(deps)}\n\t@true\n")
print(len(steps))
PY
}

now_ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

layer_of() { case $1 in wide) echo "$2" ;; chain) echo 1 ;; *) echo 50 ;; esac; }

printf '%-8s %6s  %10s %10s %10s %10s  %8s %8s %8s %8s  %8s\n' shape steps "sluice" "floor" "ninja" \
    "make" "/ninja" "/make" "/floor" "floor/" "rss"
for shape in wide chain layered; do
    n=$(gen "$shape")
    d=$W/$shape
    ts=() tf=() tn=() tm=()
    rss=0
    for r in $(seq "$ROUNDS"); do
        # interleaved rounds: each runner sees the same machine state. Each round gets a fresh
        # workspace and none is deleted before the end: on ext4 without a journal (these
        # machines), creating an inode skips every inode of its group deleted in the last minutes,
        # so removing thousands of files between rounds would slow the next round's creations
        # several-fold — a cost of this script, not of sluice (a workspace only grows).
        home=$d/.sluice-$r
        t0=$(now_ms)
        /usr/bin/time -f '%M' -o "$d/rss" "$SLUICE" --home "$home" run "$d/p.yaml" --parallel 2 >/dev/null 2>&1
        ts+=($(( $(now_ms) - t0 )))
        rss=$(cat "$d/rss")
        recorded=$(sqlite3 "$home/sluice.db" "select count(*) from attempts where status='succeeded'")
        [ "$recorded" = "$n" ] || echo "warning: $recorded of $n attempts recorded" >&2
        rm -f "$d/.ninja_log" "$d/.ninja_deps"
        t0=$(now_ms)
        (cd "$d" && ninja -j2 >/dev/null)
        tn+=($(( $(now_ms) - t0 )))
        t0=$(now_ms)
        make -s -j2 -C "$d" >/dev/null
        tm+=($(( $(now_ms) - t0 )))
        t0=$(now_ms)
        "$W/floor" "$d/floor-$r" "$n" "$(layer_of "$shape" "$n")" 2
        tf+=($(( $(now_ms) - t0 )))
    done
    s=$(printf '%s\n' "${ts[@]}" | median)
    nn=$(printf '%s\n' "${tn[@]}" | median)
    m=$(printf '%s\n' "${tm[@]}" | median)
    f=$(printf '%s\n' "${tf[@]}" | median)
    awk -v shape="$shape" -v n="$n" -v s="$s" -v f="$f" -v nn="$nn" -v m="$m" -v rss="$rss" 'BEGIN {
        best = nn < m ? nn : m
        printf "%-8s %6d  %7.2f ms %7.2f ms %7.2f ms %7.2f ms  %7.2fx %7.2fx %7.2fx %7.2fx  %5.1f MB\n",
            shape, n, s / n, f / n, nn / n, m / n, s / nn, s / m, s / f, f / best, rss / 1024 }'
done
echo "(wall time per step, medians of $ROUNDS interleaved rounds; target: sluice <= 1.25x the floor"
echo " runner (/floor); /ninja, /make: sluice over each; floor/: the floor over the faster of them)"
