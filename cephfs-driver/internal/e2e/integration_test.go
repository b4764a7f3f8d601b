package e2e

import (
	"context"
	"errors"
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
	vol := e.createVolume("rwx", 64*mib, nil, rwx)
	staging, a, b := e.path("staging"), e.path("a"), e.path("b")
	e.mustStage(vol, staging, rwx)
	e.mustStage(vol, staging, rwx) // idempotent
	e.mustPublish(vol, staging, a, rwx, false)
	e.mustPublish(vol, staging, a, rwx, false) // idempotent
	e.mustPublish(vol, staging, b, rwx, true)
	writeFile(t, filepath.Join(a, "hello"), "from a")
	readFile(t, filepath.Join(b, "hello"), "from a")
	if err := os.WriteFile(filepath.Join(b, "nope"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write through the read-only target: %v, want EROFS", err)
	}
	stats, err := e.node.NodeGetVolumeStats(e.ctx(), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: a})
	if err != nil {
		t.Fatal(err)
	}
	bytes, inodes := stats.GetUsage()[0], stats.GetUsage()[1]
	if bytes.GetTotal() != 64*mib || inodes.GetUsed() < 1 {
		t.Fatalf("stats %v: want the 64 MiB quota as total and at least one inode", stats)
	}
	health, err := e.node.NodeGetVolumeHealth(e.ctx(), &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId()})
	if err != nil || len(health.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("health of a healthy volume: %v, %v", health, err)
	}
	for range 2 {
		e.unpublish(vol, a)
		e.unpublish(vol, b)
	}
	if pids := host.FuseProcesses("/proc", staging); len(pids) != 1 {
		t.Fatalf("ceph-fuse daemons of %s: %v, want 1", staging, pids)
	}
	for range 2 {
		e.unstage(vol, staging)
	}
	if isMounted(t, staging) || isMounted(t, a) || len(host.FuseProcesses("/proc", staging)) > 0 {
		t.Fatal("mounts or ceph-fuse left after unstage")
	}
	if _, err := os.Stat(a); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("target path left: %v", err)
	}
	e.deleteVolume(vol.GetVolumeId())
}

// TestSingleWriter refuses a second publish of a single-writer volume.
func TestSingleWriter(t *testing.T) {
	e := newEnv(t)
	sw := mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER)
	vol := e.createVolume("sw", 16*mib, nil, sw)
	staging := e.path("staging")
	e.mustStage(vol, staging, sw)
	e.mustPublish(vol, staging, e.path("a"), sw, false)
	err := e.publish(vol, staging, e.path("b"), sw, false)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second publish of a single-writer volume: %v, want FailedPrecondition", err)
	}
	e.unpublish(vol, e.path("a"))
	e.unpublish(vol, e.path("b"))
	e.unstage(vol, staging)
	e.deleteVolume(vol.GetVolumeId())
}

// TestSnapshotAndClones: data written before a snapshot is in the clone
// from the snapshot and in a clone from the volume; the clone-from-volume's
// temporary snapshot is gone.
func TestSnapshotAndClones(t *testing.T) {
	e := newEnv(t)
	src := e.createVolume("src", 32*mib, nil, rwx)
	staging := e.path("src")
	e.mustStage(src, staging, rwx)
	writeFile(t, filepath.Join(staging, "data"), "before")
	snap := e.createSnapshot("snap", src.GetVolumeId())
	writeFile(t, filepath.Join(staging, "data"), "after")
	if snap.GetSizeBytes() != 32*mib || snap.GetSourceVolumeId() != src.GetVolumeId() || !snap.GetReadyToUse() {
		t.Fatalf("snapshot %v", snap)
	}
	fromSnap := e.createVolume("from-snap", 64*mib, snapshotSource(snap.GetSnapshotId()), rwx)
	fromVol := e.createVolume("from-vol", 32*mib, volumeSource(src.GetVolumeId()), rwx)
	for _, c := range []struct {
		vol  *csi.Volume
		want string
	}{{fromSnap, "before"}, {fromVol, "after"}} {
		e.checkClone(c.vol, c.want)
	}
	info, err := e.admin.SubvolumeInfo(context.Background(), e.subvolume(fromSnap))
	if err != nil || info.Quota != 64*mib {
		t.Fatalf("clone from snapshot resized to %+v, %v; want 64 MiB", info, err)
	}
	if snaps, _ := e.admin.ListSnapshots(context.Background(), e.subvolume(src)); !slices.Equal(snaps, []string{e.snapName(snap)}) {
		t.Fatalf("snapshots of the source: %v, want only %s (no temporary clone snapshot)", snaps, e.snapName(snap))
	}
	e.unstage(src, staging)
	e.deleteVolume(fromSnap.GetVolumeId())
	e.deleteVolume(fromVol.GetVolumeId())
	if err := e.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	e.deleteVolume(src.GetVolumeId())
}

