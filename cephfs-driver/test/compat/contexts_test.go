package compat

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
)

// TestPVsOfCephCSIReleases: a volume ceph-csi made stages with the volume
// context of each release's PV (v3.0-v3.2: the StorageClass parameters and
// subvolumeName, no subvolumePath: the node asks the mgr; v3.3 on: with
// subvolumePath), as ceph-csi's node-stage Secret holds it (both pairs; the
// admin's is used), shows the same data, is cloned, answers a retry of its
// CreateVolume, and is deleted by our driver.
func TestPVsOfCephCSIReleases(t *testing.T) {
	e := newEnv(t)
	volID, name, path := e.cephCSIVolume("pvc-old")
	base := map[string]string{"clusterID": e.Cluster.FSID, "fsName": rig.FSName, "mounter": volctx.MounterFuse,
		"pool": "cephfs.cephfs.data", "subvolumeName": name}
	with := func(kv ...string) map[string]string {
		vc := map[string]string{}
		for k, v := range base {
			vc[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			vc[kv[i]] = kv[i+1]
		}
		return vc
	}
	releases := []struct {
		name string
		vc   map[string]string
	}{
		{"v3.0", with()},
		{"v3.2 with provisioner metadata", with("csi.storage.k8s.io/pvc/name", "data", "csi.storage.k8s.io/pvc/namespace", "default")},
		{"v3.3", with("subvolumePath", path)},
		{"v3.12", with("subvolumePath", path, "csi.storage.k8s.io/pv/name", "pvc-old")},
	}
	for i, r := range releases {
		staging := e.Path(fmt.Sprintf("staging-%d", i))
		if err := e.stageWith(volID, r.vc, e.secretsWith("admin"), staging); err != nil {
			t.Fatalf("%s: NodeStageVolume: %v", r.name, err)
		}
		if i == 0 {
			rig.WriteFile(t, filepath.Join(staging, "f"), "written through "+r.name)
		}
		rig.ReadFile(t, filepath.Join(staging, "f"), "written through "+releases[0].name)
		e.unstage(volID, staging)
	}
	if _, err := e.Ctrl.ValidateVolumeCapabilities(e.Ctx(), &csi.ValidateVolumeCapabilitiesRequest{VolumeId: volID,
		VolumeCapabilities: []*csi.VolumeCapability{rig.RWX}, Secrets: e.AdminSecrets()}); err != nil {
		t.Fatalf("ValidateVolumeCapabilities of ceph-csi's volume: %v", err)
	}
	clone := e.CreateVolume("pvc-clone", 64*rig.MiB, rig.VolumeSource(volID), rig.RWX)
	cstaging := e.Path("clone")
	e.MustStage(clone, cstaging, rig.RWX)
	rig.ReadFile(t, filepath.Join(cstaging, "f"), "written through "+releases[0].name)
	e.Unstage(clone, cstaging)
	e.DeleteVolume(clone.GetVolumeId())
	if again := e.CreateVolume("pvc-old", 64*rig.MiB, nil, rig.RWX); again.GetVolumeId() != volID ||
		again.GetVolumeContext()[volctx.SubvolumePath] != path {
		t.Fatalf("CreateVolume retried on ceph-csi's volume = %+v, want %s at %s", again, volID, path)
	}
	e.DeleteVolume(volID)
}
