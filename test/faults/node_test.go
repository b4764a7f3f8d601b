package faults

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
)

// nodeWaitLimit bounds the waits of the node tests (a killed helper's
// mount reported dead, a deletion blocked by the dead client).
const nodeWaitLimit = time.Minute

// TestNodeFaults stages and publishes a volume of each driver through its
// FUSE helper, then kills the node plugin process (SIGKILL) and starts it
// again: the mount keeps working and the new process serves the volume.
// Then it kills the FUSE helper: NodeGetVolumeStats and
// NodeGetVolumeHealth report the volume abnormal, NodeUnpublishVolume and
// NodeUnstageVolume still succeed, and no mount, loop device or helper
// process is left behind.
func TestNodeFaults(t *testing.T) {
	c := requireCluster(t)
	for _, k := range []kind{rbdKind, cephfsKind} {
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			s := newSetup(t, c)
			n := newNodeVolume(t, s, k)
			n.restartPlugin(t)
			n.killHelper(t)
			n.unpublishAndUnstage(t)
			n.checkNothingLeft(t)
			n.fenceDeadHelper(t)
			n.deleteVolume(t)
			n.d.stop(t)
		})
	}
}

// fenceDeadHelper removes the killed helper's client from the cluster, as
// an operator or a fencing controller does for a dead node: otherwise its
// watch keeps the RBD image from deletion for 30 s, and its capabilities
// keep the subvolume removal waiting for the MDS session timeout (60 s).
func (n *nodeVolume) fenceDeadHelper(t *testing.T) {
	t.Helper()
	c := n.d.s.cluster
	vc := n.vol.GetVolumeContext()
	if n.d.name == "rbd" {
		var st struct{ Watchers []struct{ Address string } }
		out := cli(t, c, "rbd", "status", vc["pool"]+"/"+vc["imageName"], "--format", "json")
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("rbd status: %v: %q", err, out)
		}
		for _, w := range st.Watchers {
			cli(t, c, "ceph", "osd", "blocklist", "add", w.Address)
		}
		return
	}
	var sessions []struct {
		ID             int64 `json:"id"`
		ClientMetadata struct {
			MountPoint string `json:"mount_point"`
		} `json:"client_metadata"`
	}
	out := cli(t, c, "ceph", "tell", "mds."+fsName+":0", "client", "ls", "--format", "json")
	if err := json.Unmarshal([]byte(out), &sessions); err != nil {
		t.Fatalf("client ls: %v: %q", err, out)
	}
	for _, sess := range sessions {
		if strings.HasPrefix(sess.ClientMetadata.MountPoint, n.dir+"/") {
			cli(t, c, "ceph", "tell", "mds."+fsName+":0", "client", "evict", "id="+strconv.FormatInt(sess.ID, 10))
		}
	}
}

// nodeVolume is a volume staged and published by a driver process in all
// mode, everything of it below dir.
type nodeVolume struct {
	d       *driver
	dir     string
	vol     *csi.Volume
	vc      *csi.VolumeCapability
	staging string
	target  string
}

func newNodeVolume(t *testing.T, s *setup, k kind) *nodeVolume {
	t.Helper()
	// Short: rbd-fuse mount points and loop backing files live below it.
	dir, err := os.MkdirTemp("", "faults-node")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { forceCleanup(t, dir) })
	n := &nodeVolume{d: s.startAll(k, filepath.Join(dir, "state")), dir: dir, vc: mountRWO[0],
		staging: filepath.Join(dir, "staging"), target: filepath.Join(dir, "target")}
	ctx, cancel := withTimeout(time.Minute)
	defer cancel()
	if n.vol, err = n.d.createVolume(ctx, "faults-node-"+k.name); err != nil {
		t.Fatalf("CreateVolume: %v", err)
	}
	if _, err := n.d.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: n.vol.GetVolumeId(),
		StagingTargetPath: n.staging, VolumeCapability: n.vc, Secrets: n.d.secrets,
		VolumeContext: n.vol.GetVolumeContext()}); err != nil {
		t.Fatalf("NodeStageVolume: %v", err)
	}
	if _, err := n.d.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: n.vol.GetVolumeId(),
		StagingTargetPath: n.staging, TargetPath: n.target, VolumeCapability: n.vc,
		VolumeContext: n.vol.GetVolumeContext()}); err != nil {
		t.Fatalf("NodePublishVolume: %v", err)
	}
	writeFile(t, filepath.Join(n.target, "before"), "written before the restart")
	if pids := n.helpers(); len(pids) != 1 {
		t.Fatalf("FUSE helpers of the volume: %v, want one", pids)
	}
	return n
}

// restartPlugin kills the plugin process and starts it again on the same
// socket and state: the helper and the mounts live on, and the new process
// reports the volume healthy.
func (n *nodeVolume) restartPlugin(t *testing.T) {
	t.Helper()
	helpers := n.helpers()
	n.d.proc.Kill()
	readFile(t, filepath.Join(n.target, "before"), "written before the restart")
	writeFile(t, filepath.Join(n.target, "during"), "written while the plugin was down")
	n.d.start()
	if got := n.helpers(); len(got) != 1 || got[0] != helpers[0] {
		t.Fatalf("FUSE helpers after the plugin restart: %v, want %v", got, helpers)
	}
	ctx, cancel := withTimeout(time.Minute)
	defer cancel()
	if _, err := n.stats(ctx); err != nil {
		t.Fatalf("NodeGetVolumeStats after the plugin restart: %v", err)
	}
	if h := n.health(ctx, t); len(h) != 0 {
		t.Fatalf("health after the plugin restart: %v", h)
	}
	readFile(t, filepath.Join(n.target, "during"), "written while the plugin was down")
}

