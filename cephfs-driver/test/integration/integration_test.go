package integration

import (
	"context"
	"errors"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
)

// TestFuseStagePublish stages a volume with ceph-fuse, publishes it at two
// targets (one read-only), writes through one and reads through the other,
// checks the stats, and tears everything down, each step twice.
func TestFuseStagePublish(t *testing.T) {
	e := newEnv(t)
	vol := e.CreateVolume("rwx", 64*rig.MiB, nil, rig.RWX)
	staging, a, b := e.Path("staging"), e.Path("a"), e.Path("b")
	e.MustStage(vol, staging, rig.RWX)
	e.MustStage(vol, staging, rig.RWX) // idempotent
	e.MustPublish(vol, staging, a, rig.RWX, false)
	e.MustPublish(vol, staging, a, rig.RWX, false) // idempotent
	e.MustPublish(vol, staging, b, rig.RWX, true)
	rig.WriteFile(t, filepath.Join(a, "hello"), "from a")
	rig.ReadFile(t, filepath.Join(b, "hello"), "from a")
	if err := os.WriteFile(filepath.Join(b, "nope"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write through the read-only target: %v, want EROFS", err)
	}
	stats, err := e.Node.NodeGetVolumeStats(e.Ctx(), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: a})
	if err != nil {
		t.Fatal(err)
	}
	bytes, inodes := stats.GetUsage()[0], stats.GetUsage()[1]
	if bytes.GetTotal() != 64*rig.MiB || inodes.GetUsed() < 1 {
		t.Fatalf("stats %v: want the 64 MiB quota as total and at least one inode", stats)
	}
	health, err := e.Node.NodeGetVolumeHealth(e.Ctx(), &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId()})
	if err != nil || len(health.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("health of a healthy volume: %v, %v", health, err)
	}
	for range 2 {
		e.Unpublish(vol, a)
		e.Unpublish(vol, b)
	}
	if pids := host.FuseProcesses("/proc", staging); len(pids) != 1 {
		t.Fatalf("ceph-fuse daemons of %s: %v, want 1", staging, pids)
	}
	for range 2 {
		e.Unstage(vol, staging)
	}
	if rig.IsMounted(t, staging) || rig.IsMounted(t, a) || len(host.FuseProcesses("/proc", staging)) > 0 {
		t.Fatal("mounts or ceph-fuse left after unstage")
	}
	if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target path left: %v", err)
	}
	e.DeleteVolume(vol.GetVolumeId())
}

// TestSingleWriter refuses a second publish of a single-writer volume.
func TestSingleWriter(t *testing.T) {
	e := newEnv(t)
	sw := rig.MountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER)
	vol := e.CreateVolume("sw", 16*rig.MiB, nil, sw)
	staging := e.Path("staging")
	e.MustStage(vol, staging, sw)
	e.MustPublish(vol, staging, e.Path("a"), sw, false)
	err := e.Publish(vol, staging, e.Path("b"), sw, false)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second publish of a single-writer volume: %v, want FailedPrecondition", err)
	}
	e.Unpublish(vol, e.Path("a"))
	e.Unpublish(vol, e.Path("b"))
	e.Unstage(vol, staging)
	e.DeleteVolume(vol.GetVolumeId())
}

