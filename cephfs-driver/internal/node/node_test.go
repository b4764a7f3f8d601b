package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

const testKey = "AQBhc2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MQ=="

// fakeHost is an in-memory mount table. Mounts made by the fake mounter
// get a device of their own; binds share their source's.
type fakeHost struct {
	mu     sync.Mutex
	mounts []host.MountPoint
	dead   map[string]bool // devices whose client died
	next   int
}

func newFakeHost() *fakeHost { return &fakeHost{dead: map[string]bool{}} }

func (h *fakeHost) Mounts() ([]host.MountPoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]host.MountPoint(nil), h.mounts...), nil
}

func (h *fakeHost) mount(target, root string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.next++
	h.mounts = append(h.mounts, host.MountPoint{ID: h.next, Device: fmt.Sprintf("0:%d", h.next), Root: root, Path: filepath.Clean(target)})
}

func (h *fakeHost) Bind(source, target string, _ bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	src, ok := host.Find(h.mounts, source)
	if !ok {
		return errors.New("bind of an unmounted source")
	}
	h.next++
	h.mounts = append(h.mounts, host.MountPoint{ID: h.next, Device: src.Device, Root: src.Root, Path: filepath.Clean(target)})
	return nil
}

func (h *fakeHost) Unmount(path string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.mounts) - 1; i >= 0; i-- {
		if h.mounts[i].Path == filepath.Clean(path) {
			h.mounts = append(h.mounts[:i], h.mounts[i+1:]...)
			return nil
		}
	}
	return errors.New("not mounted")
}

func (h *fakeHost) Check(path string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if m, ok := host.Find(h.mounts, path); ok && h.dead[m.Device] {
		return fmt.Errorf("%w: %s", host.ErrCorrupted, path)
	}
	_, err := os.Stat(path)
	return err
}

// kill marks the file system mounted at path as dead.
func (h *fakeHost) kill(path string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m, _ := host.Find(h.mounts, path)
	h.dead[m.Device] = true
}

// fakeMounter "mounts" into the fake host.
type fakeMounter struct {
	host  *fakeHost
	calls []host.Request
}

func (m *fakeMounter) Mount(_ context.Context, r host.Request) error {
	m.calls = append(m.calls, r)
	m.host.mount(r.Target, r.Path)
	return nil
}

type clusters map[string]*clusterconfig.Cluster

func (c clusters) Get(id string) (*clusterconfig.Cluster, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("%q: %w", id, clusterconfig.ErrClusterNotFound)
}

type fixture struct {
	srv  *Server
	host *fakeHost
	fuse *fakeMounter
	dir  string
}

func newFixture(t *testing.T) *fixture {
	fh := newFakeHost()
	fuse := &fakeMounter{host: fh}
	dir := t.TempDir()
	srv, err := New(Config{NodeID: "n1", Clusters: clusters{"c1": {ClusterID: "c1", Monitors: []string{"m:6789"}}},
		Mounters: map[string]host.Mounter{volctx.MounterFuse: fuse, volctx.MounterKernel: &fakeMounter{host: fh}},
		Host:     fh, StateDir: filepath.Join(dir, "state"), ProcRoot: filepath.Join(dir, "proc")})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, host: fh, fuse: fuse, dir: dir}
}

func mountCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{MountFlags: []string{"noatime"}}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode}}
}

func volumeContext() map[string]string {
	return map[string]string{volctx.ClusterID: "c1", volctx.FSName: "fs", volctx.SubvolumePath: "/volumes/csi/v/uuid",
		volctx.Mounter: volctx.MounterFuse, volctx.FuseMountOptions: "debug"}
}

func (f *fixture) stageReq() *csi.NodeStageVolumeRequest {
	return &csi.NodeStageVolumeRequest{VolumeId: "vol-1", StagingTargetPath: filepath.Join(f.dir, "staging"),
		VolumeCapability: mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER), VolumeContext: volumeContext(),
		Secrets: map[string]string{"userID": "u", "userKey": testKey}}
}