// checkClone mounts a clone and reads the data file.
func (e *env) checkClone(vol *csi.Volume, want string) {
	e.t.Helper()
	staging := e.path(vol.GetVolumeContext()[volctx.SubvolumeName])
	e.mustStage(vol, staging, rwx)
	readFile(e.t, filepath.Join(staging, "data"), want)
	e.unstage(vol, staging)
}

func (e *env) subvolume(vol *csi.Volume) backend.SubvolumeRef {
	return backend.SubvolumeRef{FS: fsName, Group: e.group, Name: vol.GetVolumeContext()[volctx.SubvolumeName]}
}

// snapName returns the Ceph name of a CSI snapshot, from the journal.
func (e *env) snapName(snap *csi.Snapshot) string {
	e.t.Helper()
	names, err := e.admin.ListSubvolumes(context.Background(), fsName, e.group)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, n := range names {
		snaps, _ := e.admin.ListSnapshots(context.Background(), backend.SubvolumeRef{FS: fsName, Group: e.group, Name: n})
		for _, s := range snaps {
			if len(s) >= 36 && s[len(s)-36:] == snap.GetSnapshotId()[len(snap.GetSnapshotId())-36:] {
				return s
			}
		}
	}
	e.t.Fatalf("no Ceph snapshot for %s", snap.GetSnapshotId())
	return ""
}

