package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

func TestCreateVolumeIdempotent(t *testing.T) {
	e := newEnv(t)
	v1 := e.create(volReq("pvc-1", 5*mib+1))
	if v1.GetCapacityBytes() != 6*mib {
		t.Fatalf("capacity %d, want %d", v1.GetCapacityBytes(), 6*mib)
	}
	id, err := volid.Decode(v1.GetVolumeId())
	if err != nil || id.ClusterID != testCluster || id.LocationID != 1 {
		t.Fatalf("volume ID %q decodes to %+v, %v; want cluster %s, pool ID 1", v1.GetVolumeId(), id, err, testCluster)
	}
	v2 := e.create(volReq("pvc-1", 5*mib+1))
	if v2.GetVolumeId() != v1.GetVolumeId() || v2.GetCapacityBytes() != v1.GetCapacityBytes() {
		t.Fatalf("retry returned %v, want %v", v2, v1)
	}
	if n := e.be.Calls("CreateImage"); n != 1 {
		t.Errorf("CreateImage called %d times, want 1", n)
	}
	_, err = e.s.CreateVolume(context.Background(), volReq("pvc-1", 10*mib))
	wantCode(t, err, codes.AlreadyExists, "pvc-1")
	req := volReq("pvc-1", 5*mib+1)
	req.VolumeContentSource = csisource.Volume(v1.GetVolumeId())
	_, err = e.s.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.AlreadyExists, "content source")
	e.deleteVolume(v1.GetVolumeId())
	e.assertEmpty()
}

