# shellcheck shell=bash disable=SC2016 # jq programs are single-quoted on purpose
# The e2e scenarios (sourced by run.sh). Each scenario runs in a subshell
# through `scenario` (lib.sh) and asserts on Kubernetes objects and on Ceph.
# State shared between scenarios (image and subvolume names) is kept in
# files under $WORK/state, since variables do not leave a subshell.
#
# The StorageClasses and VolumeSnapshotClasses are the samples from
# manifests/<driver>, applied by run.sh, copied under e2e-* names with only
# clusterID and pool (RBD) changed; the driver's Secret template is filled
# with a Ceph user that has the capabilities the template documents
# (created by run.sh, scoped to the test's pool).

GiB=$((1024 * 1024 * 1024))
BIND_TIMEOUT=${E2E_BIND_TIMEOUT:-120}

put() { mkdir -p "$WORK/state" && printf '%s\n' "$2" >"$WORK/state/$1"; }
get() { cat "$WORK/state/$1"; }

# omap_keys POOL NAMESPACE OBJECT: the object's omap keys (none if it does
# not exist).
omap_keys() {
	rados -p "$1" -N "$2" listomapkeys "$3" 2>/dev/null | sort || true
}

# wait_bound NS PVC...: waits until every PVC is Bound; on timeout shows
# their events.
wait_bound() {
	local ns=$1 pvc deadline=$((SECONDS + BIND_TIMEOUT))
	shift
	for pvc in "$@"; do
		until pvc_bound "$ns" "$pvc"; do
			if [ $SECONDS -ge $deadline ]; then
				k get events -n "$ns" --field-selector "involvedObject.name=$pvc" >&2 || true
				fail "PVC $ns/$pvc not Bound after ${BIND_TIMEOUT}s (phase $(pvc_phase "$ns" "$pvc"))"
			fi
			sleep 0.5
		done
	done
}

# check_pv NS PVC DRIVER SIZE MODE: the PV bound to PVC is the driver's, with
# the requested size and volume mode; prints the PV's JSON.
check_pv() {
	local ns=$1 pvc=$2 driver=$3 size=$4 mode=$5 pv pvj
	pv=$(pv_of "$ns" "$pvc")
	if [ -z "$pv" ] || [ "$pv" = null ]; then fail "PVC $ns/$pvc has no volume"; fi
	pvj=$(kjson pv "$pv")
	[ "$(jq -r .spec.csi.driver <<<"$pvj")" = "$driver" ] || fail "PV $pv: driver $(jq -r .spec.csi.driver <<<"$pvj")"
	[ "$(to_bytes "$(jq -r .spec.capacity.storage <<<"$pvj")")" = "$size" ] ||
		fail "PV $pv: capacity $(jq -r .spec.capacity.storage <<<"$pvj"), want $size bytes"
	[ "$(jq -r .spec.volumeMode <<<"$pvj")" = "$mode" ] || fail "PV $pv: volumeMode $(jq -r .spec.volumeMode <<<"$pvj")"
	[ "$(jq -r .spec.claimRef.name <<<"$pvj")" = "$pvc" ] || fail "PV $pv: claimRef is not $pvc"
	printf '%s\n' "$pvj"
}

# expect_provisioning_failed NS PVC WORD: the PVC gets a ProvisioningFailed
# event whose message names WORD, and stays Pending.
expect_provisioning_failed() {
	local ns=$1 pvc=$2 word=$3 msg deadline=$((SECONDS + 60))
	until msg=$(pvc_events "$ns" "$pvc" ProvisioningFailed | grep -F -- "$word" | head -1) && [ -n "$msg" ]; do
		[ $SECONDS -lt $deadline ] || {
			k get events -n "$ns" --field-selector "involvedObject.name=$pvc" >&2 || true
			fail "no ProvisioningFailed event naming $word for $ns/$pvc"
		}
		sleep 0.5
	done
	ok "event ProvisioningFailed: $msg"
	[ "$(pvc_phase "$ns" "$pvc")" = Pending ] || fail "PVC $ns/$pvc is $(pvc_phase "$ns" "$pvc"), want Pending"
}

