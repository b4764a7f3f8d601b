package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

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
	*secretscan.Watch
	user  string
	key   string
	state string
}

// startDriverBinary runs the cephfs-driver binary (CEPHFS_DRIVER_BINARY, or
// a fresh build) in all mode with debug logging on the test's group and
// journal instance; the harness's audit checks both at the end.
func startDriverBinary(t *testing.T) *secretsRun {
	since := time.Now()
	c := testcluster.Get(t)
	e := &env{t: t, cluster: c, group: "csi-test-" + randomHex(t, 4), instance: "e2e-" + randomHex(t, 4), tmp: t.TempDir()}
	e.writeConfig()
	e.openCluster()
	e.before = e.objects()
	t.Cleanup(e.audit)
	r := &secretsRun{env: e, state: filepath.Join(e.tmp, "node-state")}
	// The capabilities the driver needs: provisioning through the mgr, the
	// journal in the metadata pool, ceph-fuse mounts.
	r.user, r.key = secretscan.NewCephUser(t, c, "mon", "allow r", "mgr", "allow rw",
		"osd", "allow rw tag cephfs metadata="+fsName+", allow rw tag cephfs data="+fsName, "mds", "allow rw")
	bin := driverproc.Binary(t, "CEPHFS_DRIVER_BINARY", "../..", "./cmd/cephfs-driver", "pacific")
	proc := driverproc.Start(t, driverproc.Options{Binary: bin, Args: []string{
		"--mode=all", "--node-id=" + nodeID, "--cluster-config=" + e.config, "--instance-id=" + e.instance,
		"--node-state-dir=" + r.state, "--default-mounter=fuse", "--log-level=debug",
	}})
	r.Watch = secretscan.NewWatch(t, proc, r.key, since)
	conn := proc.Conn(t)
	e.conn, e.ctrl, e.node = conn, csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	return r
}

func (r *secretsRun) adminSecrets() map[string]string {
	return map[string]string{credentials.AdminIDField: r.user, credentials.AdminKeyField: r.key}
}

func (r *secretsRun) nodeSecrets() map[string]string {
	return map[string]string{credentials.UserIDField: r.user, credentials.UserKeyField: r.key}
}

// scanCephFuse scans the processes while staging is staged: its ceph-fuse
// daemon must be among them.
func (r *secretsRun) scanCephFuse(staging string) {
	r.t.Helper()
	r.ScanProcesses("ceph-fuse daemon serves "+staging, func(args []string) bool {
		return len(args) > 1 && filepath.Base(args[0]) == "ceph-fuse" && args[1] == staging
	})
}

func (r *secretsRun) create(name string, src *csi.VolumeContentSource) *csi.Volume {
	return secretscan.Step(r.Watch, "CreateVolume "+name, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
		return r.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
			VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: r.params(volctx.Mounter, volctx.MounterFuse),
			Secrets: r.adminSecrets(), VolumeContentSource: src})
	}).GetVolume()
}

func (r *secretsRun) remove(v *csi.Volume) {
	secretscan.Step(r.Watch, "DeleteVolume", func(ctx context.Context) (*csi.DeleteVolumeResponse, error) {
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
	secretscan.Step(r.Watch, "NodeStageVolume", func(ctx context.Context) (*csi.NodeStageVolumeResponse, error) {
		return r.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: r.nodeSecrets()})
	})
	secretscan.Step(r.Watch, "NodePublishVolume", func(ctx context.Context) (*csi.NodePublishVolumeResponse, error) {
		return r.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			TargetPath: target, VolumeCapability: rwx, VolumeContext: vol.GetVolumeContext(), Secrets: r.nodeSecrets()})
	})
	writeFile(t, filepath.Join(target, "data"), "written through the volume")
	r.scanCephFuse(staging)
	r.ScanFiles("while staged", 1, r.state) // the stage record

	snap := secretscan.Step(r.Watch, "CreateSnapshot", func(ctx context.Context) (*csi.CreateSnapshotResponse, error) {
		return r.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "secrets-snap", SourceVolumeId: vol.GetVolumeId(),
			Secrets: r.adminSecrets()})
	}).GetSnapshot()
	restored := r.create("secrets-restored", snapshotSource(snap.GetSnapshotId()))
	clone := r.create("secrets-clone", volumeSource(vol.GetVolumeId()))
	secretscan.Step(r.Watch, "ControllerExpandVolume", func(ctx context.Context) (*csi.ControllerExpandVolumeResponse, error) {
		return r.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
			CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}, Secrets: r.adminSecrets(), VolumeCapability: rwx})
	})
	secretscan.Step(r.Watch, "NodeGetVolumeStats", func(ctx context.Context) (*csi.NodeGetVolumeStatsResponse, error) {
		return r.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	})
	r.scanCephFuse(staging)
	secretscan.Step(r.Watch, "NodeUnpublishVolume", func(ctx context.Context) (*csi.NodeUnpublishVolumeResponse, error) {
		return r.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target})
	})
	secretscan.Step(r.Watch, "NodeUnstageVolume", func(ctx context.Context) (*csi.NodeUnstageVolumeResponse, error) {
		return r.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging})
	})
	r.remove(clone)
	r.remove(restored)
	secretscan.Step(r.Watch, "DeleteSnapshot", func(ctx context.Context) (*csi.DeleteSnapshotResponse, error) {
		return r.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId(), Secrets: r.adminSecrets()})
	})
	r.remove(vol)
	r.ScanFiles("at the end", 1, r.state, r.tmp, os.TempDir(), "/var/log/ceph")
}
