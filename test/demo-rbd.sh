#!/usr/bin/env bash
# Demo of the RBD driver's whole volume lifecycle on the local cluster, one
# line per step with its time: create -> stage (rbd-fuse) -> publish -> write
# a file -> snapshot -> restore into a new volume -> stage it and read the
# file back -> expand -> unpublish/unstage -> delete -> cluster clean.
#
# Run through `make demo` (root, the cluster's environment exported, bin/
# built). The CSI calls are made by bin/rbd-demo (rbd-driver/cmd/rbd-demo)
# over bin/rbd-driver's socket. The demo uses a pool of its own, removed at
# the end.
#
# Environment: CEPH_CONF, CEPH_ADMIN_ID, CEPH_ADMIN_KEY, CEPH_CLUSTER_FSID,
# CEPH_CSI_CONFIG (test/cluster.sh env); DEMO_BIN_DIR (default bin/);
# DEMO_POOL (default csi-rbd-demo),
# DEMO_FSTYPE (xfs: grows online; ext4 needs CAP_SYS_RESOURCE for that).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=${DEMO_BIN_DIR:-$root/bin}
pool=${DEMO_POOL:-csi-rbd-demo}
fstype=${DEMO_FSTYPE:-xfs}
: "${CEPH_CONF:?run through make demo}" "${CEPH_ADMIN_KEY:?}" "${CEPH_CLUSTER_FSID:?}" "${CEPH_CSI_CONFIG:?}"

work=$(mktemp -d /tmp/rbd-demo.XXXXXX)
driver_pid=

# line NAME SECONDS DETAIL: one report line, in rbd-demo's format.
line() { printf '%-34s %6.2fs  %s\n' "$1" "$2" "$3"; }

# timed NAME COMMAND...: run COMMAND, report its time and its last output line.
timed() {
	local name=$1 start=$EPOCHREALTIME out
	shift
	if ! out=$("$@" 2>&1); then
		printf '%-34s FAILED: %s\n' "$name" "$out"
		return 1
	fi
	line "$name" "$(bc <<<"$EPOCHREALTIME - $start")" "$(tail -n 1 <<<"$out")"
}

ceph_() { timeout 120 ceph --conf "$CEPH_CONF" "$@"; }
rbd_() { timeout 120 rbd --conf "$CEPH_CONF" "$@"; }

# leftovers: mounts, loop devices and processes that refer to the work dir.
leftovers() {
	awk -v w="$work" '$5 ~ "^"w {print "mount " $5}' /proc/self/mountinfo
	losetup --list --noheadings --output NAME,BACK-FILE | awk -v w="$work" 'index($2, w) == 1 {print "loop " $1}'
	pgrep -a -f -- "^rbd-fuse .*$work/" || true
}

# force_cleanup removes leftovers after a failure: filesystem mounts, loop
# devices, then rbd-fuse mounts and processes. Never remove the work dir
# recursively while an rbd-fuse mount is live: unlinking its file deletes
# the image.
force_cleanup() {
	local m
	for m in $(awk -v w="$work" '$5 ~ "^"w && $0 !~ / - fuse/ {print $5}' /proc/self/mountinfo | tac); do umount "$m" || true; done
	for m in $(losetup --list --noheadings --output NAME,BACK-FILE | awk -v w="$work" 'index($2, w) == 1 {print $1}'); do
		losetup --detach "$m" || true
	done
	for m in $(awk -v w="$work" '$5 ~ "^"w {print $5}' /proc/self/mountinfo | tac); do umount "$m" || true; done
	pkill -KILL -f -- "rbd-fuse .*$work/" || true
}

cleanup() {
	local rc=$?
	if [ -n "$driver_pid" ]; then kill "$driver_pid" 2>/dev/null || true; wait "$driver_pid" 2>/dev/null || true; fi
	if [ -n "$(leftovers)" ]; then
		echo "cleaning up after a failure:"; leftovers | sed 's/^/  /'
		force_cleanup
	fi
	if [ $rc -ne 0 ] && [ -f "$work/rbd-driver.log" ]; then
		echo "--- last lines of the rbd-driver log:"; tail -n 20 "$work/rbd-driver.log"
	fi
	ceph_ osd pool rm "$pool" "$pool" --yes-i-really-really-mean-it >/dev/null 2>&1 || true
	if grep -q " $work" /proc/self/mountinfo; then
		echo "not removing $work: something is still mounted there" >&2
	else
		rm -rf "$work"
	fi
	exit $rc
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "demo-rbd.sh: needs root (mount, losetup, rbd-fuse)" >&2
	exit 1
fi
if [ ! -x "$bin/rbd-demo" ]; then
	(cd "$root/rbd-driver" && go build -tags "${CEPH_RELEASE:-pacific}" -o "$bin/rbd-demo" ./cmd/rbd-demo)
fi

printf '\n== RBD volume lifecycle (pool %s, %s on rbd-fuse)\n' "$pool" "$fstype"
timed "create pool" bash -c "ceph --conf '$CEPH_CONF' osd pool create '$pool' 8 8 && rbd --conf '$CEPH_CONF' pool init '$pool' && echo '$pool: 8 PGs, initialised for RBD'"

driver_args=(--endpoint "unix://$work/rbd.sock" --mode all --node-id demo-node
	--cluster-config "$CEPH_CSI_CONFIG" --log-format console --log-level debug)
# The node's state directory (stage records, rbd-fuse mountpoints), if the
# driver has the flag.
if "$bin/rbd-driver" --help 2>&1 | grep -q -- '-state-dir'; then driver_args+=(--state-dir "$work/state"); fi
start=$EPOCHREALTIME
"$bin/rbd-driver" "${driver_args[@]}" >"$work/rbd-driver.log" 2>&1 &
driver_pid=$!
for _ in $(seq 1 100); do [ -S "$work/rbd.sock" ] && break; sleep 0.1; done
[ -S "$work/rbd.sock" ] || { echo "rbd-driver did not create its socket" >&2; exit 1; }
line "start rbd-driver" "$(bc <<<"$EPOCHREALTIME - $start")" "pid $driver_pid, unix://$work/rbd.sock"

"$bin/rbd-demo" --endpoint "unix://$work/rbd.sock" --cluster-id "$CEPH_CLUSTER_FSID" --pool "$pool" \
	--fs-type "$fstype" --work-dir "$work/volumes"

# Cluster clean: no image, an empty trash (the mgr purges in the background)
# and no journal keys; nothing left on the node.
journal_keys() {
	local obj
	for obj in csi.volumes.default csi.snaps.default; do
		rados --conf "$CEPH_CONF" -p "$pool" listomapkeys "$obj" 2>/dev/null || true
	done
}
clean_state() {
	local images trash keys
	images=$(rbd_ ls "$pool" | xargs)
	trash=$(rbd_ trash ls "$pool" | xargs)
	keys=$(journal_keys | xargs)
	echo "images: [${images}] trash: [${trash}] journal keys: [${keys}]"
	[ -z "$images$trash$keys" ]
}
start=$EPOCHREALTIME
for _ in $(seq 1 30); do clean_state >/dev/null && break; sleep 1; done
state=$(clean_state) && ok=1 || ok=0
line "cluster clean" "$(bc <<<"$EPOCHREALTIME - $start")" "rbd ls / rbd trash ls / journal omap of $pool: $state"
left=$(leftovers)
line "node clean" 0 "mounts, loop devices, rbd-fuse processes left: ${left:-none}"
if [ "$ok" != 1 ] || [ -n "$left" ]; then
	echo "demo-rbd.sh: the cluster or the node is not clean" >&2
	exit 1
fi
echo "== RBD demo finished"
