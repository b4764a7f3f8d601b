// Package volctx holds the volume-context keys shared by the RBD controller
// (which writes them into CreateVolumeResponse.Volume.VolumeContext) and the
// RBD node server (which reads them in NodeStageVolume). The names are the
// ones ceph-csi uses so that existing StorageClasses keep working.
package volctx

// Volume-context keys written by the controller.
const (
	// ClusterID is the clusterID from the CSI cluster config (usually the fsid).
	ClusterID = "clusterID"
	// Pool is the pool holding the RBD image.
	Pool = "pool"
	// DataPool is the optional erasure-coded data pool of the image.
	DataPool = "dataPool"
	// ImageName is the RBD image name inside Pool / RadosNamespace.
	ImageName = "imageName"
	// JournalPool is the pool holding the volume's journal directory (set on
	// every volume, as ceph-csi does; the node does not read it).
	JournalPool = "journalPool"
	// RadosNamespace is the RADOS namespace of the image (from the cluster config).
	RadosNamespace = "radosNamespace"
	// Mounter selects the attacher: MounterKRBD (default), MounterNBD or MounterFuse.
	Mounter = "mounter"
	// ImageFeatures is the comma-separated feature list the image was created with.
	ImageFeatures = "imageFeatures"
	// MkfsOptions are extra options passed to mkfs when formatting.
	MkfsOptions = "mkfsOptions"
	// MapOptions are extra options passed to the map command.
	MapOptions = "mapOptions"
	// UnmapOptions are extra options passed to the unmap command.
	UnmapOptions = "unmapOptions"
	// FsType is the filesystem type requested through the StorageClass
	// parameter csi.storage.k8s.io/fstype. The node uses it only when the
	// VolumeCapability carries no fs_type of its own.
	FsType = "csi.storage.k8s.io/fstype"
	// TryOtherMounters ("true"/"false") lets the node fall back to
	// another attacher when the chosen one fails (ceph-csi's key).
	TryOtherMounters = "tryOtherMounters"
	// CephLogDir is where rbd-nbd writes its per-volume log (ceph-csi's
	// key; the node's default is /var/log/ceph).
	CephLogDir = "cephLogDir"
	// CephLogStrategy says what happens to that log on unmap: remove
	// (default), compress or preserve (ceph-csi's key).
	CephLogStrategy = "cephLogStrategy"
	// Encrypted is ceph-csi's StorageClass key, copied into the volume
	// context of its volumes: "true" marks a LUKS-encrypted image.
	Encrypted = "encrypted"
)

// CephLogStrategies lists the accepted CephLogStrategy values.
func CephLogStrategies() []string { return []string{"remove", "compress", "preserve"} }

// Mounter values.
const (
	MounterKRBD = "krbd"
	MounterNBD  = "rbd-nbd"
	MounterFuse = "fuse"
	// MounterRBD is ceph-csi's name for krbd, stored in existing PVs and
	// StorageClasses; it means MounterKRBD.
	MounterRBD = "rbd"
)

// DefaultMounter is used when the volume context carries no mounter.
const DefaultMounter = MounterKRBD

// DefaultFsType is used when neither the capability nor the volume context
// names a filesystem type.
const DefaultFsType = "ext4"

// Mounters lists the accepted mounter values.
func Mounters() []string { return []string{MounterKRBD, MounterNBD, MounterFuse} }

// ValidMounter reports whether m is an accepted mounter value ("" counts as
// the default).
func ValidMounter(m string) bool {
	switch m {
	case "", MounterKRBD, MounterRBD, MounterNBD, MounterFuse:
		return true
	}
	return false
}

// MounterOf returns the mounter named in ctx, or DefaultMounter; ceph-csi's
// "rbd" is MounterKRBD.
func MounterOf(ctx map[string]string) string {
	return Normalize(ctx[Mounter])
}

// Normalize returns the mounter a value means: DefaultMounter for "",
// MounterKRBD for ceph-csi's "rbd", the value itself otherwise.
func Normalize(m string) string {
	switch m {
	case "":
		return DefaultMounter
	case MounterRBD:
		return MounterKRBD
	}
	return m
}
