package compat

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
)

// wrongKey is a well-formed key no Ceph user has.
const wrongKey = "AQBhc2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MQ=="

// secretsWith is a node-stage Secret holding both pairs, as ceph-csi's
// example Secret does, where only the pair named good works.
func (e *env) secretsWith(good string) map[string]string {
	s := map[string]string{"userID": "nobody", "userKey": wrongKey, "adminID": "nobody", "adminKey": wrongKey}
	s[good+"ID"], s[good+"Key"] = e.Cluster.AdminID, e.Cluster.AdminKey
	return s
}

func (e *env) stageWith(volID string, vc, secrets map[string]string, staging string, caps ...*csi.VolumeCapability) error {
	if err := os.MkdirAll(staging, 0o750); err != nil {
		e.T.Fatal(err)
	}
	c := rig.RWX
	if len(caps) > 0 {
		c = caps[0]
	}
	_, err := e.Node.NodeStageVolume(e.Ctx(), &csi.NodeStageVolumeRequest{VolumeId: volID, StagingTargetPath: staging,
		VolumeCapability: c, VolumeContext: vc, Secrets: secrets})
	return err
}

func (e *env) unstage(volID, staging string) {
	e.T.Helper()
	if _, err := e.Node.NodeUnstageVolume(e.Ctx(), &csi.NodeUnstageVolumeRequest{VolumeId: volID, StagingTargetPath: staging}); err != nil {
		e.T.Fatal(err)
	}
}

// TestStaticVolume: a static PV as ceph-csi documents it (any
// volumeHandle, staticVolume "true", rootPath, no fsName: the default file
// system) stages with the user's credentials of a Secret holding both
// pairs, and shows the directory's data.
func TestStaticVolume(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ref := backend.SubvolumeRef{FS: rig.FSName, Group: e.Group, Name: "static-" + rig.RandomHex(t, 4)}
	if err := e.Admin.CreateGroup(ctx, ref.FS, ref.Group); err != nil {
		t.Fatal(err)
	}
	if err := e.Admin.CreateSubvolume(ctx, ref, backend.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Admin.RemoveSubvolume(ctx, ref, true); err != nil {
			t.Error(err)
		}
	})
	root, err := e.Admin.SubvolumePath(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	vc := map[string]string{"clusterID": e.Cluster.FSID, "staticVolume": "true", "rootPath": root, volctx.Mounter: volctx.MounterFuse}
	staging := e.Path("static")
	if err := e.stageWith("my-static-pv", vc, e.secretsWith("user"), staging); err != nil {
		t.Fatalf("NodeStageVolume of a static PV: %v", err)
	}
	rig.WriteFile(t, filepath.Join(staging, "f"), "static data")
	e.unstage("my-static-pv", staging)
	if err := e.stageWith("my-static-pv", vc, e.secretsWith("user"), staging); err != nil {
		t.Fatal(err)
	}
	rig.ReadFile(t, filepath.Join(staging, "f"), "static data")
	e.unstage("my-static-pv", staging)
}

// TestDynamicVolumeMountsAsAdmin: a dynamic volume stages with the admin
// pair of a Secret holding both (ceph-csi's choice).
func TestDynamicVolumeMountsAsAdmin(t *testing.T) {
	e := newEnv(t)
	vol := e.CreateVolume("pvc-1", 64*rig.MiB, nil, rig.RWX)
	staging := e.Path("staging")
	if err := e.stageWith(vol.GetVolumeId(), vol.GetVolumeContext(), e.secretsWith("admin"), staging); err != nil {
		t.Fatalf("NodeStageVolume with the admin pair: %v", err)
	}
	e.unstage(vol.GetVolumeId(), staging)
	e.DeleteVolume(vol.GetVolumeId())
}
