package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/execx"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

const (
	testKey     = "AQDNIT5fjrwVIhAAqcZURwQRhK3B5fUopYX5Qw=="
	testCluster = "cluster-1"
	testVolume  = "0001-0009-cluster-1-0000000000000002-8f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
	fakeDevice  = "/dev/fake0"
)

// fakeAttacher is an host.Attacher that records what it is asked.
type fakeAttacher struct {
	mu        sync.Mutex
	name      string
	requests  []host.Request
	detached  []host.Attachment
	resized   []int64
	attachErr error
	detachErr error
	resizeErr error
	checkErr  error
}

func (f *fakeAttacher) Attach(_ context.Context, r *host.Request) (*host.Attachment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, *r)
	if f.attachErr != nil {
		return nil, f.attachErr
	}
	return &host.Attachment{Mounter: f.name, Device: fakeDevice, UnmapOptions: r.UnmapOptions}, nil
}

func (f *fakeAttacher) Detach(_ context.Context, a *host.Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.detached = append(f.detached, *a)
	if f.detachErr == nil {
		f.checkErr = nil // a new attachment is healthy
	}
	return f.detachErr
}

func (f *fakeAttacher) Resize(_ context.Context, _ *host.Attachment, minBytes int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resized = append(f.resized, minBytes)
	return f.resizeErr
}

func (f *fakeAttacher) Check(context.Context, *host.Attachment) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.checkErr
}

func (f *fakeAttacher) counts() (attached, detached int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests), len(f.detached)
}

