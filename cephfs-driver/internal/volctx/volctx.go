// Package volctx names the volume context keys that the controller writes
// in CreateVolume and the node service reads in NodeStageVolume, and the
// StorageClass parameters and secret fields the driver accepts, as ceph-csi
// users already spell them.
package volctx

// Volume context keys (controller writes, node reads).
const (
	// ClusterID is the cluster's ID in the cluster configuration.
	ClusterID = "clusterID"
	// FSName is the CephFS file system name.
	FSName = "fsName"
	// SubvolumeName is the subvolume's name (informational).
	SubvolumeName = "subvolumeName"
	// SubvolumeGroup is the subvolume's group (informational).
	SubvolumeGroup = "subvolumeGroup"
	// SubvolumePath is the directory to mount, from the file system root.
	SubvolumePath = "subvolumePath"
	// Mounter is "kernel" (default) or "fuse".
	Mounter = "mounter"
	// KernelMountOptions are extra -o options of the kernel client.
	KernelMountOptions = "kernelMountOptions"
	// FuseMountOptions are extra -o options of ceph-fuse.
	FuseMountOptions = "fuseMountOptions"
	// BackingSnapshot is "true" for a shallow read-only volume.
	BackingSnapshot = "backingSnapshot"
	// BackingSnapshotID is the CSI snapshot ID a shallow volume reads.
	BackingSnapshotID = "backingSnapshotID"
	// BackingSnapshotRoot is the directory a shallow volume's stage mounts
	// first: the source subvolume's base directory (the parent of its
	// path), whose .snap directory holds the snapshot.
	BackingSnapshotRoot = "backingSnapshotRoot"
	// BackingSnapshotDir is the snapshot's directory relative to
	// BackingSnapshotRoot: .snap/<snapshot>/<subvolume uuid dir>.
	BackingSnapshotDir = "backingSnapshotDir"
	// Encrypted is ceph-csi's StorageClass key, copied into the volume
	// context of its volumes: "true" marks an fscrypt-encrypted subvolume.
	Encrypted = "encrypted"
)

// StorageClass parameters of CreateVolume besides ClusterID, FSName,
// Mounter, the mount options and BackingSnapshot.
const (
	// Pool is the data pool layout of new subvolumes.
	Pool = "pool"
	// VolumeNamePrefix prefixes subvolume names (default csi-vol-).
	VolumeNamePrefix = "volumeNamePrefix"
	// ProvisionerKeyPrefix starts the keys the external-provisioner adds
	// (csi.storage.k8s.io/...); they are tolerated and ignored.
	ProvisionerKeyPrefix = "csi.storage.k8s.io/"
)

// Mounters.
const (
	MounterKernel = "kernel"
	MounterFuse   = "fuse"
)
