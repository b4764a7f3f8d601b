package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/execx"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/mounter"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/node"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
)

// The abuse fuzz target of the Node service: every handler gets requests
// built from fuzz inputs (shared/csifuzz, paths confined to the case's own
// directory) against a node whose mount commands (the real kernel and
// ceph-fuse mounters over a fake exec) and mount table are faked. It must
// never panic, must answer only with codes the CSI spec allows for the RPC,
// and a rejected request must have mounted, run and written nothing.

const (
	fuzzCluster = "cluster-1"
	fuzzKey     = "AQBhc2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MQ=="
	// The staged volume and one that is not staged.
	stagedVolume   = "0001-0009-cluster-1-0000000000000007-8f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
	unstagedVolume = "0001-0009-cluster-1-0000000000000007-0f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
)

var fuzzCreds = csifuzz.Credentials{IDField: credentials.UserIDField, KeyField: credentials.UserKeyField,
	ID: "csi-user", Key: fuzzKey}

var nodeObjects = csifuzz.Objects{Volume: stagedVolume, Snapshot: unstagedVolume}

type fuzzClusters map[string]*clusterconfig.Cluster

func (c fuzzClusters) Get(id string) (*clusterconfig.Cluster, error) {
	if cl, ok := c[id]; ok {
		return cl, nil
	}
	return nil, fmt.Errorf("clusterID %q: %w", id, clusterconfig.ErrClusterNotFound)
}

// memHost is an in-memory mount table: every mount gets a device of its
// own, a bind shares its source's.
type memHost struct {
	mu     sync.Mutex
	mounts []mounter.MountPoint
}

func (h *memHost) Mounts() ([]mounter.MountPoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.mounts), nil
}

func (h *memHost) add(target, root, device string) {
	h.mounts = append(h.mounts, mounter.MountPoint{ID: len(h.mounts) + 1, Device: device, Root: root,
		Path: filepath.Clean(target), FSType: "fuse.ceph-fuse", Source: "ceph-fuse"})
}

func (h *memHost) mount(target, root string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.add(target, root, fmt.Sprintf("0:%d", len(h.mounts)+100))
}

func (h *memHost) Bind(source, target string, _ bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	src, ok := mounter.Find(h.mounts, source)
	if !ok {
		return fmt.Errorf("bind of %s: not mounted", source)
	}
	h.add(target, src.Root, src.Device)
	return nil
}

func (h *memHost) Unmount(path string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := len(h.mounts) - 1; i >= 0; i-- {
		if h.mounts[i].Path == filepath.Clean(path) {
			h.mounts = slices.Delete(h.mounts, i, i+1)
			return nil
		}
	}
	return fmt.Errorf("unmount %s: not mounted", path)
}

func (h *memHost) Check(path string) error {
	_, err := os.Stat(path)
	return err
}

// mountCommand "runs" a mount command: the target joins the mount table.
func (h *memHost) mountCommand(_ context.Context, c execx.Cmd) ([]byte, error) {
	switch {
	case c.Name == mounter.DefaultFuseBinary && len(c.Args) > 0:
		h.mount(c.Args[0], "/")
	case c.Name == "mount" && len(c.Args) > 3:
		h.mount(c.Args[3], "/")
	default:
		return nil, fmt.Errorf("unexpected command %s", c)
	}
	return nil, nil
}

// nodeWorld is one fuzz case's node server in a directory of its own, with
// one volume staged.
type nodeWorld struct {
	dir     string
	staging string
	srv     *node.Server
	exec    *execx.Fake
	host    *memHost
}

func volumeContext() map[string]string {
	return map[string]string{volctx.ClusterID: fuzzCluster, volctx.FSName: "cephfs",
		volctx.SubvolumePath: "/volumes/csi/csi-vol-1/0123", volctx.Mounter: volctx.MounterFuse}
}

