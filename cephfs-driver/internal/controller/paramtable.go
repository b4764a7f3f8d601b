package controller

import (
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/scparams"
)

// More StorageClass parameter names (the first ones are in params.go).
const (
	paramSubvolumeGroup  = volctx.SubvolumeGroup
	paramEncrypted       = "encrypted"
	paramEncryptionKMSID = "encryptionKMSID"
	paramEncryptionType  = "encryptionType"
	paramTopologyPools   = "topologyConstrainedPools"
)

func implemented(name, doc string) scparams.Key {
	return scparams.Key{Name: name, Support: scparams.Implemented, Doc: doc}
}

const k8sDoc = "keys the external-provisioner and snapshotter add (`pvc/name`, `pvc/namespace`, `pv/name`, " +
	"`volumesnapshot/...` with `--extra-create-metadata`) are accepted and not used; the secret keys are read by " +
	"the sidecars and never reach the driver"

// StorageClassParams is every StorageClass key ceph-csi's CephFS driver
// documents (examples/cephfs/storageclass.yaml) or reads, and what this
// driver does with it (docs/storageclass-parameters.md is rendered from
// it).
var StorageClassParams = scparams.NewTable(
	implemented(paramClusterID, "required: the entry of `config.json` to provision from"),
	implemented(paramFSName, "required: the file system of the subvolume"),
	implemented(paramPool, "the data pool layout of the subvolume (`subvolume create --pool_layout`)"),
	implemented(paramMounter, "`kernel` (default) or `fuse`: passed to the node"),
	implemented(paramKernelMountOptions, "comma-separated kernel client mount options: passed to the node"),
	implemented(paramFuseMountOptions, "comma-separated ceph-fuse options: passed to the node"),
	implemented(paramVolumeNamePrefix, "subvolume name prefix instead of `csi-vol-`"),
	implemented(paramBackingSnapshot, "`true`: a shallow read-only volume on the snapshot of the data source "+
		"(reader-only access modes); `false` (default): a full clone"),
	implemented(paramSubvolumeGroup, "ceph-csi takes the group from `cephFS.subvolumeGroup` in `config.json` and "+
		"ignores this key; accepted when it names that group, else InvalidArgument (the volume would not be where the "+
		"key says)"),
	scparams.Key{Name: paramEncrypted, Support: scparams.OffOnly, Off: []string{"false"},
		Doc: "only `false`: fscrypt encryption is not supported yet"},
	scparams.Key{Name: paramEncryptionKMSID, Support: scparams.NoOp,
		Doc: "ignored, as by ceph-csi while `encrypted` is not `true`"},
	scparams.Key{Name: paramEncryptionType, Support: scparams.NoOp,
		Doc: "ignored, as by ceph-csi while `encrypted` is not `true`"},
	scparams.Key{Name: paramTopologyPools, Support: scparams.NotSupported,
		Doc: "not supported yet (ceph-csi refuses it for CephFS too)"},
	scparams.Key{Name: volctx.ProvisionerKeyPrefix, Prefix: true, Support: scparams.NoOp, Doc: k8sDoc},
)

// SnapshotClassParams is every VolumeSnapshotClass key of ceph-csi's CephFS
// driver (examples/cephfs/snapshotclass.yaml).
var SnapshotClassParams = scparams.NewTable(
	implemented(paramClusterID, "optional: must be the cluster of the source volume"),
	implemented(paramSnapshotNamePrefix, "subvolume snapshot name prefix instead of `csi-snap-`"),
	scparams.Key{Name: volctx.ProvisionerKeyPrefix, Prefix: true, Support: scparams.NoOp, Doc: k8sDoc},
)

// paramVolumeGroupNamePrefix is ceph-csi's VolumeGroupSnapshotClass key for
// the group name prefix.
const paramVolumeGroupNamePrefix = "volumeGroupNamePrefix"

// GroupSnapshotClassParams is every VolumeGroupSnapshotClass key of
// ceph-csi's CephFS driver (examples/cephfs/groupsnapshotclass.yaml and the
// keys it reads).
var GroupSnapshotClassParams = scparams.NewTable(
	implemented(paramClusterID, "optional (ceph-csi requires it): must be the cluster of the source volumes"),
	implemented(paramFSName, "optional (ceph-csi requires it): must be the file system of the source volumes"),
	implemented(paramVolumeGroupNamePrefix, "group name prefix instead of `csi-vol-group-`; each member "+
		"snapshot is reserved as `<group name>-<source volume ID>` and named `csi-snap-<uuid>`, as by ceph-csi"),
	scparams.Key{Name: volctx.ProvisionerKeyPrefix, Prefix: true, Support: scparams.NoOp, Doc: k8sDoc},
)
