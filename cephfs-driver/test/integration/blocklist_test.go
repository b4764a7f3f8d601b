package integration

import (
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn/cephconntest"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

// TestBlocklistedSessionReconnects: once the cluster has blocklisted the
// driver's pooled connection (`ceph osd blocklist add` of its address, as
// fencing does), the next request fails with Unavailable naming the
// blocklist, and the CO's retry succeeds on a fresh connection instead of
// failing with ESHUTDOWN until the driver restarts.
func TestBlocklistedSessionReconnects(t *testing.T) {
	pool := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	t.Cleanup(pool.Close) // after the driver stops
	e := newEnv(t, func(c *controller.Config) { c.Connector = cephfs.NewConnector(pool) })
	vol := e.CreateVolume("before", 64*rig.MiB, nil, rig.RWX)
	conn, err := pool.Get(e.Ctx(), cephconn.Target{ClusterID: e.Cluster.FSID, Monitors: e.Cluster.Monitors,
		Creds: &credentials.Credentials{ID: e.Cluster.AdminID, Key: e.Cluster.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	if pool.Len() != 1 {
		t.Fatalf("the driver holds %d connections, want the one just borrowed", pool.Len())
	}
	cephconntest.Blocklist(t, e.Cluster, conn)
	conn.Release()

	req := &csi.CreateVolumeRequest{Name: "after", CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * rig.MiB},
		VolumeCapabilities: []*csi.VolumeCapability{rig.RWX}, Parameters: e.Params(), Secrets: e.AdminSecrets()}
	_, err = e.Ctrl.CreateVolume(e.Ctx(), req)
	st, _ := status.FromError(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("CreateVolume on the blocklisted connection: %v, want Unavailable", err)
	}
	if !strings.Contains(st.Message(), "blocklisted") {
		t.Errorf("message %q does not name the blocklist", st.Message())
	}
	after := e.CreateVolume("after", 64*rig.MiB, nil, rig.RWX)
	if _, err := e.Ctrl.ControllerExpandVolume(e.Ctx(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * rig.MiB}, Secrets: e.AdminSecrets()}); err != nil {
		t.Fatalf("expand a volume made before the blocklist: %v", err)
	}
	e.DeleteVolume(after.GetVolumeId())
	e.DeleteVolume(vol.GetVolumeId())
	if pool.Len() != 1 {
		t.Fatalf("the driver holds %d connections, want 1 (the blocklisted one closed)", pool.Len())
	}
}
