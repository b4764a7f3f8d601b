package controller

import (
	"sort"

	"github.com/seed-6a310834/ceph-csi/shared/scparams"
)

// More StorageClass parameter names (the first ones are in params.go).
const (
	paramRadosNamespace   = "radosNamespace"
	paramTryOtherMounters = "tryOtherMounters"
	paramCephLogDir       = "cephLogDir"
	paramCephLogStrategy  = "cephLogStrategy"
	paramStripeUnit       = "stripeUnit"
	paramStripeCount      = "stripeCount"
	paramObjectSize       = "objectSize"
	paramEncryptionKMSID  = "encryptionKMSID"
	paramEncryptionType   = "encryptionType"
	paramTopologyPools    = "topologyConstrainedPools"
	paramSnapNamePrefix   = "snapshotNamePrefix"
)

func implemented(name, doc string) scparams.Key {
	return scparams.Key{Name: name, Support: scparams.Implemented, Doc: doc}
}

const k8sDoc = "`csi.storage.k8s.io/fstype` is the default filesystem; `pvc/name`, `pvc/namespace`, `pv/name` " +
	"(external-provisioner `--extra-create-metadata`) are stored as image metadata with `--set-metadata`; " +
	"the secret keys are read by the sidecars and never reach the driver"

// StorageClassParams is every StorageClass key ceph-csi's RBD driver
// documents or reads, and what this driver does with it
// (docs/storageclass-parameters.md is rendered from it).
var StorageClassParams = scparams.NewTable(append([]scparams.Key{
	implemented(paramClusterID, "required: the entry of `config.json` to provision from"),
	implemented(paramPool, "required (optional with `topologyConstrainedPools`): the pool of the image and of its journal"),
	implemented(paramDataPool, "the (erasure-coded) data pool of the image"),
	implemented(paramImageFeatures, "comma-separated features (layering, exclusive-lock, object-map, fast-diff, "+
		"deep-flatten, journaling; dependencies checked); unset: the cluster's `rbd_default_features`, as in ceph-csi"),
	implemented(paramJournalPool, "accepted and ignored for new volumes, as by ceph-csi (every release since v3.2): "+
		"their journal goes to the image's pool, and the pool need not exist; a retry still finds a volume that "+
		"earlier versions of this driver journaled there (`csi.journalpool` on its record), and its snapshots stay there"),
	implemented(paramNamePrefix, "image name prefix instead of `csi-vol-`"),
	implemented(paramRadosNamespace, "must equal `rbd.radosNamespace` of the clusterID in `config.json` (where ceph-csi "+
		"takes the namespace from; volume IDs do not carry it); another value or an empty one is InvalidArgument"),
	implemented(paramMounter, "`krbd` (default; also ceph-csi's `rbd`), `rbd-nbd` or `fuse`; passed to the node"),
	implemented(paramTryOtherMounters, "`true`/`false`: validated and passed to the node in the volume context "+
		"(the node does not fall back to another attacher yet)"),
	implemented(paramCephLogDir, "absolute directory of the rbd-nbd log: validated and passed to the node in the volume context"),
	implemented(paramCephLogStrategy, "`remove` (default), `compress` or `preserve` (the rbd-nbd log on unmap): "+
		"validated and passed to the node in the volume context"),
	implemented(paramMkfsOptions, "options for mkfs on first stage; passed to the node"),
	implemented(paramMapOptions, "map options (`krbd:...;nbd:...`); passed to the node"),
	implemented(paramUnmapOptions, "unmap options; passed to the node"),
	implemented(paramStripeUnit, "stripe unit in bytes (with `stripeCount`; must divide the object size)"),
	implemented(paramStripeCount, "objects to stripe over (with `stripeUnit`)"),
	implemented(paramObjectSize, "object size in bytes, a power of 2 from 4 KiB to 32 MiB (default 4 MiB)"),
	{Name: paramThickProvision, Support: scparams.NoOp, Doc: "ignored (ceph-csi ignores it since v3.6); images are thin"},
	{Name: paramImageFormat, Support: scparams.OffOnly, Off: []string{"2"}, Doc: "only `2` (images are always format 2)"},
	{Name: paramEncrypted, Support: scparams.OffOnly, Off: []string{"false"},
		Doc: "`false` accepted; `true` is InvalidArgument: encryption is not supported yet"},
	{Name: paramEncryptionKMSID, Support: scparams.NoOp, Doc: "ignored while `encrypted` is not `true`"},
	{Name: paramEncryptionType, Support: scparams.NoOp, Doc: "ignored while `encrypted` is not `true`"},
	implemented(paramTopologyPools, "JSON list of `{poolName, dataPool, domainSegments: [{domainLabel, value}]}`: "+
		"the pool is chosen from the accessibility requirements (preferred first, then requisite; none: ResourceExhausted), "+
		"the journal goes to that pool too, as in ceph-csi v3.11+ (a retry also looks in `pool`, where ceph-csi before "+
		"v3.11 and earlier versions of this driver kept it); clones and restores stay in their source's pool"),
	{Name: k8sPrefix, Prefix: true, Support: scparams.Implemented, Doc: k8sDoc},
}, qosTable()...)...)

