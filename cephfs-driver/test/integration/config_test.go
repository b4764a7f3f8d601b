package integration

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	mountutils "k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/test/rig"
)

// TestFuseMountOptionsFromConfig: config.json's cephFS.fuseMountOptions
// reach a real ceph-fuse mount (default_permissions shows among the FUSE
// super options of the mount), next to the capability's mount flags.
func TestFuseMountOptionsFromConfig(t *testing.T) {
	e := newEnv(t)
	var entries []map[string]any
	data, err := os.ReadFile(e.Config)
	if err == nil {
		err = json.Unmarshal(data, &entries)
	}
	if err != nil {
		t.Fatal(err)
	}
	entries[0]["cephFS"].(map[string]any)["fuseMountOptions"] = "default_permissions"
	if data, err = json.Marshal(entries); err == nil {
		err = os.WriteFile(e.Config, data, 0o600)
	}
	if err != nil {
		t.Fatal(err)
	}
	vol := e.CreateVolume("opts", 64*rig.MiB, nil, rig.RWX)
	staging := e.Path("staging")
	e.MustStage(vol, staging, rig.RWX)
	t.Cleanup(func() {
		e.Unstage(vol, staging)
		e.DeleteVolume(vol.GetVolumeId())
	})
	infos, err := mountutils.ParseMountInfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range infos {
		if m.MountPoint == staging {
			if !slices.Contains(m.SuperOptions, "default_permissions") {
				t.Fatalf("ceph-fuse mount at %s: super options %q lack default_permissions", staging, m.SuperOptions)
			}
			t.Logf("mount options %s, super options %s", strings.Join(m.MountOptions, ","), strings.Join(m.SuperOptions, ","))
			return
		}
	}
	t.Fatalf("nothing mounted at %s", staging)
}
