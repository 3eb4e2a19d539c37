#!/usr/bin/env bash
# Starts a single-machine Slurm cluster for tests and demos: munged, slurmctld and
# one slurmd per site, each site being a partition with its own node and fake GPUs
# (GRES entries backed by character devices that nothing opens), and slurmrestd
# on a unix socket (rest_auth/local; it runs as the slurm user, so jobs
# submitted through it run as that user and can write only where it may).
#
#   site-a: node meridian-a, gpu:h100:8      site-b: node meridian-b, gpu:h20:8
#   conformance: node meridian-c, gpu:h100:8   conformance-b: node meridian-d, gpu:h20:8
#   (only the backend tests use these two, so that their simulated site losses
#   never hit other tests' jobs)
#
# Installs slurm-wlm and munge with apt when they are missing. Safe to run again:
# when the cluster is already up it only checks it. Clients must use the config it
# writes: `source "$MERIDIAN_SLURM_DIR/env.sh"` (exports SLURM_CONF, and
# MERIDIAN_SLURMREST_SOCKET and MERIDIAN_SLURMREST_WORK: slurmrestd's socket and
# a directory where jobs submitted through it may write).
#
# `slurm-up.sh --install-only` installs the packages and stops there.
#
# Settings (environment): MERIDIAN_SLURM_DIR (state, default $TMPDIR/meridian-slurm),
# MERIDIAN_SLURM_PORT (slurmctld port, default 6817; the slurmd use the next four).
set -euo pipefail

DIR="${MERIDIAN_SLURM_DIR:-${TMPDIR:-/tmp}/meridian-slurm}"
CTLD_PORT="${MERIDIAN_SLURM_PORT:-6817}"
PORT_A=$((CTLD_PORT + 1))
PORT_B=$((CTLD_PORT + 2))
PORT_C=$((CTLD_PORT + 3))
PORT_D=$((CTLD_PORT + 4))
CONF="$DIR/etc/slurm.conf"
NODES=(meridian-a meridian-b meridian-c meridian-d)

log() { echo "slurm-up: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*"; fi
}

install_packages() {
	local missing=0
	for b in slurmctld slurmd sbatch munged slurmrestd; do
		command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing=1
	done
	[ "$missing" = 0 ] && return 0
	log "installing slurm-wlm and munge with apt"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		slurm-wlm slurmctld slurmd slurm-client munge slurmrestd >/dev/null
}

