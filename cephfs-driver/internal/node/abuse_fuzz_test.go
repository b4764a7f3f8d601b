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

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/node"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
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

// memHost is an in-memory mount table: every mount gets a device of its
// own, a bind shares its source's.
type memHost struct {
	mu     sync.Mutex
	mounts []host.MountPoint
}

func (h *memHost) Mounts() ([]host.MountPoint, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.mounts), nil
}

func (h *memHost) add(target, root, device string) {
	h.mounts = append(h.mounts, host.MountPoint{ID: len(h.mounts) + 1, Device: device, Root: root,
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
	src, ok := host.Find(h.mounts, source)
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
func (h *memHost) mountCommand(c execx.Call) execx.Result {
	switch {
	case c.Name == host.DefaultFuseBinary && len(c.Args) > 0:
		h.mount(c.Args[0], "/")
	case c.Name == "mount" && len(c.Args) > 3:
		h.mount(c.Args[3], "/")
	default:
		return execx.Result{ExitCode: 1, Stderr: "unexpected command " + c.String()}
	}
	return execx.Result{}
}

// FuzzNodeRequests is the Node service's abuse fuzz target.
func FuzzNodeRequests(f *testing.F) {
	csifuzz.FuzzNode(f, csifuzz.NodeTarget{New: newNodeWorld, Creds: fuzzCreds,
		Objects: csifuzz.Objects{Volume: stagedVolume, Snapshot: unstagedVolume}, VolumeContext: volumeContext(),
		Extra: csifuzz.Unimplemented("NodeExpandVolume")}) // no EXPAND_VOLUME node capability
}

func volumeContext() map[string]string {
	return map[string]string{volctx.ClusterID: fuzzCluster, volctx.FSName: "cephfs",
		volctx.SubvolumePath: "/volumes/csi/csi-vol-1/0123", volctx.Mounter: volctx.MounterFuse}
}

// newNodeWorld is one fuzz case's node server in a directory of its own,
// over an in-memory mount table, with one volume staged.
func newNodeWorld(t *testing.T) *csifuzz.Node {
	t.Helper()
	dir := csifuzz.Dir(t)
	t.Chdir(dir) // relative paths land here
	mem := &memHost{}
	exec := execx.NewFake()
	exec.OnFunc("", mem.mountCommand)
	proc := filepath.Join(dir, "proc") // no ceph-fuse daemon to look for
	if err := os.Mkdir(proc, 0o700); err != nil {
		t.Fatal(err)
	}
	srv, err := node.New(node.Config{NodeID: "node-1", StateDir: filepath.Join(dir, "state"), ProcRoot: proc,
		Clusters: csifuzz.Clusters{fuzzCluster: {ClusterID: fuzzCluster, Monitors: []string{"10.0.0.1:6789"}}},
		Mounters: map[string]host.Mounter{volctx.MounterFuse: &host.Fuse{Exec: exec},
			volctx.MounterKernel: &host.Kernel{Exec: exec}},
		Host: mem})
	if err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, "staging")
	if err := os.Mkdir(staging, 0o750); err != nil {
		t.Fatal(err)
	}
	in := csifuzz.Valid
	if _, err := srv.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{VolumeId: stagedVolume,
		StagingTargetPath: staging, VolumeCapability: in.Capability(), Secrets: in.Secrets(fuzzCreds),
		VolumeContext: volumeContext()}); err != nil {
		t.Fatal(err)
	}
	// The commands run and the mount table.
	inventory := func() string {
		mps, _ := mem.Mounts()
		return fmt.Sprintf("commands: %d\nmounts: %v\n", len(exec.Calls()), mps)
	}
	return &csifuzz.Node{Server: srv, Dir: dir, Staging: staging, Inventory: inventory}
}