// qosTable lists the RBD QoS parameters of newer ceph-csi releases; they
// are mutable parameters too (docs/architecture.md#qos-through-volumeattributesclass).
func qosTable() []scparams.Key {
	names := make([]string, 0, len(qosKeys()))
	for k := range qosKeys() {
		names = append(names, k)
	}
	sort.Strings(names)
	keys := make([]scparams.Key, 0, len(names))
	for _, k := range names {
		keys = append(keys, implemented(k, "RBD QoS: set as the image's `rbd_qos_*` limits (librbd clients; krbd ignores them), "+
			"overridden by a VolumeAttributesClass"))
	}
	return keys
}

// SnapshotClassParams is every VolumeSnapshotClass key ceph-csi's RBD
// driver documents or reads, and what this driver does with it.
var SnapshotClassParams = scparams.NewTable(
	implemented(paramClusterID, "must be the source volume's cluster"),
	implemented(paramPool, "optional; must be the source volume's pool (a snapshot lives on its volume's image)"),
	implemented(paramSnapNamePrefix, "RBD snapshot name prefix instead of `csi-snap-`"),
	scparams.Key{Name: k8sPrefix, Prefix: true, Support: scparams.NoOp,
		Doc: "the snapshotter secret keys are read by the sidecar and never reach the driver"},
)

// paramVolumeGroupNamePrefix is ceph-csi's VolumeGroupSnapshotClass key
// for the group name prefix.
const paramVolumeGroupNamePrefix = "volumeGroupNamePrefix"

// GroupSnapshotClassParams is every VolumeGroupSnapshotClass key this
// driver reads (ceph-csi's examples/rbd/groupsnapshotclass.yaml).
var GroupSnapshotClassParams = scparams.NewTable(
	implemented(paramClusterID, "optional (ceph-csi requires it): must be the source volumes' cluster"),
	implemented(paramPool, "optional (ceph-csi requires it): must be the source volumes' pool "+
		"(all volumes of one group snapshot share a pool)"),
	implemented(paramJournalPool, "optional: the pool of the group record (`csi.groups.<instance>`, "+
		"`csi.volume.group.<uuid>`, the group snapshot ID's pool) and of the temporary RBD group; default the volumes' pool, "+
		"as ceph-csi's `CreateVolumeGroup`; must exist. The member snapshots' records follow their volumes' journal"),
	implemented(paramVolumeGroupNamePrefix, "group name prefix instead of `csi-vol-group-` (the record's "+
		"`csi.groupname` and the temporary RBD group); each member snapshot is reserved as "+
		"`<group snapshot name>-<source volume ID>` and is the image `csi-snap-<uuid>`, as by ceph-csi"),
	scparams.Key{Name: k8sPrefix, Prefix: true, Support: scparams.NoOp,
		Doc: "the group snapshotter secret keys are read by the sidecar and never reach the driver"},
)

// checkTable turns a table's verdict into an InvalidArgument error.
func checkTable(t *scparams.Table, params map[string]string) error {
	if e := t.Check(params); e != nil {
		return invalidArg("parameters."+e.Key, "%s", e.Msg)
	}
	return nil
}
