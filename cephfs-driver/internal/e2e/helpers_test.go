package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

const mib = int64(1) << 20

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

var rwx = mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)

// createVolume creates a volume, optionally from a source.
func (e *env) createVolume(name string, size int64, src *csi.VolumeContentSource, c *csi.VolumeCapability, extra ...string) *csi.Volume {
	e.t.Helper()
	resp, err := e.ctrl.CreateVolume(e.ctx(), &csi.CreateVolumeRequest{
		Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: size}, VolumeCapabilities: []*csi.VolumeCapability{c},
		Parameters: e.params(extra...), Secrets: e.adminSecrets(), VolumeContentSource: src,
	})
	if err != nil {
		e.t.Fatalf("CreateVolume(%s): %v", name, err)
	}
	return resp.GetVolume()
}

func snapshotSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
}

func volumeSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
}

func (e *env) deleteVolume(id string) {
	e.t.Helper()
	if _, err := e.ctrl.DeleteVolume(e.ctx(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: e.adminSecrets()}); err != nil {
		e.t.Fatalf("DeleteVolume(%s): %v", id, err)
	}
}

func (e *env) createSnapshot(name, volID string) *csi.Snapshot {
	e.t.Helper()
	resp, err := e.ctrl.CreateSnapshot(e.ctx(), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Secrets: e.adminSecrets(),
		Parameters: map[string]string{"clusterID": e.cluster.FSID}})
	if err != nil {
		e.t.Fatalf("CreateSnapshot(%s): %v", name, err)
	}
	return resp.GetSnapshot()
}

func (e *env) deleteSnapshot(id string) error {
	_, err := e.ctrl.DeleteSnapshot(e.ctx(), &csi.DeleteSnapshotRequest{SnapshotId: id, Secrets: e.adminSecrets()})
	return err
}

// path returns a fresh path under the test's directory.
func (e *env) path(name string) string { return filepath.Join(e.tmp, name) }

func (e *env) stage(vol *csi.Volume, staging string, c *csi.VolumeCapability) error {
	_, err := e.node.NodeStageVolume(e.ctx(), &csi.NodeStageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
		VolumeCapability: c, VolumeContext: vol.GetVolumeContext(), Secrets: e.nodeSecrets()})
	return err
}

func (e *env) mustStage(vol *csi.Volume, staging string, c *csi.VolumeCapability) {
	e.t.Helper()
	if err := os.MkdirAll(staging, 0o750); err != nil {
		e.t.Fatal(err)
	}
	if err := e.stage(vol, staging, c); err != nil {
		e.t.Fatalf("NodeStageVolume(%s): %v", staging, err)
	}
}

func (e *env) publish(vol *csi.Volume, staging, target string, c *csi.VolumeCapability, readOnly bool) error {
	_, err := e.node.NodePublishVolume(e.ctx(), &csi.NodePublishVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging,
		TargetPath: target, VolumeCapability: c, VolumeContext: vol.GetVolumeContext(), Readonly: readOnly, Secrets: e.nodeSecrets()})
	return err
}

func (e *env) mustPublish(vol *csi.Volume, staging, target string, c *csi.VolumeCapability, readOnly bool) {
	e.t.Helper()
	if err := e.publish(vol, staging, target, c, readOnly); err != nil {
		e.t.Fatalf("NodePublishVolume(%s): %v", target, err)
	}
}

func (e *env) unpublish(vol *csi.Volume, target string) {
	e.t.Helper()
	if _, err := e.node.NodeUnpublishVolume(e.ctx(), &csi.NodeUnpublishVolumeRequest{VolumeId: vol.GetVolumeId(), TargetPath: target}); err != nil {
		e.t.Fatalf("NodeUnpublishVolume(%s): %v", target, err)
	}
}

func (e *env) unstage(vol *csi.Volume, staging string) {
	e.t.Helper()
	if _, err := e.node.NodeUnstageVolume(e.ctx(), &csi.NodeUnstageVolumeRequest{VolumeId: vol.GetVolumeId(), StagingTargetPath: staging}); err != nil {
		e.t.Fatalf("NodeUnstageVolume(%s): %v", staging, err)
	}
}

// writeFile writes and syncs a file: data still in a CephFS client's
// cache is lost when the client dies.
func writeFile(t *testing.T, path, content string) {
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

func readFile(t *testing.T, path, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Fatalf("%s holds %q, want %q", path, data, want)
	}
}

// isMounted reports whether path is a mount point.
func isMounted(t *testing.T, path string) bool {
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
