package node

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/execx"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// devSystem is a host.System in which some device nodes exist.
type devSystem struct{ devices []string }

func (s *devSystem) Stat(path string) (os.FileInfo, error) {
	if slices.Contains(s.devices, path) {
		return os.Stat(os.DevNull)
	}
	return nil, &os.PathError{Op: "stat", Path: path, Err: syscall.ENOENT}
}
func (s *devSystem) ProcessAlive(int, string) bool         { return false }
func (s *devSystem) Signal(int, syscall.Signal) error      { return nil }
func (s *devSystem) Processes(string) ([]host.Proc, error) { return nil, nil }

// cephCSIStaging lays out what ceph-csi's NodeStageVolume leaves for a
// krbd- or rbd-nbd-mapped volume: STAGING/image-meta.json, and
// STAGING/VOLUME-ID, a directory with the filesystem mounted, or a file
// bind-mounted from the device.
func (r *rig) cephCSIStaging(dev string, nbd, block bool) string {
	r.t.Helper()
	staging := r.path("staging")
	if err := os.MkdirAll(staging, 0o750); err != nil {
		r.t.Fatal(err)
	}
	mnt := filepath.Join(staging, testVolume)
	var err error
	if block {
		err = os.WriteFile(mnt, nil, 0o600)
		r.mounter.MountPoints = append(r.mounter.MountPoints, mount.MountPoint{Device: "udev", Path: mnt, Type: "devtmpfs", Opts: []string{"rw"}})
	} else {
		err = os.Mkdir(mnt, 0o750)
		r.mounter.MountPoints = append(r.mounter.MountPoints, mount.MountPoint{Device: dev, Path: mnt, Type: "ext4", Opts: []string{"rw", "relatime"}})
	}
	if err != nil {
		r.t.Fatal(err)
	}
	device := ""
	if nbd {
		device = dev
	}
	meta := `{"Version":3,"pool":"pool","radosNamespace":"","image":"csi-vol-1","unmapOptions":"","accessType":` +
		map[bool]string{true: "true", false: "false"}[nbd] + `,"encrypted":false,"device":"` + device + `","logDir":"","logFileStrategy":""}`
	if err := os.WriteFile(filepath.Join(staging, cephCSIMetaName), []byte(meta), 0o600); err != nil {
		r.t.Fatal(err)
	}
	return staging
}

// withRealAttachers makes the server use the krbd/rbd-nbd attachers over
// the fake executor, with dev existing.
func (r *rig) withRealAttachers(dev string) {
	r.t.Helper()
	as, err := host.New(host.Config{Executor: r.exec, Mounter: r.mounter, System: &devSystem{devices: []string{dev}}})
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv.attachers = as
	r.srv.mappings = host.Finder{Executor: r.exec, System: &devSystem{}}.Find
}

func TestTakeoverCephCSIFilesystemKRBD(t *testing.T) {
	r := newRig(t)
	staging := r.cephCSIStaging("/dev/rbd3", false, false)
	r.withRealAttachers("/dev/rbd3")
	r.sizes["/dev/rbd3"] = 1 << 30
	r.exec.On("rbd device list", execx.Result{Stdout: `[{"id":"3","pool":"pool","namespace":"","name":"csi-vol-1","snap":"-","device":"/dev/rbd3"}]`})
	r.exec.On("blkid", execx.Result{Stdout: "DEVNAME=/dev/rbd3\nTYPE=ext4\n"})
	ctx := context.Background()

	// kubelet stages again after the takeover: nothing is mapped or mounted.
	req := r.stageRequest(mountCap("ext4", rwo))
	req.VolumeContext[volctx.Mounter] = volctx.MounterKRBD
	if _, err := r.srv.NodeStageVolume(ctx, req); err != nil {
		t.Fatalf("NodeStageVolume() of a volume ceph-csi staged = %v", err)
	}
	for _, line := range r.exec.CommandLines() {
		if strings.Contains(line, "map") && !strings.Contains(line, "list") {
			t.Fatalf("the staged volume was mapped again: %s", line)
		}
	}
	rec := r.record()
	if rec.Origin != originCephCSI || rec.Attachment.Device != "/dev/rbd3" || rec.MountPath != filepath.Join(staging, testVolume) ||
		rec.FsType != "ext4" || !rec.Complete || rec.ClusterID != testCluster {
		t.Fatalf("record = %+v", rec)
	}

	if _, err := r.srv.NodePublishVolume(ctx, r.publishRequest(mountCap("ext4", rwo), "target", false)); err != nil {
		t.Fatalf("NodePublishVolume() = %v", err)
	}
	r.checkMounts("/dev/rbd3 DIR/staging/"+testVolume+" ext4 rw,relatime", "/dev/rbd3 DIR/target  bind")

	stats, err := r.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: testVolume, VolumePath: r.path("target")})
	if err != nil || len(stats.GetUsage()) != 2 {
		t.Fatalf("NodeGetVolumeStats() = %v, %v", stats, err)
	}
	r.exec.Reset()
	exp, err := r.srv.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: testVolume, VolumePath: r.path("target")})
	if err != nil || exp.GetCapacityBytes() != 1<<30 {
		t.Fatalf("NodeExpandVolume() = %v, %v", exp, err)
	}
	if !slices.Contains(r.exec.CommandLines(), "resize2fs /dev/rbd3") {
		t.Fatalf("expand did not grow the filesystem on the device: %v", r.exec.CommandLines())
	}

	r.unpublishAndUnstage(staging)
}

