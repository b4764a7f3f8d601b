package node_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"k8s.io/klog/v2"
	"k8s.io/mount-utils"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/node"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/csifuzz"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

// The abuse fuzz target of the Node service: every handler gets requests
// built from fuzz inputs (shared/csifuzz, paths confined to the case's own
// directory) against a node whose commands, mounts and attachments are
// faked. It must never panic, must answer only with codes the CSI spec
// allows for the RPC, and a rejected request must have attached, mounted,
// run and written nothing.

const (
	fuzzCluster      = "cluster-1"
	fuzzKey          = "AQDNIT5fjrwVIhAAqcZURwQRhK3B5fUopYX5Qw=="
	fuzzDevicePrefix = "/dev/fuzz"
	// The staged volume and one that is not staged.
	stagedVolume   = "0001-0009-cluster-1-0000000000000001-8f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
	unstagedVolume = "0001-0009-cluster-1-0000000000000001-0f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
)

var fuzzCreds = csifuzz.Credentials{IDField: "userID", KeyField: "userKey", ID: "csi-user", Key: fuzzKey}

// countingAttacher attaches nothing and counts what it is asked; each
// attachment gets a device of its own.
type countingAttacher struct {
	mu    sync.Mutex
	calls []string
}

func (a *countingAttacher) record(op string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, op)
}

func (a *countingAttacher) Attach(_ context.Context, r *host.Request) (*host.Attachment, error) {
	a.record("attach " + r.Spec())
	a.mu.Lock()
	defer a.mu.Unlock()
	return &host.Attachment{Mounter: volctx.MounterFuse, Device: fmt.Sprintf("%s%d", fuzzDevicePrefix, len(a.calls))}, nil
}

func (a *countingAttacher) Detach(_ context.Context, at *host.Attachment) error {
	a.record("detach " + at.Device)
	return nil
}

func (a *countingAttacher) Resize(_ context.Context, at *host.Attachment, _ int64) error {
	a.record("resize " + at.Device)
	return nil
}

func (a *countingAttacher) Check(context.Context, *host.Attachment) error { return nil }

func (a *countingAttacher) String() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.calls, "; ")
}

// nodeWorld is one fuzz case's node in a directory of its own, with one
// volume staged: its fakes and the node server over them.
type nodeWorld struct {
	exec    *execx.Fake
	mounter *mount.FakeMounter
	att     *countingAttacher
}

// FuzzNodeRequests is the Node service's abuse fuzz target.
func FuzzNodeRequests(f *testing.F) {
	quietKlog(f)
	csifuzz.FuzzNode(f, csifuzz.NodeTarget{New: newNodeWorld, Creds: fuzzCreds,
		Objects: csifuzz.Objects{Volume: stagedVolume, Snapshot: unstagedVolume}, VolumeContext: volumeContext()})
}

func newNodeWorld(t *testing.T) *csifuzz.Node {
	t.Helper()
	dir := csifuzz.Dir(t)
	t.Chdir(dir) // relative paths land here
	w := &nodeWorld{exec: execx.NewFake(), mounter: mount.NewFakeMounter(nil), att: &countingAttacher{}}
	conf := filepath.Join(dir, "config.json")
	if err := os.WriteFile(conf, []byte(`[{"clusterID":"`+fuzzCluster+`","monitors":["10.0.0.1:6789"]}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	w.exec.OnFunc("blkid", w.blkid)
	w.exec.On("dumpe2fs", execx.Result{Stdout: "Block count: 262144\nBlock size: 4096\n"})
	srv, err := node.New(node.Config{NodeID: "node-1", StateDir: filepath.Join(dir, "state"),
		ClusterConfig: clusterconfig.NewStore(conf), Executor: w.exec, Mounter: w.mounter,
		Attachers:  host.Attachers{volctx.MounterFuse: w.att, volctx.MounterKRBD: w.att, volctx.MounterNBD: w.att},
		DeviceSize: func(string) (int64, error) { return 1 << 30, nil }})
	if err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(dir, "staging")
	in := csifuzz.Valid
	if _, err := srv.NodeStageVolume(context.Background(), &csi.NodeStageVolumeRequest{VolumeId: stagedVolume,
		StagingTargetPath: staging, VolumeCapability: in.Capability(), Secrets: in.Secrets(fuzzCreds),
		VolumeContext: volumeContext()}); err != nil {
		t.Fatal(err)
	}
	return &csifuzz.Node{Server: srv, Dir: dir, Staging: staging, Inventory: w.inventory}
}

// quietKlog silences mount-utils' klog lines ("Disk ... appears to be
// unformatted") for the fuzz target, one per case.
func quietKlog(f *testing.F) {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
	f.Cleanup(func() { klog.LogToStderr(true) })
}

// blkid answers as blkid does: the filesystem of the last mkfs, or none.
func (w *nodeWorld) blkid(execx.Call) execx.Result {
	lines := w.exec.CommandLines()
	for i := len(lines) - 1; i >= 0; i-- {
		if fs, ok := strings.CutPrefix(lines[i], "mkfs."); ok {
			return execx.Result{Stdout: "TYPE=" + strings.Fields(fs)[0] + "\n"}
		}
	}
	return execx.Result{ExitCode: 2}
}

func volumeContext() map[string]string {
	return map[string]string{volctx.ClusterID: fuzzCluster, volctx.Pool: "rbd", volctx.ImageName: "csi-vol-1",
		volctx.Mounter: volctx.MounterFuse}
}

// inventory describes the commands run, the mounts and the attacher calls.
func (w *nodeWorld) inventory() string {
	mps, _ := w.mounter.List()
	return fmt.Sprintf("commands: %d\nmounts: %v\nattacher: %s\n", len(w.exec.Calls()), mps, w.att)
}