# copy_class KIND SAMPLE NAME JQ_FILTER [ARGS...]: applies a copy of the
# applied sample object with a new name, changed by JQ_FILTER.
copy_class() {
	local kind=$1 sample=$2 name=$3 filter=$4
	shift 4
	kjson "$kind" "$sample" |
		jq "$@" --arg name "$name" \
			'{apiVersion, kind, metadata: {name: $name}} + (del(.apiVersion, .kind, .metadata, .status)) | '"$filter" |
		k apply -f - >/dev/null
}

# wait_all_deleted NS DRIVER: every PVC and VolumeSnapshot in NS is gone,
# and so is every PV and VolumeSnapshotContent of DRIVER.
wait_all_deleted() {
	local ns=$1 driver=$2
	wait_until 120 "PVCs in $ns deleted" no_objects "$ns" pvc
	wait_until 120 "VolumeSnapshots in $ns deleted" no_objects "$ns" volumesnapshot
	wait_until 120 "PVs of $driver deleted" no_pvs_of "$driver"
	wait_until 120 "VolumeSnapshotContents of $driver deleted" no_vscs_of "$driver"
}
no_objects() { [ -z "$(k get "$2" -n "$1" -o name)" ]; }
pv_capacity_is() { [ "$(jfield .spec.capacity.storage pv "$1")" = "$2" ]; }
pvc_capacity_is() { [ "$(jfield .status.capacity.storage -n "$1" pvc "$2")" = "$3" ]; }
no_pvs_of() { [ "$(kjson pv | jq --arg d "$1" '[.items[] | select(.spec.csi.driver == $d)] | length')" = 0 ]; }
no_vscs_of() { [ "$(kjson volumesnapshotcontent | jq --arg d "$1" '[.items[] | select(.spec.driver == $d)] | length')" = 0 ]; }

# ====================================================================== RBD

RNS=e2e-rbd
RBD_DRIVER=rbd.csi.ceph.com

rbd_images() { rbd ls -p "$RBD_POOL" --format json | jq -r '.[]' | sort; }
rbd_trash() { rbd trash ls -p "$RBD_POOL" --format json | jq -r '.[].name' | sort; }
rbd_size() { rbd info "$RBD_POOL/$1" --format json | jq -r .size; }
rbd_pool_empty() { [ -z "$(rbd_images)" ]; }
rbd_journal() { omap_keys "$RBD_POOL" "" "$1"; }

# check_rbd_image NAME SIZE: the image exists in the test pool with SIZE.
check_rbd_image() {
	local size
	size=$(rbd_size "$1") || fail "image $RBD_POOL/$1 does not exist"
	[ "$size" = "$2" ] || fail "image $RBD_POOL/$1: size $size, want $2"
	ok "rbd image $RBD_POOL/$1: $size bytes"
}

rbd_setup() {
	k create namespace "$RNS" >/dev/null
	# The Secret template, filled in.
	k create secret generic csi-rbd-secret -n ceph-csi-rbd \
		--from-literal=userID="$RBD_USER" --from-literal=userKey="$RBD_KEY" \
		--dry-run=client -o json | k apply -f - >/dev/null
	local set='.parameters.clusterID = $cluster | .parameters.pool = $pool'
	copy_class storageclass ceph-rbd e2e-rbd "$set" --arg cluster "$CLUSTER_ID" --arg pool "$RBD_POOL"
	copy_class storageclass ceph-rbd-block e2e-rbd-block "$set" --arg cluster "$CLUSTER_ID" --arg pool "$RBD_POOL"
	copy_class storageclass ceph-rbd e2e-rbd-bad "$set"' | .parameters.imageFeatures = "layering,no-such-feature"' \
		--arg cluster "$CLUSTER_ID" --arg pool "$RBD_POOL"
	copy_class volumesnapshotclass ceph-rbd e2e-rbd '.parameters.clusterID = $cluster' --arg cluster "$CLUSTER_ID"
}

