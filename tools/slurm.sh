#!/usr/bin/env bash
# A real single-node SLURM (slurmctld + slurmd + munge from Debian) for trying and testing the
# job scripts in jobs/, with everything under one folder and nothing changed in /etc.
#
#   tools/slurm.sh start     start munged, slurmctld and slurmd (no-op if already up), wait until
#                            the node is idle, print `export SLURM_CONF=...` on stdout
#   tools/slurm.sh stop      cancel the jobs, stop the daemons this folder's pid files name
#                            (TERM, then KILL); safe to repeat; leaves the folder (logs) in place
#   tools/slurm.sh status    say which daemons run and show sinfo; exit 0 only if all are up
#   tools/slurm.sh env       print `export SLURM_CONF=...` only
#
# Use:  eval "$(bash tools/slurm.sh start)"; sbatch --wait jobs/run.sbatch; bash tools/slurm.sh stop
#
# Environment (all optional):
#   SLURM_DIR                folder for config, keys, state, spool, logs, pid files
#                            (default /tmp/oncovq-slurm-$UID)
#   OVQ_SLURM_PORT           slurmctld's port; slurmd uses the next one (default 16817)
#   OVQ_SLURM_CPUS           CPUs of the node (default: nproc)
#   OVQ_SLURM_MEMORY         RealMemory of the node in MB (default: 90 % of MemTotal)
#   OVQ_SLURM_FIRST_JOB_ID   first job id of a new cluster (default 1)
#   OVQ_SLURM_TIMEOUT        seconds to wait for the node to become idle (default 60)
#   OVQ_SLURM_CRED_EXPIRE    seconds a requeued job waits before it starts again (default 5;
#                            SLURM's default is 120)
#   OVQ_SLURM_MIN_JOB_AGE    seconds a finished job stays known to slurmctld (default 4, so that
#                            sbatch --wait polls every 2 s; SLURM's default is 300)
#   OVQ_SLURM_TASK_PLUGIN    TaskPlugin (default task/affinity; task/none leaves jobs unpinned)
#   OVQ_SLURM_CGROUP_PLUGIN  CgroupPlugin of cgroup.conf (default cgroup/v1: slurmd 22.05 always
#                            loads a cgroup plugin; v1 also works where no cgroup is mounted)
# Needs root (slurmd runs jobs as their users) and the Debian packages slurmctld slurmd
# slurm-client munge (tools/setup.sh installs them).
set -euo pipefail

D="${SLURM_DIR:-/tmp/oncovq-slurm-$(id -u)}"
PORT="${OVQ_SLURM_PORT:-16817}"
# (nproc alone would obey OMP_NUM_THREADS, which the test environments set to 1.)
CPUS="${OVQ_SLURM_CPUS:-$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)}"
TIMEOUT="${OVQ_SLURM_TIMEOUT:-60}"
NODE=localhost
CONF="$D/slurm.conf"
export SLURM_CONF="$CONF"

say() { echo "slurm.sh: $*" >&2; }
die() {
  say "error: $*"
  exit 1
}

# pid_of NAME: the pid in NAME's pid file if that process is alive and is NAME, else nothing.
pid_of() {
  local f="$D/run/$1.pid" pid comm
  [ -r "$f" ] || return 0
  pid=$(tr -dc '0-9' <"$f")
  [ -n "$pid" ] || return 0
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 0
  [ "$comm" = "$1" ] && echo "$pid"
  return 0
}

