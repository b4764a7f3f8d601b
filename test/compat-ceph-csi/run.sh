#!/bin/bash
# Manual, online check (not run by CI): volumes and snapshots made by a real
# ceph-csi controller are managed by our drivers, and the other way round;
# the cluster must be as before at the end. See README.md.
# Needs: a ceph-csi binary (CEPHCSI), our two driver binaries (BIN), the
# check client (CHECK), a cluster of test/cluster.sh (CLUSTER_DIR), root
# (ceph-csi reads /etc/ceph-csi-config/config.json and writes /etc/ceph:
# both are bind-mounted from a private directory in a mount namespace).
set -uo pipefail
: "${CLUSTER_DIR:?}"
B=$(cd "$(dirname "$0")" && pwd)
CEPHCSI=${CEPHCSI:?the cephcsi binary (see README.md)}
BIN=${BIN:?the directory holding our rbd-driver and cephfs-driver binaries}
CHECK=${CHECK:-$B/client/cephcsicheck}
R=${RUN_DIR:-/tmp/compat-ceph-csi-run}
. "$CLUSTER_DIR/env"
CEPH="ceph -c $CEPH_CONF"
RBD="rbd -c $CEPH_CONF"
RADOS="rados -c $CEPH_CONF"
rm -rf "$R" && mkdir -p "$R/etc-csi" "$R/etc-ceph" "$R/sock" "$R/secrets"
cp "$CEPH_CSI_CONFIG" "$R/etc-csi/config.json"
for k in userID adminID; do printf %s "$CEPH_ADMIN_ID" >"$R/secrets/$k"; done
for k in userKey adminKey; do printf %s "$CEPH_ADMIN_KEY" >"$R/secrets/$k"; done
mkdir -p /tmp/csi/keys # ceph-csi's temporary key files (its image has the directory)
mkdir -p /etc/ceph-csi-config
CID=$(jq -r '.[0].clusterID' "$CEPH_CSI_CONFIG")
fails=0

start_cephcsi() { # type
	unshare -m --propagation private sh -c "mount --bind $R/etc-csi /etc/ceph-csi-config && \
		mount --bind $R/etc-ceph /etc/ceph && exec $CEPHCSI --type=$1 --controllerserver=true \
		--endpoint=unix://$R/sock/$1.sock --nodeid=check --drivername=$1.csi.ceph.com \
		--instanceid=default --v=5" >>"$R/cephcsi-$1.log" 2>&1 &
	echo $! >"$R/cephcsi-$1.pid"; wait_sock "$R/sock/$1.sock"
}
start_ours() { # rbd|cephfs
	local extra=(--controller-secrets-dir="$R/secrets")
	[ "$1" = cephfs ] && extra=(--capacity-secret-dir="$R/secrets")
	"$BIN/$1-driver" --mode=controller --endpoint="unix://$R/sock/$1.sock" --cluster-config="$CEPH_CSI_CONFIG" \
		--instance-id=default "${extra[@]}" >>"$R/ours-$1.log" 2>&1 &
	echo $! >"$R/ours-$1.pid"; wait_sock "$R/sock/$1.sock"
}
stop() { # rbd|cephfs (whichever runs)
	for f in "$R"/*-"$1".pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; rm -f "$f"; done
	sleep 1; rm -f "$R/sock/$1.sock"
}
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return; sleep 0.2; done; echo "no socket $1"; exit 1; }
step() { # type step
	echo "== $2 ($(basename "$(ls "$R"/*-"$1".pid)" .pid))"
	"$CHECK" -endpoint "unix://$R/sock/$1.sock" -state "$R/state.json" -step "$2" -cluster-id "$CID" \
		-key "$CEPH_ADMIN_KEY" || fails=$((fails + 1))
}
# objects of a pool or namespace, without the journal directories whose
# omap is empty (both drivers keep csi.volumes.<instance> and
# csi.snaps.<instance> once created, as ceph-csi does)
objects() { # rados args...
	for o in $($RADOS "$@" ls | sort); do
		case $o in csi.volumes.* | csi.snaps.*) [ -z "$($RADOS "$@" listomapkeys "$o")" ] && continue ;; esac
		echo "$o"
	done
}
# Ceph's own per-pool objects (librbd's directory, info, trash and
# children; the mgr's rbd_support task queue rbd_task, made by the first
# `rbd task add` of either driver and left empty) are not counted.
leftovers() {
	echo "== left on the cluster"
	echo "rbd ls: $($RBD ls rbd | tr '\n' ' ')"
	echo "rbd trash ls: $($RBD trash ls rbd | tr '\n' ' ')"
	echo "rbd pool objects: $(objects -p rbd | grep -v '^rbd_\(directory\|info\|trash\|children\|mirroring\|task\)$' | tr '\n' ' ')"
	for o in $(objects -p rbd | grep '^csi\.'); do echo "  omap $o: $($RADOS -p rbd listomapvals "$o" | tr '\n' ' ' | head -c 400)"; done
	echo "rbd-journal pool objects: $(objects -p rbd-journal | grep -v '^rbd_\(directory\|info\|trash\|children\|mirroring\|task\)$' | tr '\n' ' ')"
	echo "subvolumes: $($CEPH fs subvolume ls cephfs csi -f json | jq -c '[.[].name]')"
	echo "cephfs_metadata objects (csi ns): $(objects -p cephfs.cephfs.meta -N csi | tr '\n' ' ')"
	for o in $(objects -p cephfs.cephfs.meta -N csi | grep '^csi\.'); do echo "  omap $o: $($RADOS -p cephfs.cephfs.meta -N csi listomapvals "$o" | tr '\n' ' ' | head -c 400)"; done
}

$CEPH fs subvolumegroup create cephfs csi 2>/dev/null
if ! $CEPH osd pool ls | grep -qx rbd-journal; then
	$CEPH osd pool create rbd-journal 8 >/dev/null && $RBD pool init rbd-journal
fi
echo "ceph-csi: $($CEPHCSI --version | head -2 | tr '\n' ' ')"
leftovers | tee "$R/before.txt"
# RBD: ceph-csi makes, ours manages.
start_cephcsi rbd; step rbd rbd-cephcsi-make; stop rbd
start_ours rbd; step rbd rbd-ours-manage; step rbd rbd-ours-make; stop rbd
start_cephcsi rbd; step rbd rbd-cephcsi-read; stop rbd
# RBD with the cluster's default features and a journal pool
start_cephcsi rbd; step rbd rbd-cephcsi-make-jp; stop rbd
start_ours rbd; step rbd rbd-ours-manage-jp; stop rbd
start_cephcsi rbd; step rbd rbd-cephcsi-read-jp; stop rbd
# CephFS
start_cephcsi cephfs; step cephfs fs-cephcsi-make; stop cephfs
start_ours cephfs; step cephfs fs-ours-manage; stop cephfs
start_cephcsi cephfs; step cephfs fs-cephcsi-mask; stop cephfs
start_ours cephfs; step cephfs fs-ours-finish; stop cephfs
start_ours cephfs; step cephfs fs-ours-make; stop cephfs
start_cephcsi cephfs; step cephfs fs-cephcsi-read; stop cephfs
sleep 5
leftovers | tee "$R/after.txt"
if diff "$R/before.txt" "$R/after.txt"; then echo "cluster as before the check"; else echo "LEFT BEHIND (diff above)"; fails=$((fails + 1)); fi
echo "failed steps: $fails"
exit $fails