rbd_provision() {
	[ -z "$(rbd_images)" ] || fail "pool $RBD_POOL is not empty at the start"
	pvc_yaml "$RNS" rbd-fs e2e-rbd 1Gi Filesystem ReadWriteOnce | apply_yaml
	pvc_yaml "$RNS" rbd-block e2e-rbd-block 1Gi Block ReadWriteOnce | apply_yaml
	wait_bound "$RNS" rbd-fs rbd-block
	local pvc mode pvj image pv keys
	keys=$(rbd_journal csi.volumes.default)
	for pvc in rbd-fs rbd-block; do
		mode=Filesystem
		[ $pvc = rbd-block ] && mode=Block
		pvj=$(check_pv "$RNS" $pvc $RBD_DRIVER $GiB $mode)
		pv=$(jq -r .metadata.name <<<"$pvj")
		[ "$(jq -r .spec.csi.volumeAttributes.pool <<<"$pvj")" = "$RBD_POOL" ] || fail "PV $pv: pool attribute is not $RBD_POOL"
		image=$(jq -r '.spec.csi.volumeAttributes.imageName // empty' <<<"$pvj")
		[ -n "$image" ] || fail "PV $pv has no imageName attribute"
		check_rbd_image "$image" $GiB
		rbd info "$RBD_POOL/$image" --format json | jq -e '.features | index("layering")' >/dev/null ||
			fail "image $image lacks the layering feature (StorageClass imageFeatures)"
		grep -qx "csi.volume.$pv" <<<"$keys" || fail "journal csi.volumes.default has no key csi.volume.$pv (keys: $keys)"
		put "$pvc.image" "$image"
		put "$pvc.pv" "$pv"
	done
	[ "$(rbd_images | wc -l)" = 2 ] || fail "pool holds $(rbd_images | wc -l) images, want 2: $(rbd_images | tr '\n' ' ')"
	ok "PVCs bound; 2 images; journal keys: $(tr '\n' ' ' <<<"$keys")"
}

rbd_snapshot() {
	snapshot_yaml "$RNS" rbd-snap e2e-rbd rbd-fs | apply_yaml
	wait_until 60 "VolumeSnapshot $RNS/rbd-snap readyToUse" snapshot_ready "$RNS" rbd-snap
	local vs vsc uid handle size snaps
	vs=$(kjson -n "$RNS" volumesnapshot rbd-snap)
	uid=$(jq -r .metadata.uid <<<"$vs")
	vsc=$(jq -r .status.boundVolumeSnapshotContentName <<<"$vs")
	handle=$(jfield '.status.snapshotHandle // empty' volumesnapshotcontent "$vsc")
	[ -n "$handle" ] || fail "VolumeSnapshotContent $vsc has no snapshotHandle"
	size=$(jq -r '.status.restoreSize // empty' <<<"$vs")
	[ "$(to_bytes "$size")" = $GiB ] || fail "restoreSize $size, want 1Gi"
	snaps=$(rbd snap ls --all "$RBD_POOL/$(get rbd-fs.image)" --format json | jq length)
	[ "$snaps" -ge 1 ] || fail "image $(get rbd-fs.image) has no RBD snapshot"
	rbd_journal csi.snaps.default | grep -qx "csi.snap.snapshot-$uid" ||
		fail "journal csi.snaps.default has no key csi.snap.snapshot-$uid"
	ok "snapshot ready: handle $handle, restoreSize $size, $snaps RBD snapshot(s) on $(get rbd-fs.image)"
}

rbd_restore() {
	pvc_yaml "$RNS" rbd-restore e2e-rbd 1Gi Filesystem ReadWriteOnce VolumeSnapshot rbd-snap | apply_yaml
	wait_bound "$RNS" rbd-restore
	local pvj image
	pvj=$(check_pv "$RNS" rbd-restore $RBD_DRIVER $GiB Filesystem)
	image=$(jq -r .spec.csi.volumeAttributes.imageName <<<"$pvj")
	[ "$image" != "$(get rbd-fs.image)" ] || fail "restored volume uses the source image"
	check_rbd_image "$image" $GiB
}

