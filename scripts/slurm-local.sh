#!/usr/bin/env bash
# A one-node Slurm cluster on localhost, for the cluster tests (main/cluster, test/cluster-slurm.test.ts) and for
# trying `sparsity-lab cluster` on a workstation. Debian's slurm-wlm (slurmctld, slurmd) and munge, run as root,
# with every file (config, munge key, spool, logs) under one state folder and nothing written to /etc.
#
#   scripts/slurm-local.sh start    # writes $DIR/slurm.conf, generates a munge key, starts munged, slurmctld, slurmd
#   scripts/slurm-local.sh status   # sinfo of the running cluster
#   scripts/slurm-local.sh stop     # stops the three daemons it started (by their pid files)
#
# Clients (sbatch, squeue, scancel) find it through SLURM_CONF=$DIR/slurm.conf; the tests read that path from
# $DIR/env. DIR is $SPARSITY_LAB_SLURM_DIR or /tmp/sparsity-lab-slurm.
# Install the packages first: apt-get install -y slurm-wlm munge (.ci/run does, only when missing).
set -euo pipefail
DIR="${SPARSITY_LAB_SLURM_DIR:-/tmp/sparsity-lab-slurm}"
CTLD_PORT="${SPARSITY_LAB_SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${SPARSITY_LAB_SLURMD_PORT:-6818}"
CPUS="$(nproc)"
NODE=localhost

die() { echo "slurm-local: $*" >&2; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1" 2>/dev/null)" 2>/dev/null; }

write_conf() {
  mkdir -p "$DIR"/{spool/ctld,spool/d,log,munge,run}
  chmod 755 "$DIR/munge"   # clients of any user reach the socket; the key itself is 0400
  cat >"$DIR/slurm.conf" <<CONF
ClusterName=sparsitylab
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MinJobAge=600
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
  # no cgroup.conf: with proctrack/linuxproc and task/none slurmd needs none
  rm -f "$DIR/cgroup.conf"
  echo "export SLURM_CONF=$DIR/slurm.conf" >"$DIR/env"
}

start() {
  [ "$(id -u)" -eq 0 ] || die "needs root (slurmd runs jobs as their user; this test cluster runs everything as root)"
  for b in munged slurmctld slurmd sbatch squeue scancel; do
    command -v "$b" >/dev/null 2>&1 || die "$b not found: apt-get install -y slurm-wlm munge"
  done
  if pid_alive "$DIR/run/slurmctld.pid" && pid_alive "$DIR/run/slurmd.pid"; then
    echo "slurm-local: already running ($DIR)"; return 0
  fi
  stop >/dev/null 2>&1 || true
  write_conf
  export SLURM_CONF="$DIR/slurm.conf"
  [ -f "$DIR/munge/munge.key" ] || { dd if=/dev/urandom bs=1 count=1024 of="$DIR/munge/munge.key" status=none; chmod 400 "$DIR/munge/munge.key"; }
  munged --force --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed" \
    || die "munged did not start: $(tail -3 "$DIR/log/munged.log" 2>/dev/null)"
  # -c: a fresh cluster each start, no jobs of an earlier run recovered
  slurmctld -c || die "slurmctld did not start: $(tail -5 "$DIR/log/slurmctld.log" 2>/dev/null)"
  slurmd -N "$NODE" || die "slurmd did not start: $(tail -5 "$DIR/log/slurmd.log" 2>/dev/null)"
  for _ in $(seq 1 60); do
    state="$(sinfo -h -N -o '%T' 2>/dev/null | head -1 || true)"
    case "$state" in idle|mixed|allocated) echo "slurm-local: up ($DIR, node $NODE $state)"; return 0 ;; esac
    sleep 0.5
  done
  die "the node did not come up (state '${state:-none}'): $(tail -5 "$DIR/log/slurmd.log" 2>/dev/null) / $(tail -5 "$DIR/log/slurmctld.log" 2>/dev/null)"
}

stop() {
  for d in slurmd slurmctld munged; do
    f="$DIR/run/$d.pid"
    if pid_alive "$f"; then
      kill "$(cat "$f")" 2>/dev/null || true
      for _ in $(seq 1 40); do pid_alive "$f" || break; sleep 0.25; done
    fi
    rm -f "$f"
  done
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) export SLURM_CONF="$DIR/slurm.conf"; sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
