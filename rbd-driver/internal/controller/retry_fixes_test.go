package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Tests of retries and twin requests (the same request in two processes):
// trashed images whose purge was never asked for, renames and creations
// racing a twin, and failures after adopting a twin's image or snapshot.

// rawSession is a backend session for arranging and inspecting the pool
// behind the controller's back.
func (e *env) rawSession() backend.Session {
	e.t.Helper()
	sess, err := e.be.Connect(context.Background(), backend.Target{ClusterID: testCluster})
	if err != nil {
		e.t.Fatal(err)
	}
	return sess
}

// plannedName is the image (or snapshot) name the journal of kind plans for
// a request name on the default instance.
func plannedName(kind journal.Kind, requestName string) string {
	j := journal.New(memstore.New(), journal.Options{Kind: kind, Instance: "default"})
	_, name := j.Planned(journal.Reservation{RequestName: requestName})
	return name
}

func testImage(name string) backend.ImageRef {
	return backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: name}
}

// failOp returns a hook failing every call of op with err.
func failOp(op string, err error) func(string) error {
	return func(got string) error {
		if got == op {
			return err
		}
		return nil
	}
}

// imageIDOf returns the ID of a live image, failing the test without one.
func (e *env) imageIDOf(img backend.ImageRef) string {
	e.t.Helper()
	id, err := e.rawSession().ImageID(context.Background(), img)
	if err != nil {
		e.t.Fatalf("image %s: %v", img.Name, err)
	}
	return id
}

// TestDeleteSnapshotRetryPurgesTrashedTomb: the last snapshot of a tomb is
// deleted, the tomb moved to the trash, and the reply of the move lost; the
// retry finds no image under the tomb's ID and must still have the tomb
// purged by ID, with or without the background purger.
func TestDeleteSnapshotRetryPurgesTrashedTomb(t *testing.T) {
	for _, workers := range []int{DefaultPurgeWorkers, -1} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.PurgeWorkers = workers })
			vol := e.create(volReq("pvc-tomb", 0))
			snap := e.snapshot("snap-last", vol.GetVolumeId())
			e.deleteVolume(vol.GetVolumeId())
			c := e.be.Contents(testCluster, testPool)
			if len(c.Images) != 1 || !isTomb(c.Images[0][1:]) {
				t.Fatalf("after deleting the volume: %+v, want its tomb", c)
			}
			tombID := e.imageIDOf(testImage(c.Images[0][1:]))
			e.be.SetAfterHook(failOp("Trash", fmt.Errorf("reply lost: %w", backend.ErrUnavailable)))
			_, err := e.s.DeleteSnapshot(context.Background(), &csi.DeleteSnapshotRequest{
				SnapshotId: snap.GetSnapshotId(), Secrets: secrets()})
			wantCode(t, err, codes.Unavailable, "reply lost")
			e.be.SetAfterHook(nil)
			e.waitPurges()
			if c := e.be.Contents(testCluster, testPool); len(c.Images) != 0 || !slices.Equal(c.Trash, []string{tombID}) {
				t.Fatalf("after the lost reply: %+v, want the tomb %s in the trash", c, tombID)
			}
			e.deleteSnapshot(snap.GetSnapshotId())
			e.assertEmpty()
		})
	}
}

