package node

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
)

// bothSecrets is ceph-csi's example node-stage Secret: user and admin.
func bothSecrets() map[string]string {
	return map[string]string{"userID": "user", "userKey": testKey, "adminID": "admin", "adminKey": testKey}
}

// TestCredentialsAsCephCSIChooses: with both pairs in the Secret, a
// dynamic volume is mounted as the admin and a static one as the user; a
// static PV without fsName mounts the default file system.
func TestCredentialsAsCephCSIChooses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		vc      map[string]string
		secrets map[string]string
		wantID  string
		wantFS  string
	}{
		{"dynamic", volumeContext(), bothSecrets(), "admin", "fs"},
		{"dynamic, user only", volumeContext(), map[string]string{"userID": "user", "userKey": testKey}, "user", "fs"},
		{"static", map[string]string{"clusterID": "c1", "fsName": "fs", "staticVolume": "true", "rootPath": "/static/dir",
			volctx.Mounter: volctx.MounterFuse}, bothSecrets(), "user", "fs"},
		{"static without fsName", map[string]string{"clusterID": "c1", "staticVolume": "true", "rootPath": "/static/dir",
			volctx.Mounter: volctx.MounterFuse}, bothSecrets(), "user", ""},
		{"static, admin only", map[string]string{"clusterID": "c1", "staticVolume": "true", "rootPath": "/static/dir",
			volctx.Mounter: volctx.MounterFuse}, map[string]string{"adminID": "admin", "adminKey": testKey}, "admin", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.srv.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{VolumeId: "any-handle",
				StagingTargetPath: filepath.Join(f.dir, "staging"), VolumeContext: tc.vc, Secrets: tc.secrets,
				VolumeCapability: mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)})
			if err != nil {
				t.Fatal(err)
			}
			if len(f.fuse.calls) != 1 {
				t.Fatalf("%d mounts, want 1", len(f.fuse.calls))
			}
			if r := f.fuse.calls[0]; r.Creds.ID != tc.wantID || r.FSName != tc.wantFS {
				t.Fatalf("mounted as %q file system %q, want %q and %q", r.Creds.ID, r.FSName, tc.wantID, tc.wantFS)
			}
		})
	}
}
