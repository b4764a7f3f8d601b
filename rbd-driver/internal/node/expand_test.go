package node

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		name string
		vc   *csi.VolumeCapability
		fs   string
		want []string
	}{
		{"ext4", mountCap("ext4", rwo), "ext4", []string{blkidCmd, "resize2fs " + fakeDevice}},
		{"xfs", mountCap("xfs", rwo), "xfs", []string{blkidCmd, "xfs_growfs -d STAGING"}},
		{"block", blockCap(rwo), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.stage(tt.vc)
			r.exec.Reset()
			r.exec.On("blkid", execx.Result{Stdout: "TYPE=" + tt.fs + "\n"})
			r.sizes[fakeDevice] = 2 << 30
			req := &csi.NodeExpandVolumeRequest{
				VolumeId: testVolume, VolumePath: r.path("staging"),
				CapacityRange: &csi.CapacityRange{RequiredBytes: 2 << 30},
			}
			resp, err := r.srv.NodeExpandVolume(context.Background(), req)
			if err != nil || resp.GetCapacityBytes() != 2<<30 {
				t.Fatalf("NodeExpandVolume() = %v, %v", resp, err)
			}
			for i, w := range tt.want {
				if w == "xfs_growfs -d STAGING" {
					tt.want[i] = "xfs_growfs -d " + r.path("staging")
				}
			}
			r.checkCommands(tt.want...)
			if len(r.att.resized) != 1 || r.att.resized[0] != 2<<30 {
				t.Fatalf("device resized with %v", r.att.resized)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	expand := func(volumeID, path string, cr *csi.CapacityRange) error {
		_, err := r.srv.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: volumeID, VolumePath: path, CapacityRange: cr})
		return err
	}
	checkCode(t, expand("", "/x", nil), codes.InvalidArgument, "volume_id")
	checkCode(t, expand("v", "", nil), codes.InvalidArgument, "volume_path")
	checkCode(t, expand("v", "/x", &csi.CapacityRange{RequiredBytes: 10, LimitBytes: 5}), codes.OutOfRange)
	_, err := r.srv.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: "v", VolumePath: "/x", VolumeCapability: &csi.VolumeCapability{}})
	checkCode(t, err, codes.InvalidArgument, "access_mode")
	checkCode(t, expand("unknown", r.path("staging"), nil), codes.NotFound, "not staged")

	r.stage(mountCap("", rwo))
	checkCode(t, expand(testVolume, r.path("missing"), nil), codes.NotFound, "does not exist")

	r.exec.On("resize2fs", execx.Result{ExitCode: 1, Stderr: "resize2fs: Permission denied to resize filesystem"})
	checkCode(t, expand(testVolume, r.path("staging"), nil), codes.FailedPrecondition, "CAP_SYS_RESOURCE", "unstage and stage")
	r.exec.On("resize2fs", execx.Result{ExitCode: 1, Stderr: "other"})
	checkCode(t, expand(testVolume, r.path("staging"), nil), codes.Internal, "other")
	r.att.resizeErr = errors.New("losetup failed")
	checkCode(t, expand(testVolume, r.path("staging"), nil), codes.Internal, "losetup failed")
	r.att.resizeErr = nil
	r.exec.On("resize2fs", execx.Result{})
	delete(r.sizes, fakeDevice)
	checkCode(t, expand(testVolume, r.path("staging"), nil), codes.Internal, "size")
}

func TestExpandReadOnlySkipsFilesystem(t *testing.T) {
	r := newRig(t)
	r.exec.On("blkid", execx.Result{Stdout: "TYPE=ext4\n"})
	r.stage(mountCap("", 3)) // SINGLE_NODE_READER_ONLY
	r.exec.Reset()
	_, err := r.srv.NodeExpandVolume(context.Background(), &csi.NodeExpandVolumeRequest{VolumeId: testVolume, VolumePath: r.path("staging")})
	if err != nil {
		t.Fatal(err)
	}
	r.checkCommands()
}

