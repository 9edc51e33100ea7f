#!/usr/bin/env bash
# Start a real single-node Slurm cluster on this machine for the Slurm tests (tests/slurm/t*.sh):
# Debian's munge, slurmctld and slurmd (installed when missing), one node — this host, at
# 127.0.0.1, with its CPUs and 90 % of its memory (a job without --mem gets one CPU's share) —
# in one partition, `debug`.
# Idempotent: with the cluster up it changes nothing and exits 0 at once; when slurm.conf
# changed it restarts the daemons it started. What it starts is recorded in
# /var/lib/sluice-slurm/started.pids, for cluster-down.sh. Logs: /var/log/sluice-slurm/.
#   bash tests/slurm/cluster-up.sh     (as root, or through sudo; `make slurm-up`)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/daemons.sh
. "$here/daemons.sh"
t0=$EPOCHREALTIME
CONF=/etc/slurm/slurm.conf
PACKAGES=(slurmctld slurmd slurm-client munge)
NODE_WAIT=60   # seconds for the node to become idle

if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null; then
        exec sudo bash "$0" "$@"
    fi
    echo "cluster-up.sh: must run as root: slurmd runs jobs as their users, munged as munge" >&2
    exit 1
fi

elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

# fail MESSAGE — say what failed, with the tails of the daemons' logs, and exit 1.
fail() {
    local f
    echo "cluster-up.sh: $1" >&2
    for f in "$SLURM_LOGS/slurmctld.log" "$SLURM_LOGS/slurmd.log" /var/log/munge/munged.log; do
        if [ -s "$f" ]; then
            echo "--- last lines of $f" >&2
            tail -15 "$f" >&2
        fi
    done
    echo "cluster-up.sh: failed after $(elapsed) s" >&2
    exit 1
}

munge_answers() { timeout 5 munge -n 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; }
ctld_answers() { timeout 10 scontrol ping 2>/dev/null | grep -q 'is UP'; }
node_state() { timeout 10 sinfo -h -n "$host" -o %T 2>/dev/null | head -1 || true; }

# start_daemon NAME PIDFILE COMMAND... — run COMMAND (it daemonizes), wait for PIDFILE to
# name a live NAME, and record it in started.pids.
start_daemon() {
    local name=$1 pidfile=$2 pid=
    shift 2
    rm -f "$pidfile"
    # 9>&-: the daemon must not inherit the lock's descriptor (it would hold the lock forever)
    "$@" 9>&- || fail "$name did not start: '$*' exited $?"
    for _ in $(seq 150); do
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && proc_live "$pid" "$name"; then
            echo "$name $pid $(proc_start "$pid")" >>"$STARTED"
            echo "started $name (pid $pid)"
            return 0
        fi
        sleep 0.1
    done
    fail "$name started but its pid file $pidfile names no live $name after 15 s${pid:+ (it says $pid)}"
}