// TestDeleteRetryWithoutRecordSweepsOnce: a process deleted a volume (or a
// tomb's last snapshot), removed the record and died with the purge of the
// trashed image still in memory (here: the purge failed and the process is
// never heard of again). The CO's retry reaches another process, finds no
// record, and has that process sweep the pool's trash, once: a second retry
// does not list the trash again.
func TestDeleteRetryWithoutRecordSweepsOnce(t *testing.T) {
	tests := []struct {
		name string
		// retire deletes the object through e and returns the ID to retry.
		retire func(e *env) string
		retry  func(e *env, id string)
	}{
		{"DeleteVolume", func(e *env) string {
			vol := e.create(volReq("pvc-crashed", 0))
			e.deleteVolume(vol.GetVolumeId())
			return vol.GetVolumeId()
		}, (*env).deleteVolume},
		{"DeleteSnapshot", func(e *env) string {
			vol := e.create(volReq("pvc-crashed", 0))
			snap := e.snapshot("snap-crashed", vol.GetVolumeId())
			e.deleteVolume(vol.GetVolumeId()) // a tomb
			e.deleteSnapshot(snap.GetSnapshotId())
			return snap.GetSnapshotId()
		}, (*env).deleteSnapshot},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dead := newEnv(t)
			dead.be.SetHook(failOp("PurgeTrash", backend.ErrUnavailable))
			id := tc.retire(dead)
			dead.waitPurges()
			dead.be.SetHook(nil)
			if c := dead.be.Contents(testCluster, testPool); len(c.Images) != 0 || len(c.Trash) != 1 {
				t.Fatalf("after the dead process: %+v, want one trashed image", c)
			}
			e := newEnv(t, func(c *Config) { c.Backend = dead.be })
			e.be = dead.be
			lists := e.be.Calls("TrashList")
			tc.retry(e, id)
			e.waitPurges()
			if n := e.be.Calls("TrashList") - lists; n != 1 {
				t.Fatalf("the retry listed the trash %d times, want one sweep", n)
			}
			e.assertEmpty()
			tc.retry(e, id)
			e.waitPurges()
			if n := e.be.Calls("TrashList") - lists; n != 1 {
				t.Fatalf("after a second retry the trash was listed %d times, want the pool swept once", n)
			}
		})
	}
}

// TestDeleteVolumeEntombRacesTwin: a volume with snapshots is deleted
// while a twin request in another process renames its image to the tomb.
// Whatever error the rename meets, the delete succeeds when the directory
// names the image by its tomb, and is Aborted (the image untouched, the
// record kept for the retry) while the twin's rename is under way.
func TestDeleteVolumeEntombRacesTwin(t *testing.T) {
	tests := []struct {
		name string
		// twinDone: the twin's rename completes before ours is answered.
		twinDone bool
		// err is what our rename meets (nil: the real outcome).
		err  error
		code codes.Code
	}{
		{"twin finished, name gone", true, nil, codes.OK},
		{"twin finished, tomb id taken", true, fmt.Errorf("rbd_id: %w", backend.ErrExists), codes.OK},
		{"twin under way, tomb id taken", false, fmt.Errorf("rbd_id: %w", backend.ErrExists), codes.Aborted},
		{"twin under way, old id gone", false, fmt.Errorf("rbd_id: %w", backend.ErrNotFound), codes.Aborted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			vol := e.create(volReq("pvc-twin", 0))
			snap := e.snapshot("snap-twin", vol.GetVolumeId())
			img := imageOf(vol)
			tomb := testImage(tombName(e.imageIDOf(img)))
			sess := e.rawSession()
			fired := false
			e.be.SetHook(func(op string) error {
				if op != "Rename" || fired {
					return nil
				}
				fired = true
				if tc.twinDone {
					if err := sess.Rename(context.Background(), img, tomb.Name); err != nil {
						t.Errorf("twin rename: %v", err)
					}
				}
				return tc.err
			})
			_, err := e.s.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: vol.GetVolumeId(), Secrets: secrets()})
			e.be.SetHook(nil)
			if !fired {
				t.Fatal("DeleteVolume did not rename the image")
			}
			if tc.code != codes.OK {
				wantCode(t, err, tc.code, "volume_id", img.Name)
				if _, ok := e.be.Image(testCluster, img); !ok {
					t.Fatal("the image was moved by the aborted delete")
				}
				e.deleteVolume(vol.GetVolumeId()) // the retry, the twin done
			} else if err != nil {
				t.Fatalf("DeleteVolume = %v, want success: the twin made the tomb", err)
			}
			if _, ok := e.be.Image(testCluster, tomb); !ok {
				t.Fatalf("no tomb %s: %+v", tomb.Name, e.be.Contents(testCluster, testPool))
			}
			e.deleteSnapshot(snap.GetSnapshotId())
			e.assertEmpty()
		})
	}
}

