#!/usr/bin/env bash
# The Slurm executor against a plain shell loop, on the same cluster in the same run: N no-op
# steps (`run: "true"`, independent) through `sluice run` with `executor: slurm`, and a loop
# that submits the same N `sbatch --wrap true` one after the other (the same resources:
# --cpus-per-task=1 and no --mem, as sluice passes for a step without `resources:`) and
# waits until squeue lists none of them. Rounds alternate the two runners; the table gives
# medians over the rounds of the wall time, steps/s, submit→start latency percentiles (each
# round's p50/p90/p99), and the squeue/sacct calls per minute (each counted by a wrapper first on PATH that logs the
# call and execs the real command; sbatch and scancel likewise). Goal: sluice's squeue rate
# does not grow with the job count (hence two sizes); target: sluice <= 1.2x the loop's wall
# time. A benchmark reports; it does not assert (the cluster is shared and noisy).
#   STEPS="200 50"   sizes, each run ROUNDS times by both runners, each with its ratio
#   ROUNDS=3         rounds per size
#   MAX_JOBS=200     sluice run --max-jobs
#   RUN_TIMEOUT=600  seconds one run may take (sluice gets SIGINT and cancels its jobs; the
#                    loop's jobs are scancel'd); the whole bench is bounded by the sum
#   QUIET_WAIT=60    seconds to wait before each run for a queue empty of anyone's jobs
#   SLUICE=path      the binary (default ./sluice, the release build of `make sluice`)
#   KEEP=1           keep the scratch folder (its path is printed)
# Latency: for sluice from the store (attempts.queued_at, when sbatch answered → started_at,
# ms); for both from the job-completion log (SubmitTime → StartTime, whole seconds, so the two
# are compared on the same clock). "others" counts other users' jobs (e.g. tests running on the
# same cluster) whose run overlapped a round's: rounds with others are noisier. The wall time is
# also cut where Slurm started the first job and ended the last: what comes before and after is
# the runner's; the span between is the cluster's, and varies by itself (this node starts jobs
# only on its scheduler passes, 2 or 4 a second, in phases that come and go whatever runs them:
# a round in a 2/s phase takes ~30% longer, for the shell loop as for sluice). Every job this
# script makes is named sluice-bench-PID-… (the loop) or sluice-TAG-… (sluice's own, TAG from
# its store's workspace id); only those are ever cancelled, and only if a run is cut short.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
STEPS=${STEPS:-"200 50"}
ROUNDS=${ROUNDS:-3}
MAX_JOBS=${MAX_JOBS:-200}
RUN_TIMEOUT=${RUN_TIMEOUT:-600}
QUIET_WAIT=${QUIET_WAIT:-60}
# shellcheck source=tests/slurm/lib.sh
. "$ROOT/tests/slurm/lib.sh"

if ! command -v sbatch >/dev/null || ! command -v squeue >/dev/null || ! slurm_available; then
    echo "bench/slurm.sh: SKIPPED: no Slurm cluster answers here (sbatch, scontrol ping, node" \
        "'$SLURM_NODE' in sinfo); start one with 'make slurm-up' (as root)"
    exit 0
fi
command -v python3 >/dev/null || { echo "bench/slurm.sh: python3 is missing (make deps)"; exit 1; }
command -v sqlite3 >/dev/null || { echo "bench/slurm.sh: sqlite3 is missing (make deps)"; exit 1; }
if [ -n "${SLUICE:-}" ]; then
    :
elif make --no-print-directory -s sluice; then
    SLUICE=$ROOT/sluice
else
    echo "bench/slurm.sh: cannot build ./sluice" >&2
    exit 1
fi

REAL_SQUEUE=$(command -v squeue)
REAL_SCANCEL=$(command -v scancel)
W=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-slurm.XXXXXX")
RUNS=$W/runs.tsv   # one line per run, for the summary
PREFIXES=$W/prefixes # every job-name prefix of ours so far, for the cleanup
CALLS=$W/calls.log # one line per Slurm command the runners ran: its name
: >"$RUNS"
: >"$PREFIXES"
: >"$CALLS"