// unpublishAndUnstage unpublishes "target" and unstages a volume taken
// over from ceph-csi, which must leave nothing behind.
func (r *rig) unpublishAndUnstage(staging string) {
	t, ctx := r.t, context.Background()
	t.Helper()
	if _, err := r.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: testVolume, TargetPath: r.path("target")}); err != nil {
		t.Fatal(err)
	}
	r.exec.Reset()
	if _, err := r.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: staging}); err != nil {
		t.Fatalf("NodeUnstageVolume() = %v", err)
	}
	r.checkCommands("rbd unmap /dev/rbd3 --device-type krbd --options noudev")
	r.checkMounts()
	for _, p := range []string{filepath.Join(staging, testVolume), filepath.Join(staging, cephCSIMetaName)} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatalf("%s left behind: %v", p, err)
		}
	}
	if rec := r.record(); rec != nil {
		t.Fatalf("record left behind: %+v", rec)
	}
}

func TestTakeoverCephCSIUnstageWithoutStage(t *testing.T) {
	// The plugin was replaced and kubelet unstages at once: the staging is
	// found from image-meta.json alone, the nbd device from it and from
	// rbd-nbd list-mapped.
	r := newRig(t)
	staging := r.cephCSIStaging("/dev/nbd2", true, true)
	r.withRealAttachers("/dev/nbd2")
	r.exec.On("rbd-nbd list-mapped", execx.Result{Stdout: `[{"id":9,"pool":"pool","namespace":"","image":"csi-vol-1","snap":"-","device":"/dev/nbd2"}]`})
	_, err := r.srv.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: staging})
	if err != nil {
		t.Fatalf("NodeUnstageVolume() = %v", err)
	}
	r.checkCommands("rbd device list --format json", "rbd-nbd list-mapped --format json", "rbd-nbd unmap /dev/nbd2")
	r.checkMounts()
	if entries, _ := os.ReadDir(staging); len(entries) != 0 {
		t.Fatalf("staging path still holds %v", entries)
	}
}

func TestTakeoverCephCSIBlockPublish(t *testing.T) {
	r := newRig(t)
	r.cephCSIStaging("/dev/rbd1", false, true)
	r.withRealAttachers("/dev/rbd1")
	r.exec.On("rbd device list", execx.Result{Stdout: `[{"id":"1","pool":"pool","namespace":"","name":"csi-vol-1","snap":"-","device":"/dev/rbd1"}]`})
	if _, err := r.srv.NodePublishVolume(context.Background(), r.publishRequest(blockCap(rwo), "dev", false)); err != nil {
		t.Fatalf("NodePublishVolume() = %v", err)
	}
	r.checkMounts("udev DIR/staging/"+testVolume+" devtmpfs rw", "/dev/rbd1 DIR/dev  bind")
	// Published again (kubelet after a restart): no second bind mount.
	if _, err := r.srv.NodePublishVolume(context.Background(), r.publishRequest(blockCap(rwo), "dev", false)); err != nil {
		t.Fatal(err)
	}
	if len(r.mounts()) != 2 {
		t.Fatalf("mounts = %v", r.mounts())
	}
}

