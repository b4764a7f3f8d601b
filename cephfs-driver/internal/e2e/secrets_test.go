package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/secretscan"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// secretsRun is the driver binary run by TestKeyNeverRevealed with a Ceph
// user of its own, and what the scans need.
type secretsRun struct {
	*env
	proc   *driverproc.Proc
	user   string
	key    string
	state  string
	since  time.Time
	logged int
}

// newCephUser creates a Ceph user with the capabilities the driver needs
// (provisioning through the mgr, the journal in the metadata pool, ceph-fuse
// mounts) and returns its ID and key; it is removed when the test ends.
func newCephUser(t *testing.T, c *testcluster.Cluster) (string, string) {
	t.Helper()
	id := "csi-secrets-" + randomHex(t, 4)
	key := cephCLI(t, c, "auth", "get-or-create-key", "client."+id, "mon", "allow r", "mgr", "allow rw",
		"osd", "allow rw tag cephfs metadata="+fsName+", allow rw tag cephfs data="+fsName, "mds", "allow rw")
	t.Cleanup(func() {
		cephCLI(t, c, "auth", "rm", "client."+id)
		_ = os.Remove("/var/log/ceph/ceph-client." + id + ".log") // the fuse helper's, once scanned
	})
	return id, strings.TrimSpace(key)
}

func cephCLI(t *testing.T, c *testcluster.Cluster, args ...string) string {
	t.Helper()
	out, err := exec.Command("ceph", append([]string{"--conf", c.ConfPath}, args...)...).Output()
	if err != nil {
		t.Fatalf("ceph %s: %v", strings.Join(args[:2], " "), err)
	}
	return string(out)
}

// startDriverBinary runs the cephfs-driver binary (CEPHFS_DRIVER_BINARY, or
// a fresh build) in all mode with debug logging on the test's group and
// journal instance; the harness's audit checks both at the end.
func startDriverBinary(t *testing.T) *secretsRun {
	c := testcluster.Get(t)
	e := &env{t: t, cluster: c, group: "csi-test-" + randomHex(t, 4), instance: "e2e-" + randomHex(t, 4), tmp: t.TempDir()}
	e.writeConfig()
	e.openCluster()
	e.before = e.objects()
	t.Cleanup(e.audit)
	r := &secretsRun{env: e, since: time.Now(), state: filepath.Join(e.tmp, "node-state")}
	r.user, r.key = newCephUser(t, c)
	if r.key == c.AdminKey || !strings.HasPrefix(r.key, "AQ") {
		t.Fatalf("the test user's key %q is not a key of its own", r.key)
	}
	bin := driverproc.Binary(t, "CEPHFS_DRIVER_BINARY", "../..", "./cmd/cephfs-driver", "pacific")
	r.proc = driverproc.Start(t, driverproc.Options{Binary: bin, Args: []string{
		"--mode=all", "--node-id=" + nodeID, "--cluster-config=" + e.config, "--instance-id=" + e.instance,
		"--node-state-dir=" + r.state, "--default-mounter=fuse", "--log-level=debug",
	}})
	conn := r.proc.Conn(t)
	e.conn, e.ctrl, e.node = conn, csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	return r
}

func (r *secretsRun) adminSecrets() map[string]string {
	return map[string]string{credentials.AdminIDField: r.user, credentials.AdminKeyField: r.key}
}

func (r *secretsRun) nodeSecrets() map[string]string {
	return map[string]string{credentials.UserIDField: r.user, credentials.UserKeyField: r.key}
}

// secretsStep runs one RPC, fails the test on error and scans the log.
func secretsStep[R proto.Message](r *secretsRun, name string, call func(ctx context.Context) (R, error)) R {
	r.t.Helper()
	resp, err := call(r.ctx())
	if err != nil {
		r.t.Fatalf("%s: %v\n%s", name, err, r.proc.Log())
	}
	r.scanLog(name)
	return resp
}

// scanLog fails the test if the driver's log holds the key, and checks
// that the step was logged at debug level.
func (r *secretsRun) scanLog(after string) {
	r.t.Helper()
	log := r.proc.Log()
	if hits := secretscan.Lines(log, r.key); len(hits) > 0 {
		r.t.Fatalf("after %s the driver's log holds the key:\n%s", after, strings.Join(hits, "\n"))
	}
	lines := strings.Count(log, "\n")
	if lines <= r.logged || !strings.Contains(log, `"level":"debug"`) {
		r.t.Fatalf("after %s the log did not grow with debug lines (%d lines)", after, lines)
	}
	r.logged = lines
}