# Ours still in the queue (a run cut short): cancel them, by id, and nobody else's.
cancel_ours() {
    [ -s "$PREFIXES" ] || return 0
    local ids
    ids=$(timeout 20 "$REAL_SQUEUE" -h --me -o '%i %j' 2>/dev/null | awk -v pf="$PREFIXES" '
        BEGIN { while ((getline p < pf) > 0) if (p != "") P[++n] = p }
        { for (i = 1; i <= n; i++) if (index($2, P[i]) == 1) { print $1; break } }')
    [ -n "$ids" ] || return 0
    echo "bench/slurm.sh: cancelling $(echo "$ids" | wc -l) job(s) of ours left in the queue" >&2
    # shellcheck disable=SC2086
    timeout 30 "$REAL_SCANCEL" $ids 2>/dev/null || true
}
cleanup() {
    cancel_ours
    if [ "${KEEP:-}" = 1 ]; then echo "kept: $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Wrappers first on PATH for the runners under test (not for this script's own squeue calls):
# each logs its name and execs the real command; /bin/sh and a builtin echo, no fork.
mkdir -p "$W/bin"
for c in sbatch squeue sacct scancel; do
    real=$(command -v "$c") || continue
    printf '#!/bin/sh\necho %s >>%s\nexec %s "$@"\n' "$c" "'$CALLS'" "'$real'" >"$W/bin/$c"
    chmod +x "$W/bin/$c"
done
WPATH=$W/bin:$PATH

now_ms() { date +%s%3N; }
# cpu_ticks: "BUSY TOTAL" jiffies of the whole machine, for how busy it was during a run (this
# bench's own work included: compare rounds, a busy one had other work beside it)
cpu_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $2 + $3 + $4 + $5 + $6 + $7 + $8 }' /proc/stat; }
# cpu_busy "B0 T0" "B1 T1": percent
cpu_busy() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
    print (y[2] > x[2]) ? int(100 * (y[1] - x[1]) / (y[2] - x[2]) + 0.5) : "?" }'; }
calls_mark() { wc -l <"$CALLS"; }
# calls_since MARK NAME: how many NAME calls were logged after MARK lines
calls_since() { tail -n +"$(($1 + 1))" "$CALLS" | grep -cx "$2"; }

# jobs_prefixed PREFIX [squeue args]: how many jobs squeue lists whose name starts with PREFIX
jobs_prefixed() {
    local out
    out=$(timeout 20 "$REAL_SQUEUE" -h "${@:2}" -o %j 2>/dev/null) || return 1
    printf '%s\n' "$out" | awk -v p="$1" 'index($0, p) == 1 { n++ } END { print n + 0 }'
}

# wait_gone PREFIX SECONDS: until squeue lists none of ours named PREFIX* (untimed, between runs)
wait_gone() {
    local end=$((SECONDS + $2)) n
    while [ "$SECONDS" -lt "$end" ]; do
        n=$(jobs_prefixed "$1" --me) && [ "$n" = 0 ] && return 0
        sleep 0.25
    done
    return 1
}

# quiet: wait (at most QUIET_WAIT s) for a queue empty of anyone's jobs; prints how many are left
quiet() {
    local end=$((SECONDS + QUIET_WAIT)) n='?'
    while :; do
        n=$(timeout 20 "$REAL_SQUEUE" -h -o %i 2>/dev/null | wc -l) || n='?'
        [ "$n" = 0 ] || [ "$SECONDS" -ge "$end" ] && break
        sleep 1
    done
    echo "$n"
}

# wait_jobcomp PREFIX N: until the job-completion log has N lines of jobs named PREFIX*
wait_jobcomp() {
    [ -r "$SLURM_JOBCOMP_LOG" ] || return 0
    local n
    for _ in $(seq 80); do
        n=$(awk -v k=" Name=$1" 'index($0, k) { n++ } END { print n + 0 }' "$SLURM_JOBCOMP_LOG")
        [ "$n" -ge "$2" ] && return 0
        sleep 0.25
    done
}

