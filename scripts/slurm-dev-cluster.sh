#!/usr/bin/env bash
# -----------------------------------------------------------------------------
# slurm-dev-cluster.sh - a REAL single-node Slurm 22.05 cluster from Debian 12
# (bookworm) packages, without systemd, for developing and testing the Slurm
# executor (src/fabriek/compute/executors/slurm).
#
#   munged -> mariadbd -> slurmdbd -> slurmctld -> slurmd -> slurmrestd
#
# Usage (as root):
#   scripts/slurm-dev-cluster.sh start  [--clean] [--no-install]
#   scripts/slurm-dev-cluster.sh stop   [--keep-jobs]
#   scripts/slurm-dev-cluster.sh status
#
#   start   installs the packages if missing (apt-get update first), writes the
#           config, starts the daemons, waits until the node is idle, creates the
#           Fabriek QOS (fabriek-emergency ... fabriek-entry), writes the env file
#           and prints it. Running it again while the cluster is up only prints
#           the env file again (with a fresh token).
#     --clean       wipe slurmctld/slurmd state and the accounting database first
#                   (job ids restart at 1; accounts and QOS are recreated)
#     --no-install  fail instead of running apt-get when packages are missing
#   stop    cancels the jobs (unless --keep-jobs), then signals exactly the PIDs
#           recorded in $STATE_DIR/<daemon>.pid - after checking that
#           /proc/<pid>/comm still names that daemon - SIGTERM, then SIGKILL
#           after a timeout. Nothing is ever killed by name.
#   status  prints which daemons run (exit 0 only if all of them do).
#   ctld-stop / ctld-start  stop or start slurmctld alone (outage tests).
#
# What you get:
#   * one node named after `hostname -s`, SLURM_DEV_CPUS CPUs (may exceed the
#     real count), 4 fake GPUs as GRES "gpu": jobs see CUDA_VISIBLE_DEVICES, but
#     there is no device behind it (each is a symlink to /dev/null)
#   * partitions "gpu" (default) and "cpu", on the same node
#   * slurmdbd + MariaDB: sacct, accounts, QOS, GrpTRESMins GPU-minute limits
#   * QOS preemption: PreemptType=preempt/qos, PreemptMode=REQUEUE, JobRequeue=1;
#     fabriek-emergency pre-empts the four lower classes. A pre-empted batch job
#     goes back to PENDING (reason BeginTime: Slurm lets it start again ~2 min
#     later) and keeps its job id (restart count + 1)
#   * slurmrestd on 127.0.0.1:$SLURM_DEV_REST_PORT with JWT auth, serving
#     openapi/v0.0.36..38 and dbv0.0.36..38 (22.05 serves nothing newer)
#   * env file $STATE_DIR/env: SLURM_REST_URL, SLURM_REST_API, SLURM_REST_USER,
#     SLURM_JWT (a root token), SLURM_JWT_KEY, SLURM_CLUSTER
#
# Network: slurmrestd binds 127.0.0.1 only and MariaDB uses its Unix socket
# only. slurmctld (6817), slurmd (6818) and slurmdbd (6819) are Slurm-to-Slurm
# ports protected by munge. CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
# makes slurmctld and slurmd bind their configured address (127.0.0.1) instead
# of 0.0.0.0; slurmdbd (NoInAddrAny in slurmdbd.conf) binds what `hostname`
# resolves to - 127.0.0.1 on our VMs, but check `status` on other hosts.
#
# Environment knobs [defaults]:
#   SLURM_DEV_CLUSTER [fabriekdev]    ClusterName (changing it needs --clean)
#   SLURM_DEV_CPUS    [8]             CPUs advertised (SlurmdParameters=config_overrides)
#   SLURM_DEV_MEM_MB  [8192]          RealMemory advertised
#   SLURM_DEV_GPUS    [4]             number of fake GPUs
#   SLURM_DEV_REST_PORT [6820]        slurmrestd port (127.0.0.1 only)
#   SLURM_DEV_TOKEN_LIFESPAN [86400]  lifetime (s) of the root JWT in the env file
#   SLURM_DEV_STATE_DIR [/run/fabriek-slurm]  PID files, daemon stdout, env file
#   SLURM_DEV_DB_PASS [slurmdev]      MariaDB password of the 'slurm' DB user
#
# Dev-only tuning (production sites keep their own): KillWait=2,
# SchedulerParameters=batch_sched_delay=0, PriorityCalcPeriod=1, MinJobAge=600.
#
# Verified on Debian 12, root, no systemd, cgroup v1/hybrid, 2 vCPUs: Slurm
# 22.05.8, munge 0.5.15, MariaDB 10.11. First start on a machine without the
# packages ~32 s (apt ~24 s); later cold starts ~3 s; stop ~2 s.
# Notes on the pitfalls are inline below.
# -----------------------------------------------------------------------------
set -euo pipefail
set +m   # no job control: background children are NOT process-group leaders,
         # so `setsid` calls setsid() in place and execs -> $! is the daemon PID

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