// scanProcesses fails the test if any process shows the key in its
// arguments or environment, and unless the ceph-fuse daemon of staging is
// among the processes looked at.
func (r *secretsRun) scanProcesses(staging string) {
	r.t.Helper()
	cmdlines := driverproc.Cmdlines()
	if pids := secretscan.Processes(cmdlines, r.key); len(pids) > 0 {
		for _, pid := range pids {
			r.t.Errorf("process %d shows the key: %q", pid, cmdlines[pid])
		}
		r.t.FailNow()
	}
	found := false
	for _, args := range cmdlines {
		found = found || len(args) > 1 && filepath.Base(args[0]) == "ceph-fuse" && args[1] == staging
	}
	if !found {
		r.t.Fatalf("no ceph-fuse daemon serves %s: the process scan saw nothing of the driver's", staging)
	}
}

// scanFiles fails the test if a file under roots written during the test
// holds the key, and unless at least min files were read.
func (r *secretsRun) scanFiles(when string, min int, roots ...string) {
	r.t.Helper()
	rep, err := secretscan.Files(roots, r.since, r.key)
	switch {
	case err != nil:
		r.t.Fatal(err)
	case len(rep.Hits) > 0:
		r.t.Fatalf("%s these files hold the key: %v", when, rep.Hits)
	case rep.Read < min:
		r.t.Fatalf("%s only %d files were read under %v, want at least %d", when, rep.Read, roots, min)
	}
	r.t.Logf("%s: none of the %d files written under %v since the test began holds the key", when, rep.Read, roots)
}

func (r *secretsRun) create(name string, src *csi.VolumeContentSource) *csi.Volume {
	return secretsStep(r, "CreateVolume "+name, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
		return r.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
			VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: r.params(volctx.Mounter, volctx.MounterFuse),
			Secrets: r.adminSecrets(), VolumeContentSource: src})
	}).GetVolume()
}

func (r *secretsRun) remove(v *csi.Volume) {
	secretsStep(r, "DeleteVolume", func(ctx context.Context) (*csi.DeleteVolumeResponse, error) {
		return r.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId(), Secrets: r.adminSecrets()})
	})
}

// TestKeyNeverRevealed runs the driver binary in all mode with debug
// logging and ceph-fuse through create, stage, publish, write, snapshot,
// restore, clone, expand, stats, unpublish, unstage and delete with a Ceph
// user of its own, and looks for that user's key in the driver's log after
// every step, in the argument lists and environments of every process while
// the volume is staged (ceph-fuse runs then), and in every file written
// during the test under the node's state directory, the test's directory,
// the temporary directory and /var/log/ceph.
func TestKeyNeverRevealed(t *testing.T) {
	r := startDriverBinary(t)
	vol := r.create("secrets", nil)
	staging, target := r.path("staging"), r.path("target")
	if err := os.MkdirAll(staging, 0o750); err != nil {
		t.Fatal(err)
	}
	secretsStep(r, "NodeStageVolume", func(ctx context.Context) (*csi.NodeStageVolumeResponse, error) {
		return r.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: r.nodeSecrets()})
	})
	secretsStep(r, "NodePublishVolume", func(ctx context.Context) (*csi.NodePublishVolumeResponse, error) {
		return r.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			TargetPath: target, VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: r.nodeSecrets()})
	})
	writeFile(t, filepath.Join(target, "data"), "written through the volume")
	r.scanProcesses(staging)
	r.scanFiles("while staged", 1, r.state) // the stage record

	snap := secretsStep(r, "CreateSnapshot", func(ctx context.Context) (*csi.CreateSnapshotResponse, error) {
		return r.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "secrets-snap", SourceVolumeId: vol.GetVolumeId(),
			Secrets: r.adminSecrets()})
	}).GetSnapshot()
	restored := r.create("secrets-restored", snapshotSource(snap.GetSnapshotId()))
	clone := r.create("secrets-clone", volumeSource(vol.GetVolumeId()))
	secretsStep(r, "ControllerExpandVolume", func(ctx context.Context) (*csi.ControllerExpandVolumeResponse, error) {
		return r.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
			CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}, Secrets: r.adminSecrets(), VolumeCapability: rwx})
	})
	secretsStep(r, "NodeGetVolumeStats", func(ctx context.Context) (*csi.NodeGetVolumeStatsResponse, error) {
		return r.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	})
	r.scanProcesses(staging)
	secretsStep(r, "NodeUnpublishVolume", func(ctx context.Context) (*csi.NodeUnpublishVolumeResponse, error) {
		return r.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target})
	})
	secretsStep(r, "NodeUnstageVolume", func(ctx context.Context) (*csi.NodeUnstageVolumeResponse, error) {
		return r.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging})
	})
	r.remove(clone)
	r.remove(restored)
	secretsStep(r, "DeleteSnapshot", func(ctx context.Context) (*csi.DeleteSnapshotResponse, error) {
		return r.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId(), Secrets: r.adminSecrets()})
	})
	r.remove(vol)
	r.scanFiles("at the end", 1, r.state, r.tmp, os.TempDir(), "/var/log/ceph")
}
