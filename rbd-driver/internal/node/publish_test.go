package node

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

func TestPublishFilesystem(t *testing.T) {
	r := newRig(t)
	vc := mountCap("", rwo, "noatime")
	r.stage(vc)
	ctx := context.Background()
	for _, p := range []struct {
		target   string
		readOnly bool
	}{{"rw", false}, {"ro", true}, {"rw", false}} { // the last one repeats the first
		if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, p.target, p.readOnly)); err != nil {
			t.Fatalf("NodePublishVolume(%s) = %v", p.target, err)
		}
	}
	r.checkMounts(
		fakeDevice+" DIR/staging ext4 noatime,defaults",
		fakeDevice+" DIR/rw  bind,noatime",
		fakeDevice+" DIR/ro  bind,ro,noatime",
	)
	if fi, err := os.Stat(r.path("rw")); err != nil || !fi.IsDir() {
		t.Fatalf("target directory not created: %v", err)
	}
	rec := r.record()
	if len(rec.Targets) != 2 || rec.target(r.path("ro")) == nil || !rec.target(r.path("ro")).ReadOnly {
		t.Fatalf("targets = %+v", rec.Targets)
	}
	_, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "rw", true))
	checkCode(t, err, codes.AlreadyExists, "read-only = false")
}

func TestPublishReadOnlyAccessMode(t *testing.T) {
	r := newRig(t)
	vc := mountCap("", csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	r.exec.On("blkid", execxResult("TYPE=ext4\n"))
	r.stage(vc)
	if _, err := r.srv.NodePublishVolume(context.Background(), r.publishRequest(vc, "t", false)); err != nil {
		t.Fatal(err)
	}
	r.checkMounts(fakeDevice+" DIR/staging ext4 ro,defaults", fakeDevice+" DIR/t  bind,ro")
}

func TestPublishBlock(t *testing.T) {
	r := newRig(t)
	vc := blockCap(rwo)
	r.stage(vc)
	target := r.path("dev/volume")
	req := r.publishRequest(vc, "dev/volume", false)
	if _, err := r.srv.NodePublishVolume(context.Background(), req); err != nil {
		t.Fatalf("NodePublishVolume() = %v", err)
	}
	if fi, err := os.Stat(target); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("target file not created: %v", err)
	}
	r.checkMounts(fakeDevice + " DIR/dev/volume  bind")
	if _, err := r.srv.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: testVolume, TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("target file left: %v", err)
	}
	r.checkMounts()
}

func TestPublishErrors(t *testing.T) {
	r := newRig(t)
	vc := mountCap("", rwo)
	ctx := context.Background()
	for _, tt := range []struct {
		name   string
		change func(*csi.NodePublishVolumeRequest)
		code   codes.Code
		want   string
	}{
		{"no volume ID", func(q *csi.NodePublishVolumeRequest) { q.VolumeId = "" }, codes.InvalidArgument, "volume_id"},
		{"no staging path", func(q *csi.NodePublishVolumeRequest) { q.StagingTargetPath = "" }, codes.InvalidArgument, "staging_target_path"},
		{"no target", func(q *csi.NodePublishVolumeRequest) { q.TargetPath = "" }, codes.InvalidArgument, "target_path"},
		{"no capability", func(q *csi.NodePublishVolumeRequest) { q.VolumeCapability = nil }, codes.InvalidArgument, "volume_capability"},
		{"not staged", func(*csi.NodePublishVolumeRequest) {}, codes.FailedPrecondition, "not staged"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := r.publishRequest(vc, "t", false)
			tt.change(req)
			_, err := r.srv.NodePublishVolume(ctx, req)
			checkCode(t, err, tt.code, tt.want)
		})
	}
	r.stage(vc)
	req := r.publishRequest(vc, "t", false)
	req.StagingTargetPath = r.path("elsewhere")
	_, err := r.srv.NodePublishVolume(ctx, req)
	checkCode(t, err, codes.FailedPrecondition, "is staged at")
	_, err = r.srv.NodePublishVolume(ctx, r.publishRequest(blockCap(rwo), "t", false))
	checkCode(t, err, codes.InvalidArgument, "access type mount")
	if err := os.WriteFile(r.path("file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "file/sub", false))
	checkCode(t, err, codes.Internal, "creating target path")
	if len(r.record().Targets) != 0 {
		t.Fatal("failed publication recorded")
	}
}

func TestPublishSingleWriter(t *testing.T) {
	single := mountCap("", csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER)
	multi := mountCap("", csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER)
	ctx := context.Background()
	for _, tt := range []struct {
		name          string
		first, second *csi.VolumeCapability
		ok            bool
	}{
		{"single then another", single, single, false},
		{"multi then single", multi, single, false},
		{"single then multi", single, multi, false},
		{"multi twice", multi, multi, true},
		{"legacy single node writer twice", mountCap("", rwo), mountCap("", rwo), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.stage(tt.first)
			if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(tt.first, "a", false)); err != nil {
				t.Fatal(err)
			}
			if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(tt.first, "a", false)); err != nil {
				t.Fatalf("repeated publication = %v", err)
			}
			_, err := r.srv.NodePublishVolume(ctx, r.publishRequest(tt.second, "b", false))
			if tt.ok && err != nil {
				t.Fatalf("second publication = %v", err)
			}
			if !tt.ok {
				checkCode(t, err, codes.FailedPrecondition, "single-node-single-writer", r.path("a"))
			}
		})
	}
	// A publication that is gone no longer counts.
	r := newRig(t)
	r.stage(single)
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(single, "a", false)); err != nil {
		t.Fatal(err)
	}
	_ = r.mounter.Unmount(r.path("a"))
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(single, "b", false)); err != nil {
		t.Fatalf("publication after the first one vanished = %v", err)
	}
}