CMD=${1:-}
[ $# -gt 0 ] && shift
CLEAN=0; ALLOW_INSTALL=1; KEEP_JOBS=0
for a in "$@"; do
  case "$CMD:$a" in
    start:--clean) CLEAN=1 ;;
    start:--no-install) ALLOW_INSTALL=0 ;;
    stop:--keep-jobs) KEEP_JOBS=1 ;;
    ctld-stop:*|ctld-start:*) ;;
    *:-h|*:--help) usage; exit 0 ;;
    *) echo "unknown argument for '$CMD': $a" >&2; exit 2 ;;
  esac
done
case "$CMD" in
  start|stop|status|ctld-stop|ctld-start) ;;
  -h|--help|help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

CLUSTER=${SLURM_DEV_CLUSTER:-fabriekdev}
NODE=$(hostname -s)
CPUS=${SLURM_DEV_CPUS:-8}
MEM_MB=${SLURM_DEV_MEM_MB:-8192}
GPUS=${SLURM_DEV_GPUS:-4}
REST_HOST=127.0.0.1
REST_PORT=${SLURM_DEV_REST_PORT:-6820}
TOKEN_LIFESPAN=${SLURM_DEV_TOKEN_LIFESPAN:-86400}
STATE_DIR=${SLURM_DEV_STATE_DIR:-/run/fabriek-slurm}
DB_PASS=${SLURM_DEV_DB_PASS:-slurmdev}
DB_NAME=slurm_acct_db
ENV_FILE=$STATE_DIR/env

# Standard Debian locations (created by the packages)
ETC=/etc/slurm
SPOOL_CTLD=/var/lib/slurm/slurmctld      # StateSaveLocation (owned by slurm)
SPOOL_D=/var/lib/slurm/slurmd            # SlurmdSpoolDir (root)
LOGDIR=/var/log/slurm
RUNDIR=/run/slurm                        # the daemons' own pid files (owned by slurm)
JWT_KEY=$SPOOL_CTLD/jwt_hs256.key        # HS256 key shared by slurmctld and slurmdbd
FAKE_GPU_DIR=/var/lib/slurm/fake-gpus    # nvidia0..N-1 -> /dev/null symlinks
REST_USER=nobody                         # slurmrestd refuses to run as root/SlurmUser

# Our QOS, highest first: names and order from src/fabriek/policy/access-modes.yaml
# (priority_classes[].slurm_qos). Emergency pre-empts every lower class.
QOS_CLASSES=(fabriek-emergency:1000 fabriek-strategic:800 fabriek-priority:600
             fabriek-standard:500 fabriek-entry:300)

DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd slurmrestd)
# name -> executable `comm` (guards against PID reuse)
declare -A COMM=([munged]=munged [mariadbd]=mariadbd [slurmdbd]=slurmdbd
                 [slurmctld]=slurmctld [slurmd]=slurmd [slurmrestd]=slurmrestd)

T_START=$EPOCHREALTIME   # bash >= 5
ts() { awk -v s="$T_START" -v n="$EPOCHREALTIME" -v m="$*" 'BEGIN { printf "[%6.1fs] %s\n", n - s, m }' >&2; }

# ------------------------------------------------------------ pid-file helpers
proc_state() { awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null; }
running() {  # running <pid>: exists and is not a zombie (an exited daemon whose
             # parent - this script - is gone stays Z until PID 1 reaps it)
  local st; st=$(proc_state "$1") || return 1
  [ -n "$st" ] && [ "$st" != Z ]
}
alive() {  # alive <name>: the PID in <name>.pid runs the expected binary
  local f="$STATE_DIR/$1.pid" p
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "${COMM[$1]}" ] || return 1
  running "$p"
}
pid_running() {  # like alive() but ignores comm: right after start_bg the child
                 # may still be `setsid`/`setpriv` before it execs the daemon
  local p; p=$(cat "$STATE_DIR/$1.pid" 2>/dev/null) || return 1
  running "$p"
}

