package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

func TestDeleteVolumeUnknownIDs(t *testing.T) {
	e := newEnv(t)
	wellFormed, _ := volid.ID{ClusterID: testCluster, LocationID: 1, UUID: "00000000-0000-0000-0000-000000000001"}.Encode()
	missingPool, _ := volid.ID{ClusterID: testCluster, LocationID: 99, UUID: "00000000-0000-0000-0000-000000000001"}.Encode()
	for _, id := range []string{"fake-vol-id", "0001-0004-x", wellFormed, missingPool} {
		if _, err := e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: secrets()}); err != nil {
			t.Errorf("DeleteVolume(%q) = %v, want success", id, err)
		}
	}
	_, err := e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{})
	wantCode(t, err, codes.InvalidArgument, "volume_id")
	unknownCluster, _ := volid.ID{ClusterID: "gone", LocationID: 1, UUID: "00000000-0000-0000-0000-000000000001"}.Encode()
	_, err = e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: unknownCluster, Secrets: secrets()})
	wantCode(t, err, codes.NotFound, "gone")
	_, err = e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: wellFormed})
	wantCode(t, err, codes.InvalidArgument, "userID")
}

func TestDeleteVolumeTrashesAndIsIdempotent(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-del", 0))
	e.deleteVolume(vol.GetVolumeId())
	e.waitPurges()
	if c := e.be.Contents(testCluster, testPool); len(c.Images) != 0 || len(c.Trash) != 1 {
		t.Fatalf("after delete: %+v, want the image in the trash", c)
	}
	if got := e.be.PendingTasks(); len(got) != 1 {
		t.Fatalf("mgr tasks %v, want one trash remove", got)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestDeleteVolumeWithoutMgr(t *testing.T) {
	e := newEnv(t)
	e.be.SetMgrDown(true)
	vol := e.create(volReq("pvc-nomgr", 0))
	e.deleteVolume(vol.GetVolumeId())
	e.waitPurges()
	if c := e.be.Contents(testCluster, testPool); !c.Empty() {
		t.Fatalf("synchronous fallback left %+v", c)
	}
}

func TestDeleteVolumeWithWatchers(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-mapped", 0))
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: vol.GetVolumeContext()["imageName"]}
	e.be.AddWatcher(testCluster, img, "10.0.0.7:0/123456")
	_, err := e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.FailedPrecondition, "10.0.0.7:0/123456", img.Name)
	if _, ok := e.be.Image(testCluster, img); !ok {
		t.Fatal("the mapped image was removed")
	}
}

func TestDeleteVolumeContention(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-busy", 0))
	release, err := e.s.locks.Acquire(lockKeyVolume(vol.GetVolumeId()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.Aborted)
	release()
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// A watch that goes away within WatcherWait (the mgr detaching a clone
// from its parent) does not fail the delete.
func TestDeleteVolumeWaitsForTransientWatchers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WatcherWait = time.Second })
	vol := e.create(volReq("pvc-transient", 0))
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: vol.GetVolumeContext()["imageName"]}
	e.be.AddWatcher(testCluster, img, "127.0.0.1:0/42")
	stats := 0
	e.be.SetHook(func(op string) error {
		if op == "Stat" {
			if stats++; stats == 2 {
				e.be.ClearWatchers(testCluster, img)
			}
		}
		return nil
	})
	e.deleteVolume(vol.GetVolumeId())
	e.be.SetHook(nil)
	e.assertEmpty()
}

func TestDeleteVolumePurgesWithinTheRequest(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PurgeWorkers = -1 })
	vol := e.create(volReq("pvc-sync", 0))
	e.deleteVolume(vol.GetVolumeId())
	if got := e.be.PendingTasks(); len(got) != 1 {
		t.Fatalf("mgr tasks %v right after DeleteVolume, want the trash remove", got)
	}
	e.assertEmpty()
}

// A trashed image of ours whose purge was never queued (a crash after the
// trash move) is swept by the first purge in its pool.
func TestPurgerSweepsLeftovers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sess, err := e.be.Connect(ctx, backend.Target{ClusterID: testCluster})
	if err != nil {
		t.Fatal(err)
	}
	pool := backend.PoolRef{Pool: testPool}
	left := backend.ImageRef{PoolRef: pool, Name: "csi-vol-0e0e0e0e-0000-4000-8000-000000000001"}
	foreign := backend.ImageRef{PoolRef: pool, Name: "someone-elses"}
	for _, img := range []backend.ImageRef{left, foreign} {
		if _, err := sess.CreateImage(ctx, img, backend.ImageOptions{Size: 1}); err != nil {
			t.Fatal(err)
		}
		if err := sess.Trash(ctx, img); err != nil {
			t.Fatal(err)
		}
	}
	vol := e.create(volReq("pvc-sweep", 0))
	e.deleteVolume(vol.GetVolumeId())
	e.waitPurges()
	e.be.RunTasks()
	c := e.be.Contents(testCluster, testPool)
	if len(c.Trash) != 1 {
		t.Fatalf("trash %v, want only the foreign image", c.Trash)
	}
}

