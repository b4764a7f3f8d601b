package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

func imageOf(v *csi.Volume) backend.ImageRef {
	return backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: v.GetVolumeContext()["imageName"]}
}

func cloneReq(name, srcID string) *csi.CreateVolumeRequest {
	r := volReq(name, 0)
	r.VolumeContentSource = csisource.Volume(srcID)
	return r
}

func TestCloneVolume(t *testing.T) {
	e := newEnv(t)
	src := e.create(volReq("pvc-src", 32*mib))
	clone := e.create(cloneReq("pvc-clone", src.GetVolumeId()))
	if clone.GetCapacityBytes() != 32*mib || clone.GetContentSource().GetVolume().GetVolumeId() != src.GetVolumeId() {
		t.Fatalf("clone %v", clone)
	}
	if info, _ := e.be.Image(testCluster, imageOf(clone)); info.Depth != 1 {
		t.Fatalf("clone depth %d, want 1", info.Depth)
	}
	// The temporary snapshot is gone from the user namespace: deleting the
	// source trashes it instead of keeping a tomb.
	e.deleteVolume(src.GetVolumeId())
	if c := e.be.Contents(testCluster, testPool); len(c.Images) != 1 {
		t.Fatalf("images %v, want the clone only", c.Images)
	}
	again := e.create(cloneReq("pvc-clone", src.GetVolumeId()))
	if again.GetVolumeId() != clone.GetVolumeId() {
		t.Fatal("retry after the source was deleted returned another volume")
	}
	e.deleteVolume(clone.GetVolumeId())
	e.assertEmpty()
}

// With soft depth 2 and hard depth 3 (newEnv): the clone at depth 2 is
// queued for flattening; a clone that would reach depth 4 is refused with
// Aborted while its source is flattened, and succeeds once it is.
func TestCloneDepthLimits(t *testing.T) {
	e := newEnv(t)
	chain := []*csi.Volume{e.create(volReq("pvc-0", 0))}
	for i := 1; i <= 3; i++ {
		chain = append(chain, e.create(cloneReq(fmt.Sprintf("pvc-%d", i), chain[i-1].GetVolumeId())))
		info, _ := e.be.Image(testCluster, imageOf(chain[i]))
		if info.Depth != i {
			t.Fatalf("clone %d has depth %d", i, info.Depth)
		}
	}
	tasks := strings.Join(e.be.PendingTasks(), " ")
	if strings.Count(tasks, "flatten") != 2 {
		t.Fatalf("tasks %q, want flattens of the clones at depth 2 and 3", tasks)
	}
	_, err := e.s.CreateVolume(context.Background(), cloneReq("pvc-4", chain[3].GetVolumeId()))
	wantCode(t, err, codes.Aborted, "flatten")
	_, err = e.s.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: "deep", SourceVolumeId: chain[3].GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.Aborted, "flatten")
	e.be.RunTasks()
	deep := e.create(cloneReq("pvc-4", chain[3].GetVolumeId()))
	if info, _ := e.be.Image(testCluster, imageOf(deep)); info.Depth != 1 {
		t.Fatalf("clone of the flattened volume has depth %d, want 1", info.Depth)
	}
	for i := len(chain) - 1; i >= 0; i-- {
		e.deleteVolume(chain[i].GetVolumeId())
	}
	e.deleteVolume(deep.GetVolumeId())
	e.assertEmpty()
}

func TestCloneSourceErrors(t *testing.T) {
	e := newEnv(t)
	src := e.create(volReq("pvc-src", 0))
	missing := src.GetVolumeId()[:len(src.GetVolumeId())-1] + "0"
	if missing == src.GetVolumeId() {
		missing = src.GetVolumeId()[:len(src.GetVolumeId())-1] + "1"
	}
	_, err := e.s.CreateVolume(context.Background(), cloneReq("pvc-c", missing))
	wantCode(t, err, codes.NotFound, "volume_content_source.volume.volume_id")
	ro := cloneReq("pvc-ro", src.GetVolumeId())
	ro.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
	roVol := e.create(ro)
	vresp, err := e.s.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
		VolumeId: roVol.GetVolumeId(), VolumeCapabilities: ro.VolumeCapabilities, Secrets: secrets()})
	if err != nil || vresp.GetConfirmed() == nil {
		t.Fatalf("read-only-many clone not confirmed: %v %v", vresp, err)
	}
	// The source is locked while it is cloned.
	release, _ := e.s.locks.Acquire(lockKeyVolume(src.GetVolumeId()))
	_, err = e.s.CreateVolume(context.Background(), cloneReq("pvc-c2", src.GetVolumeId()))
	wantCode(t, err, codes.Aborted)
	release()
	e.deleteVolume(roVol.GetVolumeId())
	e.deleteVolume(src.GetVolumeId())
	e.assertEmpty()
}
