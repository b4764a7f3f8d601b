package controller

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const testBound = time.Minute

func partialEnv(t *testing.T) (*env, *clock) {
	clk := &clock{now: time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC)}
	e := newEnv(t, func(c *Config) { c.PartialBound = testBound; c.Now = clk.Now })
	return e, clk
}

// plannedImage returns the image name a request name plans: a volume is
// created and deleted once to learn it.
func (e *env) plannedImage(name string) (string, string) {
	e.t.Helper()
	v := e.create(volReq(name, 1<<20))
	e.deleteVolume(v.GetVolumeId())
	e.assertEmpty()
	return v.GetVolumeContext()["imageName"], v.GetVolumeId()
}

func (e *env) leavePartial(image string, p backend.PartialImage) {
	e.be.LeavePartial(testCluster, backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: image}, p)
}

// A create killed inside librbd left a directory entry without ID object
// or header: the retry answers Aborted until the bound has passed since
// the first sighting, then removes the pieces and creates the volume with
// the same ID.
func TestCreateVolumeReclaimsHalfMadeImageAfterBound(t *testing.T) {
	e, clk := partialEnv(t)
	image, id := e.plannedImage("pvc-half")
	e.leavePartial(image, backend.PartialImage{DirID: "dead01"})
	_, err := e.s.CreateVolume(context.Background(), volReq("pvc-half", 1<<20))
	wantCode(t, err, codes.Aborted, "half-made", image)
	clk.advance(testBound - time.Second)
	_, err = e.s.CreateVolume(context.Background(), volReq("pvc-half", 1<<20))
	wantCode(t, err, codes.Aborted, "half-made")
	clk.advance(time.Second)
	v := e.create(volReq("pvc-half", 1<<20))
	if v.GetVolumeId() != id {
		t.Errorf("volume ID %s, want the same ID %s", v.GetVolumeId(), id)
	}
	if p := e.be.Partials(testCluster, testPool); len(p) != 0 {
		t.Errorf("half-made images left: %v", p)
	}
	e.deleteVolume(v.GetVolumeId())
	e.assertEmpty()
}

// An ID object written longer ago than the bound proves that no live
// create can still be at work: the first retry reclaims.
func TestCreateVolumeReclaimsOldIDObjectAtOnce(t *testing.T) {
	e, clk := partialEnv(t)
	image, id := e.plannedImage("pvc-old")
	e.leavePartial(image, backend.PartialImage{DirID: "dead02", ObjectID: "dead02",
		ObjectTime: clk.Now().Add(-testBound - time.Second)})
	v := e.create(volReq("pvc-old", 1<<20))
	if v.GetVolumeId() != id {
		t.Errorf("volume ID %s, want %s", v.GetVolumeId(), id)
	}
	e.deleteVolume(v.GetVolumeId())
	e.assertEmpty()
}

// Pieces that change between two sightings belong to a create that is
// alive: the bound starts again.
func TestCreateVolumeHalfMadeBoundRestartsWhenPiecesChange(t *testing.T) {
	e, clk := partialEnv(t)
	image, _ := e.plannedImage("pvc-live")
	e.leavePartial(image, backend.PartialImage{DirID: "live01"})
	_, err := e.s.CreateVolume(context.Background(), volReq("pvc-live", 1<<20))
	wantCode(t, err, codes.Aborted, "half-made")
	clk.advance(testBound / 2)
	e.leavePartial(image, backend.PartialImage{DirID: "live01", ObjectID: "live01", ObjectTime: clk.Now()})
	_, err = e.s.CreateVolume(context.Background(), volReq("pvc-live", 1<<20))
	wantCode(t, err, codes.Aborted, "half-made")
	clk.advance(testBound / 2)
	_, err = e.s.CreateVolume(context.Background(), volReq("pvc-live", 1<<20))
	wantCode(t, err, codes.Aborted, "half-made")
	if n := e.be.Calls("RemovePartial"); n != 0 {
		t.Errorf("RemovePartial called %d times within the bound", n)
	}
	clk.advance(testBound / 2)
	v := e.create(volReq("pvc-live", 1<<20))
	e.deleteVolume(v.GetVolumeId())
	e.assertEmpty()
}

// A restore whose clone was killed inside librbd: the same reclaim.
func TestRestoreReclaimsHalfMadeClone(t *testing.T) {
	e, clk := partialEnv(t)
	src := e.create(volReq("pvc-src", 1<<20))
	snap := e.snapshot("snap-src", src.GetVolumeId())
	req := volReq("pvc-restore", 1<<20)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	first := e.create(req)
	e.deleteVolume(first.GetVolumeId())
	e.leavePartial(first.GetVolumeContext()["imageName"], backend.PartialImage{DirID: "dead03", ObjectID: "dead03",
		ObjectTime: clk.Now()})
	_, err := e.s.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.Aborted, "half-made")
	clk.advance(testBound)
	v := e.create(req)
	if v.GetVolumeId() != first.GetVolumeId() {
		t.Errorf("volume ID %s, want %s", v.GetVolumeId(), first.GetVolumeId())
	}
	e.deleteVolume(v.GetVolumeId())
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteVolume(src.GetVolumeId())
	e.assertEmpty()
}

// A restore killed inside librbd's clone after it created the child image
// and before it linked it to the snapshot left an image without parent
// under the planned name: the retry answers Aborted until the bound has
// passed since its creation, then removes it and clones again (same ID).
func TestRestoreReclaimsCloneWithoutParent(t *testing.T) {
	e, clk := partialEnv(t)
	e.be.SetClock(clk.Now)
	src := e.create(volReq("pvc-src", 1<<20))
	snap := e.snapshot("snap-src", src.GetVolumeId())
	req := volReq("pvc-cut", 1<<20)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	first := e.create(req)
	e.deleteVolume(first.GetVolumeId())
	e.waitPurges()
	e.be.RunTasks()
	img := imageOf(first)
	if _, err := e.rawSession().CreateImage(context.Background(), img, backend.ImageOptions{Size: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.Aborted, "no parent", img.Name)
	clk.advance(testBound)
	v := e.create(req)
	if v.GetVolumeId() != first.GetVolumeId() {
		t.Errorf("volume ID %s, want %s", v.GetVolumeId(), first.GetVolumeId())
	}
	if st, ok := e.be.Image(testCluster, img); !ok || st.Depth != 1 {
		t.Errorf("the restored image %s: %+v (exists %v), want a clone with its parent", img.Name, st, ok)
	}
	e.deleteVolume(v.GetVolumeId())
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteVolume(src.GetVolumeId())
	e.assertEmpty()
}