# gen N FILE: N independent no-op steps, all on Slurm
gen() {
    awk -v n="$1" 'BEGIN {
        printf "pipeline: bench-slurm-%d\ndefaults: { executor: slurm }\nsteps:\n", n
        for (i = 0; i < n; i++)
            printf "  s%04d:\n    run: \"true\"\n", i
    }' >"$2"
}

# run_sluice N ROUND: prints "WALL_MS RC"; records the run in $RUNS
run_sluice() {
    local n=$1 r=$2 home=$W/sluice-$1-$2 tag mark t0 t1 rc
    mark=$(calls_mark)
    c0=$(cpu_ticks)
    t0=$(now_ms)
    PATH=$WPATH timeout --foreground -s INT -k 30 "$RUN_TIMEOUT" \
        "$SLUICE" --home "$home" run "$W/p$n.yaml" --max-jobs "$MAX_JOBS" >"$home.out" 2>&1
    rc=$?
    t1=$(now_ms)
    c1=$(cpu_ticks)
    # executor/slurm.c names jobs sluice-TAG-ATTEMPT, TAG from the store's workspace id
    tag=$(sqlite3 "$home/sluice.db" 'SELECT substr(id, 1, 12) FROM workspace' 2>/dev/null)
    echo "sluice-$tag-" >>"$PREFIXES"
    [ "$rc" = 124 ] && echo "   sluice: no end after $RUN_TIMEOUT s: interrupted" >&2
    [ "$rc" = 0 ] || { echo "   sluice exited $rc:" >&2; tail -5 "$home.out" >&2; }
    printf 'sluice\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$r" "$t0" "$t1" "$rc" \
        "$(calls_since "$mark" squeue)" "$(calls_since "$mark" sacct)" \
        "$(calls_since "$mark" sbatch)" "sluice-$tag-" "$home/sluice.db" "${QUIET_LEFT:-?}" \
        "$(cpu_busy "$c0" "$c1")" >>"$RUNS"
    wait_gone "sluice-$tag-" 60 || echo "   squeue still lists sluice's jobs 60 s after its end" >&2
    wait_jobcomp "sluice-$tag-" "$n"
    echo "$((t1 - t0)) $rc"
}

