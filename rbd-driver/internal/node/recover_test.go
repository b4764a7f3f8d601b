package node

import (
	"context"
	"errors"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// TestPublishRestagesADeadFuseStaging: rbd-fuse died with the previous
// plugin container. Publishing bind-mounts no dead device: without the
// healer's credentials, or while the broken staging is still published,
// it is FailedPrecondition; once the pods are gone it stages the volume
// again with the healer's credentials and publishes.
func TestPublishRestagesADeadFuseStaging(t *testing.T) {
	r := newRig(t)
	vc := mountCap("ext4", rwo)
	r.stage(vc)
	ctx := context.Background()
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "old-pod", false)); err != nil {
		t.Fatal(err)
	}
	r.att.mu.Lock()
	r.att.checkErr = errors.New("rbd-fuse process 1000 is not running")
	r.att.mu.Unlock()

	_, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "new-pod", false))
	checkCode(t, err, codes.FailedPrecondition, "DeviceUnavailable", "--node-secrets-dir")
	r.srv.healSecrets = func() (map[string]string, error) {
		return map[string]string{"userID": "healer", "userKey": testKey}, nil
	}
	_, err = r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "new-pod", false))
	checkCode(t, err, codes.FailedPrecondition, "still published", "old-pod")

	if _, err := r.srv.NodeUnpublishVolume(ctx, unpublishRequest(r, "old-pod")); err != nil {
		t.Fatal(err)
	}
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "new-pod", false)); err != nil {
		t.Fatalf("NodePublishVolume() after the pods left = %v", err)
	}
	attached, detached := r.att.counts()
	if attached != 2 || detached != 1 || r.att.requests[1].Creds.ID != "healer" {
		t.Fatalf("attached %d, detached %d; second attach as %q", attached, detached, r.att.requests[1].Creds.ID)
	}
	if rec := r.record(); !rec.Complete || rec.target(r.path("new-pod")) == nil || rec.FsType != "ext4" {
		t.Fatalf("record = %+v", rec)
	}
}

func unpublishRequest(r *rig, target string) *csi.NodeUnpublishVolumeRequest {
	return &csi.NodeUnpublishVolumeRequest{VolumeId: testVolume, TargetPath: r.path(target)}
}

func TestHealRestagesDeadFuseStagingsNothingIsPublishedFrom(t *testing.T) {
	r := newRig(t)
	vc := mountCap("ext4", rwo)
	r.stage(vc)
	ctx := context.Background()
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "pod", false)); err != nil {
		t.Fatal(err)
	}
	r.att.mu.Lock()
	r.att.checkErr = errors.New("rbd-fuse process 1000 is not running")
	r.att.mu.Unlock()
	r.srv.healSecrets = func() (map[string]string, error) {
		return map[string]string{"userID": "healer", "userKey": testKey}, nil
	}
	if n, err := r.srv.Heal(ctx); n != 0 || err != nil {
		t.Fatalf("Heal() with the broken staging still published = %d, %v; want 0", n, err)
	}
	if _, err := r.srv.NodeUnpublishVolume(ctx, unpublishRequest(r, "pod")); err != nil {
		t.Fatal(err)
	}
	if n, err := r.srv.Heal(ctx); n != 1 || err != nil {
		t.Fatalf("Heal() = %d, %v; want 1", n, err)
	}
	if attached, detached := r.att.counts(); attached != 2 || detached != 1 {
		t.Fatalf("attached %d, detached %d", attached, detached)
	}
	if n, _ := r.srv.Heal(ctx); n != 0 {
		t.Fatalf("Heal() of a healthy volume = %d", n)
	}
}
