package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
)

// cephCSIMount is what ceph-csi's NodeStageVolume leaves for a kernel
// mount: the subvolume mounted directly on the staging path, no record of
// ours.
func (f *fixture) cephCSIMount(t *testing.T, root string) string {
	staging := filepath.Join(f.dir, "staging")
	if err := os.MkdirAll(staging, 0o750); err != nil {
		t.Fatal(err)
	}
	f.host.mu.Lock()
	f.host.next++
	f.host.mounts = append(f.host.mounts, host.MountPoint{ID: f.host.next, Device: "0:99", Root: "/", Path: staging,
		FSType: "ceph", Source: "10.0.0.1:6789:" + root})
	f.host.mu.Unlock()
	return staging
}

func TestTakeoverCephCSIKernelMount(t *testing.T) {
	f := newFixture(t)
	staging := f.cephCSIMount(t, "/volumes/csi/v/uuid")
	kernel := f.srv.cfg.Mounters[volctx.MounterKernel].(*fakeMounter)
	req := f.stageReq()
	req.VolumeContext[volctx.Mounter] = volctx.MounterKernel
	if _, err := f.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatalf("NodeStageVolume() over ceph-csi's mount = %v", err)
	}
	if len(kernel.calls)+len(f.fuse.calls) != 0 {
		t.Fatalf("mounted a second time: %+v %+v", kernel.calls, f.fuse.calls)
	}
	pub := f.publishReq("target", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	if _, err := f.srv.NodePublishVolume(context.Background(), pub); err != nil {
		t.Fatalf("NodePublishVolume() = %v", err)
	}
	if _, err := f.srv.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: "vol-1", VolumePath: pub.GetTargetPath()}); err != nil {
		t.Fatalf("NodeGetVolumeStats() = %v", err)
	}
	if _, err := f.srv.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: "vol-1", TargetPath: pub.GetTargetPath()}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.srv.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: "vol-1", StagingTargetPath: staging}); err != nil {
		t.Fatal(err)
	}
	if mounts, _ := f.host.Mounts(); len(mounts) != 0 {
		t.Fatalf("mounts left: %+v", mounts)
	}
}

func TestStageRefusesAnotherDirectoryMountedAtStaging(t *testing.T) {
	f := newFixture(t)
	f.cephCSIMount(t, "/volumes/csi/other/uuid2")
	_, err := f.srv.NodeStageVolume(context.Background(), f.stageReq())
	wantCode(t, err, codes.FailedPrecondition, "/volumes/csi/other/uuid2", "/volumes/csi/v/uuid")
	if len(f.fuse.calls) != 0 {
		t.Fatalf("mounted over it: %+v", f.fuse.calls)
	}
}
