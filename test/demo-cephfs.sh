#!/usr/bin/env bash
# Demo of the CephFS driver against the local cluster (test/cluster.sh):
# create -> stage with ceph-fuse -> publish at two targets -> write through
# one, read through the other -> snapshot -> clone from the snapshot and read
# the file from the clone -> expand and show the new quota in df ->
# unpublish/unstage -> delete everything -> clean. One line per step, with
# the time it took.
#
# Runs as root (ceph-fuse, bind mounts). Uses its own subvolume group and
# journal instance, removed at the end. Binaries come from $BIN_DIR when
# set (e.g. BIN_DIR=bin after `make build`), else they are built into a
# temporary directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/ceph-csi-cluster}
if [ -z "${CEPH_CLUSTER_FSID:-}" ]; then
	set -a
	# shellcheck disable=SC1091
	. "$CLUSTER_DIR/env"
	set +a
fi
: "${CEPH_MONITORS:?no cluster environment; run test/cluster.sh up}"

work=$(mktemp -d /tmp/cephfs-demo.XXXXXX)
suffix=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
group=csi-demo-$suffix
instance=demo-$suffix
driver_pid=
start=$EPOCHREALTIME

ms() { local t=${1/[.,]/}; echo $((t / 1000)); }

# step DESCRIPTION COMMAND...: runs COMMAND, prints one line with its time
# and its last output line; stops the demo on failure.
step() {
	local what=$1 t0 out rc
	shift
	t0=$EPOCHREALTIME
	"$@" >"$work/step.out" 2>&1 && rc=0 || rc=$?
	out=$(cat "$work/step.out")
	local took=$(($(ms "$EPOCHREALTIME") - $(ms "$t0")))
	local last=${out##*$'\n'}
	if [ $rc -ne 0 ]; then
		printf '%7d ms  %-34s FAILED: %s\n' "$took" "$what" "$out"
		exit 1
	fi
	printf '%7d ms  %-34s %s\n' "$took" "$what" "$last"
}

cleanup() {
	set +e
	for p in "$work"/mnt/*; do mountpoint -q "$p" 2>/dev/null && umount "$p"; done
	[ -n "$driver_pid" ] && kill "$driver_pid" 2>/dev/null && wait "$driver_pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

binary() { # name: prints the path of the binary, building it unless BIN_DIR has it
	if [ -n "${BIN_DIR:-}" ] && [ -x "$BIN_DIR/$1" ]; then
		echo "$BIN_DIR/$1"
		return
	fi
	(cd "$root/cephfs-driver" && go build -tags "${CEPH_RELEASE:-pacific}" -o "$work/$1" "./cmd/$1")
	echo "$work/$1"
}

find_binaries() {
	driver=$(binary cephfs-driver)
	demo=$(binary cephfs-demo)
	echo "$driver, $demo"
}

stop_driver() {
	kill "$driver_pid"
	wait "$driver_pid" 2>/dev/null || true
	driver_pid=
	echo "stopped"
}

start_driver() {
	cat >"$work/config.json" <<-EOF
		[{"clusterID": "$CEPH_CLUSTER_FSID", "monitors": ["${CEPH_MONITORS//,/\",\"}"],
		  "cephFS": {"subvolumeGroup": "$group", "radosNamespace": "csi"}}]
	EOF
	"$driver" --endpoint "unix://$work/csi.sock" --node-id demo-node --instance-id "$instance" \
		--cluster-config "$work/config.json" --node-state-dir "$work/state" --log-level warn \
		>"$work/driver.log" 2>&1 &
	driver_pid=$!
	for _ in $(seq 1 100); do [ -S "$work/csi.sock" ] && break; sleep 0.1; done
	[ -S "$work/csi.sock" ] || { cat "$work/driver.log"; return 1; }
	echo "pid $driver_pid, group $group, instance $instance"
}

demo() { "$demo" --endpoint "unix://$work/csi.sock" --mounter fuse "$@"; }

quota() { df -B1M --output=size "$1" | tail -1 | tr -d ' '; }

# clean removes the demo's group and journal directories after checking
# that the driver left nothing behind.
clean() {
	local subs keys
	subs=$(ceph fs subvolume ls cephfs --group_name "$group" --format json | tr -d ' \n')
	[ "$subs" = "[]" ] || { echo "subvolumes left: $subs"; return 1; }
	for d in csi.volumes.$instance csi.snaps.$instance; do
		keys=$(rados -p cephfs.cephfs.meta -N csi listomapkeys "$d" 2>/dev/null || true)
		[ -z "$keys" ] || { echo "journal $d not empty: $keys"; return 1; }
		rados -p cephfs.cephfs.meta -N csi rm "$d" 2>/dev/null || true
	done
	ceph fs subvolumegroup rm cephfs "$group"
	echo "group $group and journal instance $instance removed"
}

mkdir -p "$work/mnt"
a=$work/mnt/a b=$work/mnt/b staging=$work/mnt/staging clone_staging=$work/mnt/clone

echo "CephFS driver demo on cluster $CEPH_CLUSTER_FSID"
step "find or build the binaries" find_binaries
step "start cephfs-driver" start_driver
step "CreateVolume 64 MiB" demo create demo-vol 64 "$work/vol.json"
step "NodeStageVolume (ceph-fuse)" demo stage "$work/vol.json" "$staging"
step "NodePublishVolume -> target A" demo publish "$work/vol.json" "$staging" "$a"
step "NodePublishVolume -> target B" demo publish "$work/vol.json" "$staging" "$b"
step "write through A" bash -c "echo 'hello from A' > '$a/hello.txt' && echo wrote $a/hello.txt"
step "read through B" cat "$b/hello.txt"
step "CreateSnapshot" demo snapshot demo-snap "$work/vol.json" "$work/snap.json"
step "CreateVolume from the snapshot" demo create demo-clone 64 "$work/clone.json" --from-snapshot "$work/snap.json"
step "NodeStageVolume the clone" demo stage "$work/clone.json" "$clone_staging"
step "read the file from the clone" cat "$clone_staging/hello.txt"
step "df of target A before expanding" bash -c "echo \"$(quota "$a") MiB\""
step "ControllerExpandVolume -> 128 MiB" demo expand "$work/vol.json" 128
step "df of target A after expanding" bash -c "for i in \$(seq 1 50); do [ \"\$(df -B1M --output=size '$a' | tail -1 | tr -d ' ')\" = 128 ] && break; sleep 0.2; done; df -h '$a' | tail -1"
step "NodeGetVolumeStats on B" demo stats "$work/vol.json" "$b"
step "NodeUnpublishVolume A" demo unpublish "$work/vol.json" "$a"
step "NodeUnpublishVolume B" demo unpublish "$work/vol.json" "$b"
step "NodeUnstageVolume" demo unstage "$work/vol.json" "$staging"
step "NodeUnstageVolume the clone" demo unstage "$work/clone.json" "$clone_staging"
step "DeleteVolume the clone" demo delete-volume "$work/clone.json"
step "DeleteSnapshot" demo delete-snapshot "$work/snap.json"
step "DeleteVolume" demo delete-volume "$work/vol.json"
step "stop cephfs-driver" stop_driver
step "clean" clean
printf 'demo finished in %d ms\n' $(($(ms "$EPOCHREALTIME") - $(ms "$start")))