// TestSnapshotAndClones: data written before a snapshot is in the clone
// from the snapshot and in a clone from the volume; the clone-from-volume's
// temporary snapshot is gone.
func TestSnapshotAndClones(t *testing.T) {
	e := newEnv(t)
	src := e.CreateVolume("src", 32*rig.MiB, nil, rig.RWX)
	staging := e.Path("src")
	e.MustStage(src, staging, rig.RWX)
	rig.WriteFile(t, filepath.Join(staging, "data"), "before")
	snap := e.CreateSnapshot("snap", src.GetVolumeId())
	rig.WriteFile(t, filepath.Join(staging, "data"), "after")
	if snap.GetSizeBytes() != 32*rig.MiB || snap.GetSourceVolumeId() != src.GetVolumeId() || !snap.GetReadyToUse() {
		t.Fatalf("snapshot %v", snap)
	}
	fromSnap := e.CreateVolume("from-snap", 64*rig.MiB, rig.SnapshotSource(snap.GetSnapshotId()), rig.RWX)
	fromVol := e.CreateVolume("from-vol", 32*rig.MiB, rig.VolumeSource(src.GetVolumeId()), rig.RWX)
	for _, c := range []struct {
		vol  *csi.Volume
		want string
	}{{fromSnap, "before"}, {fromVol, "after"}} {
		e.checkClone(c.vol, c.want)
	}
	info, err := e.Admin.SubvolumeInfo(context.Background(), e.subvolume(fromSnap))
	if err != nil || info.Quota != 64*rig.MiB {
		t.Fatalf("clone from snapshot resized to %+v, %v; want 64 MiB", info, err)
	}
	if snaps, _ := e.Admin.ListSnapshots(context.Background(), e.subvolume(src)); !slices.Equal(snaps, []string{e.snapName(snap)}) {
		t.Fatalf("snapshots of the source: %v, want only %s (no temporary clone snapshot)", snaps, e.snapName(snap))
	}
	e.Unstage(src, staging)
	e.DeleteVolume(fromSnap.GetVolumeId())
	e.DeleteVolume(fromVol.GetVolumeId())
	if err := e.DeleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	e.DeleteVolume(src.GetVolumeId())
}

// checkClone mounts a clone and reads the data file.
func (e *env) checkClone(vol *csi.Volume, want string) {
	e.T.Helper()
	staging := e.Path(vol.GetVolumeContext()[volctx.SubvolumeName])
	e.MustStage(vol, staging, rig.RWX)
	rig.ReadFile(e.T, filepath.Join(staging, "data"), want)
	e.Unstage(vol, staging)
}

func (e *env) subvolume(vol *csi.Volume) backend.SubvolumeRef {
	return backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: vol.GetVolumeContext()[volctx.SubvolumeName]}
}

// snapName returns the Ceph name of a CSI snapshot, from the journal.
func (e *env) snapName(snap *csi.Snapshot) string {
	e.T.Helper()
	names, err := e.Admin.ListSubvolumes(context.Background(), rig.FSName, e.Group)
	if err != nil {
		e.T.Fatal(err)
	}
	for _, n := range names {
		snaps, _ := e.Admin.ListSnapshots(context.Background(), backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: n})
		for _, s := range snaps {
			if len(s) >= 36 && s[len(s)-36:] == snap.GetSnapshotId()[len(snap.GetSnapshotId())-36:] {
				return s
			}
		}
	}
	e.T.Fatalf("no Ceph snapshot for %s", snap.GetSnapshotId())
	return ""
}