rbd_clone() {
	pvc_yaml "$RNS" rbd-clone e2e-rbd 1Gi Filesystem ReadWriteOnce PersistentVolumeClaim rbd-fs | apply_yaml
	wait_bound "$RNS" rbd-clone
	local pvj image
	pvj=$(check_pv "$RNS" rbd-clone $RBD_DRIVER $GiB Filesystem)
	image=$(jq -r .spec.csi.volumeAttributes.imageName <<<"$pvj")
	[ "$image" != "$(get rbd-fs.image)" ] || fail "clone uses the source image"
	check_rbd_image "$image" $GiB
}

rbd_expand() {
	k patch pvc -n "$RNS" rbd-fs --type merge -p '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}' >/dev/null
	local pv
	pv=$(get rbd-fs.pv)
	wait_until 60 "PV $pv capacity 2Gi" pv_capacity_is "$pv" 2Gi
	check_rbd_image "$(get rbd-fs.image)" $((2 * GiB))
	# A filesystem volume finishes growing on the node (NodeExpandVolume),
	# which this test has no kubelet for: the PVC waits for it.
	local pvcj
	pvcj=$(kjson -n "$RNS" pvc rbd-fs)
	if jq -e '.status.conditions // [] | any(.type == "FileSystemResizePending")' <<<"$pvcj" >/dev/null; then
		ok "PVC condition FileSystemResizePending (node expansion pending, as expected without a kubelet)"
	elif [ "$(jq -r .status.capacity.storage <<<"$pvcj")" = 2Gi ]; then
		ok "PVC capacity 2Gi"
	else
		fail "PVC rbd-fs: neither FileSystemResizePending nor capacity 2Gi: $(jq -c .status <<<"$pvcj")"
	fi
}

rbd_bad_parameter() {
	local before_images before_keys
	before_images=$(rbd_images)
	before_keys=$(rbd_journal csi.volumes.default)
	pvc_yaml "$RNS" rbd-bad e2e-rbd-bad 1Gi | apply_yaml
	expect_provisioning_failed "$RNS" rbd-bad imageFeatures
	[ "$(rbd_images)" = "$before_images" ] || fail "images changed: $(rbd_images | tr '\n' ' ')"
	[ "$(rbd_journal csi.volumes.default)" = "$before_keys" ] || fail "journal keys changed"
	ok "nothing created in Ceph"
	k delete pvc -n "$RNS" rbd-bad --wait=true --timeout=60s >/dev/null
}

