package node

import (
	"slices"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// mountOptions returns the options of a volume's mount, in ceph-csi's
// order: the StorageClass's kernelMountOptions or fuseMountOptions, then
// the cluster's from config.json (cephFS.kernelMountOptions or
// cephFS.fuseMountOptions), then the capability's mount flags; an option
// already present is not added again.
func mountOptions(vol *volume, c clusterconfig.CephFSNodeConfig) []string {
	configured := c.KernelMountOptions
	if vol.mounter == volctx.MounterFuse {
		configured = c.FuseMountOptions
	}
	var out []string
	for _, o := range slices.Concat(vol.options, host.SplitOptions(configured), vol.flags) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}
