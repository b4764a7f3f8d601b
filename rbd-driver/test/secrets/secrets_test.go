// Package secrets checks that the RBD driver never reveals a Ceph key: it
// runs the driver binary in all mode with debug logging and the fuse
// mounter through a whole volume lifecycle with a Ceph user of its own,
// and looks for that user's key in the driver's log after every step, in
// the argument lists and environments of every process while the volume is
// staged (rbd-fuse runs then), and in every file left on disk at the end.
package secrets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/attach/rbdtest"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/secretscan"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// testPool is this package's pool, removed after the tests.
const testPool = "csi-rbd-secrets"

const mib = int64(1) << 20

func TestMain(m *testing.M) { os.Exit(rbdtest.RemovePoolAfter(m, testPool)) }

// lifecycle is one run of the driver and what the scans need.
type lifecycle struct {
	t       *testing.T
	cluster *testcluster.Cluster
	proc    *driverproc.Proc
	ctrl    csi.ControllerClient
	node    csi.NodeClient
	user    string
	key     string
	params  map[string]string
	work    string // staging and target paths
	state   string // the driver's --state-dir
	since   time.Time
	// logged counts the log lines seen, to show the scans read something.
	logged int
}

// newUser creates a Ceph user that may use only pool, and returns its ID
// and key; the user is removed when the test ends.
func newUser(t *testing.T, c *testcluster.Cluster, pool string) (string, string) {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	id := "csi-secrets-" + hex.EncodeToString(b)
	key := ceph(t, c, "auth", "get-or-create-key", "client."+id, "mon", "profile rbd",
		"osd", "profile rbd pool="+pool, "mgr", "profile rbd pool="+pool)
	t.Cleanup(func() {
		ceph(t, c, "auth", "rm", "client."+id)
		_ = os.Remove("/var/log/ceph/ceph-client." + id + ".log") // the fuse helper's, once scanned
	})
	return id, strings.TrimSpace(key)
}

func ceph(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	out, err := exec.Command("ceph", append([]string{"--conf", c.ConfPath}, args...)...).Output()
	if err != nil {
		t.Fatalf("ceph %s: %v", strings.Join(args[:2], " "), err)
	}
	return string(out)
}

func newLifecycle(t *testing.T) *lifecycle {
	c := testcluster.Get(t)
	rbdtest.RequireRoot(t)
	rbdtest.EnsurePool(t, c, testPool)
	l := &lifecycle{t: t, cluster: c, since: time.Now(), work: t.TempDir(), state: t.TempDir()}
	l.user, l.key = newUser(t, c, testPool)
	if l.key == c.AdminKey || !strings.HasPrefix(l.key, "AQ") {
		t.Fatalf("the test user's key %q is not a key of its own", l.key)
	}
	t.Cleanup(func() {
		for _, dir := range []string{l.work, l.state} {
			if leaks := rbdtest.Leaks(dir); len(leaks) > 0 {
				t.Errorf("leaked: %q", leaks)
				rbdtest.ForceCleanup(dir)
			}
		}
	})
	bin := driverproc.Binary(t, "RBD_DRIVER_BINARY", "../..", "./cmd/rbd-driver", "pacific")
	l.proc = driverproc.Start(t, driverproc.Options{Binary: bin, Args: []string{
		"--mode=all", "--node-id=secrets-node", "--cluster-config=" + c.CSIConfig, "--instance-id=secrets",
		"--state-dir=" + l.state, "--log-level=debug",
	}})
	conn := l.proc.Conn(t)
	l.ctrl, l.node = csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	l.params = map[string]string{"clusterID": c.FSID, "pool": testPool, "mounter": "fuse"}
	return l
}

func (l *lifecycle) secrets() map[string]string {
	return map[string]string{"userID": l.user, "userKey": l.key}
}

// step runs one RPC, fails the test on error and scans the log.
func step[R proto.Message](l *lifecycle, name string, call func(ctx context.Context) (R, error)) R {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := call(ctx)
	if err != nil {
		l.t.Fatalf("%s: %v\n%s", name, err, l.proc.Log())
	}
	l.scanLog(name)
	return resp
}

// scanLog fails the test if the driver's log holds the key, and checks
// that the step was logged at debug level.
func (l *lifecycle) scanLog(after string) {
	l.t.Helper()
	log := l.proc.Log()
	if hits := secretscan.Lines(log, l.key); len(hits) > 0 {
		l.t.Fatalf("after %s the driver's log holds the key:\n%s", after, strings.Join(hits, "\n"))
	}
	lines := strings.Count(log, "\n")
	if lines <= l.logged || !strings.Contains(log, `"level":"debug"`) {
		l.t.Fatalf("after %s the log did not grow with debug lines (%d lines)", after, lines)
	}
	l.logged = lines
}

