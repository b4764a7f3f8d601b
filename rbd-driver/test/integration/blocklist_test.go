package integration

import (
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/shared/cephconn/cephconntest"
)

// TestBlocklistedSessionIsUnavailableAndReconnects: once the cluster has
// blocklisted the driver's pooled connection (`ceph osd blocklist add` of
// its address, as fencing does), the next request fails with Unavailable
// naming the blocklist, and the CO's retry succeeds on a fresh connection
// instead of failing with ESHUTDOWN until the driver restarts.
func TestBlocklistedSessionIsUnavailableAndReconnects(t *testing.T) {
	r := newRig(t, 4, 8)
	vol := r.create(r.ctrl, r.volReq("pvc-before", 32*mib))
	conn := r.driverConn()
	if r.cpool.Len() != 1 {
		t.Fatalf("the driver holds %d connections, want the one just borrowed", r.cpool.Len())
	}
	cephconntest.Blocklist(t, r.cl, conn)
	conn.Release()

	req := r.volReq("pvc-after", 32*mib)
	_, err := r.ctrl.CreateVolume(ctx(t), req)
	wantCode(t, err, codes.Unavailable, "blocklisted")
	after := r.create(r.ctrl, req)
	if _, err := r.ctrl.ControllerExpandVolume(ctx(t), &csi.ControllerExpandVolumeRequest{
		VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
		Secrets: r.secrets}); err != nil {
		t.Fatalf("expand a volume made before the blocklist: %v", err)
	}
	r.deleteVolume(after.GetVolumeId())
	r.deleteVolume(vol.GetVolumeId())
	if r.cpool.Len() != 1 {
		t.Fatalf("the driver holds %d connections, want 1 (the blocklisted one closed)", r.cpool.Len())
	}
}
