// Package csisource builds the CSI VolumeContentSource of a CreateVolume
// request: a snapshot to restore or a volume to clone.
package csisource

import "github.com/container-storage-interface/spec/lib/go/csi"

// Snapshot is the content source "restore the snapshot id".
func Snapshot(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
}

// Volume is the content source "clone the volume id".
func Volume(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
}
