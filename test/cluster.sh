#!/usr/bin/env bash
# Start and stop a throw-away single-node Ceph cluster for development and tests.
#
#   test/cluster.sh up            bootstrap (or restart) the cluster; return once it is healthy
#   test/cluster.sh down [--keep] stop the daemons we started; remove CLUSTER_DIR unless --keep
#   test/cluster.sh status        daemons alive, health, `ceph -s`; non-zero if not running
#   test/cluster.sh env           print the export lines for tests: eval "$(test/cluster.sh env)"
#   test/cluster.sh wait          wait until the cluster is healthy
#   test/cluster.sh stop NAME...  stop the named daemons of a running cluster (fault tests); data kept
#   test/cluster.sh start NAME... start the named daemons again; return once the cluster is healthy
#
# NAME is mon.a, mgr.x, osd.0 or mds.a. `stop` terminates like `down` (TERM, KILL after 15 s);
# `up` and `start` bring stopped daemons back.
#
# Daemons: mon.a, mgr.x, osd.0 (bluestore on a sparse file), mds.a. Pool `rbd`, CephFS volume
# `cephfs`. Everything lives under CLUSTER_DIR and listens on 127.0.0.1 only. Daemons run in
# the foreground in their own session; their PIDs are recorded in $CLUSTER_DIR/pids and `down`
# stops exactly those processes. Healthy means HEALTH_OK, all PGs active+clean, an active MDS
# and the mgr volumes module answering for cephfs.
#
# Environment:
#   CLUSTER_DIR   default /tmp/ceph-csi-cluster
#   MON_PORT      monitor msgr v1 port, default 6789
#   MON_V2_PORT   monitor msgr v2 port, default 3300 (MON_PORT+1 when MON_PORT is not 6789)
#   OSD_SIZE      size of the sparse file behind the OSD, default 20G
#   UP_TIMEOUT    seconds `up` and `wait` allow the cluster to become healthy, default 180
#   MGR_MODULES   mgr python modules to load, default the always-on ones plus iostat and nfs;
#                 "all" loads every module installed (slower start)
set -Eeuo pipefail
trap 'printf "cluster.sh: error: line %s: %s failed\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

CLUSTER_DIR=${CLUSTER_DIR:-/tmp/ceph-csi-cluster}
MON_PORT=${MON_PORT:-6789}
if [[ $MON_PORT == 6789 ]]; then
	MON_V2_PORT=${MON_V2_PORT:-3300}
else
	MON_V2_PORT=${MON_V2_PORT:-$((MON_PORT + 1))}
fi
OSD_SIZE=${OSD_SIZE:-20G}
# ceph.conf and the env file take the path unquoted.
[[ $CLUSTER_DIR != *[[:space:]]* ]] || {
	echo "cluster.sh: CLUSTER_DIR must not contain white space" >&2
	exit 1
}
UP_TIMEOUT=${UP_TIMEOUT:-180}
# Pacific's always-on modules (the mgr wants them present) plus the ones enabled at bootstrap.
MGR_MODULES=${MGR_MODULES:-balancer crash devicehealth orchestrator pg_autoscaler progress \
rbd_support status telemetry volumes iostat nfs}
SYSTEM_MGR_MODULE_PATH=/usr/share/ceph/mgr

MON_ID=a
MGR_ID=x
OSD_ID=0
MDS_ID=a
# Start order; `down` stops them in reverse.
DAEMONS=("mon.$MON_ID" "mgr.$MGR_ID" "osd.$OSD_ID" "mds.$MDS_ID")

CONF=$CLUSTER_DIR/ceph.conf
ADMIN_KEYRING=$CLUSTER_DIR/ceph.client.admin.keyring
ENV_FILE=$CLUSTER_DIR/env
CSI_CONFIG=$CLUSTER_DIR/csi-config.json
PID_DIR=$CLUSTER_DIR/pids
LOG_DIR=$CLUSTER_DIR/log
RUN_DIR=$CLUSTER_DIR/run
# Created first by a bootstrap: marks the directory as ours, so `down` may delete it.
OWNER_MARK=$CLUSTER_DIR/.ceph-csi-cluster
# Created last by a successful bootstrap: the data can be restarted after `down --keep`.
DONE_MARK=$CLUSTER_DIR/.bootstrapped