// TestCreateVolumeTwinImageNotReady: CreateVolume finds an image under its
// planned name that does not open yet (a twin in another process is
// halfway through creating it): Aborted, and the twin's image is left
// alone. Once it opens, the retry adopts it. Covered for a plain volume, a
// restore finding the image before cloning, and a restore whose clone
// meets it.
func TestCreateVolumeTwinImageNotReady(t *testing.T) {
	tests := []struct {
		name    string
		restore bool
		// hideID makes the restore's first look miss the image.
		hideID bool
	}{
		{"new image", false, false},
		{"restore, image found", true, false},
		{"restore, clone meets it", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var snap *csi.Snapshot
			var src *csi.Volume
			req := volReq("pvc-twin", 0)
			if tc.restore {
				src = e.create(volReq("pvc-src", 0))
				snap = e.snapshot("snap-src", src.GetVolumeId())
				req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
			}
			twin := testImage(plannedName(journal.Volumes, req.GetName()))
			twinID := e.makeTwin(twin, src, snap)
			e.be.SetHook(func(op string) error {
				switch {
				case op == "Stat":
					return fmt.Errorf("no header yet: %w", backend.ErrNotFound)
				case op == "ImageID" && tc.hideID:
					return fmt.Errorf("no rbd_id yet: %w", backend.ErrNotFound)
				}
				return nil
			})
			_, err := e.s.CreateVolume(context.Background(), req)
			e.be.SetHook(nil)
			wantCode(t, err, codes.Aborted, "name", twin.Name)
			if got := e.imageIDOf(twin); got != twinID {
				t.Fatalf("the twin's image now has ID %s, want %s", got, twinID)
			}
			vol := e.create(req)
			if imageOf(vol) != twin || e.imageIDOf(twin) != twinID {
				t.Fatalf("the retry made %s, want the twin's image %s (ID %s) adopted", imageOf(vol).Name, twin.Name, twinID)
			}
			e.deleteVolume(vol.GetVolumeId())
			if tc.restore {
				e.deleteSnapshot(snap.GetSnapshotId())
				e.deleteVolume(src.GetVolumeId())
			}
			e.assertEmpty()
		})
	}
}

