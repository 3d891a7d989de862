#!/usr/bin/env bash
# Start a real one-node SLURM cluster on this machine (Debian's slurm-wlm + munge), for tests and CI.
# Runs as root, without systemd (containers/CI): every daemon is started by hand here.
# Idempotent: if the cluster already answers with a healthy node, it only prints the status line.
# down.sh stops it again.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
LOGDIR=/var/log/slurm
STATEDIR=/var/lib/slurm/slurmctld
SPOOLDIR=/var/lib/slurm/slurmd
PARTITION=debug
TIMEOUT=60 # seconds to wait for the node to become usable

die() {
    echo "slurm up: FAILED: $*" >&2
    for log in "$LOGDIR/slurmctld.log" "$LOGDIR/slurmd.log" /var/log/munge/munged.log; do
        [[ -s $log ]] && { echo "--- tail of $log" >&2; tail -n 15 "$log" >&2; }
    done
    exit 1
}

[[ $(id -u) == 0 ]] || die "must run as root (installs packages, starts daemons)"

# Node state as sinfo shows it (idle, mixed, allocated, down, drained, ...), empty if no answer.
node_state() { timeout 10 sinfo -h -p "$PARTITION" -o %T 2>/dev/null | head -n1 || true; }
# "Healthy" means the node takes jobs: idle/mixed, or busy with other jobs (allocated/completing).
healthy() { [[ $(node_state) =~ ^(idle|mixed|allocated|completing)$ ]]; }
status_line() {
    local node cpus
    node=$(sinfo -h -p "$PARTITION" -o %N | head -n1)
    cpus=$(sinfo -h -p "$PARTITION" -o %c | head -n1)
    echo "slurm up: node $node, partition $PARTITION, $cpus cpus"
}

munge_ok() { timeout 5 munge -n </dev/null 2>/dev/null | timeout 5 unmunge >/dev/null 2>&1; }
daemons_alive() { pgrep -x slurmctld >/dev/null && pgrep -x slurmd >/dev/null && munge_ok; }

# --- 0. already up (all three daemons alive, node takes jobs)? then nothing to do.
if command -v sinfo >/dev/null && daemons_alive && healthy; then
    status_line
    exit 0
fi

# --- 1. packages, only when a daemon binary is missing (apt is slow and needs the network).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    echo "slurm up: installing slurm-wlm and munge with apt" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null || die "apt-get install failed"
fi

# --- 2. munge: SLURM authenticates every message with it. The key must belong to the munge user
# and be readable by it alone, or munged refuses to start.
KEY=/etc/munge/munge.key
if [[ ! -s $KEY ]]; then
    install -d -o munge -g munge -m 0700 /etc/munge
    if command -v mungekey >/dev/null; then
        mungekey --create --keyfile="$KEY" --force
    else
        dd if=/dev/urandom of="$KEY" bs=1024 count=1 status=none
    fi
fi
chown munge:munge "$KEY"
chmod 0400 "$KEY"
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! munge_ok; then
    # A stale pidfile/socket from a killed munged would stop a new one from binding.
    rm -f /run/munge/munged.pid /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    runuser -u munge -- /usr/sbin/munged || die "munged did not start"
    for _ in $(seq 20); do
        munge_ok && break
        sleep 0.25
    done
    munge_ok || die "munge does not answer after starting munged"
fi