// rig is a node server over fakes, with real directories in a temp dir.
type rig struct {
	t        *testing.T
	dir      string
	stateDir string
	exec     *execx.Fake
	mounter  *mount.FakeMounter
	att      *fakeAttacher
	sizes    map[string]int64
	srv      *Server
	// mapped and held are what the server finds on the host and in the
	// cluster before it maps an image.
	mapped []host.Mapping
	held   []host.Holder
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dir := t.TempDir()
	r := &rig{
		t: t, dir: dir, stateDir: filepath.Join(dir, "state"), exec: execx.NewFake(),
		mounter: mount.NewFakeMounter(nil), att: &fakeAttacher{name: volctx.MounterFuse},
		sizes: map[string]int64{fakeDevice: 1 << 30},
	}
	conf := filepath.Join(dir, "config.json")
	err := os.WriteFile(conf, []byte(`[{"clusterID":"`+testCluster+`","monitors":["10.0.0.1:6789","10.0.0.2:6789"],"rbd":{"radosNamespace":"ns-from-config"}}]`), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	// An unformatted device until mkfs runs, then the filesystem mkfs made.
	r.exec.OnFunc("blkid", r.blkid)
	r.exec.On("dumpe2fs", execx.Result{Stdout: "Block count:              262144\nBlock size:               4096\n"})
	r.srv = r.newServer(clusterconfig.NewStore(conf))
	return r
}

func (r *rig) newServer(store *clusterconfig.Store) *Server {
	r.t.Helper()
	srv, err := New(Config{
		NodeID: "node-1", MaxVolumesPerNode: 16, Topology: map[string]string{"topology.rbd.csi.ceph.com/zone": "z1"},
		StateDir: r.stateDir, ClusterConfig: store, Executor: r.exec, Mounter: r.mounter,
		Attachers:  host.Attachers{volctx.MounterFuse: r.att, volctx.MounterKRBD: r.att, volctx.MounterNBD: r.att},
		DeviceSize: r.deviceSize,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	srv.mappings = func(context.Context, string, string, string) ([]host.Mapping, error) { return r.mapped, nil }
	srv.holders = func(context.Context, *host.Request) ([]host.Holder, error) { return r.held, nil }
	srv.holderWait, srv.holderPoll = time.Millisecond, time.Millisecond
	return srv
}

func (r *rig) deviceSize(path string) (int64, error) {
	if size, ok := r.sizes[path]; ok {
		return size, nil
	}
	return 0, errors.New("no such device")
}

// blkid answers as blkid does for the last filesystem mkfs made, or for an
// unformatted device.
func (r *rig) blkid(execx.Call) execx.Result {
	for _, line := range slices.Backward(r.exec.CommandLines()) {
		if fs, ok := strings.CutPrefix(line, "mkfs."); ok {
			return execx.Result{Stdout: "DEVNAME=" + fakeDevice + "\nTYPE=" + strings.Fields(fs)[0] + "\n"}
		}
	}
	return execx.Result{ExitCode: 2}
}

func (r *rig) path(name string) string { return filepath.Join(r.dir, name) }

func mountCap(fsType string, mode csi.VolumeCapability_AccessMode_Mode, flags ...string) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{FsType: fsType, MountFlags: flags}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

func blockCap(mode csi.VolumeCapability_AccessMode_Mode) *csi.VolumeCapability {
	return &csi.VolumeCapability{
		AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}
}

const rwo = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER

func (r *rig) stageRequest(vc *csi.VolumeCapability) *csi.NodeStageVolumeRequest {
	return &csi.NodeStageVolumeRequest{
		VolumeId: testVolume, StagingTargetPath: r.path("staging"), VolumeCapability: vc,
		Secrets: map[string]string{"userID": "csi-user", "userKey": testKey},
		VolumeContext: map[string]string{
			volctx.ClusterID: testCluster, volctx.Pool: "pool", volctx.ImageName: "csi-vol-1",
			volctx.Mounter: volctx.MounterFuse, volctx.UnmapOptions: "force",
		},
	}
}

func (r *rig) stage(vc *csi.VolumeCapability) {
	r.t.Helper()
	if _, err := r.srv.NodeStageVolume(context.Background(), r.stageRequest(vc)); err != nil {
		r.t.Fatalf("NodeStageVolume() = %v", err)
	}
}

func (r *rig) publishRequest(vc *csi.VolumeCapability, target string, readOnly bool) *csi.NodePublishVolumeRequest {
	return &csi.NodePublishVolumeRequest{
		VolumeId: testVolume, StagingTargetPath: r.path("staging"), TargetPath: r.path(target),
		VolumeCapability: vc, Readonly: readOnly,
	}
}

func (r *rig) record() *stageRecord {
	r.t.Helper()
	rec, err := r.srv.records.load(testVolume)
	if err != nil {
		r.t.Fatal(err)
	}
	return rec
}

// mounts returns "DEVICE PATH TYPE OPTS" for each fake mount, with the
// rig's directory shown as DIR.
func (r *rig) mounts() []string {
	mps, _ := r.mounter.List()
	var out []string
	for _, mp := range mps {
		s := strings.Join([]string{mp.Device, mp.Path, mp.Type, strings.Join(mp.Opts, ",")}, " ")
		out = append(out, strings.TrimSpace(strings.ReplaceAll(s, r.dir, "DIR")))
	}
	return out
}

func (r *rig) checkMounts(want ...string) {
	r.t.Helper()
	if got := r.mounts(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		r.t.Fatalf("mounts:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func (r *rig) checkCommands(want ...string) {
	r.t.Helper()
	if got := r.exec.CommandLines(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		r.t.Fatalf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// checkCode asserts err is a status with code and a message containing
// each of parts.
func checkCode(t *testing.T, err error, code codes.Code, parts ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if err == nil || !ok || st.Code() != code {
		t.Fatalf("error = %v; want code %v", err, code)
	}
	for _, p := range parts {
		if !strings.Contains(st.Message(), p) {
			t.Fatalf("error %q does not mention %q", st.Message(), p)
		}
	}
}

const blkidCmd = "blkid -p -s TYPE -s PTTYPE -o export " + fakeDevice

func execxResult(stdout string) execx.Result { return execx.Result{Stdout: stdout} }

func (r *rig) unstage() {
	r.t.Helper()
	req := &csi.NodeUnstageVolumeRequest{VolumeId: testVolume, StagingTargetPath: r.path("staging")}
	if _, err := r.srv.NodeUnstageVolume(context.Background(), req); err != nil {
		r.t.Fatalf("NodeUnstageVolume() = %v", err)
	}
}
