#!/usr/bin/env bash
# Stop the local SLURM cluster that up.sh started: slurmd, slurmctld, then munged.
# Idempotent: succeeds when nothing is running. Job state is kept in /var/lib/slurm, so up.sh
# brings the queue back; batch jobs still running keep running (their slurmstepd outlive slurmd).
set -uo pipefail

# Wait up to $2 seconds for the process in pidfile $1 to exit (after SIGTERM if $3 is "term"),
# then SIGKILL it. The pid is read once: daemons remove their own pidfile as they exit.
stop_pidfile() {
    local pidfile=$1 wait=$2 signal=${3:-} pid
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    [[ -n $pid ]] || return 0
    [[ $signal == term ]] && kill -TERM "$pid" 2>/dev/null
    for _ in $(seq $((wait * 4))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$pidfile"
}

# scontrol shutdown tells slurmctld to save its state and stop every slurmd; fall back to signals
# when slurmctld does not answer (then slurmd gets SIGTERM, which it also handles cleanly).
if command -v scontrol >/dev/null && timeout 10 scontrol shutdown >/dev/null 2>&1; then
    stop_pidfile /run/slurmd.pid 15
    stop_pidfile /run/slurmctld.pid 15
else
    stop_pidfile /run/slurmd.pid 10 term
    stop_pidfile /run/slurmctld.pid 10 term
fi

# munged last: the slurm daemons use it until they exit.
stop_pidfile /run/munge/munged.pid 10 term

# Only pidfiles are used to stop things; a daemon still here was not started by up.sh: say so.
left=$(for name in slurmd slurmctld munged; do pgrep -x "$name"; done | tr '\n' ' ')
if [[ -n $left ]]; then
    echo "slurm down: FAILED: still running (not started by up.sh?): pids $left" >&2
    exit 1
fi
echo "slurm down: slurmd, slurmctld and munged stopped"
