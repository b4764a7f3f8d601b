package secrets

import (
	"context"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/secretscan"
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
	e := &env{rig.Prepare(t)}
	c := e.Cluster
	r := &secretsRun{env: e, state: filepath.Join(e.Tmp, "node-state")}
	// The capabilities the driver needs: provisioning through the mgr, the
	// journal in the metadata pool, ceph-fuse mounts.
	r.user, r.key = secretscan.NewCephUser(t, c, "mon", "allow r", "mgr", "allow rw",
		"osd", "allow rw tag cephfs metadata="+rig.FSName+", allow rw tag cephfs data="+rig.FSName, "mds", "allow rw")
	bin := driverproc.Binary(t, "CEPHFS_DRIVER_BINARY", "../..", "./cmd/cephfs-driver", "pacific")
	proc := driverproc.Start(t, driverproc.Options{Binary: bin, Args: []string{
		"--mode=all", "--node-id=" + rig.NodeID, "--cluster-config=" + e.Config, "--instance-id=" + e.Instance,
		"--node-state-dir=" + r.state, "--default-mounter=fuse", "--log-level=debug",
	}})
	r.Watch = secretscan.NewWatch(t, proc, r.key, since)
	conn := proc.Conn(t)
	e.Conn, e.Ctrl, e.Node = conn, csi.NewControllerClient(conn), csi.NewNodeClient(conn)
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
	r.T.Helper()
	r.ScanProcesses("ceph-fuse daemon serves "+staging, func(args []string) bool {
		return len(args) > 1 && filepath.Base(args[0]) == "ceph-fuse" && args[1] == staging
	})
}

func (r *secretsRun) create(name string, src *csi.VolumeContentSource) *csi.Volume {
	return secretscan.Step(r.Watch, "CreateVolume "+name, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
		return r.Ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * rig.MiB},
			VolumeCapabilities: []*csi.VolumeCapability{rig.RWX}, Parameters: r.Params(volctx.Mounter, volctx.MounterFuse),
			Secrets: r.adminSecrets(), VolumeContentSource: src})
	}).GetVolume()
}

func (r *secretsRun) remove(v *csi.Volume) {
	secretscan.Step(r.Watch, "DeleteVolume", func(ctx context.Context) (*csi.DeleteVolumeResponse, error) {
		return r.Ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId(), Secrets: r.adminSecrets()})
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
	staging, target := r.Path("staging"), r.Path("target")
	if err := os.MkdirAll(staging, 0o750); err != nil {
		t.Fatal(err)
	}
	secretscan.Step(r.Watch, "NodeStageVolume", func(ctx context.Context) (*csi.NodeStageVolumeResponse, error) {
		return r.Node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			VolumeCapability: rig.RWX, VolumeContext: vol.GetVolumeContext(), Secrets: r.NodeSecrets()})
	})
	secretscan.Step(r.Watch, "NodePublishVolume", func(ctx context.Context) (*csi.NodePublishVolumeResponse, error) {
		return r.Node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			TargetPath: target, VolumeCapability: rig.RWX, VolumeContext: vol.GetVolumeContext(), Secrets: r.NodeSecrets()})
	})
	rig.WriteFile(t, filepath.Join(target, "data"), "written through the volume")
	r.scanCephFuse(staging)
	r.ScanFiles("while staged", 1, r.state) // the stage record

	snap := secretscan.Step(r.Watch, "CreateSnapshot", func(ctx context.Context) (*csi.CreateSnapshotResponse, error) {
		return r.Ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "secrets-snap", SourceVolumeId: vol.GetVolumeId(),
			Secrets: r.adminSecrets()})
	}).GetSnapshot()
	restored := r.create("secrets-restored", rig.SnapshotSource(snap.GetSnapshotId()))
	clone := r.create("secrets-clone", rig.VolumeSource(vol.GetVolumeId()))
	secretscan.Step(r.Watch, "ControllerExpandVolume", func(ctx context.Context) (*csi.ControllerExpandVolumeResponse, error) {
		return r.Ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
			CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * rig.MiB}, Secrets: r.adminSecrets(), VolumeCapability: rig.RWX})
	})
	secretscan.Step(r.Watch, "NodeGetVolumeStats", func(ctx context.Context) (*csi.NodeGetVolumeStatsResponse, error) {
		return r.Node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	})
	r.scanCephFuse(staging)
	secretscan.Step(r.Watch, "NodeUnpublishVolume", func(ctx context.Context) (*csi.NodeUnpublishVolumeResponse, error) {
		return r.Node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target})
	})
	secretscan.Step(r.Watch, "NodeUnstageVolume", func(ctx context.Context) (*csi.NodeUnstageVolumeResponse, error) {
		return r.Node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging})
	})
	r.remove(clone)
	r.remove(restored)
	secretscan.Step(r.Watch, "DeleteSnapshot", func(ctx context.Context) (*csi.DeleteSnapshotResponse, error) {
		return r.Ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId(), Secrets: r.adminSecrets()})
	})
	r.remove(vol)
	r.ScanFiles("at the end", 1, r.state, r.Tmp, os.TempDir(), "/var/log/ceph")
}
