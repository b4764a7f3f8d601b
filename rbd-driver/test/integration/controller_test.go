package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
)

const mib = int64(1) << 20

func TestSnapshotRestore(t *testing.T) {
	r := newRig(t, 4, 8)
	src := r.create(r.ctrl, r.volReq("pvc-src", 64*mib))
	if md := r.describe(src).Metadata; md["csi.storage.k8s.io/pvc/name"] != "pvc-src" {
		t.Errorf("metadata %v, want the PVC name (--set-metadata)", md)
	}
	r.write(src, 0, "before the snapshot")
	snap := r.snapshot("snap-1", src.GetVolumeId())
	if snap.GetSizeBytes() != 64*mib || !snap.GetReadyToUse() || snap.GetSourceVolumeId() != src.GetVolumeId() {
		t.Fatalf("snapshot %v", snap)
	}
	r.write(src, 0, "after the snapshot!")
	req := r.volReq("pvc-restored", 128*mib)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	restored := r.create(r.ctrl, req)
	r.expectData(restored, 0, "before the snapshot")
	if img := r.describe(restored); img.Size != uint64(128*mib) || !img.HasParent {
		t.Fatalf("restored image %+v, want a 128 MiB clone", img)
	}
	r.deleteVolume(restored.GetVolumeId())
	r.deleteSnapshot(snap.GetSnapshotId())
	r.deleteVolume(src.GetVolumeId())
}

func TestCloneFromVolume(t *testing.T) {
	r := newRig(t, 4, 8)
	src := r.create(r.ctrl, r.volReq("pvc-src", 32*mib))
	r.write(src, 4*mib, "source data")
	req := r.volReq("pvc-clone", 32*mib)
	req.VolumeContentSource = csisource.Volume(src.GetVolumeId())
	clone := r.create(r.ctrl, req)
	r.expectData(clone, 4*mib, "source data")
	if snaps := r.describe(src).Snapshots; len(snaps) != 0 {
		t.Fatalf("the source keeps user snapshots %v; the temporary one must be gone", snaps)
	}
	// Independent lifecycles: the source goes first.
	r.deleteVolume(src.GetVolumeId())
	r.expectData(clone, 4*mib, "source data")
	r.deleteVolume(clone.GetVolumeId())
}

func TestDeleteVolumeWithSnapshotsThenRestore(t *testing.T) {
	r := newRig(t, 4, 8)
	src := r.create(r.ctrl, r.volReq("pvc-src", 32*mib))
	r.write(src, 0, "keep me")
	snap := r.snapshot("snap-1", src.GetVolumeId())
	r.deleteVolume(src.GetVolumeId())
	// The same name can be provisioned again, independently.
	again := r.create(r.ctrl, r.volReq("pvc-src", 32*mib))
	req := r.volReq("pvc-restored", 0)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	restored := r.create(r.ctrl, req)
	r.expectData(restored, 0, "keep me")
	r.deleteSnapshot(snap.GetSnapshotId())
	r.expectData(restored, 0, "keep me")
	r.deleteVolume(restored.GetVolumeId())
	r.deleteVolume(again.GetVolumeId())
}

func TestDeleteSnapshotWithRestoredVolume(t *testing.T) {
	r := newRig(t, 4, 8)
	src := r.create(r.ctrl, r.volReq("pvc-src", 32*mib))
	r.write(src, 0, "snapshotted")
	snap := r.snapshot("snap-1", src.GetVolumeId())
	req := r.volReq("pvc-restored", 0)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	restored := r.create(r.ctrl, req)
	r.deleteSnapshot(snap.GetSnapshotId())
	r.expectData(restored, 0, "snapshotted")
	if snaps := r.describe(src).Snapshots; len(snaps) != 0 {
		t.Fatalf("user snapshots left on the source: %v", snaps)
	}
	r.deleteVolume(src.GetVolumeId())
	r.expectData(restored, 0, "snapshotted")
	r.deleteVolume(restored.GetVolumeId())
}

// flattenWait bounds the wait for a mgr flatten task: the mgr runs its
// tasks one at a time, and the purges of tests running in parallel (the
// reliability churn queues a thousand) may be ahead of it.
const flattenWait = 4 * time.Minute