# 1. Packages, only what is missing; apt-get update only then.
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    # No service may start from the packages (there is no slurm.conf yet, and this script
    # starts the daemons itself): a policy-rc.d that says so, for the install only.
    policy=
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 0755 /usr/sbin/policy-rc.d
        policy=1
    fi
    rc=0
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; } || rc=$?
    [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || fail "apt-get could not install ${missing[*]} (exit $rc)"
fi

install -d -m 0755 "$SLURM_STATE" "$SLURM_STATE/ctld" "$SLURM_STATE/d" "$SLURM_LOGS" /etc/slurm
exec 9>"$SLURM_STATE/lock"
flock -w 120 9 || fail "another cluster-up.sh or cluster-down.sh holds $SLURM_STATE/lock for 120 s"
export SLUICE_SLURM_LOCKED=1   # for the cluster-down.sh we may run
prune_started

# 2. munge: a key, its run folder, and munged unless one answers.
if [ ! -s /etc/munge/munge.key ]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile=/etc/munge/munge.key
    else
        (umask 077 && dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none)
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    echo "created /etc/munge/munge.key"
fi
install -d -o munge -g munge -m 0755 /run/munge
if ! munge_answers; then
    if pid=$(find_proc munged); then
        fail "munged (pid $pid) runs but does not answer 'munge -n | unmunge'"
    fi
    start_daemon munged /run/munge/munged.pid runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge_answers && break
        sleep 0.1
    done
    munge_answers || fail "munged started but 'munge -n | unmunge' fails after 5 s"
fi

# 3. slurm.conf, rewritten only when it differs.
host=$(hostname -s 2>/dev/null || uname -n)
host=${host%%.*}
cpus=$(nproc)
mem_mib=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024))
real_mem=$((mem_mib * 9 / 10))
# A job without --mem gets its share per CPU, not the whole node (Slurm's default with
# CR_Core_Memory): otherwise one job at a time would run.
mem_per_cpu=$((real_mem / cpus))
# The topology slurmd finds, so that it does not complain, when its CPU count is nproc's.
topology=
read -r -a hw <<<"$(slurmd -C 2>/dev/null | head -1 || true)"
hw_cpus='' boards='' sockets='' cores='' threads=''
for kv in "${hw[@]}"; do
    case $kv in
    CPUs=*) hw_cpus=${kv#*=} ;;
    Boards=*) boards=${kv#*=} ;;
    SocketsPerBoard=*) sockets=${kv#*=} ;;
    CoresPerSocket=*) cores=${kv#*=} ;;
    ThreadsPerCore=*) threads=${kv#*=} ;;
    esac
done
if [ "$hw_cpus" = "$cpus" ] && [ -n "$boards" ] && [ -n "$sockets" ] && [ -n "$cores" ] && [ -n "$threads" ]; then
    topology=" Boards=$boards SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads"
fi

conf=$(
    cat <<CONF
# Written by sluice's tests/slurm/cluster-up.sh (a single-node test cluster); rewritten by
# every run of it, which restarts the daemons it started when this changes.
ClusterName=sluice
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SLURM_STATE/ctld
SlurmdSpoolDir=$SLURM_STATE/d
SlurmctldPidFile=$SLURM_STATE/slurmctld.pid
SlurmdPidFile=$SLURM_STATE/slurmd.pid
SlurmctldLogFile=$SLURM_LOGS/slurmctld.log
SlurmdLogFile=$SLURM_LOGS/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM_LOGS/jobcomp.log
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=30
MaxArraySize=10001
MaxJobCount=20000
DefMemPerCPU=$mem_per_cpu
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus$topology RealMemory=$real_mem State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
)
conf_changed=
if [ "$(cat "$CONF" 2>/dev/null || true)" != "$conf" ]; then
    printf '%s\n' "$conf" >"$CONF.tmp"
    mv "$CONF.tmp" "$CONF"
    conf_changed=1
    echo "wrote $CONF"
fi

# 4. A changed slurm.conf: restart the daemons this script started; others only reread it.
if [ -n "$conf_changed" ]; then
    restart=()
    for name in slurmd slurmctld; do
        if started_pid "$name" >/dev/null; then
            restart+=("$name")
        elif pid=$(find_proc "$name"); then
            echo "cluster-up.sh: $name (pid $pid) was not started by cluster-up.sh: it only rereads slurm.conf (scontrol reconfigure)" >&2
        fi
    done
    if [ ${#restart[@]} -gt 0 ]; then
        echo "slurm.conf changed: restarting ${restart[*]}"
        bash "$here/cluster-down.sh" "${restart[@]}" || fail "could not stop ${restart[*]} to restart them"
    elif ctld_answers; then
        timeout 30 scontrol reconfigure || fail "scontrol reconfigure failed after slurm.conf changed"
    fi
fi

# 5. slurmctld and slurmd, unless they run (and slurmctld answers).
if ! ctld_answers; then
    if pid=$(find_proc slurmctld); then
        for _ in $(seq 100); do   # it may still be starting
            ctld_answers && break
            sleep 0.1
        done
        ctld_answers || fail "slurmctld (pid $pid) runs but does not answer 'scontrol ping' after 10 s"
    else
        start_daemon slurmctld "$SLURM_STATE/slurmctld.pid" slurmctld -i
        for _ in $(seq 150); do
            ctld_answers && break
            sleep 0.1
        done
        ctld_answers || fail "slurmctld started but does not answer 'scontrol ping' after 15 s"
    fi
fi
if ! find_proc slurmd >/dev/null; then
    start_daemon slurmd "$SLURM_STATE/slurmd.pid" slurmd
fi

# 6. The node: idle (or busy), resumed if it came up down or drained.
deadline=$((SECONDS + NODE_WAIT))
resumed=-100   # SECONDS counts from this shell's start: resume at once the first time
while :; do
    state=$(node_state)
    case $state in
    idle | mixed | allocated | completing | planned) break ;;
    down | drained | draining | drain | fail | failing)
        if [ $((SECONDS - resumed)) -ge 5 ]; then   # at most every 5 s
            reason=$(timeout 10 sinfo -h -n "$host" -o %E 2>/dev/null | head -1 || true)
            echo "node $host is $state${reason:+ ($reason)}: scontrol update nodename=$host state=resume"
            timeout 10 scontrol update nodename="$host" state=resume || true
            resumed=$SECONDS
        fi
        ;;
    esac
    if [ "$SECONDS" -ge "$deadline" ]; then
        fail "node $host is '${state:-not listed by sinfo}' after $NODE_WAIT s, not idle"
    fi
    sleep 0.2
done
echo "slurm cluster up in $(elapsed) s: node $host $state, $cpus cpus, ${real_mem} MiB, partition debug"