# ----------------------------------------------------------------------- stop
stop_one() {  # stop_one <name> <timeout_s>
  local name=$1 timeout=$2 f="$STATE_DIR/$1.pid" p i
  [ -s "$f" ] || return 0
  p=$(cat "$f")
  if ! alive "$name"; then
    ts "$name (pid $p) not running; removing stale pid file"; rm -f "$f"; return 0
  fi
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < timeout * 10; i++)); do
    running "$p" || break
    sleep 0.1
  done
  if running "$p" && alive "$name"; then
    ts "$name (pid $p) ignored SIGTERM for ${timeout}s -> SIGKILL"
    kill -KILL "$p" 2>/dev/null || true; sleep 0.2
  fi
  rm -f "$f"
  ts "$name (pid $p) stopped"
}

do_stop() {
  [ -d "$STATE_DIR" ] || { ts "nothing to stop ($STATE_DIR does not exist)"; return 0; }
  # 1. REST first, so nobody submits while we tear down
  stop_one slurmrestd 10
  # 2. cancel all jobs while slurmctld/slurmd are up: job steps (slurmstepd and
  #    the job's processes) outlive slurmd, so they would keep running otherwise
  if [ $KEEP_JOBS = 0 ] && alive slurmctld && scontrol ping 2>/dev/null | grep -q UP; then
    local jobs
    jobs=$(squeue -h -o '%i' 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      ts "cancelling jobs: $jobs"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 1 150); do   # up to 30 s (KillWait=2 in slurm.conf)
        [ -z "$(squeue -h -t RUNNING,COMPLETING,CONFIGURING -o '%i' 2>/dev/null)" ] && break
        sleep 0.2
      done
    fi
  fi
  # 3. the rest in reverse start order
  stop_one slurmd 15
  stop_one slurmctld 20
  stop_one slurmdbd 20
  stop_one mariadbd 60
  stop_one munged 10
  rm -f "$ENV_FILE"   # the token of a stopped cluster must not be reused
  # Report (never kill) what a job may have left behind
  local left
  left=$(ps -eo pid=,stat=,comm= | awk '$3 == "slurmstepd" && $2 !~ /^Z/ { print $1 }' | tr '\n' ' ')
  [ -n "${left// /}" ] && ts "WARNING: slurmstepd processes still alive (pids: $left)"
  ts "all stopped"
}

do_status() {
  local d rc=0
  for d in "${DAEMONS[@]}"; do
    if alive "$d"; then echo "$d: running (pid $(cat "$STATE_DIR/$d.pid"))"
    else echo "$d: stopped"; rc=1; fi
  done
  if [ $rc = 0 ]; then
    sinfo -h -o 'node %n: %T, gres %G' 2>/dev/null || true
    echo "listening (ports 6817-6819, $REST_PORT):"
    ss -ltnH 2>/dev/null | awk -v p=":($REST_PORT|681[789])\$" '$4 ~ p { print "  " $4 }' || true
    [ -f "$ENV_FILE" ] && echo "env file: $ENV_FILE"
  fi
  return $rc
}

case "$CMD" in
  stop) [ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }; do_stop; exit 0 ;;
  status) do_status; exit $? ;;
  # An outage of the controller alone, for the reconciler's tests: jobs keep running under
  # slurmd, REST and accounting answer errors until slurmctld is back with its saved state.
  ctld-stop) stop_one slurmctld 20; exit 0 ;;
  ctld-start)
    alive slurmctld && exit 0
    setsid setpriv --reuid=slurm --regid=slurm --init-groups /usr/sbin/slurmctld -D \
      >"$STATE_DIR/slurmctld.out" 2>&1 </dev/null &
    echo $! >"$STATE_DIR/slurmctld.pid"
    for _ in $(seq 1 120); do scontrol ping 2>/dev/null | grep -q UP && exit 0; sleep 0.5; done
    echo "slurmctld did not come back" >&2; exit 1 ;;
esac