// scanProcesses fails the test if any process shows the key in its
// arguments or environment, and unless the volume's rbd-fuse helper is
// among the processes looked at.
func (l *lifecycle) scanProcesses(image string) {
	l.t.Helper()
	cmdlines := driverproc.Cmdlines()
	if pids := secretscan.Processes(cmdlines, l.key); len(pids) > 0 {
		for _, pid := range pids {
			l.t.Errorf("process %d shows the key: %q", pid, cmdlines[pid])
		}
		l.t.FailNow()
	}
	helper := func(args []string) bool {
		return len(args) > 0 && filepath.Base(args[0]) == "rbd-fuse" && slices.Contains(args, image)
	}
	found := false
	for _, args := range cmdlines {
		found = found || helper(args)
	}
	if !found {
		l.t.Fatalf("no rbd-fuse process serves %s: the process scan saw nothing of the driver's", image)
	}
}

// scanFiles fails the test if a file under roots written during the test
// holds the key, and unless at least min files were read.
func (l *lifecycle) scanFiles(when string, min int, roots ...string) {
	l.t.Helper()
	r, err := secretscan.Files(roots, l.since, l.key)
	switch {
	case err != nil:
		l.t.Fatal(err)
	case len(r.Hits) > 0:
		l.t.Fatalf("%s these files hold the key: %v", when, r.Hits)
	case r.Read < min:
		l.t.Fatalf("%s only %d files were read under %v, want at least %d", when, r.Read, roots, min)
	}
	l.t.Logf("%s: none of the %d files written under %v since the test began holds the key", when, r.Read, roots)
}

func mountCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func (l *lifecycle) create(name string, src *csi.VolumeContentSource) *csi.Volume {
	return step(l, "CreateVolume "+name, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
		return l.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
			VolumeCapabilities: []*csi.VolumeCapability{mountCap()}, Parameters: l.params, Secrets: l.secrets(),
			VolumeContentSource: src})
	}).GetVolume()
}

func (l *lifecycle) deleteVolume(v *csi.Volume) {
	step(l, "DeleteVolume", func(ctx context.Context) (*csi.DeleteVolumeResponse, error) {
		return l.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId(), Secrets: l.secrets()})
	})
}

// TestKeyNeverRevealed runs create, stage, publish, write, snapshot,
// restore, clone, expand, stats, unpublish, unstage and delete, scanning
// for the key as the package documentation says.
func TestKeyNeverRevealed(t *testing.T) {
	l := newLifecycle(t)
	vol := l.create("secrets-vol", nil)
	staging, target := filepath.Join(l.work, "staging"), filepath.Join(l.work, "target")
	step(l, "NodeStageVolume", func(ctx context.Context) (*csi.NodeStageVolumeResponse, error) {
		return l.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			VolumeCapability: mountCap(), VolumeContext: vol.GetVolumeContext(), Secrets: l.secrets()})
	})
	step(l, "NodePublishVolume", func(ctx context.Context) (*csi.NodePublishVolumeResponse, error) {
		return l.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			TargetPath: target, VolumeCapability: mountCap(), VolumeContext: vol.GetVolumeContext()})
	})
	if err := os.WriteFile(filepath.Join(target, "data"), []byte("written through the volume"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.scanProcesses(vol.GetVolumeContext()["imageName"])
	// While staged the state directory holds the stage record, rbd-fuse's
	// ceph.conf and log.
	l.scanFiles("while staged", 3, l.state)

	snap := step(l, "CreateSnapshot", func(ctx context.Context) (*csi.CreateSnapshotResponse, error) {
		return l.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "secrets-snap", SourceVolumeId: vol.GetVolumeId(),
			Secrets: l.secrets()})
	}).GetSnapshot()
	restored := l.create("secrets-restored", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
		Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshotId()}}})
	clone := l.create("secrets-clone", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: vol.GetVolumeId()}}})
	step(l, "ControllerExpandVolume", func(ctx context.Context) (*csi.ControllerExpandVolumeResponse, error) {
		return l.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
			CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}, Secrets: l.secrets(), VolumeCapability: mountCap()})
	})
	step(l, "NodeExpandVolume", func(ctx context.Context) (*csi.NodeExpandVolumeResponse, error) {
		resp, err := l.node.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: vol.GetVolumeId(), VolumePath: target,
			StagingTargetPath: staging, CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}, VolumeCapability: mountCap()})
		if status.Code(err) == codes.FailedPrecondition {
			// Online ext4 growth needs CAP_SYS_RESOURCE, which a container
			// may lack: the device was refreshed, the filesystem is grown
			// at the next stage.
			return resp, nil
		}
		return resp, err
	})
	step(l, "NodeGetVolumeStats", func(ctx context.Context) (*csi.NodeGetVolumeStatsResponse, error) {
		return l.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	})
	l.scanProcesses(vol.GetVolumeContext()["imageName"])
	step(l, "NodeUnpublishVolume", func(ctx context.Context) (*csi.NodeUnpublishVolumeResponse, error) {
		return l.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target})
	})
	step(l, "NodeUnstageVolume", func(ctx context.Context) (*csi.NodeUnstageVolumeResponse, error) {
		return l.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging})
	})
	l.deleteVolume(clone)
	l.deleteVolume(restored)
	step(l, "DeleteSnapshot", func(ctx context.Context) (*csi.DeleteSnapshotResponse, error) {
		return l.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId(), Secrets: l.secrets()})
	})
	l.deleteVolume(vol)
	l.scanFiles("at the end", 1, l.state, l.work, os.TempDir(), "/var/log/ceph")
}