func newNodeWorld(t *testing.T) *nodeWorld {
	t.Helper()
	dir := csifuzz.Dir(t)
	t.Chdir(dir) // relative paths land here
	w := &nodeWorld{dir: dir, staging: filepath.Join(dir, "staging"), host: &memHost{}}
	w.exec = &execx.Fake{Handler: w.host.mountCommand}
	proc := filepath.Join(dir, "proc") // no ceph-fuse daemon to look for
	if err := os.Mkdir(proc, 0o700); err != nil {
		t.Fatal(err)
	}
	srv, err := node.New(node.Config{NodeID: "node-1", StateDir: filepath.Join(dir, "state"), ProcRoot: proc,
		Clusters: fuzzClusters{fuzzCluster: {ClusterID: fuzzCluster, Monitors: []string{"10.0.0.1:6789"}}},
		Mounters: map[string]mounter.Mounter{volctx.MounterFuse: &mounter.Fuse{Exec: w.exec},
			volctx.MounterKernel: &mounter.Kernel{Exec: w.exec}},
		Host: w.host})
	if err != nil {
		t.Fatal(err)
	}
	w.srv = srv
	in := csifuzz.Valid
	if err := os.Mkdir(w.staging, 0o750); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{VolumeId: stagedVolume,
		StagingTargetPath: w.staging, VolumeCapability: in.Capability(), Secrets: in.Secrets(fuzzCreds),
		VolumeContext: volumeContext()}); err != nil {
		t.Fatal(err)
	}
	return w
}

// state describes every file under the case's directory, the commands run
// and the mount table.
func (w *nodeWorld) state() string {
	mps, _ := w.host.Mounts()
	return fmt.Sprintf("files:\n%scommands: %d\nmounts: %v\n", csifuzz.Tree(w.dir), len(w.exec.Calls()), mps)
}

func (w *nodeWorld) stagingPath(in csifuzz.Input) string { return in.Path(false, w.dir, w.staging) }

func (w *nodeWorld) target(in csifuzz.Input) string {
	return in.Path(true, w.dir, filepath.Join(w.dir, "target"))
}

// nodeRPCs are the handlers the target calls, by Input.RPC modulo their
// number; extra are codes allowed beyond csifuzz.Allowed.
var nodeRPCs = []struct {
	method string
	call   func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error)
	extra  []codes.Code
}{
	{"NodeStageVolume", func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: in.ObjectID(nodeObjects),
			StagingTargetPath: w.stagingPath(in), VolumeCapability: in.Capability(), Secrets: in.Secrets(fuzzCreds),
			VolumeContext: in.Parameters(volumeContext())})
	}, nil},
	{"NodeUnstageVolume", func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: in.ObjectID(nodeObjects),
			StagingTargetPath: w.stagingPath(in)})
	}, nil},
	{"NodePublishVolume", func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: in.ObjectID(nodeObjects),
			StagingTargetPath: w.stagingPath(in), TargetPath: w.target(in), VolumeCapability: in.Capability(),
			Readonly: in.Has(csifuzz.FlagReadonly), Secrets: in.Secrets(fuzzCreds),
			VolumeContext: in.Parameters(volumeContext())})
	}, nil},
	{"NodeUnpublishVolume", func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: in.ObjectID(nodeObjects),
			TargetPath: w.target(in)})
	}, nil},
	{"NodeGetVolumeStats", func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: in.ObjectID(nodeObjects),
			VolumePath: w.stagingPath(in), StagingTargetPath: w.target(in)})
	}, nil},
	{"NodeExpandVolume", func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.NodeExpandVolume(ctx, &csi.NodeExpandVolumeRequest{VolumeId: in.ObjectID(nodeObjects),
			VolumePath: w.stagingPath(in), StagingTargetPath: w.target(in), CapacityRange: in.Range(),
			VolumeCapability: in.Capability(), Secrets: in.Secrets(fuzzCreds)})
	}, []codes.Code{codes.Unimplemented}}, // no EXPAND_VOLUME node capability
	{"NodeGetVolumeHealth", func(ctx context.Context, w *nodeWorld, in csifuzz.Input) (proto.Message, error) {
		return w.srv.NodeGetVolumeHealth(ctx, &csi.NodeGetVolumeHealthRequest{VolumeId: in.ObjectID(nodeObjects),
			StagingTargetPath: w.stagingPath(in), VolumePublishPath: w.target(in)})
	}, nil},
}

// FuzzNodeRequests is the Node service's abuse fuzz target.
func FuzzNodeRequests(f *testing.F) {
	csifuzz.Fuzz(f, csifuzz.Seeds(uint8(len(nodeRPCs))), func(t *testing.T, in csifuzz.Input) {
		w := newNodeWorld(t)
		rpc := nodeRPCs[int(in.RPC)%len(nodeRPCs)]
		before := w.state()
		resp, err := csifuzz.Call(t, in, func() (proto.Message, error) { return rpc.call(context.Background(), w, in) })
		csifuzz.Check(t, rpc.method, in, resp, err, rpc.extra...)
		if err != nil {
			csifuzz.Unchanged(t, rpc.method, in, err, before, w.state())
		}
	})
}