// TestRetainedSnapshots deletes a volume that has snapshots: they stay
// usable, and the retained subvolume goes with the last of them.
func TestRetainedSnapshots(t *testing.T) {
	e := newEnv(t)
	src := e.CreateVolume("src", 16*rig.MiB, nil, rig.RWX)
	staging := e.Path("src")
	e.MustStage(src, staging, rig.RWX)
	rig.WriteFile(t, filepath.Join(staging, "data"), "kept")
	e.Unstage(src, staging)
	s1 := e.CreateSnapshot("s1", src.GetVolumeId())
	s2 := e.CreateSnapshot("s2", src.GetVolumeId())
	e.DeleteVolume(src.GetVolumeId())
	info, err := e.Admin.SubvolumeInfo(context.Background(), e.subvolume(src))
	if err != nil || info.State != backend.StateRetained {
		t.Fatalf("deleted volume with snapshots: %+v, %v; want state %s", info, err, backend.StateRetained)
	}
	clone := e.CreateVolume("clone", 16*rig.MiB, rig.SnapshotSource(s1.GetSnapshotId()), rig.RWX)
	e.checkClone(clone, "kept")
	if err := e.DeleteSnapshot(s1.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Admin.SubvolumeInfo(context.Background(), e.subvolume(src)); err != nil {
		t.Fatalf("retained subvolume gone before its last snapshot: %v", err)
	}
	if err := e.DeleteSnapshot(s2.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	// Ceph removes it at once, or when the purge of the deleted volume's
	// data finishes if that still runs.
	waitFor(t, func() bool {
		_, err := e.Admin.SubvolumeInfo(context.Background(), e.subvolume(src))
		return errors.Is(err, backend.ErrNotFound)
	})
	e.DeleteVolume(clone.GetVolumeId())
}

// TestShallowVolume mounts a read-only volume backed by a snapshot: no
// copy, the snapshot's content, read-only, and the snapshot cannot be
// deleted while the volume exists, even after its source volume is gone.
func TestShallowVolume(t *testing.T) {
	e := newEnv(t)
	src := e.CreateVolume("src", 16*rig.MiB, nil, rig.RWX)
	srcStaging := e.Path("src")
	e.MustStage(src, srcStaging, rig.RWX)
	rig.WriteFile(t, filepath.Join(srcStaging, "data"), "snapshotted")
	snap := e.CreateSnapshot("snap", src.GetVolumeId())
	rig.WriteFile(t, filepath.Join(srcStaging, "data"), "changed")
	e.Unstage(src, srcStaging)

	rox := rig.MountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	before, _ := e.Admin.ListSubvolumes(context.Background(), rig.FSName, e.Group)
	shallow := e.CreateVolume("shallow", 16*rig.MiB, rig.SnapshotSource(snap.GetSnapshotId()), rox, volctx.BackingSnapshot, "true")
	if after, _ := e.Admin.ListSubvolumes(context.Background(), rig.FSName, e.Group); len(after) != len(before) {
		t.Fatalf("a shallow volume created a subvolume: %v", after)
	}
	if err := e.DeleteSnapshot(snap.GetSnapshotId()); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("DeleteSnapshot of a backing snapshot: %v, want FailedPrecondition", err)
	}
	e.DeleteVolume(src.GetVolumeId()) // the snapshot is retained
	staging, target := e.Path("shallow"), e.Path("target")
	e.MustStage(shallow, staging, rox)
	e.MustPublish(shallow, staging, target, rox, false)
	rig.ReadFile(t, filepath.Join(target, "data"), "snapshotted")
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
		t.Fatal("wrote into a shallow volume")
	}
	e.Unpublish(shallow, target)
	e.Unstage(shallow, staging)
	if rig.IsMounted(t, staging) {
		t.Fatal("shallow staging path still mounted")
	}
	e.DeleteVolume(shallow.GetVolumeId())
	if err := e.DeleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
}