// A controller with generous limits builds a chain of depth 4; one with
// soft depth 2 and hard depth 3 then refuses to clone its tip (it would be
// depth 5) with Aborted while the mgr flattens the tip, and succeeds after.
// A new clone at the soft depth is flattened in the background.
func TestCloneDepthLimits(t *testing.T) {
	r := newRig(t, 4, 8)
	loose := r.controller(10, 10)
	chain := []*csi.Volume{r.create(loose, r.volReq("pvc-0", 16*mib))}
	for i := 1; i <= 4; i++ {
		req := r.volReq(fmt.Sprintf("pvc-%d", i), 16*mib)
		req.VolumeContentSource = csisource.Volume(chain[i-1].GetVolumeId())
		chain = append(chain, r.create(loose, req))
	}
	strict := r.controller(2, 3)
	req := r.volReq("pvc-deep", 16*mib)
	req.VolumeContentSource = csisource.Volume(chain[4].GetVolumeId())
	_, err := strict.CreateVolume(ctx(t), req)
	wantCode(t, err, codes.Aborted, "flatten")
	var deep *csi.Volume
	eventually(t, flattenWait, "the clone after the flatten", func() bool {
		resp, err := strict.CreateVolume(ctx(t), req)
		if st, _ := status.FromError(err); err != nil && st.Code() != codes.Aborted {
			t.Fatalf("retry: %v", err)
		}
		deep = resp.GetVolume()
		return err == nil
	})
	if r.describe(chain[4]).HasParent {
		t.Fatal("the source of the deep clone was not flattened")
	}
	// chain[1] has depth 1: its clone (depth 2) reaches the soft limit.
	soft := r.volReq("pvc-soft", 16*mib)
	soft.VolumeContentSource = csisource.Volume(chain[1].GetVolumeId())
	softVol := r.create(strict, soft)
	eventually(t, flattenWait, "the background flatten of the clone at the soft depth", func() bool {
		return !r.describe(softVol).HasParent
	})
	// Leaves first: a trashed parent is purged by the mgr only after its
	// clones are gone, and the mgr backs off 30 s, 60 s... between tries.
	r.deleteVolume(softVol.GetVolumeId())
	r.deleteVolume(deep.GetVolumeId())
	for i := len(chain) - 1; i >= 0; i-- {
		r.deleteVolume(chain[i].GetVolumeId())
	}
}

func TestExpand(t *testing.T) {
	r := newRig(t, 4, 8)
	vol := r.create(r.ctrl, r.volReq("pvc-x", 16*mib))
	resp, err := r.ctrl.ControllerExpandVolume(ctx(t), &csi.ControllerExpandVolumeRequest{
		VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: 40*mib + 1}, Secrets: r.secrets,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}}}})
	if err != nil || resp.GetCapacityBytes() != 41*mib || resp.GetNodeExpansionRequired() {
		t.Fatalf("expand = %v, %v", resp, err)
	}
	if size := r.describe(vol).Size; size != uint64(41*mib) {
		t.Fatalf("image size %d after expansion", size)
	}
	r.deleteVolume(vol.GetVolumeId())
}

func TestWatcherFailsDelete(t *testing.T) {
	r := newRig(t, 4, 8)
	vol := r.create(r.ctrl, r.volReq("pvc-mapped", 16*mib))
	release := r.admin.HoldImage(t, r.pool, "", image(vol))
	_, err := r.ctrl.DeleteVolume(ctx(t), &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: r.secrets})
	wantCode(t, err, codes.FailedPrecondition, "watchers", "127.0.0.1")
	release()
	r.deleteVolume(vol.GetVolumeId())
}

func TestIdempotentRetries(t *testing.T) {
	r := newRig(t, 4, 8)
	v1 := r.create(r.ctrl, r.volReq("pvc-1", 16*mib))
	v2 := r.create(r.ctrl, r.volReq("pvc-1", 16*mib))
	if v1.GetVolumeId() != v2.GetVolumeId() {
		t.Fatalf("retry created another volume: %s vs %s", v1.GetVolumeId(), v2.GetVolumeId())
	}
	_, err := r.ctrl.CreateVolume(ctx(t), r.volReq("pvc-1", 32*mib))
	wantCode(t, err, codes.AlreadyExists, "pvc-1")
	s1 := r.snapshot("snap-1", v1.GetVolumeId())
	if s2 := r.snapshot("snap-1", v1.GetVolumeId()); s2.GetSnapshotId() != s1.GetSnapshotId() {
		t.Fatal("snapshot retry created another snapshot")
	}
	list, err := r.ctrl.ListSnapshots(ctx(t), &csi.ListSnapshotsRequest{SourceVolumeId: v1.GetVolumeId(), Secrets: r.secrets})
	if err != nil || len(list.GetEntries()) != 1 {
		t.Fatalf("ListSnapshots = %v, %v", list, err)
	}
	for i := 0; i < 2; i++ {
		r.deleteSnapshot(s1.GetSnapshotId())
		r.deleteVolume(v1.GetVolumeId())
	}
	_, err = r.ctrl.ValidateVolumeCapabilities(ctx(t), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: v1.GetVolumeId(), VolumeCapabilities: r.volReq("x", 0).GetVolumeCapabilities(), Secrets: r.secrets})
	wantCode(t, err, codes.NotFound)
}

// A mgr that does not answer in time does not fail DeleteVolume: the driver
// removes the image from the trash itself. The mgr command, sent on its own
// connection, may still be executed late (librados cannot cancel it), so
// the pool is empty once either removal has finished.
func TestDeleteWithoutMgr(t *testing.T) {
	r := newRig(t, 4, 8)
	vol := r.create(r.ctrl, r.volReq("pvc-nomgr", 16*mib))
	s, err := controller.New(controller.Config{
		Backend:  cephrbd.New(r.cpool, cephrbd.Options{MgrTimeout: time.Nanosecond}),
		Clusters: r.store, InstanceID: "it", PurgeWorkers: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.DeleteVolume(ctx(t), &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: r.secrets}); err != nil {
		t.Fatal(err)
	}
	if c, err := r.admin.WaitEmpty(r.pool, "", drainTimeout); err != nil || len(c.Images)+len(c.Trash) != 0 {
		t.Fatalf("after a delete whose mgr call timed out: %v (%v)", c, err)
	}
}