func TestTakeoverRefusesEncrypted(t *testing.T) {
	r := newRig(t)
	staging := r.cephCSIStaging("/dev/rbd1", false, false)
	meta := filepath.Join(staging, cephCSIMetaName)
	b, _ := os.ReadFile(meta)
	_ = os.WriteFile(meta, []byte(strings.Replace(string(b), `"encrypted":false`, `"encrypted":true`, 1)), 0o600)
	_, err := r.srv.NodeUnstageVolume(context.Background(), &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: staging})
	checkCode(t, err, codes.FailedPrecondition, "encrypted", "drain")
}

func TestStageRefusesImageMappedElsewhereOnHost(t *testing.T) {
	r := newRig(t)
	r.mapped = []host.Mapping{{Mounter: volctx.MounterKRBD, Device: "/dev/rbd0"}, {Mounter: volctx.MounterFuse, Device: "/x/mnt", PID: 77}}
	_, err := r.srv.NodeStageVolume(context.Background(), r.stageRequest(mountCap("", rwo)))
	checkCode(t, err, codes.FailedPrecondition, "pool/ns-from-config/csi-vol-1", "krbd at /dev/rbd0", "fuse at /x/mnt (pid 77)")
	if a, _ := r.att.counts(); a != 0 {
		t.Fatalf("attached %d times", a)
	}
	if rec := r.record(); rec != nil {
		t.Fatalf("record left: %+v", rec)
	}
	// Its own leftover rbd-fuse (an interrupted attach) is not a conflict.
	r.mapped = []host.Mapping{{Mounter: volctx.MounterFuse, Device: host.FuseMountpoint(r.srv.records.fuseWorkDir(testVolume)), PID: 78}}
	r.stage(mountCap("", rwo))
}

func TestStageRefusesSingleNodeVolumeHeldByAnotherClient(t *testing.T) {
	r := newRig(t)
	r.held = []host.Holder{{Kind: "watcher", Client: "10.0.0.9:0/123", Detail: "client.4242"}}
	start := time.Now()
	_, err := r.srv.NodeStageVolume(context.Background(), r.stageRequest(mountCap("", rwo)))
	checkCode(t, err, codes.FailedPrecondition, "held by another client", "watcher 10.0.0.9:0/123 (client.4242)")
	if a, _ := r.att.counts(); a != 0 || time.Since(start) > 5*time.Second {
		t.Fatalf("attached %d times", a)
	}
	// A lock without a watcher is a dead client's: librbd breaks it.
	r.held = []host.Holder{{Kind: host.HolderLock, Client: "10.0.0.9:0/123", Detail: "lock"}}
	r.stage(mountCap("", rwo))
	r.unstage()
	r.held = []host.Holder{{Kind: "watcher", Client: "10.0.0.9:0/123", Detail: "client.4242"}}
	// A multi-node block volume may be held elsewhere.
	req := r.stageRequest(blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER))
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatalf("NodeStageVolume() of a multi-node volume = %v", err)
	}
}

func TestStageWaitsOutABriefHolder(t *testing.T) {
	r := newRig(t)
	calls := 0
	r.srv.holderWait = time.Minute
	r.srv.holders = func(context.Context, *host.Request) ([]host.Holder, error) {
		calls++
		if calls < 3 {
			return []host.Holder{{Kind: "watcher", Client: "c"}}, nil
		}
		return nil, nil
	}
	r.stage(mountCap("", rwo))
	if calls != 3 {
		t.Fatalf("holders checked %d times", calls)
	}
}

// A file named image-meta.json inside a workload's filesystem is not
// ceph-csi's metadata: only the staging path (or the parent of a mount of
// the same device) is looked at.
func TestTakeoverIgnoresMetadataInsideTheVolume(t *testing.T) {
	r := newRig(t)
	target := r.path("target")
	if err := os.MkdirAll(target, 0o750); err != nil {
		t.Fatal(err)
	}
	meta := `{"Version":3,"pool":"victim","image":"other-image","accessType":false}`
	if err := os.WriteFile(filepath.Join(target, cephCSIMetaName), []byte(meta), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := r.srv.NodeGetVolumeStats(context.Background(), &csi.NodeGetVolumeStatsRequest{VolumeId: testVolume, VolumePath: target})
	checkCode(t, err, codes.NotFound)
	if rec := r.record(); rec != nil {
		t.Fatalf("took over a staging from the volume's own files: %+v", rec)
	}
}