# Prints the last lines of every log, for error messages.
show_logs() {
  local f
  for f in "$D"/log/*.log; do
    [ -r "$f" ] || continue
    echo "---- $f (last 15 lines)" >&2
    tail -15 "$f" >&2
  done
}

node_state() {
  timeout 10 sinfo -h -N -n "$NODE" -o %t 2>/dev/null | head -1 || true
}

check_install() {
  local missing=() p
  for p in munged mungekey slurmctld slurmd sinfo sbatch scontrol; do
    command -v "$p" >/dev/null 2>&1 || [ -x "/usr/sbin/$p" ] || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] || die "not installed: ${missing[*]}; install the Debian packages \
slurmctld slurmd slurm-client munge (bash tools/setup.sh does, as root)"
  [ "$(id -u)" -eq 0 ] || die "slurmd must run as root (this is uid $(id -u)); run as root"
}

write_config() {
  local mem user
  if [ -n "${OVQ_SLURM_MEMORY:-}" ]; then
    mem=$OVQ_SLURM_MEMORY
  else
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
  fi
  user=$(id -un)
  mkdir -p "$D"/{munge,state,spool,log,run,tmp}
  chmod 755 "$D" "$D/munge" # munge's clients need to reach the socket
  cat >"$CONF" <<EOF
# Written by tools/slurm.sh: a single-node SLURM kept entirely under $D.
ClusterName=oncovq
SlurmctldHost=$NODE
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it may start again (default 120 s).
AuthInfo=socket=$D/munge/munge.socket.2,cred_expire=${OVQ_SLURM_CRED_EXPIRE:-5}
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
TmpFS=$D/tmp
FirstJobId=${OVQ_SLURM_FIRST_JOB_ID:-1}
ProctrackType=proctrack/linuxproc
# task/affinity pins each job (and srun's tasks) to the CPUs it was given, so jobs that share
# the node do not share cores (no cgroups needed).
TaskPlugin=${OVQ_SLURM_TASK_PLUGIN:-task/affinity}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
SwitchType=switch/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
JobRequeue=1
KillWait=10
# Seconds a finished job stays in slurmctld (scontrol show job). sbatch --wait polls every 2 s
# only while this is at most 4 (else after 2, 8 and then every 32 s: a 1 s job takes 10 s).
MinJobAge=${OVQ_SLURM_MIN_JOB_AGE:-4}
# Schedule pending (e.g. requeued) jobs within seconds, not the default minute.
SchedulerParameters=sched_interval=2,bf_interval=5
InactiveLimit=0
MailProg=/bin/true
PlugStackConfig=$D/plugstack.conf
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
  # slurmd 22.05 always initialises a cgroup plugin; without this file it fails where no cgroup
  # file system is mounted (containers, chroots).
  echo "CgroupPlugin=${OVQ_SLURM_CGROUP_PLUGIN:-cgroup/v1}" >"$D/cgroup.conf"
  : >"$D/plugstack.conf" # no SPANK plugins (not the ones /etc may name)
}

start_munge() {
  [ -n "$(pid_of munged)" ] && return 0
  if [ ! -s "$D/munge/munge.key" ]; then
    mungekey --create --keyfile="$D/munge/munge.key" >/dev/null 2>&1 ||
      dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
  fi
  chmod 600 "$D/munge/munge.key"
  rm -f "$D/munge/munge.socket.2" "$D/munge/munge.socket.2.lock"
  # munged refuses a pid file directory writable by others; $D/run is 755.
  munged --socket="$D/munge/munge.socket.2" --key-file="$D/munge/munge.key" \
    --log-file="$D/log/munged.log" --pid-file="$D/run/munged.pid" \
    --seed-file="$D/munge/munged.seed" </dev/null >>"$D/log/start.log" 2>&1 ||
    {
      show_logs
      die "munged did not start (see $D/log/munged.log, $D/log/start.log)"
    }
}

start_daemon() { # NAME ARGS...
  local name=$1
  shift
  [ -n "$(pid_of "$name")" ] && return 0
  "$name" "$@" </dev/null >>"$D/log/start.log" 2>&1 || {
    show_logs
    die "$name did not start (see $D/log/$name.log, $D/log/start.log)"
  }
  for _ in $(seq 50); do # both daemonise and write their pid file
    [ -n "$(pid_of "$name")" ] && return 0
    sleep 0.1
  done
  show_logs
  die "$name started but is not running (see $D/log/$name.log)"
}

cmd_start() {
  check_install
  if [ -n "$(pid_of slurmctld)" ] && [ -n "$(pid_of slurmd)" ] && [ -n "$(pid_of munged)" ]; then
    say "already running in $D"
  else
    local p
    for p in "$PORT" $((PORT + 1)); do
      if [ -z "$(pid_of slurmctld)$(pid_of slurmd)" ] && (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p is in use (another SLURM?): choose other ports with OVQ_SLURM_PORT"
      fi
    done
    write_config
    local t0=$SECONDS
    start_munge
    start_daemon slurmctld -f "$CONF"
    start_daemon slurmd -f "$CONF" -N "$NODE"
    say "daemons started in $D ($((SECONDS - t0)) s)"
  fi
  local deadline=$((SECONDS + TIMEOUT)) st=""
  while :; do
    st=$(node_state)
    case "$st" in
      idle | mix | alloc | comp) break ;;
      drain* | drng | down*)
        # A node left down by an earlier instance: it is ours, bring it back.
        scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    if [ $SECONDS -ge $deadline ]; then
      show_logs
      die "node $NODE not idle after ${TIMEOUT} s (sinfo says '${st:-nothing}'); see the logs above"
    fi
    sleep 0.2
  done
  say "node $NODE is $st (${CPUS} CPUs); slurmctld port $PORT, slurmd port $((PORT + 1))"
  echo "export SLURM_CONF=$CONF"
}

# stop_daemons NAME...: TERM to each (they take about 2 s each, so all at once), wait up to
# 10 s, then KILL what is left.
stop_daemons() {
  local name pid left=() names=()
  for name in "$@"; do
    pid=$(pid_of "$name")
    if [ -n "$pid" ]; then
      kill -TERM "$pid" 2>/dev/null || true
      left+=("$pid")
      names+=("$name ($pid)")
    fi
    rm -f "$D/run/$name.pid"
  done
  [ ${#left[@]} -gt 0 ] || return 0
  for _ in $(seq 100); do
    for pid in "${left[@]}"; do [ -d "/proc/$pid" ] && break; done
    [ -d "/proc/$pid" ] || break
    sleep 0.1
  done
  for pid in "${left[@]}"; do
    if [ -d "/proc/$pid" ] && [ "$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
      say "$(cat "/proc/$pid/comm" 2>/dev/null) ($pid) ignored TERM for 10 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  say "stopped ${names[*]}"
}

cmd_stop() {
  local pid
  if [ -n "$(pid_of slurmctld)" ] && [ -f "$CONF" ]; then
    # Cancel what is still queued or running, so no job step outlives the daemons.
    if [ -n "$(timeout 10 squeue -h -o %i 2>/dev/null)" ]; then
      timeout 10 scancel --user="$(id -un)" 2>/dev/null || true
      for _ in $(seq 50); do
        [ -z "$(timeout 10 squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  stop_daemons slurmd slurmctld munged
  # Job step daemons of this instance that are still there (they inherit slurmd's SLURM_CONF).
  for pid in $(pgrep -x slurmstepd 2>/dev/null || true); do
    if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qxF "SLURM_CONF=$CONF"; then
      say "killing leftover slurmstepd $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  return 0
}

cmd_status() {
  local n ok=0 pid
  for n in munged slurmctld slurmd; do
    pid=$(pid_of "$n")
    if [ -n "$pid" ]; then echo "$n: running ($pid)"; else
      echo "$n: not running"
      ok=1
    fi
  done
  if [ $ok -eq 0 ]; then
    echo "SLURM_CONF=$CONF"
    timeout 10 sinfo || ok=1
    timeout 10 squeue || ok=1
  fi
  return $ok
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "export SLURM_CONF=$CONF" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
