package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

func TestNewValidation(t *testing.T) {
	store := clusterconfig.NewStore("/nonexistent")
	for _, cfg := range []Config{
		{StateDir: "/s", ClusterConfig: store},
		{NodeID: "n", ClusterConfig: store},
		{NodeID: "n", StateDir: "/s"},
		{NodeID: "n", StateDir: "/s", ClusterConfig: store, MaxVolumesPerNode: -1},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if srv, err := New(Config{NodeID: "n", StateDir: "/s", ClusterConfig: store}); err != nil || srv.attachers == nil {
		t.Fatalf("New() with defaults = %v", err)
	}
}

func TestNodeGetInfoAndCapabilities(t *testing.T) {
	r := newRig(t)
	info, err := r.srv.NodeGetInfo(context.Background(), &csi.NodeGetInfoRequest{})
	if err != nil || info.GetNodeId() != "node-1" || info.GetMaxVolumesPerNode() != 16 ||
		info.GetAccessibleTopology().GetSegments()["topology.rbd.csi.ceph.com/zone"] != "z1" {
		t.Fatalf("NodeGetInfo() = %v, %v", info, err)
	}
	caps, err := r.srv.NodeGetCapabilities(context.Background(), &csi.NodeGetCapabilitiesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range caps.GetCapabilities() {
		got = append(got, c.GetRpc().GetType().String())
	}
	want := "STAGE_UNSTAGE_VOLUME EXPAND_VOLUME GET_VOLUME_STATS GET_VOLUME_HEALTH SINGLE_NODE_MULTI_WRITER"
	if strings.Join(got, " ") != want {
		t.Fatalf("capabilities = %v; want %s", got, want)
	}
	srv, _ := New(Config{NodeID: "n", StateDir: "/s", ClusterConfig: clusterconfig.NewStore("/x")})
	if info, _ := srv.NodeGetInfo(context.Background(), nil); info.GetAccessibleTopology() != nil || info.GetMaxVolumesPerNode() != 0 {
		t.Fatalf("NodeGetInfo() without topology = %v", info)
	}
}

func TestStageValidation(t *testing.T) {
	mod := func(f func(*csi.NodeStageVolumeRequest)) func(*csi.NodeStageVolumeRequest) { return f }
	tests := []struct {
		name   string
		change func(*csi.NodeStageVolumeRequest)
		code   codes.Code
		want   string
	}{
		{"no volume ID", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeId = "" }), codes.InvalidArgument, "volume_id"},
		{"no staging path", mod(func(r *csi.NodeStageVolumeRequest) { r.StagingTargetPath = "" }), codes.InvalidArgument, "staging_target_path"},
		{"no capability", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability = nil }), codes.InvalidArgument, "volume_capability"},
		{"no access mode", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability.AccessMode = nil }), codes.InvalidArgument, "access_mode"},
		{"no access type", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability.AccessType = nil }), codes.InvalidArgument, "access_type"},
		{"btrfs", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability = mountCap("btrfs", rwo) }), codes.InvalidArgument, "fs_type"},
		{"ext2", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability = mountCap("ext2", rwo) }), codes.InvalidArgument, "ext3"},
		{"RWX filesystem", mod(func(r *csi.NodeStageVolumeRequest) {
			r.VolumeCapability = mountCap("", csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
		}), codes.InvalidArgument, "only supported for block"},
		{"no secrets", mod(func(r *csi.NodeStageVolumeRequest) { r.Secrets = nil }), codes.InvalidArgument, "userID"},
		{"no key", mod(func(r *csi.NodeStageVolumeRequest) { delete(r.Secrets, "userKey") }), codes.InvalidArgument, "userKey"},
		{"no pool", mod(func(r *csi.NodeStageVolumeRequest) { delete(r.VolumeContext, volctx.Pool) }), codes.InvalidArgument, `volume_context["pool"]`},
		{"no image", mod(func(r *csi.NodeStageVolumeRequest) { delete(r.VolumeContext, volctx.ImageName) }), codes.InvalidArgument, "imageName"},
		{"no cluster", mod(func(r *csi.NodeStageVolumeRequest) { delete(r.VolumeContext, volctx.ClusterID) }), codes.InvalidArgument, "clusterID"},
		{"bad mounter", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[volctx.Mounter] = "ceph-fuse" }), codes.InvalidArgument, "mounter"},
		{"bad context fs", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[volctx.FsType] = "zfs" }), codes.InvalidArgument, "fstype"},
		{"encrypted by ceph-csi", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[volctx.Encrypted] = "true" }), codes.InvalidArgument, `volume_context["encrypted"]`},
		{"unknown cluster", mod(func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[volctx.ClusterID] = "other" }), codes.InvalidArgument, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			req := r.stageRequest(mountCap("", rwo))
			tt.change(req)
			_, err := r.srv.NodeStageVolume(context.Background(), req)
			checkCode(t, err, tt.code, tt.want)
			if strings.Contains(err.Error(), testKey) {
				t.Fatal("error contains the key")
			}
			if a, _ := r.att.counts(); a != 0 {
				t.Fatal("attached despite the invalid request")
			}
		})
	}
}