// TestExpand raises the quota of a staged volume: the mount sees it.
func TestExpand(t *testing.T) {
	e := newEnv(t)
	vol := e.CreateVolume("grow", 32*rig.MiB, nil, rig.RWX)
	staging := e.Path("staging")
	e.MustStage(vol, staging, rig.RWX)
	if got := fsSize(t, staging); got != 32*rig.MiB {
		t.Fatalf("df size %d, want 32 MiB", got)
	}
	resp, err := e.Ctrl.ControllerExpandVolume(e.Ctx(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 96 * rig.MiB}, Secrets: e.AdminSecrets()})
	if err != nil || resp.GetCapacityBytes() != 96*rig.MiB || resp.GetNodeExpansionRequired() {
		t.Fatalf("expand: %v, %v", resp, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for fsSize(t, staging) != 96*rig.MiB {
		if time.Now().After(deadline) {
			t.Fatalf("df size %d after the expansion, want 96 MiB", fsSize(t, staging))
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = e.Ctrl.ControllerExpandVolume(e.Ctx(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 32 * rig.MiB}, Secrets: e.AdminSecrets()})
	if status.Code(err) != codes.OutOfRange {
		t.Fatalf("shrink: %v, want OutOfRange", err)
	}
	e.Unstage(vol, staging)
	e.DeleteVolume(vol.GetVolumeId())
}

func fsSize(t *testing.T, path string) int64 {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Blocks) * st.Bsize
}

// TestFuseDaemonKilled kills the ceph-fuse daemon of a staged and
// published volume: the node reports the volume inaccessible, and the next
// NodeStageVolume and NodePublishVolume mount it again.
func TestFuseDaemonKilled(t *testing.T) {
	e := newEnv(t)
	vol := e.CreateVolume("victim", 16*rig.MiB, nil, rig.RWX)
	staging, target := e.Path("staging"), e.Path("target")
	e.MustStage(vol, staging, rig.RWX)
	e.MustPublish(vol, staging, target, rig.RWX, false)
	rig.WriteFile(t, filepath.Join(target, "data"), "survives")
	pids := host.FuseProcesses("/proc", staging)
	if len(pids) != 1 {
		t.Fatalf("ceph-fuse daemons: %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(staging); return errors.Is(err, syscall.ENOTCONN) })

	health, err := e.Node.NodeGetVolumeHealth(e.Ctx(), &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	st := health.GetVolumeHealth().GetHealthStatuses()
	if len(st) != 1 || st[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE || st[0].GetReason() != "MountTransportDisconnected" {
		t.Fatalf("health after the daemon died: %v", health)
	}
	_, err = e.Node.NodeGetVolumeStats(e.Ctx(), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stats of a dead mount: %v, want FailedPrecondition", err)
	}

	if err := e.Stage(vol, staging, rig.RWX); err != nil { // remounts
		t.Fatalf("NodeStageVolume on the dead mount: %v", err)
	}
	e.MustPublish(vol, staging, target, rig.RWX, false) // binds again
	rig.ReadFile(t, filepath.Join(target, "data"), "survives")
	health, err = e.Node.NodeGetVolumeHealth(e.Ctx(), &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId(),
		VolumePublishPath: target, StagingTargetPath: staging})
	if err != nil || len(health.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("health after the remount: %v, %v", health, err)
	}
	e.Unpublish(vol, target)
	e.Unstage(vol, staging)
	// The killed client's capabilities keep the removal waiting until the
	// MDS times its session out (about a minute).
	e.DeleteVolume(vol.GetVolumeId())
}

// TestNodePluginRestart restarts the node service while a volume is
// staged: the ceph-fuse daemon runs in its own session, so the mount keeps
// working, and the new plugin publishes and unstages it.
func TestNodePluginRestart(t *testing.T) {
	e := newEnv(t)
	vol := e.CreateVolume("restart", 16*rig.MiB, nil, rig.RWX)
	staging, target := e.Path("staging"), e.Path("target")
	e.MustStage(vol, staging, rig.RWX)
	pids := host.FuseProcesses("/proc", staging)
	if len(pids) != 1 {
		t.Fatalf("ceph-fuse daemons: %v", pids)
	}
	if sid, _ := unix.Getsid(pids[0]); sid == unix.Getpid() || sid == mustSid(t) {
		t.Fatalf("ceph-fuse runs in the plugin's session %d", sid)
	}
	e.Restart()
	rig.WriteFile(t, filepath.Join(staging, "data"), "still here")
	e.MustPublish(vol, staging, target, rig.RWX, false)
	rig.ReadFile(t, filepath.Join(target, "data"), "still here")
	e.Unpublish(vol, target)
	e.Unstage(vol, staging)
	e.DeleteVolume(vol.GetVolumeId())
}

func mustSid(t *testing.T) int {
	sid, err := unix.Getsid(0)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in a minute")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