# ---------------------------------------------------------------------- start
STARTED=0
die() {
  echo "ERROR: $*" >&2
  if [ "$STARTED" = 1 ]; then
    # undo a half-started cluster: stop exactly the PIDs recorded so far
    echo "stopping what was started" >&2
    KEEP_JOBS=1; do_stop || true
  fi
  exit 1
}
start_bg() {  # start_bg <name> <cmd...>: run a daemon in the foreground, detached
  local name=$1; shift
  STARTED=1
  setsid "$@" >"$STATE_DIR/$name.out" 2>&1 </dev/null &
  echo $! >"$STATE_DIR/$name.pid"
}
show_logs() {  # a daemon's stdout + its log file (fatal errors often go only to the log file)
  echo "---- $1: last lines of $STATE_DIR/$1.out" >&2; tail -n 15 "$STATE_DIR/$1.out" >&2 2>/dev/null
  [ -f "$LOGDIR/$1.log" ] && { echo "---- $LOGDIR/$1.log" >&2; tail -n 15 "$LOGDIR/$1.log" >&2; }
  return 0
}
wait_for() {  # wait_for <name> <timeout_s> <cmd...>: poll cmd, fail if the daemon died
  local name=$1 timeout=$2; shift 2
  local end=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    if ! pid_running "$name"; then show_logs "$name"; die "$name failed to start"; fi
    [ "$(date +%s)" -lt "$end" ] || { show_logs "$name"; die "timeout waiting for $name"; }
    sleep 0.2
  done
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

[ "$(id -u)" = 0 ] || die "must run as root"
[ -r /etc/debian_version ] || die "expects Debian 12 (bookworm)"
[ "$GPUS" -ge 1 ] 2>/dev/null || die "SLURM_DEV_GPUS must be at least 1 (got '$GPUS')"

# ------------------------------------------------------------ 1. packages
PKGS=(munge slurm-wlm slurmrestd slurm-wlm-jwt-plugin slurmdbd mariadb-server curl)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ $ALLOW_INSTALL = 1 ] || die "missing packages: ${missing[*]}"
  ts "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Without systemd the packages' postinst cannot start services (policy-rc.d
  # or invoke-rc.d fails); that is harmless, we start the daemons ourselves.
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  ts "packages installed"
fi

mkdir -p "$STATE_DIR"; chmod 0755 "$STATE_DIR"

