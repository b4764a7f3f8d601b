package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/nodelookup"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
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

// fakeLookup answers lookups from fixed values.
type fakeLookup struct {
	path    string
	backing *nodelookup.Backing
	err     error
	asked   []string
}

func (l *fakeLookup) SubvolumePath(_ context.Context, _ *clusterconfig.Cluster, _ *credentials.Credentials, fs, group, name string) (string, error) {
	l.asked = append(l.asked, fs+"/"+group+"/"+name)
	return l.path, l.err
}

func (l *fakeLookup) BackingSnapshot(_ context.Context, _ *clusterconfig.Cluster, _ *credentials.Credentials, volID string) (*nodelookup.Backing, error) {
	l.asked = append(l.asked, volID)
	return l.backing, l.err
}

// TestContextsWithoutPath: a pre-v3.3 context (subvolumeName, no
// subvolumePath) and ceph-csi's shallow context are completed by the
// lookup; a missing subvolume is NotFound; without a lookup, such contexts
// are InvalidArgument; our own contexts never ask.
func TestContextsWithoutPath(t *testing.T) {
	old := map[string]string{"clusterID": "c1", "fsName": "fs", "subvolumeName": "csi-vol-1", volctx.Mounter: volctx.MounterFuse}
	shallow := map[string]string{"clusterID": "c1", "fsName": "fs", "backingSnapshot": "true", "subvolumeName": "csi-vol-2",
		"subvolumePath": "/volumes/csi/csi-vol-src/", volctx.Mounter: volctx.MounterFuse}
	stage := func(f *fixture, vc map[string]string) error {
		_, err := f.srv.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{VolumeId: "vol",
			StagingTargetPath: filepath.Join(f.dir, "staging"), VolumeContext: vc, Secrets: bothSecrets(),
			VolumeCapability: mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)})
		return err
	}
	f := newFixture(t)
	l := &fakeLookup{path: "/volumes/csi/csi-vol-1/uuid"}
	f.srv.cfg.Lookup = l
	if err := stage(f, old); err != nil || f.fuse.calls[0].Path != l.path || l.asked[0] != "fs/csi/csi-vol-1" {
		t.Fatalf("old context: %v, mounts %+v, asked %v", err, f.fuse.calls, l.asked)
	}
	f = newFixture(t)
	l = &fakeLookup{backing: &nodelookup.Backing{FSName: "fs", Root: "/volumes/csi/csi-vol-src", Dir: ".snap/csi-snap-1/uuid"}}
	f.srv.cfg.Lookup = l
	snapDir := filepath.Join(f.dir, "staging", ".snap/csi-snap-1/uuid")
	if err := os.MkdirAll(snapDir, 0o755); err != nil {
		t.Fatal(err)
	}
	f.host.mount(snapDir, "/volumes/csi/csi-vol-src/.snap/csi-snap-1/uuid") // see TestShallowStageBindsSnapshot
	if err := stage(f, shallow); err != nil || f.fuse.calls[0].Path != "/volumes/csi/csi-vol-src" {
		t.Fatalf("shallow context: %v, mounts %+v", err, f.fuse.calls)
	}
	f = newFixture(t)
	f.srv.cfg.Lookup = &fakeLookup{err: fmt.Errorf("%w: gone", nodelookup.ErrNotFound)}
	if err := stage(f, old); status.Code(err) != codes.NotFound {
		t.Fatalf("missing subvolume: %v, want NotFound", err)
	}
	f = newFixture(t)
	if err := stage(f, old); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("no lookup: %v, want InvalidArgument", err)
	}
	f = newFixture(t)
	l = &fakeLookup{}
	f.srv.cfg.Lookup = l
	if err := stage(f, volumeContext()); err != nil || len(l.asked) != 0 {
		t.Fatalf("our context: %v, asked %v", err, l.asked)
	}
}