// A crash after the image was created but before its ID was recorded
// leaves a reservation without image ID: the retry adopts the image.
func TestCreateVolumeResumesAfterCrash(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sess, err := e.be.Connect(ctx, backend.Target{ClusterID: testCluster})
	if err != nil {
		t.Fatal(err)
	}
	store, err := sess.ObjectStore(ctx, backend.PoolRef{Pool: testPool})
	if err != nil {
		t.Fatal(err)
	}
	j := journal.New(store, journal.Options{Kind: journal.Volumes, Instance: "default"})
	rec, err := j.Reserve(ctx, journal.Reservation{RequestName: "pvc-crash", ImagePoolID: journal.SamePool})
	if err != nil {
		t.Fatal(err)
	}
	img := backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: rec.ImageName}
	if _, err := sess.CreateImage(ctx, img, backend.ImageOptions{Size: uint64(DefaultVolumeSize)}); err != nil {
		t.Fatal(err)
	}
	vol := e.create(volReq("pvc-crash", 0))
	if id, _ := volid.Decode(vol.GetVolumeId()); id.UUID != rec.UUID {
		t.Fatalf("retry created %s, want the reserved %s", id.UUID, rec.UUID)
	}
	if c := e.be.Contents(testCluster, testPool); len(c.Images) != 1 {
		t.Fatalf("images %v, want the adopted one only", c.Images)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// A reply lost after the cluster created the image: the request cannot
// tell its image from a twin's, so it leaves the image (and writes no
// record); the retry, which the CO makes for a retryable code, adopts it.
func TestCreateVolumeLostReplyRetryAdopts(t *testing.T) {
	e := newEnv(t)
	e.be.SetAfterHook(failOp("CreateImage", fmt.Errorf("reply lost: %w", backend.ErrUnavailable)))
	_, err := e.s.CreateVolume(context.Background(), volReq("pvc-lost", 0))
	wantCode(t, err, codes.Unavailable, "reply lost")
	e.be.SetAfterHook(nil)
	c := e.be.Contents(testCluster, testPool)
	if len(c.Images) != 1 || len(c.JournalObjects) != 0 {
		t.Fatalf("after the lost reply: %+v, want the image and no journal object", c)
	}
	vol := e.create(volReq("pvc-lost", 0))
	if img := vol.GetVolumeContext()["imageName"]; "/"+img != c.Images[0] {
		t.Fatalf("retry answered image %s, want the adopted %s", img, c.Images[0])
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// A twin in another process creates and reserves the volume while this
// request's create call fails: the failed request must not remove the
// twin's image or record, and the retry answers the twin's volume.
func TestCreateVolumeFailureSparesTwinsVolume(t *testing.T) {
	e := newEnv(t)
	raw := e.rawSession()
	var twinID string
	twinDone := false
	e.be.SetHook(func(op string) error {
		if op != "CreateImage" || twinDone {
			return nil // the twin's own calls, and everything else
		}
		twinDone = true
		twinID = e.makeTwinVolume(raw, "pvc-twin")
		return fmt.Errorf("connection reset: %w", backend.ErrUnavailable)
	})
	_, err := e.s.CreateVolume(context.Background(), volReq("pvc-twin", 0))
	wantCode(t, err, codes.Unavailable, "connection reset")
	e.be.SetHook(nil)
	vol := e.create(volReq("pvc-twin", 0))
	img := testImage(vol.GetVolumeContext()["imageName"])
	if got := e.imageIDOf(img); got != twinID {
		t.Fatalf("volume image ID %s, want the twin's %s", got, twinID)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// makeTwinVolume does what a twin's successful CreateVolume does: the image
// under the planned name, then the reservation naming it. It returns the
// image ID.
func (e *env) makeTwinVolume(raw backend.Session, name string) string {
	e.t.Helper()
	ctx := context.Background()
	store, err := raw.ObjectStore(ctx, backend.PoolRef{Pool: testPool})
	if err != nil {
		e.t.Fatal(err)
	}
	j := journal.New(store, journal.Options{Kind: journal.Volumes, Instance: "default"})
	r := journal.Reservation{RequestName: name, ImagePoolID: journal.SamePool}
	_, image := j.Planned(r)
	id, err := raw.CreateImage(ctx, testImage(image), backend.ImageOptions{Size: uint64(DefaultVolumeSize)})
	if err != nil {
		e.t.Fatal(err)
	}
	r.ImageID = id
	if _, err := j.Reserve(ctx, r); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestCreateVolumeFailureUndoesReservation(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code codes.Code
	}{
		{"cluster unavailable", fmt.Errorf("op: %w", backend.ErrUnavailable), codes.Unavailable},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded},
		{"refused feature", fmt.Errorf("create: %w", backend.ErrInvalid), codes.InvalidArgument},
		{"other", errors.New("boom"), codes.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.be.SetHook(func(op string) error {
				if op == "CreateImage" {
					return tc.err
				}
				return nil
			})
			_, err := e.s.CreateVolume(context.Background(), volReq("pvc-fail", 0))
			wantCode(t, err, tc.code)
			e.assertEmpty()
		})
	}
}

func TestConnectErrors(t *testing.T) {
	e := newEnv(t)
	e.be.SetHook(func(op string) error {
		if op == "Connect" {
			return fmt.Errorf("dial: %w", backend.ErrUnavailable)
		}
		return nil
	})
	_, err := e.s.CreateVolume(context.Background(), volReq("pvc-x", 0))
	wantCode(t, err, codes.Unavailable)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.be.SetHook(nil)
	_, err = e.s.CreateVolume(ctx, volReq("pvc-x", 0))
	wantCode(t, err, codes.Canceled)
}

func TestCreateVolumeContention(t *testing.T) {
	e := newEnv(t)
	entered, unblock := make(chan struct{}), make(chan struct{})
	var once sync.Once
	e.be.SetHook(func(op string) error {
		if op == "CreateImage" {
			first := false
			once.Do(func() { first = true; close(entered) })
			if first {
				<-unblock
			}
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		_, err := e.s.CreateVolume(context.Background(), volReq("pvc-slow", 0))
		done <- err
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("first CreateVolume did not reach the backend")
	}
	_, err := e.s.CreateVolume(context.Background(), volReq("pvc-slow", 0))
	wantCode(t, err, codes.Aborted, "pvc-slow")
	// Another name is not blocked.
	other := e.create(volReq("pvc-other", 0))
	close(unblock)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	vol := e.create(volReq("pvc-slow", 0))
	e.deleteVolume(vol.GetVolumeId())
	e.deleteVolume(other.GetVolumeId())
	e.assertEmpty()
}

// TestJournalPool: ceph-csi ignores a StorageClass journalPool for volumes
// (every release since v3.2): the directory entry and the record go to
// `pool`, the volume context names `pool` as journalPool, and a journal
// pool that does not exist is accepted.
func TestJournalPool(t *testing.T) {
	e := newEnv(t)
	for _, jp := range []string{jPool, "no-such-pool"} {
		req := volReq("pvc-jp", 0)
		req.Parameters["journalPool"] = jp
		vol := e.create(req)
		if got := vol.GetVolumeContext()["journalPool"]; got != testPool {
			t.Fatalf("journalPool %s: journalPool in context = %q, want %q", jp, got, testPool)
		}
		if c := e.be.Contents(testCluster, jPool); !c.Empty() {
			t.Fatalf("journalPool %s: journal pool holds %+v, want nothing", jp, c)
		}
		entry := wantDirEntry(t, e.objectStore(testPool), "pvc-jp")
		if entry != e.uuidOf(vol.GetVolumeId()) {
			t.Fatalf("directory entry %q, want the plain UUID %s", entry, e.uuidOf(vol.GetVolumeId()))
		}
		volKey := "csi.volume." + e.uuidOf(vol.GetVolumeId())
		wantJournalPool(t, e.objectStore(testPool), volKey, -1)
		if again := e.create(req); again.GetVolumeId() != vol.GetVolumeId() {
			t.Fatalf("retry gave another volume")
		}
		snap := e.snapshot("snap-jp", vol.GetVolumeId())
		wantJournalPool(t, e.objectStore(testPool), "csi.snap."+e.uuidOf(snap.GetSnapshotId()), -1)
		e.deleteSnapshot(snap.GetSnapshotId())
		e.deleteVolume(vol.GetVolumeId())
		e.assertEmpty()
	}
}

// TestJournalPoolOldLayout: a volume this driver made with journalPool
// before it followed ceph-csi (directory entry <pool ID>/<uuid> in the
// journal pool, record in the image pool with csi.journalpool, as a pool
// ID or, older still, a pool name) is found by a CreateVolume retry
// (journalPool still set), snapshotted into its journal pool and deleted
// from both pools.
func TestJournalPoolOldLayout(t *testing.T) {
	e := newEnv(t)
	req := volReq("pvc-jp", 0)
	vol := e.create(req)
	id := e.uuidOf(vol.GetVolumeId())
	volKey := "csi.volume." + id
	moveToJournalPool(t, e, testPool, jPool, id, false)
	// Records of older versions hold the pool name: still read, and
	// rewritten as the pool ID ceph-csi reads.
	if err := e.objectStore(testPool).UpdateOmap(context.Background(), volKey,
		map[string]string{"csi.journalpool": jPool}); err != nil {
		t.Fatal(err)
	}
	req.Parameters["journalPool"] = jPool
	again := e.create(req)
	if again.GetVolumeId() != vol.GetVolumeId() || again.GetVolumeContext()["journalPool"] != jPool {
		t.Fatalf("retry gave %s (journalPool %q), want %s in %s", again.GetVolumeId(),
			again.GetVolumeContext()["journalPool"], vol.GetVolumeId(), jPool)
	}
	if c := e.be.Contents(testCluster, testPool); len(c.JournalObjects) != 1 {
		t.Fatalf("image pool journal objects %v, want only the record (no second reservation)", c.JournalObjects)
	}
	// The same name in another image pool: AlreadyExists.
	req2 := volReq("pvc-jp", 0)
	req2.Parameters["journalPool"] = jPool
	req2.Parameters["pool"] = otherPool
	_, err := e.s.CreateVolume(context.Background(), req2)
	wantCode(t, err, codes.AlreadyExists, "another pool")
	// Its snapshots follow its journal pool, as ceph-csi's do; opening the
	// volume by ID rewrote its pool-name csi.journalpool.
	snap := e.snapshot("snap-jp", vol.GetVolumeId())
	wantJournalPool(t, e.objectStore(testPool), volKey, e.poolID(jPool))
	wantJournalPool(t, e.objectStore(testPool), "csi.snap."+e.uuidOf(snap.GetSnapshotId()), e.poolID(jPool))
	wantDirEntry(t, e.objectStore(jPool), "snap-jp")
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// moveToJournalPool rewrites the plain record of volume id in imgPool
// into a layout with its directory entry in jp: this driver's old
// journalPool layout (record in imgPool with csi.journalpool), or, split,
// ceph-csi's (empty UUID object in imgPool, its keys in the object of the
// same name in jp).
func moveToJournalPool(t *testing.T, e *env, imgPool, jp, id string, split bool) {
	t.Helper()
	ctx := context.Background()
	dir, key, uuidObject := "csi.volumes.default", "", "csi.volume."+id
	img, jstore := e.objectStore(imgPool), e.objectStore(jp)
	attrs, err := img.ListOmap(ctx, uuidObject, "")
	if err != nil {
		t.Fatal(err)
	}
	key = "csi.volume." + attrs["csi.volname"]
	if err := img.RemoveOmapKeys(ctx, dir, []string{key}); err != nil {
		t.Fatal(err)
	}
	if err := jstore.SetOmap(ctx, dir, map[string]string{key: fmt.Sprintf("%016x/%s", e.poolID(imgPool), id)}); err != nil {
		t.Fatal(err)
	}
	attrs["csi.journalpool"] = fmt.Sprintf("%016x", e.poolID(jp))
	if !split {
		if err := img.UpdateOmap(ctx, uuidObject, attrs); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err := img.Remove(ctx, uuidObject); err != nil {
		t.Fatal(err)
	}
	if err := img.CreateWithOmap(ctx, uuidObject, map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if err := jstore.CreateWithOmap(ctx, uuidObject, attrs); err != nil {
		t.Fatal(err)
	}
}

// wantDirEntry returns the volume or snapshot directory value of a request
// name in a pool (failing without one).
func wantDirEntry(t *testing.T, objects journal.ObjectStore, name string) string {
	t.Helper()
	dir, key := "csi.volumes.default", "csi.volume."+name
	if strings.HasPrefix(name, "snap-") {
		dir, key = "csi.snaps.default", "csi.snap."+name
	}
	vals, err := objects.GetOmapValues(context.Background(), dir, []string{key})
	if err != nil || vals[key] == "" {
		t.Fatalf("no directory entry %s in %s: %v, %v", key, dir, vals, err)
	}
	return vals[key]
}

func wantJournalPool(t *testing.T, objects journal.ObjectStore, obj string, poolID int64) {
	t.Helper()
	vals, err := objects.GetOmapValues(context.Background(), obj, []string{"csi.journalpool"})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%016x", poolID)
	if poolID < 0 {
		want = "" // none: a plain record
	}
	if vals["csi.journalpool"] != want {
		t.Fatalf("%s: csi.journalpool = %q, want %q", obj, vals["csi.journalpool"], want)
	}
}

func TestSetMetadata(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SetMetadata = true })
	req := volReq("pvc-md", 0)
	req.Parameters["csi.storage.k8s.io/pvc/name"] = "data"
	req.Parameters["csi.storage.k8s.io/pvc/namespace"] = "apps"
	req.Parameters["csi.storage.k8s.io/pv/name"] = "pvc-md"
	vol := e.create(req)
	md := e.be.ImageMetadata(testCluster, backend.ImageRef{
		PoolRef: backend.PoolRef{Pool: testPool}, Name: vol.GetVolumeContext()["imageName"]})
	if md["csi.storage.k8s.io/pvc/name"] != "data" || md["csi.storage.k8s.io/pvc/namespace"] != "apps" ||
		md["csi.storage.k8s.io/pv/name"] != "pvc-md" {
		t.Fatalf("metadata %v", md)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestCapabilitiesAdvertised(t *testing.T) {
	for _, withSecrets := range []bool{true, false} {
		e := newEnv(t, func(c *Config) {
			if !withSecrets {
				c.DefaultSecrets = nil
			}
		})
		resp, err := e.s.ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[csi.ControllerServiceCapability_RPC_Type]bool{}
		for _, c := range resp.GetCapabilities() {
			got[c.GetRpc().GetType()] = true
		}
		if got[csi.ControllerServiceCapability_RPC_GET_CAPACITY] != withSecrets {
			t.Errorf("GET_CAPACITY advertised = %v with secrets %v", !withSecrets, withSecrets)
		}
		if got[csi.ControllerServiceCapability_RPC_LIST_VOLUMES] != withSecrets || got[csi.ControllerServiceCapability_RPC_GET_VOLUME] != withSecrets {
			t.Errorf("LIST_VOLUMES/GET_VOLUME advertised = %v with secrets %v", !withSecrets, withSecrets)
		}
		if got[csi.ControllerServiceCapability_RPC_PUBLISH_UNPUBLISH_VOLUME] || got[csi.ControllerServiceCapability_RPC_LIST_VOLUMES_PUBLISHED_NODES] {
			t.Errorf("advertises unimplemented RPCs: %v", got)
		}
	}
}
