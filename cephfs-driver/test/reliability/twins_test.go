package reliability

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"
)

// twinCount is how many identical requests race; they are split between
// two driver processes, whose per-name locks know nothing of each other.
const twinCount = 32

// answer is one twin's response.
type answer struct {
	resp proto.Message
	err  error
}

// twinCall sends one request and returns its response.
type twinCall func(ctx context.Context, c csi.ControllerClient) (proto.Message, error)

// TestTwins races 32 identical CreateVolume calls, split between two
// driver processes on the same cluster and journal, then 32 DeleteVolume
// calls of the volume; the same with a snapshot, a clone of the snapshot
// and a clone of a volume. Every call answers success (the same answer for
// all) or Aborted, never anything else; the cluster then holds exactly one
// volume (or snapshot), and nothing after the deletes. The first round
// starts without the subvolume group, so the processes also race to
// create it.
func TestTwins(t *testing.T) {
	r := newRig(t)
	drivers := []*driver{r.start("a"), r.start("b")}
	empty := r.mustState()
	for round := range 2 {
		name := fmt.Sprintf("twin-%d", round)
		vol := r.twins(drivers, "CreateVolume", r.twinCreateVolume(name, volSize, nil)).(*csi.CreateVolumeResponse).GetVolume()
		r.waitState("after the twin creates", withVolume(t, empty, name, vol.GetVolumeId(), volSize))
		r.twins(drivers, "DeleteVolume", r.twinDeleteVolume(vol.GetVolumeId()))
		r.waitState("after the twin deletes", empty)
	}
	vol := r.must(drivers[0], "CreateVolume", r.createVolume("twin-source", volSize, nil))
	withVol := r.mustState()
	snap := r.twins(drivers, "CreateSnapshot", r.twinCreateSnapshot("twin-snap", vol)).(*csi.CreateSnapshotResponse).GetSnapshot()
	withSnap := withSnapshot(t, withVol, "twin-snap", snap.GetSnapshotId(), vol)
	r.waitState("after the twin snapshots", withSnap)
	for _, c := range []struct {
		name string
		src  *csi.VolumeContentSource
	}{{"twin-clone-snap", csisource.Snapshot(snap.GetSnapshotId())}, {"twin-clone-vol", csisource.Volume(vol)}} {
		clone := r.twins(drivers, "CreateVolume from "+c.name, r.twinCreateVolume(c.name, cloneSize, c.src)).(*csi.CreateVolumeResponse).GetVolume()
		r.waitState("after the twin clones", withVolume(t, withSnap, c.name, clone.GetVolumeId(), cloneSize))
		r.waitDetached(vol, snap.GetSnapshotId())
		r.twins(drivers, "DeleteVolume of "+c.name, r.twinDeleteVolume(clone.GetVolumeId()))
		r.waitState("after the twin clone deletes", withSnap)
	}
	r.twins(drivers, "DeleteSnapshot", r.twinDeleteSnapshot(snap.GetSnapshotId()))
	r.waitState("after the twin snapshot deletes", withVol)
	r.must(drivers[1], "DeleteVolume", r.deleteVolume(vol))
}

// twins sends twinCount copies of a request at once, alternating between
// the drivers, checks the answers and returns the common response. One
// more request after the race must give the same response.
func (r *rig) twins(drivers []*driver, what string, c twinCall) proto.Message {
	r.t.Helper()
	answers := make([]answer, twinCount)
	var wg sync.WaitGroup
	ready := make(chan struct{})
	for i := range answers {
		wg.Go(func() {
			ctx, cancel := callCtx()
			defer cancel()
			<-ready
			resp, err := c(ctx, drivers[i%len(drivers)].ctrl)
			answers[i] = answer{resp: resp, err: err}
		})
	}
	close(ready)
	wg.Wait()
	var common proto.Message
	succeeded := make([]int, len(drivers))
	for i, a := range answers {
		if a.err == nil {
			succeeded[i%len(drivers)]++
		}
		switch {
		case status.Code(a.err) == codes.Aborted:
		case a.err != nil:
			r.t.Errorf("%s twin %d (driver %d): %v, want success or Aborted", what, i, i%len(drivers), a.err)
		case common == nil:
			common = a.resp
		case !proto.Equal(common, a.resp):
			r.t.Errorf("%s twin %d answered\n%v\nanother twin\n%v", what, i, a.resp, common)
		}
	}
	r.t.Logf("%s: %d twins, successes per driver %v, the rest Aborted", what, twinCount, succeeded)
	if r.t.Failed() {
		r.t.FailNow()
	}
	if common == nil {
		r.t.Fatalf("%s: all %d twins were Aborted", what, twinCount)
	}
	ctx, cancel := callCtx()
	defer cancel()
	after, err := c(ctx, drivers[0].ctrl)
	if err != nil || !proto.Equal(after, common) {
		r.t.Fatalf("%s after the race: %v, %v; the twins answered %v", what, after, err, common)
	}
	return common
}

func (r *rig) twinCreateVolume(name string, size int64, src *csi.VolumeContentSource) twinCall {
	req := r.createVolumeRequest(name, size, src)
	return func(ctx context.Context, c csi.ControllerClient) (proto.Message, error) {
		return c.CreateVolume(ctx, req)
	}
}

func (r *rig) twinDeleteVolume(id string) twinCall {
	req := &csi.DeleteVolumeRequest{VolumeId: id, Secrets: r.secrets()}
	return func(ctx context.Context, c csi.ControllerClient) (proto.Message, error) {
		return c.DeleteVolume(ctx, req)
	}
}

// twinCreateSnapshot compares whole answers, creation_time included: the
// driver records Ceph's own snapshot time, the same for every twin.
func (r *rig) twinCreateSnapshot(name, volID string) twinCall {
	req := r.createSnapshotRequest(name, volID)
	return func(ctx context.Context, c csi.ControllerClient) (proto.Message, error) {
		return c.CreateSnapshot(ctx, req)
	}
}

func (r *rig) twinDeleteSnapshot(id string) twinCall {
	req := &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: r.secrets()}
	return func(ctx context.Context, c csi.ControllerClient) (proto.Message, error) {
		return c.DeleteSnapshot(ctx, req)
	}
}