# --- 3. slurm.conf for one node: this machine, its CPUs and memory as slurmd sees them.
# The node is named after `hostname -s` (slurmd finds its own entry by that name), but is reached
# at 127.0.0.1 so nothing depends on the container's DNS or /etc/hosts.
NODE=$(hostname -s)
# slurmd -C prints e.g. "NodeName=vm CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2
# ThreadsPerCore=1 RealMemory=24105": keep the hardware fields, our NodeName/NodeAddr go first.
HW=$(slurmd -C | head -n1) || die "slurmd -C failed"
HW=${HW#NodeName=* }
CPUS=$(sed -n 's/.*\bCPUs=\([0-9]*\).*/\1/p' <<<"$HW")
[[ -n $CPUS ]] || die "could not read CPUs from slurmd -C: $HW"

mkdir -p /etc/slurm
install -d -m 0755 "$LOGDIR" "$STATEDIR" "$SPOOLDIR"
NEW_CONF=$(
    cat <<EOF
# Written by scripts/slurm/up.sh: a one-node cluster for tests and CI. Edits are overwritten.
ClusterName=local
SlurmctldHost=$NODE(127.0.0.1)
# root runs everything: tests run as root, and it spares us permission juggling on state dirs.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also sets how long a requeued job is held before it may start again
# ("BeginTime" pending reason): 120 s by default, which makes requeue tests crawl. 10 s is ample
# for launching a step on a local node.
AuthInfo=cred_expire=10
StateSaveLocation=$STATEDIR
SlurmdSpoolDir=$SPOOLDIR
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# Containers: no cgroups. Track processes through /proc, bind no tasks to CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SwitchType=switch/none
# No slurmdbd: no accounting (sacct will not work; scontrol/squeue do).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Schedule cores, not whole nodes: two --cpus-per-task=1 jobs run side by side on 2 cores.
# Memory is not a consumable resource (CR_Core, not CR_Core_Memory): without DefMemPerCPU a job
# that names no --mem would take the node's whole memory and block every other job; nothing
# enforces memory here anyway without cgroups. A --mem above RealMemory is still refused.
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# Look for runnable jobs every few seconds (defaults: 60 s main loop, 30 s backfill), so a job
# that becomes eligible by time (e.g. a requeued one) starts promptly.
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2,bf_interval=2
# Batch jobs may be requeued (scontrol requeue, submitit preemption/timeouts).
JobRequeue=1
# A node that was down (slurmd restart, reboot) returns to service as soon as it registers.
ReturnToService=2
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
NodeName=$NODE NodeHostname=$NODE NodeAddr=127.0.0.1 $HW State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
)
CHANGED=0
if [[ ! -f $CONF ]] || [[ $(cat "$CONF") != "$NEW_CONF" ]]; then
    printf '%s\n' "$NEW_CONF" >"$CONF.tmp" && mv "$CONF.tmp" "$CONF"
    CHANGED=1
fi

# --- 4. daemons (they fork into the background themselves). pgrep -x matches the exact process
# name. Called again while waiting below, in case one was still exiting from an earlier stop.
SLURMD_SINCE="" # set when we start slurmd: the node must then register anew
start_daemons() {
    if ! pgrep -x slurmctld >/dev/null; then
        slurmctld || die "slurmctld did not start"
    fi
    if ! pgrep -x slurmd >/dev/null; then
        SLURMD_SINCE=$(date +%Y-%m-%dT%H:%M:%S)
        slurmd -N "$NODE" || die "slurmd did not start"
    fi
}
if ((CHANGED)) && { pgrep -x slurmctld || pgrep -x slurmd; } >/dev/null; then
    # Node definitions only take effect on a restart (not `scontrol reconfigure`).
    timeout 10 scontrol shutdown >/dev/null 2>&1 || true
    for _ in $(seq 80); do
        pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break
        sleep 0.25
    done
fi
start_daemons
# slurmctld restores the node's last state (often "idle") before slurmd has said a word, so a
# fresh slurmd counts only once its registration shows (SlurmdStartTime, same local-time format).
registered() {
    [[ -z $SLURMD_SINCE ]] && return 0
    local t
    t=$(scontrol show node "$NODE" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')
    [[ $t =~ ^[0-9] && ! $t < $SLURMD_SINCE ]]
}

# --- 5. wait until the node takes jobs; resume it if it registered down/drained (e.g. it was
# marked down when slurmd stopped).
deadline=$((SECONDS + TIMEOUT))
while ! { registered && healthy; }; do
    ((SECONDS < deadline)) || die "node $NODE not idle after ${TIMEOUT}s (state: '$(node_state)')"
    case $(node_state) in
    down* | drain* | fail*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
    start_daemons
done
status_line