func TestUnpublish(t *testing.T) {
	r := newRig(t)
	vc := mountCap("", rwo)
	r.stage(vc)
	ctx := context.Background()
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "t", false)); err != nil {
		t.Fatal(err)
	}
	req := &csi.NodeUnpublishVolumeRequest{VolumeId: testVolume, TargetPath: r.path("t")}
	for range 2 {
		if _, err := r.srv.NodeUnpublishVolume(ctx, req); err != nil {
			t.Fatalf("NodeUnpublishVolume() = %v", err)
		}
	}
	if _, err := os.Stat(r.path("t")); !os.IsNotExist(err) {
		t.Fatalf("target left: %v", err)
	}
	r.checkMounts(fakeDevice + " DIR/staging ext4") // the fake mounter forgets options on unmount
	if len(r.record().Targets) != 0 {
		t.Fatal("publication still recorded")
	}
	unknown := &csi.NodeUnpublishVolumeRequest{VolumeId: "unknown", TargetPath: r.path("nothing")}
	if _, err := r.srv.NodeUnpublishVolume(ctx, unknown); err != nil {
		t.Fatalf("NodeUnpublishVolume(unknown) = %v", err)
	}
	_, err := r.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{TargetPath: "x"})
	checkCode(t, err, codes.InvalidArgument, "volume_id")
	_, err = r.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "x"})
	checkCode(t, err, codes.InvalidArgument, "target_path")

	// A target that cannot be removed (not empty, not mounted).
	if err := os.MkdirAll(r.path("full/x"), 0o750); err != nil {
		t.Fatal(err)
	}
	_, err = r.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: testVolume, TargetPath: r.path("full")})
	checkCode(t, err, codes.Internal, "full")
}

func TestUnstage(t *testing.T) {
	r := newRig(t)
	vc := mountCap("", rwo)
	r.stage(vc)
	ctx := context.Background()
	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(vc, "t", false)); err != nil {
		t.Fatal(err)
	}
	req := &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: r.path("staging")}
	_, err := r.srv.NodeUnstageVolume(ctx, req)
	checkCode(t, err, codes.FailedPrecondition, "still published", r.path("t"))
	if _, err := r.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: testVolume, TargetPath: r.path("t")}); err != nil {
		t.Fatal(err)
	}

	// After a restart: a new server over the same state directory.
	r.srv = r.newServer(r.srv.clusters)
	r.att.detachErr = errors.New("device busy")
	_, err = r.srv.NodeUnstageVolume(ctx, req)
	checkCode(t, err, codes.Internal, "device busy")
	if r.record() == nil {
		t.Fatal("record removed although detaching failed")
	}
	r.att.detachErr = nil
	for range 2 {
		if _, err := r.srv.NodeUnstageVolume(ctx, req); err != nil {
			t.Fatalf("NodeUnstageVolume() = %v", err)
		}
	}
	r.checkMounts()
	if d := r.att.detached; len(d) != 2 || d[1].Device != fakeDevice || d[1].UnmapOptions != "force" {
		t.Fatalf("detached %+v", d)
	}
	if _, err := os.Stat(r.srv.records.volumeDir(testVolume)); !os.IsNotExist(err) {
		t.Fatalf("state directory left: %v", err)
	}
	if _, err := os.Stat(r.path("staging")); err != nil {
		t.Fatalf("staging directory (the CO's) removed: %v", err)
	}
}

func TestUnstageNotStagedHere(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	_, err := r.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{StagingTargetPath: "x"})
	checkCode(t, err, codes.InvalidArgument, "volume_id")
	_, err = r.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "x"})
	checkCode(t, err, codes.InvalidArgument, "staging_target_path")
	if _, err := r.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "unknown", StagingTargetPath: "/x"}); err != nil {
		t.Fatalf("NodeUnstageVolume(unknown) = %v", err)
	}
	r.stage(mountCap("", rwo))
	if _, err := r.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: r.path("other")}); err != nil {
		t.Fatalf("NodeUnstageVolume(other path) = %v", err)
	}
	if r.record() == nil {
		t.Fatal("unstaging another path removed the staging")
	}
}

func TestUnstageBlock(t *testing.T) {
	r := newRig(t)
	r.stage(blockCap(rwo))
	req := &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: r.path("staging")}
	if _, err := r.srv.NodeUnstageVolume(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if _, d := r.att.counts(); d != 1 || r.record() != nil {
		t.Fatal("block volume not detached")
	}
}