rbd_delete() {
	k delete volumesnapshot --all -n "$RNS" --wait=false >/dev/null
	k delete pvc --all -n "$RNS" --wait=false >/dev/null
	wait_all_deleted "$RNS" $RBD_DRIVER
	ok "PVCs, PVs, VolumeSnapshots and VolumeSnapshotContents deleted"
	local deadline=$((SECONDS + 60)) left img
	until rbd_pool_empty; do
		if [ $SECONDS -ge $deadline ]; then
			for img in $(rbd_images); do
				log "  left: $img: $(rbd info "$RBD_POOL/$img" --format json | jq -c '{id, size, parent: .parent.image, snapshot_count}')," \
					"snapshots: $(rbd snap ls --all "$RBD_POOL/$img" --format json | jq -c '[.[] | {name, namespace}]')," \
					"children: $(rbd children --all "$RBD_POOL/$img" 2>/dev/null | tr '\n' ' ')"
			done
			log "  trash: $(rbd trash ls -p "$RBD_POOL" --long 2>/dev/null | tr '\n' ';')"
			fail "images left in $RBD_POOL after 60s: $(rbd_images | tr '\n' ' ')"
		fi
		sleep 0.5
	done
	# Deleted images go through the RBD trash; the driver has the mgr remove
	# them (`ceph rbd task add trash remove`). The mgr runs its tasks one at
	# a time for the whole cluster, so give it a minute; then every image
	# still in the trash must have a pending mgr task (else the driver leaked
	# it), and the test drains the trash itself: an entry that cannot be
	# purged (snapshots, clones) is a leak too.
	deadline=$((SECONDS + 60))
	while [ -n "$(rbd_trash)" ] && [ $SECONDS -lt $deadline ]; do sleep 1; done
	left=$(rbd trash ls -p "$RBD_POOL" --format json | jq -r '.[].id')
	if [ -n "$left" ]; then
		local tasks id
		tasks=$(ceph rbd task list --format json 2>/dev/null || echo '[]')
		for id in $left; do
			jq -e --arg id "$id" --arg pool "$RBD_POOL" \
				'any(.[]; .refs.action == "trash remove" and .refs.image_id == $id and .refs.pool_name == $pool)' \
				<<<"$tasks" >/dev/null ||
				fail "trashed image $id has no pending mgr 'trash remove' task: leaked ($(rbd trash ls -p "$RBD_POOL" --long | tr '\n' ';'))"
		done
		log "  $(wc -w <<<"$left") trashed image(s) still queued for the mgr after 60s (its task queue is cluster-wide); purging"
		rbd trash purge -p "$RBD_POOL" >/dev/null 2>&1 || fail "rbd trash purge failed: $(rbd trash ls -p "$RBD_POOL" --long)"
		[ -z "$(rbd_trash)" ] || fail "trash not empty after purge: $(rbd trash ls -p "$RBD_POOL" --long)"
	else
		ok "trash drained by the driver's mgr tasks"
	fi
	[ -z "$(rbd_images)" ] || fail "images left: $(rbd_images | tr '\n' ' ')"
	[ -z "$(rbd_journal csi.volumes.default)" ] || fail "csi.volumes.default keys left: $(rbd_journal csi.volumes.default | tr '\n' ' ')"
	[ -z "$(rbd_journal csi.snaps.default)" ] || fail "csi.snaps.default keys left: $(rbd_journal csi.snaps.default | tr '\n' ' ')"
	# No object of any image (header, id, data, object map) and no journal
	# UUID object (csi.volume.<uuid>, csi.snap.<uuid>) may remain; what is
	# left is the pool's and the journal's directories.
	left=$(rados -p "$RBD_POOL" ls --all | awk '{ print $NF }' | grep -E '^(rbd_(header|id|data|object_map)\.|csi\.(volume|snap)\.)' || true)
	[ -z "$left" ] || fail "objects left in $RBD_POOL: $(head -20 <<<"$left" | tr '\n' ' ')"
	ok "pool $RBD_POOL back to empty: no images, empty trash, no journal keys, no image or journal objects ($(rados -p "$RBD_POOL" ls --all | awk '{ print $NF }' | sort | tr '\n' ' '))"
}

scenarios_rbd() {
	rbd_setup
	scenario "rbd: provision (filesystem + block)" rbd_provision
	scenario "rbd: snapshot" rbd_snapshot "rbd: provision (filesystem + block)"
	scenario "rbd: restore from snapshot" rbd_restore "rbd: snapshot"
	scenario "rbd: clone from PVC" rbd_clone "rbd: provision (filesystem + block)"
	scenario "rbd: expand" rbd_expand "rbd: provision (filesystem + block)"
	scenario "rbd: bad StorageClass parameter" rbd_bad_parameter
	scenario "rbd: delete everything" rbd_delete
}

# ====================================================================== CephFS

FNS=e2e-cephfs
FS_DRIVER=cephfs.csi.ceph.com

fs_subvolumes() { ceph fs subvolume ls "$FS_NAME" --group_name "$FS_GROUP" -f json | jq -r '.[].name' | sort; }
fs_quota() { ceph fs subvolume info "$FS_NAME" "$1" --group_name "$FS_GROUP" -f json | jq -r .bytes_quota; }
fs_group_empty() { [ -z "$(fs_subvolumes)" ]; }
fs_journal() { omap_keys "$FS_META_POOL" "$FS_GROUP" "$1"; }

# check_subvolume NAME SIZE: the subvolume exists in the test group with a
# quota of SIZE.
check_subvolume() {
	local quota
	quota=$(fs_quota "$1" 2>/dev/null) || fail "subvolume $FS_GROUP/$1 does not exist"
	[ "$quota" = "$2" ] || fail "subvolume $FS_GROUP/$1: quota $quota, want $2"
	ok "subvolume $FS_NAME/$FS_GROUP/$1: quota $quota bytes"
}