START_TIME=$EPOCHREALTIME

# ---------------------------------------------------------------------------------------------
# Helpers

log() {
	local now=${EPOCHREALTIME/[.,]/} start=${START_TIME/[.,]/}
	local ds=$(((now - start) / 100000))
	printf '[%3d.%ds] %s\n' $((ds / 10)) $((ds % 10)) "$*"
}

die() {
	printf 'cluster.sh: error: %s\n' "$*" >&2
	exit 1
}

# The ceph CLI against this cluster as client.admin, never hanging for long.
cephcmd() {
	timeout 60 ceph --conf "$CONF" --connect-timeout 15 "$@"
}

# Print the end of the named logs: the daemon's own log and its captured stdout/stderr.
show_logs() {
	local name f
	for name in "$@"; do
		for f in "$LOG_DIR/ceph-$name.log" "$LOG_DIR/$name.out"; do
			[[ -s $f ]] || continue
			printf -- '----- end of %s -----\n' "$f" >&2
			grep -v '^$' "$f" | tail -n 25 >&2 || true
		done
	done
}

# Report a failure with the relevant logs. Daemons are left running so they can be inspected.
fail_with_logs() {
	local msg=$1
	shift
	printf 'cluster.sh: error: %s\n' "$msg" >&2
	show_logs "$@"
	printf 'cluster.sh: daemons left running for inspection; "%s down" cleans up\n' "$0" >&2
	exit 1
}

# Run a command, showing its output only if it fails.
quiet() {
	local out
	out=$("$@" 2>&1) || {
		printf 'cluster.sh: failed: %s\n%s\n' "$*" "$out" >&2
		return 1
	}
}

# Run a command every $2 seconds until it succeeds or $1 seconds have passed.
retry() {
	local limit=$1 every=$2 deadline
	shift 2
	deadline=$((SECONDS + limit))
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep "$every"
	done
}

pid_file() { echo "$PID_DIR/$1.pid"; }