# run_loop N ROUND: the shell loop; prints "WALL_MS RC"; records the run in $RUNS
run_loop() {
    local n=$1 r=$2 prefix=sluice-bench-$$-$1-$2- d=$W/loop-$1-$2 mark t0 tsub t1 rc=0 i left
    mkdir -p "$d"
    echo "$prefix" >>"$PREFIXES"
    mark=$(calls_mark)
    c0=$(cpu_ticks)
    t0=$(now_ms)
    (
        cd "$d" || exit 1
        export PATH=$WPATH
        deadline=$(($(now_ms) + RUN_TIMEOUT * 1000))
        for i in $(seq "$n"); do
            timeout 60 sbatch --parsable --job-name="$prefix$i" --cpus-per-task=1 --wrap true >>ids ||
                echo "   loop: sbatch $i failed" >&2
        done
        now_ms >submitted
        while :; do
            left=$(squeue -h --me -o %j 2>/dev/null | awk -v p="$prefix" 'index($0, p) == 1 { n++ }
                END { print n + 0 }') && [ "$left" = 0 ] && exit 0
            [ "$(now_ms)" -ge "$deadline" ] && exit 124
            sleep 0.25
        done
    )
    rc=$?
    t1=$(now_ms)
    c1=$(cpu_ticks)
    [ "$rc" = 124 ] && echo "   loop: jobs still queued after $RUN_TIMEOUT s: cancelled" >&2 && cancel_ours
    tsub=$(cat "$d/submitted" 2>/dev/null || echo 0)
    printf 'loop\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$r" "$t0" "$t1" "$rc" \
        "$(calls_since "$mark" squeue)" "$(calls_since "$mark" sacct)" \
        "$(calls_since "$mark" sbatch)" "$prefix" "$tsub" "${QUIET_LEFT:-?}" \
        "$(cpu_busy "$c0" "$c1")" >>"$RUNS"
    wait_jobcomp "$prefix" "$n"
    echo "$((t1 - t0)) $rc"
}

echo "Slurm: $(timeout 10 sinfo -h -o '%P %D node(s) %c CPUs %T' 2>/dev/null | head -1);" \
    "sluice $SLUICE; $ROUNDS round(s) of: ${STEPS// /, } steps; --max-jobs $MAX_JOBS"
for n in $STEPS; do
    gen "$n" "$W/p$n.yaml"
    for r in $(seq "$ROUNDS"); do
        # alternate which runner goes first, so neither always follows the other
        if [ $((r % 2)) = 1 ]; then order="sluice loop"; else order="loop sluice"; fi
        for who in $order; do
            QUIET_LEFT=$(quiet)
            read -r ms rc < <("run_$who" "$n" "$r")
            last=$(tail -1 "$RUNS")
            printf '   %4s steps, round %d, %-6s %7.1f s  rc %s  squeue %s  sbatch %s  machine busy %s%%  (jobs of others queued at start: %s)\n' \
                "$n" "$r" "$who" "$(awk -v m="$ms" 'BEGIN { print m / 1000 }')" "$rc" \
                "$(cut -f7 <<<"$last")" "$(cut -f9 <<<"$last")" "$(cut -f13 <<<"$last")" "$QUIET_LEFT"
        done
    done
done

python3 - "$RUNS" "$SLURM_JOBCOMP_LOG" <<'PY'
import math, os, re, sqlite3, statistics, sys, time

runs_path, jobcomp = sys.argv[1], sys.argv[2]
runs = []
for line in open(runs_path):
    f = line.rstrip("\n").split("\t")
    runs.append(dict(who=f[0], n=int(f[1]), r=int(f[2]), t0=int(f[3]), t1=int(f[4]), rc=int(f[5]),
                     squeue=int(f[6]), sacct=int(f[7]), sbatch=int(f[8]), prefix=f[9], extra=f[10], busy=f[12]))

# The job-completion log (jobcomp/filetxt): one line per job, "JobId=12 … Name=NAME JobState=S
# … StartTime=T EndTime=T … SubmitTime=T …", times in slurmctld's local time, whole seconds.
jc = []  # (job id, name, state, submit, start, end), times in epoch seconds or None
line_re = re.compile(r"^JobId=(\S+) .*? Name=(.*?) JobState=(\S+) .*?StartTime=(\S+) "
                     r"EndTime=(\S+) .*?SubmitTime=(\S+)")
def ts(s):
    try:
        return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None  # "Unknown": never started
if os.access(jobcomp, os.R_OK):
    for line in open(jobcomp, errors="replace"):
        m = line_re.search(line)
        if m:
            jc.append((m.group(1), m.group(2), m.group(3), ts(m.group(6)), ts(m.group(4)),
                       ts(m.group(5))))
jc_state = {j[0]: j[2] for j in jc}
ours = [x["prefix"] for x in runs]

def pct(v, p):
    v = sorted(v)
    return v[max(0, math.ceil(p / 100 * len(v)) - 1)]
def median_pcts(per_round, digits):
    """p50/p90/p99 of each round, then the median of each over the rounds"""
    per_round = [v for v in per_round if v]
    if not per_round:
        return "n/a"
    return "/".join(f"{statistics.median(pct(v, p) for v in per_round):.{digits}f}"
                    for p in (50, 90, 99))

notes = []
rows_out = []
ratios = {}
med = lambda v, d=1: f"{statistics.median(v):.{d}f}" if v else "n/a"
for n in sorted({x["n"] for x in runs}, key=lambda k: -k):
    walls = {}
    whole = total = 0
    for who in ("sluice", "loop"):
        rs = [x for x in runs if x["n"] == n and x["who"] == who]
        if not rs:
            continue
        wall = statistics.median([(x["t1"] - x["t0"]) / 1000 for x in rs])
        walls[who] = wall
        store_lat, jc_lat, subs, first, span, after, rate, others = [], [], [], [], [], [], [], 0
        for x in rs:
            lo, hi = x["t0"] / 1000, x["t1"] / 1000
            where = f"{n} steps, round {x['r']}, {who}"
            jobs = [j for j in jc if j[1].startswith(x["prefix"])]
            ran = [j for j in jobs if j[4] is not None and j[5] is not None]
            jc_lat.append([j[4] - j[3] for j in ran if j[3] is not None])
            if ran:
                # where the wall time went: before Slurm started the first job, Slurm's own
                # span (first start to last end, whole seconds), after it ended the last one
                s0, s1 = min(j[4] for j in ran), max(j[5] for j in ran)
                first.append(s0 - lo)
                span.append(s1 - s0)
                after.append(hi - s1)
                rate.append(len(ran) / max(s1 - s0, 1))
                typical = statistics.median((y["t1"] - y["t0"]) / 1000 for y in runs if y["n"] == n)
                if hi - lo > 1.15 * typical:
                    notes.append(f"{where}: {hi - lo:.1f} s against a median of {typical:.1f} s: "
                                 f"{s0 - lo:.1f} s to the first start, Slurm's span {s1 - s0:.0f} s "
                                 f"({rate[-1]:.2f} starts/s), {hi - s1:.1f} s after the last end")
            o = sum(1 for j in jc if not any(j[1].startswith(p) for p in ours)
                    and j[4] is not None and j[5] is not None and j[4] <= hi + 1 and j[5] >= lo - 1)
            others += o
            if o:
                notes.append(f"{where}: {o} job(s) of others ran meanwhile")
            if x["rc"] != 0:
                notes.append(f"{where}: exited {x['rc']}"
                             + (" (cut short at RUN_TIMEOUT)" if x["rc"] == 124 else ""))
            if jc and len(jobs) < n:
                notes.append(f"{where}: {len(jobs)} of {n} jobs in the job-completion log")
            if who == "loop":
                if x["extra"] not in ("", "0"):
                    subs.append((int(x["extra"]) - x["t0"]) / 1000)
                continue
            try:
                db = sqlite3.connect(f"file:{x['extra']}?mode=ro", uri=True)
                rows = db.execute("select queued_at, started_at, status, job_id from attempts "
                                  "where executor = 'slurm' and queued_at > 0").fetchall()
                db.close()
            except sqlite3.Error as e:
                rows = []
                notes.append(f"{where}: no store ({e})")
            # started_at >= queued_at once the job started (before, it is the record time)
            store_lat.append([(s - q) / 1000 for q, s, *_ in rows if s >= q])
            whole += sum(1 for q, s, *_ in rows if s >= q and (s % 1000 == 0 or s == q))
            total += len(rows)
            if rows:
                subs.append((max(q for q, *_ in rows) - x["t0"]) / 1000)
            ok = sum(1 for r in rows if r[2] == "succeeded")
            if ok != n:
                bad = {}
                for r in rows:
                    if r[2] != "succeeded":
                        k = f"{r[2]} (its Slurm job {jc_state.get(r[3], 'not in the log')})"
                        bad[k] = bad.get(k, 0) + 1
                notes.append(f"{where}: {ok} of {n} attempts succeeded; the others: "
                             + ", ".join(f"{c} {k}" for k, c in bad.items()))
            if x["sbatch"] != n:
                notes.append(f"{where}: {x['sbatch']} sbatch calls for {n} steps")
        mins = sum((x["t1"] - x["t0"]) for x in rs) / 60000
        bs = [int(x["busy"]) for x in rs if x["busy"].isdigit()]
        rows_out.append(dict(
            n=n, who=who, wall=f"{wall:.1f}", sps=f"{n / wall:.2f}", subs=med(subs),
            first=med(first), span=med(span, 0), after=med(after), rate=med(rate, 2),
            others=others, busy=f"{statistics.median(bs):.0f}%" if bs else "?",
            store=median_pcts(store_lat, 2) if who == "sluice" else "-",
            jcl=median_pcts(jc_lat, 0),
            sq=f"{sum(x['squeue'] for x in rs) / mins:.0f}" if mins else "?",
            sa=f"{sum(x['sacct'] for x in rs) / mins:.0f}" if mins else "?",
            sb="/".join(sorted({str(x["sbatch"]) for x in rs}))))
    if "sluice" in walls and "loop" in walls:
        ratios[n] = walls["sluice"] / walls["loop"]
    if whole:
        notes.append(f"{n} steps: {whole} of {total} of sluice's started_at are squeue's StartTime "
                     "(whole seconds, or clamped to queued_at), the rest the shim's own clock")

def table(cols):
    w = [max(len(h), *(len(str(r[k])) for r in rows_out)) for h, k in cols]
    print("  ".join(h.rjust(x) if i != 1 else h.ljust(x) for i, ((h, _), x) in enumerate(zip(cols, w))))
    for r in rows_out:
        print("  ".join(str(r[k]).rjust(x) if i != 1 else str(r[k]).ljust(x)
                        for i, ((_, k), x) in enumerate(zip(cols, w))))
print()
table([("steps", "n"), ("runner", "who"), ("wall s", "wall"), ("steps/s", "sps"),
       ("submitted s", "subs"), ("1st start s", "first"), ("slurm span s", "span"),
       ("after end s", "after"), ("slurm starts/s", "rate"), ("others", "others"),
       ("busy", "busy")])
print()
table([("steps", "n"), ("runner", "who"), ("latency store p50/p90/p99 s", "store"),
       ("jobcomp p50/p90/p99 s", "jcl"), ("squeue/min", "sq"), ("sacct/min", "sa"),
       ("sbatch/run", "sb")])
print()
print("wall: median of the rounds, from the runner's start to its end (sluice: its exit; the loop:")
print("squeue lists none of its jobs); submitted: median time until the last job was submitted;")
print("1st start, slurm span, after end: the wall time cut where Slurm started the first job and")
print("ended the last (jobcomp, whole seconds): the runner's own cost is before and after, the span")
print("is the cluster's (its starts/s: this node starts jobs only on its scheduler passes, 2 or 4/s);")
print("latency submit->start: each round's percentiles, median over the rounds (store: sluice's own")
print("record, ms; jobcomp: Slurm's, whole seconds); squeue/sacct per minute: all calls over the")
print("runs' summed wall time (the loop polls every 0.25 s, its own choice); sbatch: calls per run;")
print("others: other users' jobs that ran during the rounds; busy: the machine's CPUs, median over")
print("the rounds, this bench included (both are noise: compare rounds with the per-round lines)")
for n, ratio in ratios.items():
    cut = any(x["rc"] == 124 for x in runs if x["n"] == n)
    print(f"{n} steps: sluice / loop wall time = {ratio:.2f}x (target <= 1.2x: "
          + ("n/a, a run was cut short at RUN_TIMEOUT)" if cut else
             f"{'met' if ratio <= 1.2 else 'MISSED'})"))
sizes = sorted({x["n"] for x in runs if x["who"] == "sluice"})
if len(sizes) > 1:
    rate = {}
    for n in sizes:
        rs = [x for x in runs if x["n"] == n and x["who"] == "sluice"]
        rate[n] = sum(x["squeue"] for x in rs) / (sum(x["t1"] - x["t0"] for x in rs) / 60000)
    lo, hi = min(rate.values()), max(rate.values())
    if lo:
        print("sluice's squeue calls per minute by job count: "
              + ", ".join(f"{n}: {rate[n]:.0f}" for n in sizes)
              + f" (spread {hi / lo:.2f}x; goal: independent of the job count)")
for s in notes:
    print("note:", s)
PY
exit 0
