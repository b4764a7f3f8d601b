package rig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"
)

// MiB is a mebibyte.
const MiB = int64(1) << 20

// MountCap is a mount capability with the access mode.
func MountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

// RWX is a ReadWriteMany mount capability.
var RWX = MountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)

// CreateVolume creates a volume, optionally from a source.
func (e *Env) CreateVolume(name string, size int64, src *csi.VolumeContentSource, c *csi.VolumeCapability, extra ...string) *csi.Volume {
	e.T.Helper()
	resp, err := e.Ctrl.CreateVolume(e.Ctx(), &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size}, VolumeCapabilities: []*csi.VolumeCapability{c},
		Parameters: e.Params(extra...), Secrets: e.AdminSecrets(), VolumeContentSource: src,
	})
	if err != nil {
		e.T.Fatalf("CreateVolume(%s): %v", name, err)
	}
	return resp.GetVolume()
}

// SnapshotSource is csisource.Snapshot, kept for the tests' brevity.
func SnapshotSource(id string) *csi.VolumeContentSource { return csisource.Snapshot(id) }

// VolumeSource is csisource.Volume.
func VolumeSource(id string) *csi.VolumeContentSource { return csisource.Volume(id) }

func (e *Env) DeleteVolume(id string) {
	e.T.Helper()
	if _, err := e.Ctrl.DeleteVolume(e.Ctx(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: e.AdminSecrets()}); err != nil {
		e.T.Fatalf("DeleteVolume(%s): %v", id, err)
	}
}

func (e *Env) CreateSnapshot(name, volID string) *csi.Snapshot {
	e.T.Helper()
	resp, err := e.Ctrl.CreateSnapshot(e.Ctx(), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Secrets: e.AdminSecrets(),
		Parameters: map[string]string{"clusterID": e.Cluster.FSID}})
	if err != nil {
		e.T.Fatalf("CreateSnapshot(%s): %v", name, err)
	}
	return resp.GetSnapshot()
}

func (e *Env) DeleteSnapshot(id string) error {
	_, err := e.Ctrl.DeleteSnapshot(e.Ctx(), &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: e.AdminSecrets()})
	return err
}

// Path returns a fresh path under the test's directory.
func (e *Env) Path(name string) string { return filepath.Join(e.Tmp, name) }

func (e *Env) Stage(vol *csi.Volume, staging string, c *csi.VolumeCapability) error {
	_, err := e.Node.NodeStageVolume(e.Ctx(), &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
		VolumeCapability: c, VolumeContext: vol.GetVolumeContext(), Secrets: e.NodeSecrets()})
	return err
}

func (e *Env) MustStage(vol *csi.Volume, staging string, c *csi.VolumeCapability) {
	e.T.Helper()
	if err := os.MkdirAll(staging, 0o750); err != nil {
		e.T.Fatal(err)
	}
	if err := e.Stage(vol, staging, c); err != nil {
		e.T.Fatalf("NodeStageVolume(%s): %v", staging, err)
	}
}

func (e *Env) Publish(vol *csi.Volume, staging, target string, c *csi.VolumeCapability, readOnly bool) error {
	_, err := e.Node.NodePublishVolume(e.Ctx(), &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
		TargetPath: target, VolumeCapability: c, VolumeContext: vol.GetVolumeContext(), Readonly: readOnly, Secrets: e.NodeSecrets()})
	return err
}

func (e *Env) MustPublish(vol *csi.Volume, staging, target string, c *csi.VolumeCapability, readOnly bool) {
	e.T.Helper()
	if err := e.Publish(vol, staging, target, c, readOnly); err != nil {
		e.T.Fatalf("NodePublishVolume(%s): %v", target, err)
	}
}

func (e *Env) Unpublish(vol *csi.Volume, target string) {
	e.T.Helper()
	if _, err := e.Node.NodeUnpublishVolume(e.Ctx(), &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target}); err != nil {
		e.T.Fatalf("NodeUnpublishVolume(%s): %v", target, err)
	}
}

func (e *Env) Unstage(vol *csi.Volume, staging string) {
	e.T.Helper()
	if _, err := e.Node.NodeUnstageVolume(e.Ctx(), &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging}); err != nil {
		e.T.Fatalf("NodeUnstageVolume(%s): %v", staging, err)
	}
}

// WriteFile writes and syncs a file: data still in a CephFS client's
// cache is lost when the client dies.
func WriteFile(t *testing.T, path, content string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func ReadFile(t *testing.T, path, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Fatalf("%s holds %q, want %q", path, data, want)
	}
}

// IsMounted reports whether path is a mount point.
func IsMounted(t *testing.T, path string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == filepath.Clean(path) {
			return true
		}
	}
	return false
}