func (f *fixture) publishReq(target string, mode csi.VolumeCapability_AccessMode_Mode) *csi.NodePublishVolumeRequest {
	return &csi.NodePublishVolumeRequest{VolumeId: "vol-1", StagingTargetPath: filepath.Join(f.dir, "staging"),
		TargetPath: filepath.Join(f.dir, target), VolumeCapability: mountCap(mode), VolumeContext: volumeContext()}
}

func wantCode(t *testing.T, err error, code codes.Code, words ...string) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != code {
		t.Fatalf("error %v, want %v", err, code)
	}
	for _, w := range words {
		if !strings.Contains(st.Message(), w) {
			t.Fatalf("message %q does not name %q", st.Message(), w)
		}
	}
}

func TestStageBadInput(t *testing.T) {
	block := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
	tests := []struct {
		name   string
		change func(*csi.NodeStageVolumeRequest)
		code   codes.Code
		words  []string
	}{
		{"no volume ID", func(r *csi.NodeStageVolumeRequest) { r.VolumeId = "" }, codes.InvalidArgument, []string{"volume_id"}},
		{"no staging path", func(r *csi.NodeStageVolumeRequest) { r.StagingTargetPath = "" }, codes.InvalidArgument, []string{"staging_target_path"}},
		{"block", func(r *csi.NodeStageVolumeRequest) { r.VolumeCapability = block }, codes.InvalidArgument, []string{"block"}},
		{"no secrets", func(r *csi.NodeStageVolumeRequest) { r.Secrets = nil }, codes.InvalidArgument, []string{"userID", "adminID"}},
		{"no userKey", func(r *csi.NodeStageVolumeRequest) { delete(r.Secrets, "userKey") }, codes.InvalidArgument, []string{"userKey"}},
		{"unknown mounter", func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[volctx.Mounter] = "nfs" }, codes.InvalidArgument, []string{"mounter", "nfs"}},
		{"encrypted by ceph-csi", func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[volctx.Encrypted] = "true" }, codes.InvalidArgument, []string{`volume_context["encrypted"]`, "not supported yet"}},
		{"unknown cluster", func(r *csi.NodeStageVolumeRequest) { r.VolumeContext[volctx.ClusterID] = "c9" }, codes.InvalidArgument, []string{"clusterID"}},
		{"no cluster, bad ID", func(r *csi.NodeStageVolumeRequest) { delete(r.VolumeContext, volctx.ClusterID) }, codes.InvalidArgument, []string{"clusterID"}},
		{"no fsName", func(r *csi.NodeStageVolumeRequest) { delete(r.VolumeContext, volctx.FSName) }, codes.InvalidArgument, []string{"fsName"}},
		{"no path", func(r *csi.NodeStageVolumeRequest) { delete(r.VolumeContext, volctx.SubvolumePath) }, codes.InvalidArgument, []string{"subvolumePath"}},
		{"escaping snapshot dir", func(r *csi.NodeStageVolumeRequest) {
			r.VolumeContext[volctx.BackingSnapshot] = "true"
			r.VolumeContext[volctx.BackingSnapshotRoot] = "/volumes/csi/v"
			r.VolumeContext[volctx.BackingSnapshotDir] = "../../etc"
		}, codes.InvalidArgument, []string{"backingSnapshotDir"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			req := f.stageReq()
			tc.change(req)
			_, err := f.srv.NodeStageVolume(context.Background(), req)
			wantCode(t, err, tc.code, tc.words...)
			if len(f.fuse.calls) != 0 {
				t.Fatal("mounted despite the bad request")
			}
		})
	}
}

func TestStagePublishLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for range 2 {
		if _, err := f.srv.NodeStageVolume(ctx, f.stageReq()); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.fuse.calls) != 1 {
		t.Fatalf("mounted %d times, want once", len(f.fuse.calls))
	}
	r := f.fuse.calls[0]
	if r.Path != "/volumes/csi/v/uuid" || r.FSName != "fs" || r.Creds.ID != "u" || strings.Join(r.Options, ",") != "debug,noatime" {
		t.Fatalf("mount request %+v", r)
	}
	sw := csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
	for range 2 {
		if _, err := f.srv.NodePublishVolume(ctx, f.publishReq("a", sw)); err != nil {
			t.Fatal(err)
		}
	}
	_, err := f.srv.NodePublishVolume(ctx, f.publishReq("b", sw))
	wantCode(t, err, codes.FailedPrecondition, "SINGLE_NODE_SINGLE_WRITER")
	if _, err := f.srv.NodePublishVolume(ctx, f.publishReq("b", csi.VolumeCapability_AccessMode_SINGLE_NODE_MULTI_WRITER)); err != nil {
		t.Fatal(err)
	}
	health, err := f.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "vol-1"})
	if err != nil || len(health.GetVolumeHealth().GetHealthStatuses()) != 0 {
		t.Fatalf("health %v, %v", health, err)
	}
	for _, target := range []string{"a", "b", "a"} {
		if _, err := f.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: "vol-1", TargetPath: filepath.Join(f.dir, target)}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(f.dir, target)); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("target %s not removed", target)
		}
	}
	for range 2 {
		if _, err := f.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: "vol-1", StagingTargetPath: f.stageReq().StagingTargetPath}); err != nil {
			t.Fatal(err)
		}
	}
	if m, _ := f.host.Mounts(); len(m) != 0 {
		t.Fatalf("mounts left: %v", m)
	}
	_, err = f.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "vol-1"})
	wantCode(t, err, codes.NotFound, "vol-1")
}

func TestPublishUnstaged(t *testing.T) {
	f := newFixture(t)
	_, err := f.srv.NodePublishVolume(context.Background(), f.publishReq("a", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER))
	wantCode(t, err, codes.FailedPrecondition, "not staged")
}

// A dead client is reported, and the next stage and publish mount again.
func TestDeadMountIsRemounted(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.srv.NodeStageVolume(ctx, f.stageReq()); err != nil {
		t.Fatal(err)
	}
	pub := f.publishReq("a", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	if _, err := f.srv.NodePublishVolume(ctx, pub); err != nil {
		t.Fatal(err)
	}
	f.host.kill(f.stageReq().StagingTargetPath)

	health, err := f.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "vol-1"})
	if err != nil {
		t.Fatal(err)
	}
	if st := health.GetVolumeHealth().GetHealthStatuses(); len(st) != 1 || st[0].GetStatus() != csi.VolumeHealthErrorType_INACCESSIBLE ||
		st[0].GetReason() != reasonMountDead {
		t.Fatalf("health %v", health)
	}
	_, err = f.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "vol-1", VolumePath: pub.TargetPath})
	wantCode(t, err, codes.FailedPrecondition, reasonMountDead)

	// Publish without secrets cannot remount.
	_, err = f.srv.NodePublishVolume(ctx, pub)
	wantCode(t, err, codes.FailedPrecondition, "dead")
	// With secrets it can.
	pub.Secrets = map[string]string{"adminID": "a", "adminKey": testKey}
	if _, err := f.srv.NodePublishVolume(ctx, pub); err != nil {
		t.Fatal(err)
	}
	if len(f.fuse.calls) != 2 {
		t.Fatalf("mounted %d times, want 2", len(f.fuse.calls))
	}
	if err := f.host.Check(pub.TargetPath); err != nil {
		t.Fatalf("target after the remount: %v", err)
	}
	f.host.kill(f.stageReq().StagingTargetPath)
	if _, err := f.srv.NodeStageVolume(ctx, f.stageReq()); err != nil {
		t.Fatal(err)
	}
	if len(f.fuse.calls) != 3 || f.host.Check(f.stageReq().StagingTargetPath) != nil {
		t.Fatal("stage did not remount the dead mount")
	}
}