func TestStats(t *testing.T) {
	r := newRig(t)
	vc := mountCap("", rwo)
	r.stage(vc)
	ctx := context.Background()
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "t", false)); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{r.path("staging"), r.path("t")} {
		resp, err := r.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: testVolume, VolumePath: path})
		if err != nil {
			t.Fatalf("NodeGetVolumeStats(%s) = %v", path, err)
		}
		u := resp.GetUsage()
		if len(u) != 2 || u[0].GetUnit() != csi.VolumeUsage_BYTES || u[0].GetTotal() <= 0 || u[0].GetAvailable() > u[0].GetTotal() ||
			u[1].GetUnit() != csi.VolumeUsage_INODES || u[1].GetTotal() <= 0 {
			t.Fatalf("usage = %v", u)
		}
	}
	stats := func(volumeID, path string) error {
		_, err := r.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: volumeID, VolumePath: path})
		return err
	}
	checkCode(t, stats("", "p"), codes.InvalidArgument, "volume_id")
	checkCode(t, stats("v", ""), codes.InvalidArgument, "volume_path")
	checkCode(t, stats("unknown", "some/path"), codes.NotFound)
	checkCode(t, stats(testVolume, "some/path"), codes.NotFound, "neither staged nor published")
	r.att.checkErr = errors.New("image file: stat x: transport endpoint is not connected")
	for _, path := range []string{r.path("staging"), r.path("t")} {
		checkCode(t, stats(testVolume, path), codes.FailedPrecondition, reasonDeviceUnavailable, "transport endpoint is not connected")
	}
	r.att.checkErr = nil
	if err := os.Remove(r.path("t")); err != nil {
		t.Fatal(err)
	}
	checkCode(t, stats(testVolume, r.path("t")), codes.NotFound, "does not exist")
}

func TestStatsBlock(t *testing.T) {
	r := newRig(t)
	r.stage(blockCap(rwo))
	resp, err := r.srv.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: testVolume, VolumePath: r.path("staging")})
	if err != nil {
		t.Fatal(err)
	}
	if u := resp.GetUsage(); len(u) != 1 || u[0].GetTotal() != 1<<30 || u[0].GetUnit() != csi.VolumeUsage_BYTES {
		t.Fatalf("usage = %v", u)
	}
	delete(r.sizes, fakeDevice)
	_, err = r.srv.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: testVolume, VolumePath: r.path("staging")})
	checkCode(t, err, codes.Internal, "device size")
}

func TestVolumeHealth(t *testing.T) {
	r := newRig(t)
	vc := mountCap("", rwo)
	r.stage(vc)
	ctx := context.Background()
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "t", false)); err != nil {
		t.Fatal(err)
	}
	health := func(publishPath string) []string {
		t.Helper()
		resp, err := r.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{
			VolumeId: testVolume, VolumePublishPath: publishPath, StagingTargetPath: r.path("staging"),
		})
		if err != nil || resp.GetVolumeHealth().GetVolumeId() != testVolume {
			t.Fatalf("NodeGetVolumeHealth() = %v, %v", resp, err)
		}
		var out []string
		for _, e := range resp.GetVolumeHealth().GetHealthStatuses() {
			out = append(out, e.GetStatus().String()+" "+e.GetReason()+": "+e.GetMessage())
		}
		return out
	}
	if h := health(r.path("t")); len(h) != 0 {
		t.Fatalf("healthy volume reports %v", h)
	}
	r.att.checkErr = errors.New("image file: stat x: transport endpoint is not connected")
	if h := health(""); len(h) != 1 || h[0] != "INACCESSIBLE DeviceUnavailable: image file: stat x: transport endpoint is not connected" {
		t.Fatalf("health = %q", h)
	}
	r.att.checkErr = nil
	_ = r.mounter.Unmount(r.path("t"))
	if h := health(r.path("t")); len(h) != 1 || h[0] != "INACCESSIBLE NotMounted: the volume is not mounted at "+r.path("t") {
		t.Fatalf("health = %q", h)
	}
	_, err := r.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{})
	checkCode(t, err, codes.InvalidArgument, "volume_id")
	_, err = r.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "unknown"})
	checkCode(t, err, codes.NotFound)
	_, err = r.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: testVolume, StagingTargetPath: "/other"})
	checkCode(t, err, codes.NotFound)
}