# pid_running PID: the process exists and is not a zombie (this machine's init
# may not reap orphans, and kill -0 succeeds on a zombie). Reads /proc, so that
# no procps is needed.
pid_running() {
	local st
	st="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

# alive PIDFILE: the process named in PIDFILE is running.
alive() { [ -s "$1" ] && pid_running "$(cat "$1")"; }

REST_DIR="$DIR/rest"
REST_SOCK="$REST_DIR/slurmrestd.sock"
REST_WORK="$DIR/rest-work"
# slurmrestd refuses to run as root; it runs as this user.
REST_USER=slurm

# stop_slurm stops slurmctld and the slurmd of this cluster and waits for them.
stop_slurm() {
	local f p pids=() deadline=$((SECONDS + 30))
	for f in "$DIR"/run/slurmd-*.pid "$DIR/run/slurmctld.pid"; do
		if alive "$f"; then p="$(cat "$f")"; kill "$p" && pids+=("$p"); fi
	done
	for p in "${pids[@]}"; do
		while pid_running "$p"; do
			[ "$SECONDS" -lt "$deadline" ] || die "slurm daemon $p did not stop"
			sleep 0.1
		done
	done
}

write_config() {
	mkdir -p "$DIR"/{etc,state,log,run,fakegpu,munge-key,jobs}
	mkdir -p "$DIR/spool/slurmd-meridian-a" "$DIR/spool/slurmd-meridian-b" "$DIR/spool/slurmd-meridian-c" "$DIR/spool/slurmd-meridian-d"
	mkdir -p -m 0755 "$DIR/munge"
	chmod 0755 "$DIR" "$DIR/munge"
	chmod 0700 "$DIR/munge-key"
	# 32 fake GPUs, 8 per node (meridian-a: 0-7, … meridian-d: 24-31). slurmd only
	# stat()s them; it wants character or block devices, not regular files.
	local i
	for i in $(seq 0 31); do
		local f="$DIR/fakegpu/nvidia$i"
		[ -e "$f" ] && continue
		mknod -m 666 "$f" c 195 "$i" 2>/dev/null || ln -s /dev/null "$f"
	done
	local tmp="$CONF.tmp"
	cat >"$tmp" <<CONF
# Written by scripts/slurm-up.sh: a single-machine cluster for Meridian's tests.
ClusterName=meridian
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/slurmd-%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MinJobAge=3600
MaxJobCount=200000
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
SlurmdTimeout=30
SlurmdParameters=config_overrides
GresTypes=gpu
NodeName=meridian-a Port=$PORT_A NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=32 Boards=1 SocketsPerBoard=1 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=16384 Gres=gpu:h100:8 State=UNKNOWN
NodeName=meridian-b Port=$PORT_B NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=32 Boards=1 SocketsPerBoard=1 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=16384 Gres=gpu:h20:8 State=UNKNOWN
NodeName=meridian-c Port=$PORT_C NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=32 Boards=1 SocketsPerBoard=1 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=16384 Gres=gpu:h100:8 State=UNKNOWN
NodeName=meridian-d Port=$PORT_D NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=32 Boards=1 SocketsPerBoard=1 CoresPerSocket=32 ThreadsPerCore=1 RealMemory=16384 Gres=gpu:h20:8 State=UNKNOWN
PartitionName=site-a Nodes=meridian-a Default=YES MaxTime=INFINITE State=UP
PartitionName=site-b Nodes=meridian-b Default=NO MaxTime=INFINITE State=UP
PartitionName=conformance Nodes=meridian-c Default=NO MaxTime=INFINITE State=UP
PartitionName=conformance-b Nodes=meridian-d Default=NO MaxTime=INFINITE State=UP
CONF
	if [ -f "$CONF" ] && ! cmp -s "$tmp" "$CONF"; then
		# Node changes need a daemon restart (scontrol reconfigure refuses them).
		log "configuration changed: restarting slurm daemons"
		stop_slurm
	fi
	mv "$tmp" "$CONF"
	cat >"$DIR/etc/gres.conf.tmp" <<GRES
AutoDetect=off
NodeName=meridian-a Name=gpu Type=h100 File=$DIR/fakegpu/nvidia[0-7]
NodeName=meridian-b Name=gpu Type=h20 File=$DIR/fakegpu/nvidia[8-15]
NodeName=meridian-c Name=gpu Type=h100 File=$DIR/fakegpu/nvidia[16-23]
NodeName=meridian-d Name=gpu Type=h20 File=$DIR/fakegpu/nvidia[24-31]
GRES
	mv "$DIR/etc/gres.conf.tmp" "$DIR/etc/gres.conf"
	# No cgroup.conf: with proctrack/linuxproc and task/none slurmd needs no cgroup
	# plugin, and 22.05 rejects CgroupPlugin=disabled ("cannot find cgroup plugin").
	rm -f "$DIR/etc/cgroup.conf"
	# slurmrestd's socket directory belongs to its user; jobs submitted
	# through it run as that user, so the tests' job directories live in a
	# sticky, world-writable directory (as /tmp is).
	id "$REST_USER" >/dev/null 2>&1 || die "user $REST_USER is missing (the slurm packages create it)"
	mkdir -p -m 0755 "$REST_DIR"
	chown "$REST_USER:$REST_USER" "$REST_DIR"
	mkdir -p "$REST_WORK"
	chmod 1777 "$REST_WORK"
	{
		printf 'export SLURM_CONF=%q\n' "$CONF"
		printf 'export MERIDIAN_SLURMREST_SOCKET=%q\n' "$REST_SOCK"
		printf 'export MERIDIAN_SLURMREST_WORK=%q\n' "$REST_WORK"
	} >"$DIR/env.sh.tmp"
	mv "$DIR/env.sh.tmp" "$DIR/env.sh"
}

start_daemons() {
	local key="$DIR/munge-key/munge.key"
	if [ ! -s "$key" ]; then
		head -c 1024 /dev/urandom >"$key.tmp"
		chmod 0400 "$key.tmp"
		mv "$key.tmp" "$key"
	fi
	if ! alive "$DIR/run/munged.pid"; then
		log "starting munged"
		munged --key-file="$key" --socket="$DIR/munge/munge.socket.2" \
			--pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
			--seed-file="$DIR/munge-key/munged.seed"
	fi
	export SLURM_CONF="$CONF"
	if ! alive "$DIR/run/slurmctld.pid"; then
		log "starting slurmctld"
		slurmctld
	fi
	local n
	for n in "${NODES[@]}"; do
		if ! alive "$DIR/run/slurmd-$n.pid"; then
			log "starting slurmd $n"
			slurmd -N "$n"
		fi
	done
	if ! alive "$DIR/run/slurmrestd.pid"; then
		# slurmrestd stays in the foreground and writes no pid file: run it
		# in its own session and record its pid here.
		log "starting slurmrestd on $REST_SOCK"
		rm -f "$REST_SOCK"
		# From the cluster's own directory: slurmrestd asks for its working
		# directory on every submission and exits once that is gone (a
		# checkout it was started from, removed).
		(cd "$DIR" && exec setsid slurmrestd -u "$REST_USER" -g "$REST_USER" -a rest_auth/local -s openapi/v0.0.38 \
			"unix:$REST_SOCK" </dev/null >>"$DIR/log/slurmrestd.log" 2>&1) &
		echo "$!" >"$DIR/run/slurmrestd.pid.tmp"
		mv "$DIR/run/slurmrestd.pid.tmp" "$DIR/run/slurmrestd.pid"
	fi
}

# wait_ready polls sinfo until every node is idle (or busy with jobs), resuming
# nodes that an earlier bad registration left drained or down.
wait_ready() {
	local deadline=$((SECONDS + ${MERIDIAN_SLURM_WAIT:-60})) out n state ready
	while :; do
		ready=1
		out="$(sinfo -h -N -o '%N %t' 2>/dev/null || true)"
		for n in "${NODES[@]}"; do
			state="$(awk -v n="$n" '$1==n {print $2; exit}' <<<"$out")"
			case "$state" in
			idle | mix | alloc) ;;
			drain* | drng | down | down\* | fail* | inval)
				ready=0
				scontrol update nodename="$n" state=resume >/dev/null 2>&1 || true ;;
			*) ready=0 ;;
			esac
		done
		[ -S "$REST_SOCK" ] && alive "$DIR/run/slurmrestd.pid" || ready=0
		[ "$ready" = 1 ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			log "cluster not ready after ${MERIDIAN_SLURM_WAIT:-60}s; sinfo says:"
			echo "$out" >&2
			tail -n 20 "$DIR/log/slurmctld.log" >&2 || true
			[ -S "$REST_SOCK" ] || { log "no slurmrestd socket at $REST_SOCK; its log says:"; tail -n 20 "$DIR/log/slurmrestd.log" >&2 || true; }
			exit 1
		fi
		# Poll interval while waiting for a condition, not synchronisation.
		sleep 0.2
	done
}

install_packages
[ "${1:-}" = --install-only ] && exit 0
write_config
start_daemons
wait_ready
log "up: source $DIR/env.sh (sites: partitions site-a, site-b; backend tests: conformance, conformance-b; slurmrestd: $REST_SOCK)"
