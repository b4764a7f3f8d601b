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
// cephFS.fuseMountOptions), then (kernel) the read-affinity options, then
// the capability's mount flags; an option already present is not added
// again.
func (s *Server) mountOptions(vol *volume, c *clusterconfig.Cluster) []string {
	configured, affinity := c.CephFSNode.KernelMountOptions, c.ReadAffinityOptions(s.cfg.CrushLocationLabels, s.cfg.NodeLabels)
	if vol.mounter == volctx.MounterFuse {
		configured, affinity = c.CephFSNode.FuseMountOptions, ""
	}
	var out []string
	for _, o := range slices.Concat(vol.options, host.SplitOptions(configured), host.SplitOptions(affinity), vol.flags) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}
