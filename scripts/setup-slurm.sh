#!/usr/bin/env bash
# A one-node Slurm "cluster" on this machine for tunefleet's tests: munge + slurmctld +
# slurmd started by hand (no systemd), no accounting, no cgroups. Idempotent: a second run
# with the same config only checks the daemons. Needs root.
#   bash scripts/setup-slurm.sh        install if needed, configure, start, wait for the node
#   bash scripts/setup-slurm.sh stop   stop the three daemons
set -euo pipefail

CONF=/etc/slurm/slurm.conf
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
say() { echo "setup-slurm: $*"; }

running() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
halt() {
  if running "$1"; then
    local pid; pid=$(cat "$1")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

if [[ "${1:-}" == stop ]]; then
  halt "$SLURMD_PID"; halt "$CTLD_PID"; halt "$MUNGE_PID"; say stopped; exit 0
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
  say "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# munge: the key, its run directory, the daemon
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /etc/munge /var/lib/munge /var/log/munge
[[ -s /etc/munge/munge.key ]] || head -c 1024 /dev/urandom > /etc/munge/munge.key
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
if ! running "$MUNGE_PID" || ! (munge -n | unmunge) >/dev/null 2>&1; then
  halt "$MUNGE_PID"
  rm -f /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do (munge -n | unmunge) >/dev/null 2>&1 && break; sleep 0.1; done
fi

# slurm.conf for this host
host=$(hostname -s)
hw=$(slurmd -C | head -1 | sed 's/^NodeName=[^ ]* //')
install -d -m 0755 /etc/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
new=$(mktemp)
cat > "$new" <<CONF
# written by tunefleet's scripts/setup-slurm.sh
ClusterName=tunefleet-test
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
MinJobAge=300
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID}
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=${host} NodeAddr=127.0.0.1 ${hw} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
changed=1
if [[ -f "$CONF" ]] && cmp -s "$new" "$CONF"; then changed=0; fi
[[ $changed == 1 ]] && install -m 0644 "$new" "$CONF"
rm -f "$new"
[[ -f /etc/slurm/cgroup.conf ]] || echo "CgroupPlugin=autodetect" > /etc/slurm/cgroup.conf

up() { running "$CTLD_PID" && running "$SLURMD_PID" && scontrol ping 2>/dev/null | grep -q UP; }
if [[ $changed == 1 ]] || ! up; then
  halt "$SLURMD_PID"; halt "$CTLD_PID"
  slurmctld
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
  slurmd
  say "daemons started"
fi

for _ in $(seq 150); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -1 || true)
  case "$state" in idle|mixed|allocated|completing) say "node $host is $state"; exit 0 ;; esac
  case "$state" in down*|drain*) scontrol update nodename="$host" state=resume 2>/dev/null || true ;; esac
  sleep 0.2
done
say "the node did not come up (state '${state:-?}'); see /var/log/slurm/*.log" >&2
exit 1