// TestCreateVolumeKeepsAdoptedImageOnFailure: CreateVolume adopts a twin's
// finished image under its planned name, then fails (SetMetadata
// unavailable): the image is not removed, and the retry adopts it.
func TestCreateVolumeKeepsAdoptedImageOnFailure(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SetMetadata = true })
	req := volReq("pvc-twin", 0)
	req.Parameters["csi.storage.k8s.io/pvc/name"] = "data"
	twin := testImage(plannedName(journal.Volumes, req.GetName()))
	twinID, err := e.rawSession().CreateImage(context.Background(), twin, backend.ImageOptions{Size: uint64(DefaultVolumeSize)})
	if err != nil {
		t.Fatal(err)
	}
	e.be.SetHook(failOp("SetMetadata", fmt.Errorf("osd down: %w", backend.ErrUnavailable)))
	_, err = e.s.CreateVolume(context.Background(), req)
	e.be.SetHook(nil)
	wantCode(t, err, codes.Unavailable, "osd down")
	if e.be.Calls("Stat") == 0 {
		t.Fatal("the existing image was not checked")
	}
	if c := e.be.Contents(testCluster, testPool); !slices.Equal(c.Images, []string{"/" + twin.Name}) || len(c.Trash) != 0 {
		t.Fatalf("after the failure: %+v, want the twin's image %s left alone", c, twin.Name)
	}
	vol := e.create(req)
	if imageOf(vol) != twin || e.imageIDOf(twin) != twinID {
		t.Fatalf("the retry made %s, want the twin's image adopted", imageOf(vol).Name)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// TestCreateSnapshotFailureKeepsAdoptedSnapshot: CreateSnapshot finds the
// RBD snapshot of its planned name already there (an earlier attempt's or
// a twin's) and then fails: the snapshot stays, and the retry completes.
// A snapshot this request created (the reply of the creation lost) is
// removed with its reservation.
func TestCreateSnapshotFailureKeepsAdoptedSnapshot(t *testing.T) {
	t.Run("adopted", func(t *testing.T) {
		e := newEnv(t)
		vol := e.create(volReq("pvc-src", 0))
		ref := backend.SnapRef{Image: imageOf(vol), Snap: plannedName(journal.Snapshots, "snap-twin")}
		if _, err := e.rawSession().CreateSnapshot(context.Background(), ref); err != nil {
			t.Fatal(err)
		}
		e.be.SetHook(failOp("SnapshotInfo", fmt.Errorf("osd down: %w", backend.ErrUnavailable)))
		_, err := e.s.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
			Name: "snap-twin", SourceVolumeId: vol.GetVolumeId(), Secrets: secrets()})
		e.be.SetHook(nil)
		wantCode(t, err, codes.Unavailable, "osd down")
		if _, err := e.rawSession().SnapshotInfo(context.Background(), ref); err != nil {
			t.Fatalf("the adopted snapshot %s is gone: %v", ref.Snap, err)
		}
		snap := e.snapshot("snap-twin", vol.GetVolumeId())
		if st, err := e.rawSession().Stat(context.Background(), ref.Image); err != nil || len(st.Snapshots) != 1 {
			t.Fatalf("after the retry: %+v, %v; want the one adopted snapshot", st, err)
		}
		e.deleteSnapshot(snap.GetSnapshotId())
		e.deleteVolume(vol.GetVolumeId())
		e.assertEmpty()
	})
	t.Run("created", func(t *testing.T) {
		e := newEnv(t)
		vol := e.create(volReq("pvc-src", 0))
		e.be.SetAfterHook(failOp("CreateSnapshot", fmt.Errorf("reply lost: %w", backend.ErrUnavailable)))
		_, err := e.s.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
			Name: "snap-lost", SourceVolumeId: vol.GetVolumeId(), Secrets: secrets()})
		e.be.SetAfterHook(nil)
		wantCode(t, err, codes.Unavailable, "reply lost")
		if st, err := e.rawSession().Stat(context.Background(), imageOf(vol)); err != nil || len(st.Snapshots) != 0 {
			t.Fatalf("after the failure: %+v, %v; want the created snapshot removed", st, err)
		}
		e.deleteVolume(vol.GetVolumeId())
		e.assertEmpty()
	})
}

// objectStore is the journal store of a pool, behind the controller's back.
func (e *env) objectStore(pool string) journal.ObjectStore {
	e.t.Helper()
	st, err := e.rawSession().ObjectStore(context.Background(), backend.PoolRef{Pool: pool})
	if err != nil {
		e.t.Fatal(err)
	}
	return st
}

// poolID is the ID of a pool.
func (e *env) poolID(pool string) int64 {
	e.t.Helper()
	id, err := e.rawSession().PoolID(context.Background(), pool)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// uuidOf is the UUID part of a CSI ID.
func (e *env) uuidOf(id string) string {
	e.t.Helper()
	vid, err := volid.Decode(id)
	if err != nil {
		e.t.Fatal(err)
	}
	return vid.UUID
}

// makeTwin makes the image a twin request is creating: a clone of snap
// (a snapshot of src) for a restore, a plain image when snap is nil. It
// returns the image's ID.
func (e *env) makeTwin(twin backend.ImageRef, src *csi.Volume, snap *csi.Snapshot) string {
	e.t.Helper()
	if snap == nil {
		id, err := e.rawSession().CreateImage(context.Background(), twin, backend.ImageOptions{Size: uint64(DefaultVolumeSize)})
		if err != nil {
			e.t.Fatal(err)
		}
		return id
	}
	vid, err := volid.Decode(snap.GetSnapshotId())
	if err != nil {
		e.t.Fatal(err)
	}
	parent := backend.SnapRef{Image: imageOf(src), Snap: "csi-snap-" + vid.UUID}
	id, err := e.rawSession().CloneImage(context.Background(), parent, twin, backend.ImageOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}