func TestStageExt4(t *testing.T) {
	r := newRig(t)
	req := r.stageRequest(mountCap("", rwo, "noatime"))
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatalf("NodeStageVolume() = %v", err)
	}
	r.checkCommands(blkidCmd, blkidCmd,
		"mkfs.ext4 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 -F -m0 "+fakeDevice)
	r.checkMounts(fakeDevice + " DIR/staging ext4 noatime,defaults")
	got := r.att.requests[0]
	want := host.Request{
		VolumeID: testVolume, Pool: "pool", Namespace: "ns-from-config", Image: "csi-vol-1",
		Monitors: "10.0.0.1:6789,10.0.0.2:6789", Creds: got.Creds, UnmapOptions: "force",
		WorkDir: r.srv.records.fuseWorkDir(testVolume),
	}
	if got != want || got.Creds.ID != "csi-user" || got.Creds.Key != testKey {
		t.Fatalf("attach request = %+v; want %+v", got, want)
	}
	rec := r.record()
	if !rec.Complete || rec.FsType != "ext4" || rec.Block || rec.Attachment.Device != fakeDevice ||
		rec.StagingPath != r.path("staging") || rec.Image != "csi-vol-1" || rec.Namespace != "ns-from-config" {
		t.Fatalf("record = %+v", rec)
	}
	b, _ := os.ReadFile(r.srv.records.volumeDir(testVolume) + "/stage.json")
	if strings.Contains(string(b), testKey) {
		t.Fatal("stage record contains the key")
	}
}

func TestStageXFSWithOptions(t *testing.T) {
	r := newRig(t)
	req := r.stageRequest(mountCap("xfs", rwo))
	req.VolumeContext[volctx.MkfsOptions] = "-m reflink=0  -i size=512"
	req.VolumeContext[volctx.RadosNamespace] = "ns1"
	req.VolumeContext[volctx.MapOptions] = "krbd:x"
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatalf("NodeStageVolume() = %v", err)
	}
	r.checkCommands(blkidCmd, "mkfs.xfs -m reflink=0 -i size=512 -f "+fakeDevice, blkidCmd, "xfs_growfs -d "+r.path("staging"))
	r.checkMounts(fakeDevice + " DIR/staging xfs nouuid,defaults")
	if got := r.att.requests[0]; got.Namespace != "ns1" || got.MapOptions != "krbd:x" {
		t.Fatalf("attach request = %+v", got)
	}
}

func TestStageExt3(t *testing.T) {
	r := newRig(t)
	r.stage(mountCap("ext3", rwo))
	r.checkCommands(blkidCmd, blkidCmd, "mkfs.ext3 -E nodiscard,lazy_itable_init=1,lazy_journal_init=1 -F -m0 "+fakeDevice)
	r.checkMounts(fakeDevice + " DIR/staging ext3 defaults")
}