// TestDeleteVolumeRetryPurgesInterruptedTrashMove: the trash move took
// effect but its reply was lost (an OSD stopped mid-way); the retry finds
// no image in the pool's directory and must still have the trashed image
// purged rather than forget it.
func TestDeleteVolumeRetryPurgesInterruptedTrashMove(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-lost-reply", 0))
	e.be.SetAfterHook(func(op string) error {
		if op == "Trash" {
			return backend.ErrUnavailable
		}
		return nil
	})
	_, err := e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.Unavailable)
	e.be.SetAfterHook(nil)
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// TestFailedPurgeIsSweptLater: a purge that fails (mgr and OSD unavailable)
// leaves the image in the trash; a later deletion in the same pool sweeps
// it up, without a driver restart.
func TestFailedPurgeIsSweptLater(t *testing.T) {
	e := newEnv(t)
	first := e.create(volReq("pvc-purge-fails", 0))
	second := e.create(volReq("pvc-purge-works", 0))
	e.be.SetHook(func(op string) error {
		if op == "PurgeTrash" {
			return backend.ErrUnavailable
		}
		return nil
	})
	e.deleteVolume(first.GetVolumeId())
	e.waitPurges()
	if c := e.be.Contents(testCluster, testPool); len(c.Trash) != 1 {
		t.Fatalf("after a failed purge: %+v, want the image in the trash", c)
	}
	e.be.SetHook(nil)
	e.deleteVolume(second.GetVolumeId())
	e.assertEmpty()
}

// TestFailedPurgeIsSweptAtClose: a purge that failed is swept when the
// controller closes (the driver stops) once the cluster is back, even
// without a later deletion.
func TestFailedPurgeIsSweptAtClose(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-purge-fails", 0))
	e.be.SetHook(func(op string) error {
		if op == "PurgeTrash" {
			return backend.ErrUnavailable
		}
		return nil
	})
	e.deleteVolume(vol.GetVolumeId())
	e.waitPurges()
	e.be.SetHook(nil)
	e.s.Close()
	e.assertEmpty()
}

// TestDeferredPurgeIsSweptLater: without the mgr, a trashed image that a
// clone still needs cannot be removed (the purge is deferred); once the
// clone is deleted, a later sweep removes it (at the latest when the
// controller closes).
func TestDeferredPurgeIsSweptLater(t *testing.T) {
	e := newEnv(t)
	e.be.SetMgrDown(true)
	parent := e.create(volReq("pvc-parent", 0))
	snap := e.snapshot("snap-parent", parent.GetVolumeId())
	req := volReq("pvc-clone", 0)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	clone := e.create(req)
	e.deleteVolume(parent.GetVolumeId())
	e.deleteSnapshot(snap.GetSnapshotId())
	e.waitPurges()
	e.deleteVolume(clone.GetVolumeId())
	e.waitPurges()
	e.s.Close()
	if c := e.be.Contents(testCluster, testPool); !c.Empty() {
		t.Fatalf("after deleting the clone: %+v, want the deferred parent purged too", c)
	}
}

// DeleteVolume of a volume with a snapshot and DeleteSnapshot of that
// snapshot, at once: DeleteVolume finds the snapshot and is about to rename
// the image to its tomb when DeleteSnapshot runs. They share a lock on the
// image, so DeleteSnapshot is Aborted until the tomb exists and then, on
// its retry, finds the tomb without snapshots and retires it: nothing is
// left (before the lock, a tomb without snapshots stayed forever). The
// lock is the image's ID also for a volume whose record has no
// csi.imageid (ceph-csi before v3.2), as DeleteSnapshot takes it.
func TestDeleteVolumeAndItsSnapshotAtOnce(t *testing.T) {
	for _, withoutID := range []bool{false, true} {
		t.Run(fmt.Sprintf("record_without_image_id=%v", withoutID), func(t *testing.T) {
			testDeleteVolumeAndItsSnapshotAtOnce(t, withoutID)
		})
	}
}

func testDeleteVolumeAndItsSnapshotAtOnce(t *testing.T, withoutID bool) {
	e := newEnv(t)
	vol := e.create(volReq("racy", 0))
	snap := e.snapshot("racy-snap", vol.GetVolumeId())
	if withoutID {
		err := e.objectStore(testPool).RemoveOmapKeys(context.Background(), "csi.volume."+e.uuidOf(vol.GetVolumeId()),
			[]string{journal.KeyImageID})
		if err != nil {
			t.Fatal(err)
		}
	}
	atRename, proceed := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.be.SetHook(func(op string) error {
		if op == "Rename" {
			once.Do(func() { close(atRename); <-proceed })
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: secrets()})
		done <- err
	}()
	<-atRename
	_, err := e.s.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId(), Secrets: secrets()})
	wantCode(t, err, codes.Aborted)
	close(proceed)
	if err := <-done; err != nil {
		t.Fatalf("DeleteVolume: %v", err)
	}
	e.deleteSnapshot(snap.GetSnapshotId())
	e.assertEmpty()
}