// killHelper kills the volume's FUSE helper and waits until the new plugin
// process reports the volume inaccessible; NodeGetVolumeStats must report
// it abnormal too.
func (n *nodeVolume) killHelper(t *testing.T) {
	t.Helper()
	for _, pid := range n.helpers() {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := withTimeout(nodeWaitLimit)
	defer cancel()
	for {
		h := n.health(ctx, t)
		if len(h) > 0 && h[0].GetStatus() == csi.VolumeHealthErrorType_INACCESSIBLE {
			t.Logf("health after the helper died: %s: %s", h[0].GetReason(), h[0].GetMessage())
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("health after the helper died: %v", h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, err := n.stats(ctx)
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("NodeGetVolumeStats of a volume whose helper died: %v, want FailedPrecondition", err)
	}
}

// unpublishAndUnstage tears the dead volume down through the plugin.
func (n *nodeVolume) unpublishAndUnstage(t *testing.T) {
	t.Helper()
	ctx, cancel := withTimeout(time.Minute)
	defer cancel()
	id := n.vol.GetVolumeId()
	if _, err := n.d.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: id, TargetPath: n.target}); err != nil {
		t.Fatalf("NodeUnpublishVolume of a volume whose helper died: %v", err)
	}
	if _, err := n.d.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: id, StagingTargetPath: n.staging}); err != nil {
		t.Fatalf("NodeUnstageVolume of a volume whose helper died: %v", err)
	}
}

// checkNothingLeft asserts that no mount, loop device or FUSE helper
// refers to the volume's directory any more.
func (n *nodeVolume) checkNothingLeft(t *testing.T) {
	t.Helper()
	if m := mountsBelow(t, n.dir); len(m) > 0 {
		t.Errorf("mounts left: %v", m)
	}
	if l := loopsBackedBelow(n.dir); len(l) > 0 {
		t.Errorf("loop devices left: %v", l)
	}
	if p := n.helpers(); len(p) > 0 {
		t.Errorf("FUSE helpers left: %v", p)
	}
}

// deleteVolume deletes the volume, retrying while the cluster still holds
// the dead helper's watch or capabilities.
func (n *nodeVolume) deleteVolume(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(nodeWaitLimit)
	for {
		ctx, cancel := withTimeout(clientDeadline)
		err := n.d.deleteVolume(ctx, n.vol.GetVolumeId())
		cancel()
		switch code := status.Code(err); {
		case err == nil:
			return
		case code != codes.FailedPrecondition && code != codes.DeadlineExceeded && code != codes.Aborted:
			t.Fatalf("DeleteVolume: %v", err)
		case time.Now().After(deadline):
			t.Fatalf("DeleteVolume still failing after %s: %v", nodeWaitLimit, err)
		}
		time.Sleep(time.Second)
	}
}

func (n *nodeVolume) stats(ctx context.Context) (*csi.NodeGetVolumeStatsResponse, error) {
	return n.d.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: n.vol.GetVolumeId(), VolumePath: n.target})
}

func (n *nodeVolume) health(ctx context.Context, t *testing.T) []*csi.VolumeHealth_VolumeHealthEntry {
	t.Helper()
	resp, err := n.d.node.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: n.vol.GetVolumeId(),
		VolumePublishPath: n.target, StagingTargetPath: n.staging})
	if err != nil {
		t.Fatalf("NodeGetVolumeHealth: %v", err)
	}
	return resp.GetVolumeHealth().GetHealthStatuses()
}

// helpers returns the PIDs of the rbd-fuse or ceph-fuse processes with an
// argument below the volume's directory.
func (n *nodeVolume) helpers() []int {
	var pids []int
	for pid, args := range driverproc.Cmdlines() {
		if name := filepath.Base(args[0]); name != "rbd-fuse" && name != "ceph-fuse" || isZombie(pid) {
			continue
		}
		for _, a := range args[1:] {
			if strings.HasPrefix(a, n.dir) {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func isZombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// forceCleanup removes what a failed test left below dir before deleting
// it (removing the tree through a live rbd-fuse mount would delete the
// image): helpers, mounts innermost first, loop devices.
func forceCleanup(t *testing.T, dir string) {
	n := &nodeVolume{dir: dir}
	for _, pid := range n.helpers() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	mounts := mountsBelow(t, dir)
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := syscall.Unmount(mounts[i], syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mounts[i], err)
		}
	}
	for _, l := range loopsBackedBelow(dir) {
		if out, err := exec.Command("losetup", "--detach", "/dev/"+strings.Fields(l)[0]).CombinedOutput(); err != nil {
			t.Errorf("losetup --detach %s: %v: %s", l, err, out)
		}
	}
	if m := mountsBelow(t, dir); len(m) > 0 {
		t.Errorf("not removing %s: still mounted: %v", dir, m)
		return
	}
	_ = os.RemoveAll(dir)
}

// mountsBelow lists the mount points at or below dir in
// /proc/self/mountinfo.
func mountsBelow(t *testing.T, dir string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// loopsBackedBelow lists the loop devices whose backing file is below dir
// (/sys/block/loop*/loop/backing_file).
func loopsBackedBelow(dir string) []string {
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), dir+"/") {
			out = append(out, filepath.Base(filepath.Dir(filepath.Dir(f)))+" "+strings.TrimSpace(string(b)))
		}
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatalf("write through the mount: %v", err)
	}
}

func readFile(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Fatalf("read %s = %q, %v; want %q", path, b, err, want)
	}
}
