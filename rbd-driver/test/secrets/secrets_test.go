// Package secrets checks that the RBD driver never reveals a Ceph key: it
// runs the driver binary in all mode with debug logging and the fuse
// mounter through a whole volume lifecycle with a Ceph user of its own,
// and looks for that user's key in the driver's log after every step, in
// the argument lists and environments of every process while the volume is
// staged (rbd-fuse runs then), and in every file left on disk at the end.
package secrets

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host/hosttest"
	"github.com/seed-6a310834/ceph-csi/shared/csisource"
	"github.com/seed-6a310834/ceph-csi/shared/driverproc"
	"github.com/seed-6a310834/ceph-csi/shared/secretscan"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// testPool is this package's pool, removed after the tests.
const testPool = "csi-rbd-secrets"

const mib = int64(1) << 20

func TestMain(m *testing.M) { os.Exit(hosttest.RemovePoolAfter(m, testPool)) }

// lifecycle is one run of the driver and what the scans need.
type lifecycle struct {
	*secretscan.Watch
	t      *testing.T
	ctrl   csi.ControllerClient
	node   csi.NodeClient
	user   string
	key    string
	params map[string]string
	work   string // staging and target paths
	state  string // the driver's --state-dir
}

func newLifecycle(t *testing.T) *lifecycle {
	since := time.Now()
	c := testcluster.Get(t)
	hosttest.RequireRoot(t)
	hosttest.EnsurePool(t, c, testPool)
	l := &lifecycle{t: t, work: t.TempDir(), state: t.TempDir()}
	l.user, l.key = secretscan.NewCephUser(t, c, "mon", "profile rbd",
		"osd", "profile rbd pool="+testPool, "mgr", "profile rbd pool="+testPool)
	t.Cleanup(func() {
		for _, dir := range []string{l.work, l.state} {
			if leaks := hosttest.Leaks(dir); len(leaks) > 0 {
				t.Errorf("leaked: %q", leaks)
				hosttest.ForceCleanup(dir)
			}
		}
	})
	bin := driverproc.Binary(t, "RBD_DRIVER_BINARY", "../..", "./cmd/rbd-driver", "pacific")
	proc := driverproc.Start(t, driverproc.Options{Binary: bin, Args: []string{
		"--mode=all", "--node-id=secrets-node", "--cluster-config=" + c.CSIConfig, "--instance-id=secrets",
		"--state-dir=" + l.state, "--log-level=debug",
	}})
	l.Watch = secretscan.NewWatch(t, proc, l.key, since)
	conn := proc.Conn(t)
	l.ctrl, l.node = csi.NewControllerClient(conn), csi.NewNodeClient(conn)
	l.params = map[string]string{"clusterID": c.FSID, "pool": testPool, "mounter": "fuse"}
	return l
}

func (l *lifecycle) secrets() map[string]string {
	return map[string]string{"userID": l.user, "userKey": l.key}
}

// scanRBDFuse scans the processes while image is staged: its rbd-fuse
// helper must be among them.
func (l *lifecycle) scanRBDFuse(image string) {
	l.t.Helper()
	l.ScanProcesses("rbd-fuse process serves "+image, func(args []string) bool {
		return len(args) > 0 && filepath.Base(args[0]) == "rbd-fuse" && slices.Contains(args, image)
	})
}

func mountCap() *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: "ext4"}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
	}
}

func (l *lifecycle) create(name string, src *csi.VolumeContentSource) *csi.Volume {
	return secretscan.Step(l.Watch, "CreateVolume "+name, func(ctx context.Context) (*csi.CreateVolumeResponse, error) {
		return l.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
			VolumeCapabilities: []*csi.VolumeCapability{mountCap()}, Parameters: l.params, Secrets: l.secrets(),
			VolumeContentSource: src})
	}).GetVolume()
}