running_now=(); for d in "${DAEMONS[@]}"; do alive "$d" && running_now+=("$d"); done
if [ ${#running_now[@]} -eq ${#DAEMONS[@]} ] && [ $CLEAN = 0 ]; then
  ts "cluster already running; printing connection info"
  ALREADY=1
elif [ ${#running_now[@]} -gt 0 ]; then
  die "partially running (${running_now[*]}) or --clean given while running; run '$0 stop' first"
else
  ALREADY=0
fi

if [ $ALREADY = 0 ]; then
for p in 6817 6818 6819 "$REST_PORT"; do port_free "$p" || die "TCP port $p already in use"; done

# ------------------------------------------------- 2. keys, dirs, config
# munge key: the Debian postinst normally creates it; recreate if absent.
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key; chmod 0600 /etc/munge/munge.key
mkdir -p /run/munge; chown munge:munge /run/munge; chmod 0755 /run/munge   # no systemd: nobody else creates it

mkdir -p "$SPOOL_CTLD" "$SPOOL_D" "$LOGDIR" "$RUNDIR"
chown slurm:slurm "$SPOOL_CTLD" "$LOGDIR" "$RUNDIR"
if [ $CLEAN = 1 ]; then
  ts "--clean: wiping slurmctld/slurmd state (keeping the JWT key)"
  find "$SPOOL_CTLD" -mindepth 1 ! -name "$(basename "$JWT_KEY")" -delete
  find "$SPOOL_D" -mindepth 1 -delete
fi
# JWT key (HS256). Whoever can read it can mint tokens for ANY user.
[ -s "$JWT_KEY" ] || dd if=/dev/urandom of="$JWT_KEY" bs=32 count=1 status=none
chown slurm:slurm "$JWT_KEY"; chmod 0600 "$JWT_KEY"

# Fake GPUs: 22.05 silently drops gres/gpu entries WITHOUT File= ("Removing
# file-less GPU") and rejects regular files ("not a valid character or block
# device"); symlinks to /dev/null are character devices. The trailing digit of
# each name is the GPU index that ends up in CUDA_VISIBLE_DEVICES.
mkdir -p "$FAKE_GPU_DIR"
find "$FAKE_GPU_DIR" -mindepth 1 -delete
for i in $(seq 0 $((GPUS - 1))); do ln -s /dev/null "$FAKE_GPU_DIR/nvidia$i"; done
echo "NodeName=$NODE Name=gpu File=$FAKE_GPU_DIR/nvidia[0-$((GPUS - 1))]" >"$ETC/gres.conf"

cat >"$ETC/slurm.conf" <<EOF
# Generated by fabriek scripts/slurm-dev-cluster.sh: single-node dev cluster, no systemd.
ClusterName=$CLUSTER
# name(addr): the controller is reached over loopback, no DNS needed
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
# bind slurmctld/slurmd to their configured address (127.0.0.1), not 0.0.0.0
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
AuthType=auth/munge
CredType=cred/munge
# JWT as alternative auth (slurmrestd, scontrol token, SLURM_JWT for the CLI)
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
StateSaveLocation=$SPOOL_CTLD
SlurmdSpoolDir=$SPOOL_D
SlurmctldPidFile=$RUNDIR/slurmctld.pid
SlurmdPidFile=$RUNDIR/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# No cgroups, no systemd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# Dev only: start a submitted batch job at once. The default batch_sched_delay=3 lets
# slurmctld hold batch jobs up to 3 s to schedule them together (submit->running p50 ~2.6 s
# here with it, <1 s without); production sites keep their own setting.
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
GresTypes=gpu
# advertise SLURM_DEV_CPUS / SLURM_DEV_MEM_MB even if the machine is smaller
SlurmdParameters=config_overrides

AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
# associations: a user needs an association (sacctmgr add user) to submit;
# limits,qos: enforce GrpTRESMins, QOS limits; safe: start a job only if it can
# finish within GrpTRESMins (so every job needs a finite time limit)
AccountingStorageEnforce=associations,limits,qos,safe
# GPUs as a TRES (gres/gpu): AllocTRES, sacct, GrpTRESMins=gres/gpu=N
AccountingStorageTRES=gres/gpu
# keep the job comment (fabriek:job=<id>) in the DB: sacct / slurmdb REST
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
JobCompType=jobcomp/none

PriorityType=priority/multifactor
# No decay, no reset: GrpTRESMins is a hard, cumulative budget
PriorityDecayHalfLife=0
PriorityUsageResetPeriod=NONE
# recompute usage every minute (default 5) so limits react quickly
PriorityCalcPeriod=1
PriorityWeightQOS=10000
PriorityWeightFairshare=1000
PriorityWeightAge=100
PriorityWeightPartition=1000

# QOS pre-emption for the emergency class (QOS Preempt= lists are set with
# sacctmgr below). REQUEUE puts the pre-empted batch job back in the queue;
# JobRequeue=1 makes batch jobs requeueable by default.
PreemptType=preempt/qos
PreemptMode=REQUEUE
JobRequeue=1

# Keep finished jobs in slurmctld (squeue/REST /slurm/...) for 10 minutes;
# afterwards only slurmdbd (sacct, REST /slurmdb/...) knows them.
MinJobAge=600
# SIGTERM -> SIGKILL grace on cancel/timeout (default 30 s); no extra time
# beyond the limit (OverTimeLimit=0 is the default, stated for clarity)
KillWait=2
OverTimeLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS Sockets=1 CoresPerSocket=$CPUS ThreadsPerCore=1 RealMemory=$MEM_MB Gres=gpu:$GPUS State=UNKNOWN
# DefaultTime matters: with 'safe' limits, jobs without a time limit never start
PartitionName=gpu Nodes=$NODE Default=YES DefaultTime=01:00:00 MaxTime=7-00:00:00 State=UP
PartitionName=cpu Nodes=$NODE DefaultTime=01:00:00 MaxTime=7-00:00:00 State=UP
EOF
chmod 0644 "$ETC/slurm.conf" "$ETC/gres.conf"

# slurmd 22.05 always initialises a cgroup plugin, even with proctrack/linuxproc
# and task/none. On cgroup v1/hybrid hosts (a tmpfs /sys/fs/cgroup) autodetect
# picks cgroup/v1 and works. On pure cgroup v2 hosts without systemd the v2
# plugin tries dbus and slurmd dies, hence IgnoreSystemd (that branch is not
# verified here; it also needs a writable /sys/fs/cgroup).
CGMARK="# Generated by fabriek scripts/slurm-dev-cluster.sh"
if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" = cgroup2fs ]; then
  printf '%s\nCgroupPlugin=cgroup/v2\nIgnoreSystemd=yes\nIgnoreSystemdOnFailure=yes\n' "$CGMARK" >"$ETC/cgroup.conf"
elif [ -f "$ETC/cgroup.conf" ] && head -n1 "$ETC/cgroup.conf" | grep -qF "$CGMARK"; then
  rm -f "$ETC/cgroup.conf"
fi

cat >"$ETC/slurmdbd.conf" <<EOF
# Generated by fabriek scripts/slurm-dev-cluster.sh (must be 0600 and owned by SlurmUser)
AuthType=auth/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$JWT_KEY
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
# try to bind the host's own address instead of 0.0.0.0 (see the note at the top)
CommunicationParameters=NoInAddrAny
SlurmUser=slurm
LogFile=$LOGDIR/slurmdbd.log
PidFile=$RUNDIR/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
# localhost -> Unix socket /run/mysqld/mysqld.sock (MariaDB runs without TCP)
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
EOF
chown slurm:slurm "$ETC/slurmdbd.conf"; chmod 0600 "$ETC/slurmdbd.conf"
ts "configuration written in $ETC"

# ---------------------------------------------------------- 3. munged
start_bg munged setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
wait_for munged 20 sh -c 'munge -n </dev/null | unmunge'
ts "munged up (pid $(cat "$STATE_DIR/munged.pid"))"

# ------------------------------------------------ 4. mariadb + slurmdbd
mkdir -p /run/mysqld; chown mysql:root /run/mysqld
if [ ! -d /var/lib/mysql/mysql ]; then
  mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
fi
# --skip-networking: Unix socket only, port 3306 is never opened
start_bg mariadbd /usr/sbin/mariadbd --user=mysql --skip-networking \
  --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900
wait_for mariadbd 60 mariadb-admin ping
ts "mariadbd up (pid $(cat "$STATE_DIR/mariadbd.pid"))"
# --clean drops the accounting DB too: otherwise job ids restart at 1 while old
# records with the same ids stay in MariaDB
[ $CLEAN = 1 ] && mariadb -e "DROP DATABASE IF EXISTS $DB_NAME"
mariadb <<EOF
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO 'slurm'@'localhost';
FLUSH PRIVILEGES;
EOF
start_bg slurmdbd setpriv --reuid=slurm --regid=slurm --init-groups /usr/sbin/slurmdbd -D
wait_for slurmdbd 60 bash -c 'exec 3<>/dev/tcp/127.0.0.1/6819'
ts "slurmdbd up (pid $(cat "$STATE_DIR/slurmdbd.pid"))"

# ------------------------------------------------------- 5. slurmctld
# runs as SlurmUser=slurm (StateSaveLocation, log dir and pid dir are slurm's)
start_bg slurmctld setpriv --reuid=slurm --regid=slurm --init-groups /usr/sbin/slurmctld -D
wait_for slurmctld 60 sh -c 'scontrol ping | grep -q UP'
ts "slurmctld up (pid $(cat "$STATE_DIR/slurmctld.pid"))"

# ---------------------------------------------------------- 6. slurmd
# as root: it launches jobs as the submitting user
start_bg slurmd /usr/sbin/slurmd -D
node_state() { sinfo -h -n "$NODE" -o '%T' 2>/dev/null | head -n1; }
end=$(( $(date +%s) + 60 )); resumed=0
while :; do
  st=$(node_state)
  case "$st" in
    idle|mixed|allocated) break ;;
    drain*|inval*|down*)
      # left over from a previous run: try once to resume
      if [ $resumed = 0 ]; then scontrol update nodename="$NODE" state=resume 2>/dev/null || true; resumed=1; fi ;;
  esac
  pid_running slurmd || { show_logs slurmd; die "slurmd died"; }
  [ "$(date +%s)" -lt "$end" ] || { scontrol show node "$NODE" >&2; die "node never became idle (state=$st)"; }
  sleep 0.2
done
ts "slurmd up (pid $(cat "$STATE_DIR/slurmd.pid")); node $NODE is $(node_state)"

# ---------------------------------------------- 7. accounting bootstrap
# slurmctld registers the cluster itself; make sure it happened
for _ in $(seq 1 50); do
  sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx "$CLUSTER" && break; sleep 0.2
done
sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" \
  || sacctmgr -i add cluster "$CLUSTER" >/dev/null

# The Fabriek QOS. sacctmgr calls cost ~0.5 s each, so compare what exists
# with what we want (one call) and only add/modify on a difference.
# `add` fails with "Nothing new added" when the QOS exists, hence add + modify.
want=""; lower=()
for ((i = ${#QOS_CLASSES[@]} - 1; i >= 0; i--)); do
  name=${QOS_CLASSES[$i]%%:*}; prio=${QOS_CLASSES[$i]##*:}
  # emergency (i = 0) pre-empts every lower class; what happens to the
  # pre-empted job is the PreemptMode of *its* QOS: requeue for all of ours
  preempt=""; [ "$i" = 0 ] && preempt=$(IFS=,; echo "${lower[*]}" | tr ',' '\n' | sort | paste -sd,)
  want+="$name|$prio|$preempt|requeue"$'\n'
  lower+=("$name")
done
have=$(sacctmgr -n -P list qos format=name,priority,preempt,preemptmode | sort)
if [ "$have" != "$(printf '%s' "$want" | cat - <(echo "normal|0||cluster") | sort)" ]; then
  have_names=$(cut -d'|' -f1 <<<"$have")
  while IFS='|' read -r name prio preempt _; do
    [ -n "$name" ] || continue
    grep -qx "$name" <<<"$have_names" || sacctmgr -i add qos "$name" >/dev/null
    sacctmgr -i modify qos "$name" set Priority="$prio" PreemptMode=requeue \
      ${preempt:+Preempt="$preempt"} >/dev/null
  done <<<"$want"
fi
# root submits in the dev cluster (the REST token is root's): let it use every QOS
all_qos=$( (printf '%s\n' "${lower[@]}"; echo normal) | sort | paste -sd,)
[ "$(sacctmgr -n -P show assoc where user=root format=qos | head -n1)" = "$all_qos" ] \
  || sacctmgr -i modify user root set qos="$all_qos" >/dev/null
ts "QOS ready: ${lower[*]}"

# -------------------------------------------------------- 8. slurmrestd
RESTD_PLUGINS=openapi/v0.0.36,openapi/v0.0.37,openapi/v0.0.38,openapi/dbv0.0.36,openapi/dbv0.0.37,openapi/dbv0.0.38
# SLURM_JWT=daemon: slurmrestd itself uses no token, it forwards the client's.
# cwd /tmp: jobs submitted WITHOUT current_working_directory inherit it.
( cd /tmp && export SLURM_JWT=daemon && start_bg slurmrestd \
    setpriv --reuid="$REST_USER" --regid=nogroup --clear-groups \
    /usr/sbin/slurmrestd -a rest_auth/jwt -s "$RESTD_PLUGINS" "$REST_HOST:$REST_PORT" )
STARTED=1
fi  # ALREADY = 0

REST_URL="http://$REST_HOST:$REST_PORT"
TOKEN=$(scontrol token username=root lifespan="$TOKEN_LIFESPAN" | sed -n 's/^SLURM_JWT=//p')
[ -n "$TOKEN" ] || die "scontrol token failed"
rest_ok() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-SLURM-USER-NAME: root" \
        -H "X-SLURM-USER-TOKEN: $TOKEN" "$REST_URL/slurm/v0.0.38/ping")" = 200 ]
}
wait_for slurmrestd 30 rest_ok
ts "slurmrestd up (pid $(cat "$STATE_DIR/slurmrestd.pid")) on $REST_URL"
# every pid file must name the daemon itself, not a wrapper that forked
for d in "${DAEMONS[@]}"; do alive "$d" || die "$STATE_DIR/$d.pid does not point to a running $d"; done

umask 077
cat >"$ENV_FILE" <<EOF
SLURM_REST_URL=$REST_URL
SLURM_REST_API=0.0.38
SLURM_REST_USER=root
SLURM_JWT=$TOKEN
SLURM_JWT_KEY=$JWT_KEY
SLURM_CLUSTER=$CLUSTER
SLURM_DEV_NODE=$NODE
SLURM_DEV_STATE_DIR=$STATE_DIR
EOF
ts "ready; env file $ENV_FILE"
cat "$ENV_FILE"