func TestStageFsTypeFromContext(t *testing.T) {
	r := newRig(t)
	req := r.stageRequest(mountCap("", rwo))
	req.VolumeContext[volctx.FsType] = "xfs"
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if rec := r.record(); rec.FsType != "xfs" {
		t.Fatalf("fs type = %q; want the volume context's xfs", rec.FsType)
	}
}

func TestStageExistingExt4(t *testing.T) {
	tests := []struct {
		name    string
		fsBytes int64
		want    []string
	}{
		{"same size", 1 << 30, nil},
		{"smaller than the device", 512 << 20, []string{"e2fsck -f -p " + fakeDevice, "resize2fs " + fakeDevice}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.exec.On("blkid", execx.Result{Stdout: "TYPE=ext4\n"})
			r.exec.On("dumpe2fs", execx.Result{Stdout: fmt.Sprintf("Filesystem volume name:   <none>\nBlock count:              %d\nBlock size:               4096\n", tt.fsBytes/4096)})
			r.exec.On("e2fsck", execx.Result{ExitCode: 1}) // errors corrected
			r.stage(mountCap("ext4", rwo))
			want := append([]string{blkidCmd, "dumpe2fs -h " + fakeDevice}, tt.want...)
			r.checkCommands(append(want, blkidCmd, "fsck -a "+fakeDevice)...)
		})
	}
}

func TestStageReadOnly(t *testing.T) {
	r := newRig(t)
	r.exec.On("blkid", execx.Result{Stdout: "TYPE=ext4\n"})
	r.stage(mountCap("", csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY))
	r.checkCommands(blkidCmd)
	r.checkMounts(fakeDevice + " DIR/staging ext4 ro,defaults")
	if !r.att.requests[0].ReadOnly || !r.record().ReadOnly {
		t.Fatal("read-only access mode not passed on")
	}

	r = newRig(t) // unformatted: cannot be formatted read-only
	_, err := r.srv.NodeStageVolume(context.Background(), r.stageRequest(mountCap("", csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY)))
	checkCode(t, err, codes.FailedPrecondition, "no filesystem")
	if _, d := r.att.counts(); d != 1 || r.record() != nil {
		t.Fatal("failed staging not rolled back")
	}
}

func TestStageBlock(t *testing.T) {
	r := newRig(t)
	r.stage(blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER))
	r.checkCommands()
	r.checkMounts()
	if rec := r.record(); !rec.Block || !rec.Complete || rec.FsType != "" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestStageIdempotent(t *testing.T) {
	r := newRig(t)
	r.stage(mountCap("", rwo))
	r.stage(mountCap("", rwo))
	if a, d := r.att.counts(); a != 1 || d != 0 {
		t.Fatalf("attached %d, detached %d times; want 1, 0", a, d)
	}
	r.checkMounts(fakeDevice + " DIR/staging ext4 defaults")
}

func TestStageConflicts(t *testing.T) {
	tests := []struct {
		name   string
		change func(*rig, *csi.NodeStageVolumeRequest)
		code   codes.Code
		want   string
	}{
		{"other staging path", func(r *rig, req *csi.NodeStageVolumeRequest) { req.StagingTargetPath = r.path("other") },
			codes.FailedPrecondition, "already staged at"},
		{"block", func(_ *rig, req *csi.NodeStageVolumeRequest) { req.VolumeCapability = blockCap(rwo) },
			codes.AlreadyExists, "access type mount"},
		{"other filesystem", func(_ *rig, req *csi.NodeStageVolumeRequest) { req.VolumeCapability = mountCap("xfs", rwo) },
			codes.AlreadyExists, "filesystem ext4"},
		{"read-only", func(_ *rig, req *csi.NodeStageVolumeRequest) {
			req.VolumeCapability = mountCap("", csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY)
		}, codes.AlreadyExists, "read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.stage(mountCap("", rwo))
			req := r.stageRequest(mountCap("", rwo))
			tt.change(r, req)
			_, err := r.srv.NodeStageVolume(context.Background(), req)
			checkCode(t, err, tt.code, tt.want)
		})
	}
}

