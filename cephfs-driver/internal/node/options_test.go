package node

import (
	"context"
	"slices"
	"testing"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

func TestMountOptionsFromConfig(t *testing.T) {
	node := clusterconfig.CephFSNodeConfig{KernelMountOptions: "ms_mode=secure,noatime", FuseMountOptions: "debug,allow_other",
		NetNamespaceFilePath: "/var/run/netns/fs"}
	for _, tc := range []struct {
		mounter string
		sc      string
		want    []string
	}{
		{volctx.MounterFuse, "debug", []string{"debug", "allow_other", "noatime"}},
		{volctx.MounterKernel, "recover_session=clean", []string{"recover_session=clean", "ms_mode=secure", "noatime",
			"read_from_replica=localize", "crush_location=zone:z1"}},
	} {
		f := newFixture(t)
		f.srv.cfg.Clusters = clusters{"c1": {ClusterID: "c1", Monitors: []string{"m:6789"}, CephFSNode: node,
			ReadAffinity: clusterconfig.ReadAffinity{Enabled: true, CrushLocationLabels: []string{"topology.kubernetes.io/zone"}}}}
		f.srv.cfg.NodeLabels = map[string]string{"topology.kubernetes.io/zone": "z1"}
		m := f.fuse
		if tc.mounter == volctx.MounterKernel {
			m = f.srv.cfg.Mounters[volctx.MounterKernel].(*fakeMounter)
		}
		req := f.stageReq()
		req.VolumeContext[volctx.Mounter] = tc.mounter
		req.VolumeContext[volctx.FuseMountOptions], req.VolumeContext[volctx.KernelMountOptions] = tc.sc, tc.sc
		if _, err := f.srv.NodeStageVolume(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if len(m.calls) != 1 || !slices.Equal(m.calls[0].Options, tc.want) || m.calls[0].NetNamespace != "/var/run/netns/fs" {
			t.Fatalf("%s mount: %+v; want options %q in /var/run/netns/fs", tc.mounter, m.calls, tc.want)
		}
	}
}
