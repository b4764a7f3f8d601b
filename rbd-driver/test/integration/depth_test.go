package integration

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
)

// Depth read while the mgr flattens the clone: the moment the flatten ends,
// the clone's parent link and the trashed snapshot it named disappear. A
// walk that read the link just before must not report the vanished
// snapshot as NotFound (CI once failed TestCloneDepthLimits that way); it
// answers the depth before or after the flatten.
func TestDepthWhileFlattening(t *testing.T) {
	r := newRig(t, 4, 8)
	src := r.create(r.ctrl, r.volReq("pvc-src", 64*mib))
	for off := int64(0); off < 64*mib; off += 4 * mib {
		r.write(src, off, "data")
	}
	sess := r.session()
	const rounds, readers = 4, 3
	for round := 0; round < rounds; round++ {
		req := r.volReq("pvc-clone", 64*mib)
		req.VolumeContentSource = csisource.Volume(src.GetVolumeId())
		clone := r.create(r.ctrl, req)
		ref := backend.ImageRef{PoolRef: backend.PoolRef{Pool: r.pool}, Name: image(clone)}
		if err := sess.QueueFlatten(ctx(t), ref); err != nil {
			t.Fatalf("queue flatten: %v", err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, readers)
		for i := 0; i < readers; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- readDepthUntilFlat(t, r, ref)
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		r.deleteVolume(clone.GetVolumeId())
	}
	r.deleteVolume(src.GetVolumeId())
}

// readDepthUntilFlat reads the clone's depth on a session of its own until
// it is 0; any error, or a depth other than 1 or 0, is returned.
func readDepthUntilFlat(t *testing.T, r *rig, ref backend.ImageRef) error {
	creds, _ := credentials.ForRBD(r.secrets)
	sess, err := cephrbd.New(r.cpool, cephrbd.Options{}).Connect(ctx(t),
		backend.Target{ClusterID: r.cl.FSID, Monitors: r.cl.Monitors, Creds: creds})
	if err != nil {
		return err
	}
	defer sess.Release()
	c, cancel := context.WithTimeout(context.Background(), flattenWait)
	defer cancel()
	for {
		depth, err := sess.Depth(c, ref, "")
		switch {
		case err != nil:
			return err
		case depth == 0:
			return nil
		case depth != 1:
			return fmt.Errorf("depth %d, want 1 or 0", depth)
		}
	}
}
