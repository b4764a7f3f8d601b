package node

import (
	"context"
	"slices"
	"testing"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels/nodelabelstest"
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

// TestReadAffinityFromTheNodeAPI: without --node-labels, the labels the
// node plugin reads from its Node (--crush-location-labels set) give the
// kernel mount its crush_location.
func TestReadAffinityFromTheNodeAPI(t *testing.T) {
	crush := []string{"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
	a := &nodelabels.Affinity{NodeName: "node-a", CrushLocationLabels: crush,
		API: nodelabelstest.Client(t, "node-a", map[string]string{"topology.kubernetes.io/zone": "z.3", "kubernetes.io/hostname": "node-a"})}
	f := newFixture(t)
	f.srv.cfg.Clusters = clusters{"c1": {ClusterID: "c1", Monitors: []string{"m:6789"},
		ReadAffinity: clusterconfig.ReadAffinity{Enabled: true}}}
	f.srv.cfg.NodeLabels, f.srv.cfg.CrushLocationLabels = a.Labels(context.Background()), crush
	req := f.stageReq()
	req.VolumeContext[volctx.Mounter] = volctx.MounterKernel
	if _, err := f.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	m := f.srv.cfg.Mounters[volctx.MounterKernel].(*fakeMounter)
	want := []string{"read_from_replica=localize", "crush_location=host:node-a|zone:z-3", "noatime"}
	if len(m.calls) != 1 || !slices.Equal(m.calls[0].Options, want) {
		t.Fatalf("kernel mount: %+v; want options %q", m.calls, want)
	}
}