# Print the recorded PID of a daemon if that process is alive and still is our daemon: its
# command line names our ceph.conf, so a recycled PID is never taken for it.
live_pid() {
	local f
	f=$(pid_file "$1")
	[[ -r $f ]] || return 1
	local pid cmdline
	pid=$(<"$f")
	[[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline") || return 1
	[[ $cmdline == *"--conf $CONF "* ]] || return 1
	echo "$pid"
}

any_alive() {
	local d
	for d in "${DAEMONS[@]}"; do
		live_pid "$d" >/dev/null && return 0
	done
	return 1
}

all_alive() {
	local d
	for d in "${DAEMONS[@]}"; do
		live_pid "$d" >/dev/null || return 1
	done
}

# Fail at once, with its log, if a daemon we started has died.
check_daemons_alive() {
	local d
	for d in "${DAEMONS[@]}"; do
		[[ -e $(pid_file "$d") ]] || continue
		live_pid "$d" >/dev/null || fail_with_logs "$d exited" "$d"
	done
}

# ---------------------------------------------------------------------------------------------
# Configuration and keys

check_prerequisites() {
	local tool port
	for tool in ceph ceph-mon ceph-mgr ceph-osd ceph-mds ceph-authtool monmaptool rbd jq uuidgen ss setsid flock; do
		command -v "$tool" >/dev/null || die "$tool not found in PATH"
	done
	for port in "$MON_PORT" "$MON_V2_PORT"; do
		if ss -Htln "sport = :$port" | grep -q .; then
			die "port $port is in use (another cluster?); choose another MON_PORT/MON_V2_PORT"
		fi
	done
}

# Lines shared by the daemon sections. Kept out of [global] so that clients (ceph, rbd,
# go-ceph) neither write log files nor pid files.
daemon_files() {
	echo "log file = $LOG_DIR/\$cluster-\$name.log"
	echo "pid file = $RUN_DIR/\$name.pid"
}

write_ceph_conf() {
	local fsid=$1
	cat >"$CONF" <<EOF
# Generated by test/cluster.sh for a single-node development cluster.
[global]
fsid = $fsid
mon initial members = $MON_ID
mon host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_PORT]
# Loopback and IPv4 only: nothing is reachable from outside the machine.
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
# Clients (ceph, rbd, ceph-fuse, rbd-fuse, go-ceph) authenticate as client.admin by default.
keyring = $ADMIN_KEYRING
# Daemons put their admin sockets here (\$run_dir/\$cluster-\$name.asok).
run dir = $RUN_DIR
crash dir = $CLUSTER_DIR/crash

# A single OSD: one replica per pool, and CRUSH chooses among OSDs instead of hosts.
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
# Few PGs and no autoscaler: peering is quick and PG counts never change under the tests.
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool delete = true

# Expected on a one-OSD development cluster; they would keep it in HEALTH_WARN.
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
# The disk holding CLUSTER_DIR may be fairly full; complain only when it is nearly exhausted.
mon data avail warn = 2
mon data avail crit = 1

# Propagate state sooner than the production defaults: monitor commits every 0.2 s instead of
# every second, daemons report PG and perf stats to the mgr every second instead of every 5 s.
paxos propose interval = 0.2
mgr stats period = 1

[mon]
$(daemon_files)
mon data = $CLUSTER_DIR/mon/\$id
keyring = $CLUSTER_DIR/mon/\$id/keyring
# Read by the monitor when it creates the first mgr map. Upstream also enables restful, which
# would listen on all addresses.
mgr initial modules = iostat nfs

[mgr]
$(daemon_files)
mgr data = $CLUSTER_DIR/mgr/\$id
keyring = $CLUSTER_DIR/mgr/\$id/keyring
mgr module path = $(mgr_module_path)

[osd]
$(daemon_files)
osd data = $CLUSTER_DIR/osd/\$id
keyring = $CLUSTER_DIR/osd/\$id/keyring
osd objectstore = bluestore
# The block file lies beside the data directory: bluestore makes <osd data>/block a symlink to
# this path, so a path inside the data directory would end up a symlink to itself.
bluestore block path = $CLUSTER_DIR/osd/\$id.block
bluestore block create = false
bluestore fsck on mkfs = false
# Little data, so little memory.
osd memory target = 1073741824
bluestore cache autotune = false
bluestore cache size = 134217728

[mds]
$(daemon_files)
mds data = $CLUSTER_DIR/mds/\$id
keyring = $CLUSTER_DIR/mds/\$id/keyring
mds cache memory limit = 268435456
# A stopping MDS waits for one beacon round trip and for its metrics threads to wake up;
# shorter periods than the defaults (4 s, 2 s, 5 s) cut its shutdown from ~8 s to ~3 s.
mds beacon interval = 1
mds metrics update interval = 1
mds ping interval = 1
# After a restart the MDS waits for the clients of its previous life to reconnect, 45 s by
# default. The mgr's volumes client never does (the new mgr is a new client), nor does a test
# process that was killed; evict them after 5 s.
mds reconnect timeout = 5
EOF
}

# The mgr imports every module found in its module path before it becomes active (4.5 s on an
# idle 2-core machine, 14 s when busy, and ~310 MB instead of ~190 MB resident); a module path
# holding only the modules we want halves the time.
mgr_module_path() {
	if [[ $MGR_MODULES == all ]]; then
		echo "$SYSTEM_MGR_MODULE_PATH"
	else
		echo "$CLUSTER_DIR/mgr/modules"
	fi
}

make_mgr_module_dir() {
	[[ $MGR_MODULES != all ]] || return 0
	local dir=$CLUSTER_DIR/mgr/modules f m
	mkdir -p "$dir"
	# The shared helpers (mgr_module.py, mgr_util.py) plus the chosen module packages.
	for f in "$SYSTEM_MGR_MODULE_PATH"/*.py; do
		ln -s "$f" "$dir/"
	done
	for m in $MGR_MODULES; do
		[[ -d $SYSTEM_MGR_MODULE_PATH/$m ]] || die "mgr module $m not found in $SYSTEM_MGR_MODULE_PATH"
		ln -s "$SYSTEM_MGR_MODULE_PATH/$m" "$dir/$m"
	done
}

# Create a keyring file holding a new key for one entity, with the given caps.
new_keyring() {
	local file=$1 name=$2
	shift 2
	ceph-authtool --create-keyring "$file" --gen-key -n "$name" "$@" >/dev/null
}

# The keyring handed to `ceph-mon --mkfs` holds mon. and, imported, the admin, bootstrap, mgr
# and mds keys: the monitor adds every key in it to its auth database, so these entities exist
# from the first start. osd.0's key is registered by `ceph osd new` instead.
make_keys() {
	local mon_keyring=$CLUSTER_DIR/mon/mkfs.keyring f
	new_keyring "$mon_keyring" mon. --cap mon 'allow *'
	new_keyring "$ADMIN_KEYRING" client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *'
	new_keyring "$CLUSTER_DIR/bootstrap-osd.keyring" client.bootstrap-osd \
		--cap mon 'profile bootstrap-osd' --cap mgr 'allow r'
	new_keyring "$CLUSTER_DIR/mgr/$MGR_ID/keyring" "mgr.$MGR_ID" \
		--cap mon 'allow profile mgr' --cap osd 'allow *' --cap mds 'allow *'
	new_keyring "$CLUSTER_DIR/mds/$MDS_ID/keyring" "mds.$MDS_ID" \
		--cap mon 'allow profile mds' --cap osd 'allow rwx' --cap mds 'allow' \
		--cap mgr 'allow profile mds'
	new_keyring "$CLUSTER_DIR/osd/$OSD_ID/keyring" "osd.$OSD_ID"
	for f in "$ADMIN_KEYRING" "$CLUSTER_DIR/bootstrap-osd.keyring" \
		"$CLUSTER_DIR/mgr/$MGR_ID/keyring" "$CLUSTER_DIR/mds/$MDS_ID/keyring"; do
		ceph-authtool "$mon_keyring" --import-keyring "$f" >/dev/null
	done
}

mkfs_mon() {
	local fsid=$1 monmap=$CLUSTER_DIR/mon/monmap
	monmaptool --create --fsid "$fsid" \
		--addv "$MON_ID" "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_PORT]" \
		"$monmap" >/dev/null
	ceph-mon --conf "$CONF" --mkfs -i "$MON_ID" --monmap "$monmap" \
		--keyring "$CLUSTER_DIR/mon/mkfs.keyring" >"$LOG_DIR/mon.$MON_ID.mkfs.out" 2>&1 ||
		fail_with_logs "ceph-mon --mkfs failed" "mon.$MON_ID" "mon.$MON_ID.mkfs"
	rm -f "$monmap" "$CLUSTER_DIR/mon/mkfs.keyring"
}

# Format the OSD without asking the monitors (--no-mon-config), so it runs beside mkfs_mon.
mkfs_osd() {
	local uuid=$1
	truncate -s "$OSD_SIZE" "$CLUSTER_DIR/osd/$OSD_ID.block"
	ceph-osd --conf "$CONF" --no-mon-config --mkfs -i "$OSD_ID" --osd-uuid "$uuid" \
		>"$LOG_DIR/osd.$OSD_ID.mkfs.out" 2>&1
}

# Allocate osd.0 in the OSD map with its uuid and register its cephx key.
create_osd_entry() {
	local uuid=$1 key
	key=$(ceph-authtool -p -n "osd.$OSD_ID" "$CLUSTER_DIR/osd/$OSD_ID/keyring")
	printf '{"cephx_secret": "%s"}' "$key" | quiet cephcmd osd new "$uuid" "$OSD_ID" -i -
}

# Settings that live in the monitors' databases. None of them is needed before the mgr has
# loaded its modules (several seconds), so this runs in the background.
apply_runtime_settings() {
	local module
	# Listen on loopback should dashboard, prometheus or restful ever be enabled (their default
	# is all addresses). --force: the monitor learns module options only from a running mgr.
	for module in dashboard prometheus restful; do
		cephcmd config set mgr "mgr/$module/server_addr" 127.0.0.1 --force
	done
	# A file-backed OSD has no SMART data to scrape.
	cephcmd config set mgr mgr/devicehealth/enable_monitoring false --force
	# Also in ceph.conf; in the config database it shows in `ceph config get` and survives edits.
	cephcmd config set mon mon_allow_pool_delete true
	# RBD clone v2 (clones of unprotected snapshots) requires mimic or newer clients.
	quiet cephcmd osd set-require-min-compat-client mimic
}

# ---------------------------------------------------------------------------------------------
# Daemons

# Start one daemon in the foreground in a session of its own and record its PID.
start_daemon() {
	local name=$1 type=${1%%.*} id=${1#*.}
	if live_pid "$name" >/dev/null; then
		return 0
	fi
	# setsid execs the daemon directly (a background job is no process group leader), so $!
	# is the daemon's PID; the new session keeps it alive when the caller's terminal goes away.
	# 9<&-: the daemon must not inherit the lock taken by take_lock. A test environment's
	# CEPH_KEYRING (the admin keyring) would replace the daemon's own key: the daemon then
	# fails to authenticate and exits.
	env -u CEPH_KEYRING -u CEPH_ARGS setsid "ceph-$type" --conf "$CONF" -f -i "$id" \
		</dev/null >>"$LOG_DIR/$name.out" 2>&1 9<&- &
	echo $! >"$(pid_file "$name")"
}

mon_answers() { cephcmd mon stat >/dev/null 2>&1; }

wait_for_mon() {
	retry 60 0.3 mon_answers || fail_with_logs "monitor did not answer within 60 s" "mon.$MON_ID"
}

# Until the mgr has loaded its modules the CLI rejects `fs volume` as an unknown command;
# afterwards the command waits for the mgr to become active.
create_cephfs_volume() {
	local out deadline=$((SECONDS + 120))
	until out=$(cephcmd fs volume create cephfs 2>&1); do
		((SECONDS < deadline)) || fail_with_logs "fs volume create cephfs failed: $out" "mgr.$MGR_ID"
		sleep 1
	done
}

# Healthy: HEALTH_OK, every PG active+clean, an active MDS, and the mgr volumes module answering
# for cephfs. Sets WAIT_REASON to what is missing.
WAIT_REASON=
cluster_healthy() {
	local status
	check_daemons_alive
	if ! status=$(cephcmd status -f json 2>/dev/null); then
		WAIT_REASON="monitor not answering"
		return 1
	fi
	WAIT_REASON=$(jq -r '
		def not_clean: [.pgmap.pgs_by_state[]? | select(.state_name != "active+clean") | .count] | add // 0;
		def active_mds: [.fsmap.by_rank[]? | select(.status == "up:active")] | length;
		[ (if .health.status != "HEALTH_OK"
			then "\(.health.status) (\(.health.checks | keys | join(", ")))" else empty end),
		  (if .osdmap.num_up_osds < 1 then "osd not up" else empty end),
		  (if .pgmap.num_pgs == 0 then "no pgs"
			elif not_clean > 0 then "\(not_clean) pgs not active+clean" else empty end),
		  (if active_mds < 1 then "no active mds" else empty end)
		] | join("; ")' <<<"$status") || WAIT_REASON="unparsable ceph status"
	[[ -z $WAIT_REASON ]] || return 1
	if ! cephcmd fs subvolumegroup ls cephfs >/dev/null 2>&1; then
		WAIT_REASON="mgr volumes module not answering for cephfs"
		return 1
	fi
}

wait_healthy() {
	local deadline=$((SECONDS + UP_TIMEOUT)) last=
	until cluster_healthy; do
		if [[ $WAIT_REASON != "$last" ]]; then
			log "waiting: $WAIT_REASON"
			last=$WAIT_REASON
		fi
		if ((SECONDS >= deadline)); then
			cephcmd health detail >&2 || true
			fail_with_logs "cluster not healthy after ${UP_TIMEOUT}s: $WAIT_REASON" "${DAEMONS[@]}"
		fi
		sleep 1
	done
}

# ---------------------------------------------------------------------------------------------
# Files for tests

# Values come from ceph.conf, not from the environment, which may differ on a restart.
write_env_files() {
	local fsid key port mon
	fsid=$(awk '$1 == "fsid" {print $3; exit}' "$CONF")
	port=$(sed -n 's/^mon host = .*v1:127\.0\.0\.1:\([0-9]*\)\]$/\1/p' "$CONF")
	[[ -n $port ]] || die "cannot read the monitor port from $CONF"
	# A bare address on a non-standard port leaves librados and rbd-fuse
	# guessing the protocol (a wrong key then hangs until a timeout instead
	# of failing at once): name it.
	mon=127.0.0.1:$port
	[[ $port == 6789 ]] || mon=v1:$mon
	key=$(ceph-authtool -p -n client.admin "$ADMIN_KEYRING")
	(
		umask 077 # the file holds the admin key
		cat >"$ENV_FILE.tmp" <<EOF
export CEPH_CONF=$CONF
export CEPH_KEYRING=$ADMIN_KEYRING
export CEPH_ADMIN_ID=admin
export CEPH_ADMIN_KEY=$key
export CEPH_MONITORS=$mon
export CEPH_CLUSTER_FSID=$fsid
export CEPH_CSI_CONFIG=$CSI_CONFIG
EOF
	)
	mv "$ENV_FILE.tmp" "$ENV_FILE"
	# ceph-csi's config.json: the cluster ID is the fsid.
	cat >"$CSI_CONFIG" <<EOF
[{"clusterID":"$fsid","monitors":["$mon"],"rbd":{"radosNamespace":""},"cephFS":{"subvolumeGroup":"csi","radosNamespace":"csi"}}]
EOF
}

# ---------------------------------------------------------------------------------------------
# Subcommands

bootstrap() {
	local fsid osd_uuid mkfs_job settings_job pool_job
	fsid=$(uuidgen)
	osd_uuid=$(uuidgen)
	log "bootstrapping a new cluster in $CLUSTER_DIR (fsid $fsid)"
	mkdir -p "$CLUSTER_DIR"
	: >"$OWNER_MARK"
	mkdir -p "$PID_DIR" "$LOG_DIR" "$RUN_DIR" "$CLUSTER_DIR/crash" "$CLUSTER_DIR/mon/$MON_ID" \
		"$CLUSTER_DIR/mgr/$MGR_ID" "$CLUSTER_DIR/osd/$OSD_ID" "$CLUSTER_DIR/mds/$MDS_ID"
	make_mgr_module_dir
	write_ceph_conf "$fsid"
	make_keys

	mkfs_osd "$osd_uuid" &
	mkfs_job=$!
	mkfs_mon "$fsid"
	# The mgr and the MDS wait for the monitor by themselves; the mgr's module loading is the
	# longest step of the bootstrap, so it starts as early as possible.
	start_daemon "mon.$MON_ID"
	start_daemon "mgr.$MGR_ID"
	start_daemon "mds.$MDS_ID"
	wait_for_mon
	log "mon.$MON_ID answers on 127.0.0.1:$MON_PORT (v1) and :$MON_V2_PORT (v2)"

	apply_runtime_settings &
	settings_job=$!
	create_osd_entry "$osd_uuid"
	wait "$mkfs_job" || fail_with_logs "ceph-osd --mkfs failed" "osd.$OSD_ID" "osd.$OSD_ID.mkfs"
	start_daemon "osd.$OSD_ID"
	log "osd.$OSD_ID started"

	quiet cephcmd osd pool create rbd
	# `rbd pool init` writes to the pool, so it completes once the OSD is up.
	timeout 120 rbd --conf "$CONF" pool init rbd &
	pool_job=$!

	create_cephfs_volume
	log "CephFS volume cephfs created"
	wait "$pool_job" || fail_with_logs "rbd pool init failed" "osd.$OSD_ID"
	log "pool rbd initialised"
	wait "$settings_job" || fail_with_logs "applying runtime settings failed" "mon.$MON_ID"

	write_env_files
	: >"$DONE_MARK"
}

# Start the daemons of a cluster kept by `down --keep`.
restart() {
	log "restarting the cluster kept in $CLUSTER_DIR"
	local d
	for d in "${DAEMONS[@]}"; do
		start_daemon "$d"
	done
	wait_for_mon
	write_env_files
}

cmd_up() {
	if [[ -e $DONE_MARK ]]; then
		if all_alive; then
			if cluster_healthy; then
				log "cluster in $CLUSTER_DIR is already running and healthy"
				return 0
			fi
		elif any_alive; then
			log "starting the daemons that are not running"
		else
			restart
		fi
	elif any_alive; then
		die "the cluster in $CLUSTER_DIR is not fully set up but partly running; run '$0 down' first"
	else
		if [[ -e $CLUSTER_DIR ]]; then
			[[ -e $OWNER_MARK ]] ||
				die "$CLUSTER_DIR exists and was not made by this script; remove it or set CLUSTER_DIR"
			log "removing the remains of an unfinished bootstrap"
			remove_cluster_dir
		fi
		check_prerequisites
		bootstrap
	fi
	# Restart whatever died; start_daemon skips daemons that are alive.
	local d
	for d in "${DAEMONS[@]}"; do
		start_daemon "$d"
	done
	wait_healthy
	log "cluster is healthy; source $ENV_FILE to use it"
}

cmd_wait() {
	[[ -e $CONF ]] || die "no cluster in $CLUSTER_DIR"
	wait_healthy
	log "cluster is healthy"
}

# TERM the named daemons that are alive, wait up to 15 s for them to exit, then KILL the rest.
terminate() {
	local d pid pids=() alive deadline=$((SECONDS + 15))
	for d in "$@"; do
		if pid=$(live_pid "$d"); then
			log "stopping $d (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	while ((${#pids[@]} > 0)); do
		alive=()
		for pid in "${pids[@]}"; do
			if [[ -e /proc/$pid ]]; then
				alive+=("$pid")
			fi
		done
		pids=("${alive[@]}")
		((${#pids[@]} > 0)) || break
		if ((SECONDS >= deadline)); then
			log "killing pid ${pids[*]}: still running after 15 s"
			kill -KILL "${pids[@]}" 2>/dev/null || true
			break
		fi
		sleep 0.1
	done
}

# The other daemons first, while the monitor can still take their goodbyes (otherwise they
# wait out timeouts talking to it), then the monitor.
stop_daemons() {
	terminate "${DAEMONS[@]:1}"
	terminate "${DAEMONS[0]}"
	rm -f "$PID_DIR"/*.pid
}

# Delete CLUSTER_DIR, unless something is mounted below it (a test's leftover FUSE mount, say):
# this script mounted nothing, so it unmounts nothing either.
remove_cluster_dir() {
	local dir mounts
	dir=$(realpath -m "$CLUSTER_DIR")
	[[ $dir != / ]] || die "refusing to remove /"
	mounts=$(awk -v d="$dir/" 'index($5 "/", d) == 1 {print $5}' /proc/self/mountinfo)
	[[ -z $mounts ]] || die "not removing $CLUSTER_DIR: mounted below it: $mounts"
	rm -rf --one-file-system "$CLUSTER_DIR"
}

cmd_down() {
	local keep=false
	case ${1:-} in
	--keep) keep=true ;;
	"") ;;
	*) die "unknown option for down: $1" ;;
	esac
	if [[ ! -e $CLUSTER_DIR ]]; then
		log "nothing to do: $CLUSTER_DIR does not exist"
		return 0
	fi
	[[ -e $OWNER_MARK ]] || die "$CLUSTER_DIR was not made by this script; not touching it"
	if [[ -d $PID_DIR ]]; then
		stop_daemons
	fi
	if $keep; then
		log "daemons stopped; data kept in $CLUSTER_DIR ('$0 up' restarts it)"
	else
		remove_cluster_dir
		log "removed $CLUSTER_DIR"
	fi
}

cmd_status() {
	if [[ ! -e $CONF ]]; then
		echo "no cluster in $CLUSTER_DIR"
		return 1
	fi
	local d pid rc=0
	for d in "${DAEMONS[@]}"; do
		if pid=$(live_pid "$d"); then
			printf '%-6s running, pid %s\n' "$d" "$pid"
		else
			printf '%-6s NOT RUNNING\n' "$d"
			rc=1
		fi
	done
	if live_pid "mon.$MON_ID" >/dev/null; then
		echo
		cephcmd health detail || rc=1
		echo
		cephcmd -s || rc=1
	fi
	return "$rc"
}

# Fail unless every argument names a daemon of DAEMONS.
check_daemon_names() {
	local name d
	(($# > 0)) || die "name at least one daemon: ${DAEMONS[*]}"
	for name in "$@"; do
		for d in "${DAEMONS[@]}"; do
			[[ $name == "$d" ]] && continue 2
		done
		die "unknown daemon $name (want one of: ${DAEMONS[*]})"
	done
}

# Stop the named daemons; forgetting their PID files keeps `status`, `wait` and `start` from
# taking them for daemons that died.
cmd_stop() {
	check_daemon_names "$@"
	[[ -e $DONE_MARK ]] || die "no cluster in $CLUSTER_DIR"
	terminate "$@"
	local d
	for d in "$@"; do
		rm -f "$(pid_file "$d")"
	done
}

cmd_start() {
	check_daemon_names "$@"
	[[ -e $DONE_MARK ]] || die "no cluster in $CLUSTER_DIR"
	local d
	for d in "$@"; do
		start_daemon "$d"
	done
	wait_healthy
	log "cluster is healthy"
}

cmd_env() {
	[[ -r $ENV_FILE ]] || die "no env file in $CLUSTER_DIR; run '$0 up' first"
	cat "$ENV_FILE"
}

usage() {
	sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"
	exit 2
}

# Serialise `up` and `down` (say, two make targets starting the cluster at once) with a lock on
# the directory that holds CLUSTER_DIR, kept on descriptor 9 until the script exits.
take_lock() {
	local parent
	parent=$(dirname "$(realpath -m "$CLUSTER_DIR")")
	mkdir -p "$parent"
	exec 9<"$parent"
	if ! flock -n 9; then
		log "waiting for another cluster.sh up/down to finish"
		flock 9
	fi
}

main() {
	local cmd=${1:-}
	shift || true
	case $cmd in
	up)
		take_lock
		cmd_up
		;;
	down)
		take_lock
		cmd_down "$@"
		;;
	status) cmd_status || exit 1 ;;
	env) cmd_env ;;
	wait) cmd_wait ;;
	stop)
		take_lock
		cmd_stop "$@"
		;;
	start)
		take_lock
		cmd_start "$@"
		;;
	*) usage ;;
	esac
}

main "$@"