func TestStageRedoesBrokenStaging(t *testing.T) {
	for _, tt := range []struct {
		name    string
		breakIt func(*rig)
	}{
		{"helper died", func(r *rig) { r.att.checkErr = errors.New("rbd-fuse process 7 is not running") }},
		{"staging mount gone", func(r *rig) { _ = r.mounter.Unmount(r.path("staging")) }},
		{"interrupted", func(r *rig) {
			rec := r.record()
			rec.Complete, rec.FsType = false, "xfs" // whatever it was, it is redone
			if err := r.srv.records.save(rec); err != nil {
				r.t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			r.stage(mountCap("", rwo))
			tt.breakIt(r)
			r.stage(mountCap("", rwo))
			if a, d := r.att.counts(); a != 2 || d != 1 {
				t.Fatalf("attached %d, detached %d times; want 2, 1", a, d)
			}
			r.checkMounts(fakeDevice + " DIR/staging ext4 defaults")
			if !r.record().Complete {
				t.Fatal("record not complete")
			}
		})
	}
}

func TestStageFailuresRollBack(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*rig)
		code  codes.Code
		want  string
	}{
		{"image not found", func(r *rig) { r.att.attachErr = fmt.Errorf("x: %w", host.ErrImageNotFound) }, codes.NotFound, "pool/ns-from-config/csi-vol-1"},
		{"attach timeout", func(r *rig) { r.att.attachErr = context.DeadlineExceeded }, codes.DeadlineExceeded, "attaching"},
		{"attach fails", func(r *rig) { r.att.attachErr = errors.New("boom") }, codes.Internal, "boom"},
		{"mkfs fails", func(r *rig) { r.exec.On("mkfs", execx.Result{ExitCode: 1, Stderr: "bad"}) }, codes.Internal, "format"},
		{"staging path taken", func(r *rig) {
			_ = os.MkdirAll(r.path("staging"), 0o750)
			_ = r.mounter.Mount("/dev/other", r.path("staging"), "ext4", nil)
		}, codes.FailedPrecondition, "already a mount point"},
		{"state dir unwritable", func(r *rig) { _ = os.WriteFile(r.stateDir, nil, 0o600) }, codes.Internal, "stage record"},
		{"dumpe2fs fails", func(r *rig) {
			r.exec.On("blkid", execx.Result{Stdout: "TYPE=ext4\n"})
			r.exec.On("dumpe2fs", execx.Result{ExitCode: 1})
		}, codes.Internal, "dumpe2fs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t)
			tt.setup(r)
			_, err := r.srv.NodeStageVolume(context.Background(), r.stageRequest(mountCap("", rwo)))
			checkCode(t, err, tt.code, tt.want)
			a, d := r.att.counts()
			if r.att.attachErr == nil && d != a {
				t.Fatalf("attached %d, detached %d times", a, d)
			}
			if _, err := os.Stat(r.srv.records.volumeDir(testVolume)); tt.name != "state dir unwritable" && !os.IsNotExist(err) {
				t.Fatalf("state left behind: %v", err)
			}
			if tt.name == "staging path taken" {
				r.checkMounts("/dev/other DIR/staging ext4") // not ours: left alone
			} else {
				r.checkMounts()
			}
		})
	}
}

func TestLockContention(t *testing.T) {
	r := newRig(t)
	release, _ := r.srv.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeID, ID: testVolume})
	defer release()
	ctx := context.Background()
	_, err := r.srv.NodeStageVolume(ctx, r.stageRequest(mountCap("", rwo)))
	checkCode(t, err, codes.Aborted)
	_, err = r.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: r.path("staging")})
	checkCode(t, err, codes.Aborted)
	_, err = r.srv.NodePublishVolume(ctx, r.publishRequest(mountCap("", rwo), "t", false))
	checkCode(t, err, codes.Aborted)
	_, err = r.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: testVolume, TargetPath: r.path("t")})
	checkCode(t, err, codes.Aborted)
	_, err = r.srv.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: testVolume, VolumePath: r.path("t")})
	checkCode(t, err, codes.Aborted)
}