cephfs_setup() {
	k create namespace "$FNS" >/dev/null
	k create secret generic csi-cephfs-secret -n ceph-csi-cephfs \
		--from-literal=adminID="$FS_USER" --from-literal=adminKey="$FS_KEY" \
		--from-literal=userID="$FS_USER" --from-literal=userKey="$FS_KEY" \
		--dry-run=client -o json | k apply -f - >/dev/null
	local set='.parameters.clusterID = $cluster | .parameters.fsName = $fs'
	copy_class storageclass ceph-cephfs e2e-cephfs "$set" --arg cluster "$CLUSTER_ID" --arg fs "$FS_NAME"
	copy_class storageclass ceph-cephfs e2e-cephfs-bad "$set"' | .parameters.mounter = "no-such-mounter"' \
		--arg cluster "$CLUSTER_ID" --arg fs "$FS_NAME"
	copy_class volumesnapshotclass ceph-cephfs e2e-cephfs '.parameters.clusterID = $cluster' --arg cluster "$CLUSTER_ID"
}

cephfs_provision() {
	[ -z "$(fs_subvolumes)" ] || fail "subvolume group $FS_GROUP is not empty at the start"
	pvc_yaml "$FNS" fs-pvc e2e-cephfs 1Gi Filesystem ReadWriteMany | apply_yaml
	wait_bound "$FNS" fs-pvc
	local pvj pv sv keys
	pvj=$(check_pv "$FNS" fs-pvc $FS_DRIVER $GiB Filesystem)
	pv=$(jq -r .metadata.name <<<"$pvj")
	sv=$(jq -r '.spec.csi.volumeAttributes.subvolumeName // empty' <<<"$pvj")
	[ -n "$sv" ] || fail "PV $pv has no subvolumeName attribute"
	[ "$(jq -r .spec.csi.volumeAttributes.fsName <<<"$pvj")" = "$FS_NAME" ] || fail "PV $pv: fsName attribute is not $FS_NAME"
	check_subvolume "$sv" $GiB
	keys=$(fs_journal csi.volumes.default)
	grep -qx "csi.volume.$pv" <<<"$keys" || fail "journal csi.volumes.default has no key csi.volume.$pv (keys: $keys)"
	[ "$(fs_subvolumes | wc -l)" = 1 ] || fail "group holds $(fs_subvolumes | wc -l) subvolumes, want 1"
	put fs-pvc.subvolume "$sv"
	put fs-pvc.pv "$pv"
	ok "PVC bound; journal keys: $(tr '\n' ' ' <<<"$keys")"
}

cephfs_snapshot() {
	snapshot_yaml "$FNS" fs-snap e2e-cephfs fs-pvc | apply_yaml
	wait_until 60 "VolumeSnapshot $FNS/fs-snap readyToUse" snapshot_ready "$FNS" fs-snap
	local vs vsc uid handle snaps
	vs=$(kjson -n "$FNS" volumesnapshot fs-snap)
	uid=$(jq -r .metadata.uid <<<"$vs")
	vsc=$(jq -r .status.boundVolumeSnapshotContentName <<<"$vs")
	handle=$(jfield '.status.snapshotHandle // empty' volumesnapshotcontent "$vsc")
	[ -n "$handle" ] || fail "VolumeSnapshotContent $vsc has no snapshotHandle"
	snaps=$(ceph fs subvolume snapshot ls "$FS_NAME" "$(get fs-pvc.subvolume)" --group_name "$FS_GROUP" -f json | jq length)
	[ "$snaps" = 1 ] || fail "subvolume $(get fs-pvc.subvolume) has $snaps snapshots, want 1"
	fs_journal csi.snaps.default | grep -qx "csi.snap.snapshot-$uid" ||
		fail "journal csi.snaps.default has no key csi.snap.snapshot-$uid"
	ok "snapshot ready: handle $handle, restoreSize $(jq -r .status.restoreSize <<<"$vs")"
}

cephfs_restore() {
	pvc_yaml "$FNS" fs-restore e2e-cephfs 1Gi Filesystem ReadWriteMany VolumeSnapshot fs-snap | apply_yaml
	wait_bound "$FNS" fs-restore
	local pvj sv
	pvj=$(check_pv "$FNS" fs-restore $FS_DRIVER $GiB Filesystem)
	sv=$(jq -r .spec.csi.volumeAttributes.subvolumeName <<<"$pvj")
	[ "$sv" != "$(get fs-pvc.subvolume)" ] || fail "restored volume uses the source subvolume"
	check_subvolume "$sv" $GiB
}