func (l *lifecycle) deleteVolume(v *csi.Volume) {
	secretscan.Step(l.Watch, "DeleteVolume", func(ctx context.Context) (*csi.DeleteVolumeResponse, error) {
		return l.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId(), Secrets: l.secrets()})
	})
}

// expand grows vol to 128 MiB through the controller and, staged at
// staging and published at target, through the node.
func (l *lifecycle) expand(vol *csi.Volume, staging, target string) {
	secretscan.Step(l.Watch, "ControllerExpandVolume", func(ctx context.Context) (*csi.ControllerExpandVolumeResponse, error) {
		return l.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
			CapacityRange: &csi.CapacityRange{RequiredBytes: 128 * mib}, Secrets: l.secrets(), VolumeCapability: mountCap()})
	})
	secretscan.Step(l.Watch, "NodeExpandVolume", func(ctx context.Context) (*csi.NodeExpandVolumeResponse, error) {
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
}

// TestKeyNeverRevealed runs create, stage, publish, write, snapshot,
// restore, clone, expand, stats, unpublish, unstage and delete, scanning
// for the key as the package documentation says.
func TestKeyNeverRevealed(t *testing.T) {
	l := newLifecycle(t)
	vol := l.create("secrets-vol", nil)
	staging, target := filepath.Join(l.work, "staging"), filepath.Join(l.work, "target")
	secretscan.Step(l.Watch, "NodeStageVolume", func(ctx context.Context) (*csi.NodeStageVolumeResponse, error) {
		return l.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			VolumeCapability: mountCap(), VolumeContext: vol.GetVolumeContext(), Secrets: l.secrets()})
	})
	secretscan.Step(l.Watch, "NodePublishVolume", func(ctx context.Context) (*csi.NodePublishVolumeResponse, error) {
		return l.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
			TargetPath: target, VolumeCapability: mountCap(), VolumeContext: vol.GetVolumeContext()})
	})
	if err := os.WriteFile(filepath.Join(target, "data"), []byte("written through the volume"), 0o600); err != nil {
		t.Fatal(err)
	}
	l.scanRBDFuse(vol.GetVolumeContext()["imageName"])
	// While staged the state directory holds the stage record, rbd-fuse's
	// ceph.conf and log.
	l.ScanFiles("while staged", 3, l.state)

	snap := secretscan.Step(l.Watch, "CreateSnapshot", func(ctx context.Context) (*csi.CreateSnapshotResponse, error) {
		return l.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "secrets-snap", SourceVolumeId: vol.GetVolumeId(),
			Secrets: l.secrets()})
	}).GetSnapshot()
	restored := l.create("secrets-restored", csisource.Snapshot(snap.GetSnapshotId()))
	clone := l.create("secrets-clone", &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
		Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: vol.GetVolumeId()}}})
	l.expand(vol, staging, target)
	secretscan.Step(l.Watch, "NodeGetVolumeStats", func(ctx context.Context) (*csi.NodeGetVolumeStatsResponse, error) {
		return l.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: vol.GetVolumeId(), VolumePath: target})
	})
	l.scanRBDFuse(vol.GetVolumeContext()["imageName"])
	secretscan.Step(l.Watch, "NodeUnpublishVolume", func(ctx context.Context) (*csi.NodeUnpublishVolumeResponse, error) {
		return l.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target})
	})
	secretscan.Step(l.Watch, "NodeUnstageVolume", func(ctx context.Context) (*csi.NodeUnstageVolumeResponse, error) {
		return l.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging})
	})
	l.deleteVolume(clone)
	l.deleteVolume(restored)
	secretscan.Step(l.Watch, "DeleteSnapshot", func(ctx context.Context) (*csi.DeleteSnapshotResponse, error) {
		return l.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: snap.GetSnapshotId(), Secrets: l.secrets()})
	})
	l.deleteVolume(vol)
	l.ScanFiles("at the end", 1, l.state, l.work, os.TempDir(), "/var/log/ceph")
}