// A publish without secrets mounts a dead staging again with the
// --node-secrets-dir credentials (the plugin container was replaced and its
// ceph-fuse died with it), as the admin user for a dynamic volume.
func TestDeadMountIsRemountedWithNodeSecretsDir(t *testing.T) {
	f := newFixture(t)
	var reads int
	f.srv.cfg.HealSecrets = func() (map[string]string, error) {
		reads++
		return map[string]string{"adminID": "heal-admin", "adminKey": testKey, "userID": "u", "userKey": testKey}, nil
	}
	ctx := context.Background()
	if _, err := f.srv.NodeStageVolume(ctx, f.stageReq()); err != nil {
		t.Fatal(err)
	}
	pub := f.publishReq("a", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	if _, err := f.srv.NodePublishVolume(ctx, pub); err != nil {
		t.Fatal(err)
	}
	if reads != 0 {
		t.Fatalf("a healthy staging read the node secrets %d times", reads)
	}
	f.host.kill(f.stageReq().StagingTargetPath)
	if _, err := f.srv.NodePublishVolume(ctx, pub); err != nil {
		t.Fatalf("publish over a dead staging with --node-secrets-dir: %v", err)
	}
	if reads != 1 || len(f.fuse.calls) != 2 || f.host.Check(pub.TargetPath) != nil {
		t.Fatalf("secrets read %d times, %d mounts, target %v; want 1, 2, healthy", reads, len(f.fuse.calls), f.host.Check(pub.TargetPath))
	}
	f.srv.cfg.HealSecrets = func() (map[string]string, error) { return nil, errors.New("no such file") }
	f.host.kill(f.stageReq().StagingTargetPath)
	_, err := f.srv.NodePublishVolume(ctx, pub)
	wantCode(t, err, codes.FailedPrecondition, "--node-secrets-dir")
}

func TestShallowStageBindsSnapshot(t *testing.T) {
	f := newFixture(t)
	req := f.stageReq()
	req.VolumeCapability = mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)
	req.VolumeContext = map[string]string{volctx.ClusterID: "c1", volctx.FSName: "fs", volctx.Mounter: volctx.MounterFuse,
		volctx.BackingSnapshot: "true", volctx.BackingSnapshotRoot: "/volumes/csi/v", volctx.BackingSnapshotDir: ".snap/s/uuid"}
	if err := os.MkdirAll(filepath.Join(req.StagingTargetPath, ".snap/s/uuid"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The fake bind needs the snapshot directory "mounted": it is inside
	// the staging mount, so give it that mount's identity.
	f.host.mount(filepath.Join(req.StagingTargetPath, ".snap/s/uuid"), "/volumes/csi/v/.snap/s/uuid")
	if _, err := f.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if f.fuse.calls[0].Path != "/volumes/csi/v" {
		t.Fatalf("mounted %s, want the snapshot root", f.fuse.calls[0].Path)
	}
	m, _ := f.host.Mounts()
	top, _ := host.Find(m, req.StagingTargetPath)
	if top.Root != "/volumes/csi/v/.snap/s/uuid" {
		t.Fatalf("top mount of the staging path %+v, want the snapshot directory", top)
	}
}

func TestStatsAndHealthBadInput(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumePath: "/x"})
	wantCode(t, err, codes.InvalidArgument, "volume_id")
	_, err = f.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v"})
	wantCode(t, err, codes.InvalidArgument, "volume_path")
	_, err = f.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: filepath.Join(f.dir, "nope")})
	wantCode(t, err, codes.NotFound, "nope")
	// An existing directory that holds no mount is not a volume.
	_, err = f.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: "v", VolumePath: f.dir})
	wantCode(t, err, codes.NotFound, "not a mount")
	_, err = f.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{})
	wantCode(t, err, codes.InvalidArgument, "volume_id")
	_, err = f.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: "v", VolumePublishPath: filepath.Join(f.dir, "nope")})
	wantCode(t, err, codes.NotFound, "nope")
}

// TestStageRefusesAnotherVolumesStagingPath: a staging path that holds
// volume A's healthy mount is not handed to volume B.
func TestStageRefusesAnotherVolumesStagingPath(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.srv.NodeStageVolume(ctx, f.stageReq()); err != nil {
		t.Fatal(err)
	}
	other := f.stageReq()
	other.VolumeId = "vol-2"
	_, err := f.srv.NodeStageVolume(ctx, other)
	wantCode(t, err, codes.AlreadyExists, "staging_target_path", "vol-1")
	if len(f.fuse.calls) != 1 {
		t.Fatalf("mounted %d times, want once", len(f.fuse.calls))
	}
	if _, err := f.srv.NodeStageVolume(ctx, f.stageReq()); err != nil {
		t.Fatalf("restage of the same volume: %v", err)
	}
}