cephfs_clone() {
	pvc_yaml "$FNS" fs-clone e2e-cephfs 1Gi Filesystem ReadWriteMany PersistentVolumeClaim fs-pvc | apply_yaml
	wait_bound "$FNS" fs-clone
	local pvj sv
	pvj=$(check_pv "$FNS" fs-clone $FS_DRIVER $GiB Filesystem)
	sv=$(jq -r .spec.csi.volumeAttributes.subvolumeName <<<"$pvj")
	[ "$sv" != "$(get fs-pvc.subvolume)" ] || fail "clone uses the source subvolume"
	check_subvolume "$sv" $GiB
}

cephfs_expand() {
	k patch pvc -n "$FNS" fs-pvc --type merge -p '{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}' >/dev/null
	local pv
	pv=$(get fs-pvc.pv)
	wait_until 60 "PV $pv capacity 2Gi" pv_capacity_is "$pv" 2Gi
	# CephFS needs no node expansion: the PVC reaches 2Gi too.
	wait_until 60 "PVC fs-pvc capacity 2Gi" pvc_capacity_is "$FNS" fs-pvc 2Gi
	check_subvolume "$(get fs-pvc.subvolume)" $((2 * GiB))
	ok "PV and PVC capacity 2Gi"
}

cephfs_bad_parameter() {
	local before_svs before_keys
	before_svs=$(fs_subvolumes)
	before_keys=$(fs_journal csi.volumes.default)
	pvc_yaml "$FNS" fs-bad e2e-cephfs-bad 1Gi Filesystem ReadWriteMany | apply_yaml
	expect_provisioning_failed "$FNS" fs-bad mounter
	[ "$(fs_subvolumes)" = "$before_svs" ] || fail "subvolumes changed: $(fs_subvolumes | tr '\n' ' ')"
	[ "$(fs_journal csi.volumes.default)" = "$before_keys" ] || fail "journal keys changed"
	ok "nothing created in Ceph"
	k delete pvc -n "$FNS" fs-bad --wait=true --timeout=60s >/dev/null
}

cephfs_delete() {
	k delete volumesnapshot --all -n "$FNS" --wait=false >/dev/null
	k delete pvc --all -n "$FNS" --wait=false >/dev/null
	wait_all_deleted "$FNS" $FS_DRIVER
	ok "PVCs, PVs, VolumeSnapshots and VolumeSnapshotContents deleted"
	wait_until 120 "no subvolumes in $FS_GROUP" fs_group_empty
	[ -z "$(fs_journal csi.volumes.default)" ] || fail "csi.volumes.default keys left: $(fs_journal csi.volumes.default | tr '\n' ' ')"
	[ -z "$(fs_journal csi.snaps.default)" ] || fail "csi.snaps.default keys left: $(fs_journal csi.snaps.default | tr '\n' ' ')"
	local left
	left=$(rados -p "$FS_META_POOL" -N "$FS_GROUP" ls | grep -E '^csi\.(volume|snap)\.' || true)
	[ -z "$left" ] || fail "journal objects left in $FS_META_POOL/$FS_GROUP: $(tr '\n' ' ' <<<"$left")"
	ok "group $FS_GROUP back to empty: no subvolumes, no journal keys or UUID objects ($(rados -p "$FS_META_POOL" -N "$FS_GROUP" ls | sort | tr '\n' ' '))"
}

scenarios_cephfs() {
	cephfs_setup
	scenario "cephfs: provision" cephfs_provision
	scenario "cephfs: snapshot" cephfs_snapshot "cephfs: provision"
	scenario "cephfs: restore from snapshot" cephfs_restore "cephfs: snapshot"
	scenario "cephfs: clone from PVC" cephfs_clone "cephfs: provision"
	scenario "cephfs: expand" cephfs_expand "cephfs: provision"
	scenario "cephfs: bad StorageClass parameter" cephfs_bad_parameter
	scenario "cephfs: delete everything" cephfs_delete
}