// TestRetainedSnapshots deletes a volume that has snapshots: they stay
// usable, and the retained subvolume goes with the last of them.
func TestRetainedSnapshots(t *testing.T) {
	e := newEnv(t)
	src := e.createVolume("src", 16*mib, nil, rwx)
	staging := e.path("src")
	e.mustStage(src, staging, rwx)
	writeFile(t, filepath.Join(staging, "data"), "kept")
	e.unstage(src, staging)
	s1 := e.createSnapshot("s1", src.GetVolumeId())
	s2 := e.createSnapshot("s2", src.GetVolumeId())
	e.deleteVolume(src.GetVolumeId())
	info, err := e.admin.SubvolumeInfo(context.Background(), e.subvolume(src))
	if err != nil || info.State != backend.StateRetained {
		t.Fatalf("deleted volume with snapshots: %+v, %v; want state %s", info, err, backend.StateRetained)
	}
	clone := e.createVolume("clone", 16*mib, snapshotSource(s1.GetSnapshotId()), rwx)
	e.checkClone(clone, "kept")
	if err := e.deleteSnapshot(s1.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.SubvolumeInfo(context.Background(), e.subvolume(src)); err != nil {
		t.Fatalf("retained subvolume gone before its last snapshot: %v", err)
	}
	if err := e.deleteSnapshot(s2.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	// Ceph removes it at once, or when the purge of the deleted volume's
	// data finishes if that still runs.
	waitFor(t, func() bool {
		_, err := e.admin.SubvolumeInfo(context.Background(), e.subvolume(src))
		return errors.Is(err, backend.ErrNotFound)
	})
	e.deleteVolume(clone.GetVolumeId())
}

// TestShallowVolume mounts a read-only volume backed by a snapshot: no
// copy, the snapshot's content, read-only, and the snapshot cannot be
// deleted while the volume exists, even after its source volume is gone.
func TestShallowVolume(t *testing.T) {
	e := newEnv(t)
	src := e.createVolume("src", 16*mib, nil, rwx)
	srcStaging := e.path("src")
	e.mustStage(src, srcStaging, rwx)
	writeFile(t, filepath.Join(srcStaging, "data"), "snapshotted")
	snap := e.createSnapshot("snap", src.GetVolumeId())
	writeFile(t, filepath.Join(srcStaging, "data"), "changed")
	e.unstage(src, srcStaging)

	rox := mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	before, _ := e.admin.ListSubvolumes(context.Background(), fsName, e.group)
	shallow := e.createVolume("shallow", 16*mib, snapshotSource(snap.GetSnapshotId()), rox, volctx.BackingSnapshot, "true")
	if after, _ := e.admin.ListSubvolumes(context.Background(), fsName, e.group); len(after) != len(before) {
		t.Fatalf("a shallow volume created a subvolume: %v", after)
	}
	if err := e.deleteSnapshot(snap.GetSnapshotId()); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("DeleteSnapshot of a backing snapshot: %v, want FailedPrecondition", err)
	}
	e.deleteVolume(src.GetVolumeId()) // the snapshot is retained
	staging, target := e.path("shallow"), e.path("target")
	e.mustStage(shallow, staging, rox)
	e.mustPublish(shallow, staging, target, rox, false)
	readFile(t, filepath.Join(target, "data"), "snapshotted")
	if err := os.WriteFile(filepath.Join(target, "x"), nil, 0o644); err == nil {
		t.Fatal("wrote into a shallow volume")
	}
	e.unpublish(shallow, target)
	e.unstage(shallow, staging)
	if isMounted(t, staging) {
		t.Fatal("shallow staging path still mounted")
	}
	e.deleteVolume(shallow.GetVolumeId())
	if err := e.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
}

// TestExpand raises the quota of a staged volume: the mount sees it.
func TestExpand(t *testing.T) {
	e := newEnv(t)
	vol := e.createVolume("grow", 32*mib, nil, rwx)
	staging := e.path("staging")
	e.mustStage(vol, staging, rwx)
	if got := fsSize(t, staging); got != 32*mib {
		t.Fatalf("df size %d, want 32 MiB", got)
	}
	resp, err := e.ctrl.ControllerExpandVolume(e.ctx(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 96 * mib}, Secrets: e.adminSecrets()})
	if err != nil || resp.GetCapacityBytes() != 96*mib || resp.GetNodeExpansionRequired() {
		t.Fatalf("expand: %v, %v", resp, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for fsSize(t, staging) != 96*mib {
		if time.Now().After(deadline) {
			t.Fatalf("df size %d after the expansion, want 96 MiB", fsSize(t, staging))
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = e.ctrl.ControllerExpandVolume(e.ctx(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 32 * mib}, Secrets: e.adminSecrets()})
	if status.Code(err) != codes.OutOfRange {
		t.Fatalf("shrink: %v, want OutOfRange", err)
	}
	e.unstage(vol, staging)
	e.deleteVolume(vol.GetVolumeId())
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
	vol := e.createVolume("victim", 16*mib, nil, rwx)
	staging, target := e.path("staging"), e.path("target")
	e.mustStage(vol, staging, rwx)
	e.mustPublish(vol, staging, target, rwx, false)
	writeFile(t, filepath.Join(target, "data"), "survives")
	pids := host.FuseProcesses("/proc", staging)
	if len(pids) != 1 {
		t.Fatalf("ceph-fuse daemons: %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(staging); return errors.Is(err, syscall.ENOTCONN) })

	health, err := e.node.NodeGetVolumeHealth(e.ctx(), &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId()})
	if err != nil {
		t.Fatal(err)
	}
	st := health.GetVolumeHealth().GetHealthStatuses()
	if len(st) != 1 || st[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE || st[0].GetReason() != "MountTransportDisconnected" {
		t.Fatalf("health after the daemon died: %v", health)
	}
	_, err = e.node.NodeGetVolumeStats(e.ctx(), &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("stats of a dead mount: %v, want FailedPrecondition", err)
	}

	if err := e.stage(vol, staging, rwx); err != nil { // remounts
		t.Fatalf("NodeStageVolume on the dead mount: %v", err)
	}
	e.mustPublish(vol, staging, target, rwx, false) // binds again
	readFile(t, filepath.Join(target, "data"), "survives")
	health, err = e.node.NodeGetVolumeHealth(e.ctx(), &csi.NodeGetVolumeHealthRequest{VolumeId: vol.GetVolumeId(),
		VolumePublishPath: target, StagingTargetPath: staging})
	if err != nil || len(health.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("health after the remount: %v, %v", health, err)
	}
	e.unpublish(vol, target)
	e.unstage(vol, staging)
	// The killed client's capabilities keep the removal waiting until the
	// MDS times its session out (about a minute).
	e.deleteVolume(vol.GetVolumeId())
}

// TestNodePluginRestart restarts the node service while a volume is
// staged: the ceph-fuse daemon runs in its own session, so the mount keeps
// working, and the new plugin publishes and unstages it.
func TestNodePluginRestart(t *testing.T) {
	e := newEnv(t)
	vol := e.createVolume("restart", 16*mib, nil, rwx)
	staging, target := e.path("staging"), e.path("target")
	e.mustStage(vol, staging, rwx)
	pids := host.FuseProcesses("/proc", staging)
	if len(pids) != 1 {
		t.Fatalf("ceph-fuse daemons: %v", pids)
	}
	if sid, _ := unix.Getsid(pids[0]); sid == unix.Getpid() || sid == mustSid(t) {
		t.Fatalf("ceph-fuse runs in the plugin's session %d", sid)
	}
	e.restart()
	writeFile(t, filepath.Join(staging, "data"), "still here")
	e.mustPublish(vol, staging, target, rwx, false)
	readFile(t, filepath.Join(target, "data"), "still here")
	e.unpublish(vol, target)
	e.unstage(vol, staging)
	e.deleteVolume(vol.GetVolumeId())
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
