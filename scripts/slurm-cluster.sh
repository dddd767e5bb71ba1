#!/usr/bin/env bash
# A real single-node Slurm cluster for tests and trying `run --executor slurm` (Debian's slurm-wlm
# and munge; run as root, no systemd): munged with its own key and socket, slurmctld and slurmd
# started directly on a generated slurm.conf whose state and spool live under one directory.
#
#   scripts/slurm-cluster.sh start [DIR]   start (DIR default: $LIGHTREASONER_SLURM_DIR or a new temp dir);
#                                          prints the environment to use, e.g. eval "$(… start)"
#   scripts/slurm-cluster.sh status DIR    the daemons' pids and `sinfo`
#   scripts/slurm-cluster.sh stop DIR      stop the daemons by their recorded pids, remove DIR
#
# Free ports are picked (other clusters may run on the same host). The node has `nproc` CPUs and
# a modest memory size, so jobs asking for no memory schedule at once.
set -euo pipefail

die() { echo "slurm-cluster: $*" >&2; exit 1; }

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    if port_free "$p" && port_free "$((p + 1))"; then echo "$p"; return; fi
  done
  die "no free port pair found"
}

env_lines() {
  local dir=$1
  echo "export SLURM_CONF=$dir/slurm.conf"
  echo "export LIGHTREASONER_SLURM_DIR=$dir"
}

wait_for() { # seconds, description, command…
  local limit=$1 what=$2; shift 2
  for _ in $(seq 1 $((limit * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$what did not come up within ${limit}s (logs in $DIR)"
}

start() {
  for b in munged mungekey slurmctld slurmd sbatch sinfo; do
    command -v "$b" >/dev/null || die "$b not found: install Debian's slurm-wlm and munge (apt-get install -y slurm-wlm munge)"
  done
  [ "$(id -u)" = 0 ] || die "must run as root (SlurmUser=root; munged is started as user munge)"
  DIR=${1:-${LIGHTREASONER_SLURM_DIR:-$(mktemp -d /tmp/lightreasoner-slurm.XXXXXX)}}
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  [ -e "$DIR/slurmctld.pid" ] && die "$DIR already holds a cluster (stop it first)"
  local host cpus mem port
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 4 ))   # MiB: a quarter of the host
  port=$(pick_port)
  mkdir -p "$DIR/munge" "$DIR/state" "$DIR/spool" "$DIR/log"
  # A start that fails half-way stops what it started (the logs stay in DIR).
  trap 'stop_pids "$DIR"' EXIT

  # munge: its own key, socket, pid and log files, owned by user munge (munged refuses otherwise).
  mungekey -c -f -k "$DIR/munge/munge.key" >/dev/null
  chown -R munge:munge "$DIR/munge"
  chmod 700 "$DIR/munge"
  chmod 711 "$DIR"
  runuser -u munge -- test -x "$DIR" || die "user munge cannot reach $DIR (a parent folder is private): choose a DIR under a folder others may traverse (chmod o+x)"
  runuser -u munge -- munged --key-file="$DIR/munge/munge.key" --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" --seed-file="$DIR/munge/munged.seed" --force
  wait_for 10 munged test -S "$DIR/munge/munge.socket"

  cat >"$DIR/slurm.conf" <<EOF
ClusterName=lightreasoner
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=kill_invalid_depend
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
MinJobAge=3600
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$DIR/slurm.conf
  slurmctld -f "$SLURM_CONF" -i
  wait_for 20 slurmctld scontrol ping
  slurmd -f "$SLURM_CONF"
  wait_for 30 "slurmd (node idle)" sh -c "sinfo -h -N -o %t | grep -q idle"
  trap - EXIT
  env_lines "$DIR"
}

stop_pid() { # file
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
}

stop_pids() {
  # slurmd first (it ends its job steps), then the controller, then munge.
  stop_pid "$1/slurmd.pid"
  stop_pid "$1/slurmctld.pid"
  stop_pid "$1/munge/munged.pid"
}

stop() {
  DIR=${1:?usage: slurm-cluster.sh stop DIR}
  [ -f "$DIR/slurm.conf" ] || die "$DIR is not a cluster started by this script"
  stop_pids "$DIR"
  rm -rf "$DIR"
}

status() {
  DIR=${1:?usage: slurm-cluster.sh status DIR}
  for f in munge/munged slurmctld slurmd; do
    local d=${f#munge/}
    if [ -f "$DIR/$f.pid" ] && kill -0 "$(cat "$DIR/$f.pid")" 2>/dev/null; then echo "$d: running (pid $(cat "$DIR/$f.pid"))"; else echo "$d: not running"; fi
  done
  SLURM_CONF=$DIR/slurm.conf sinfo
}

case "${1:-}" in
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  status) shift; status "$@" ;;
  *) echo "usage: $0 start [DIR] | status DIR | stop DIR" >&2; exit 2 ;;
esac
