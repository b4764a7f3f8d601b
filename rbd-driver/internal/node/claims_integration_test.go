package node

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// secondNode returns another node plugin on this host, with its own node
// ID, state directory and staging path: what a second node would be.
func (l *live) secondNode() *live {
	l.t.Helper()
	l2 := *l
	l2.dir = l.t.TempDir()
	srv, err := New(Config{
		NodeID: "test-node-2", StateDir: l2.path("state"), ClusterConfig: clusterconfig.NewStore(l.cluster.CSIConfig),
		HolderWait: 2 * time.Second, HolderPoll: 200 * time.Millisecond,
	})
	if err != nil {
		l.t.Fatal(err)
	}
	l2.srv = srv
	return &l2
}

func TestIntegrationSecondNodeRefusedWhileFirstHolds(t *testing.T) {
	l := newLive(t, 64)
	other := l.secondNode()
	vc := mountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	l.stage(vc)
	_, err := other.srv.NodeStageVolume(context.Background(), other.stageRequest(vc))
	checkCode(t, err, codes.FailedPrecondition, "held by another client", "watcher ", l.image)
	if _, err := os.Stat(other.srv.records.volumeDir(other.volID)); !os.IsNotExist(err) {
		t.Fatalf("the refused staging left state: %v", err)
	}
	l.unstage()
	other.stage(vc)
	other.unstage()
}

func TestIntegrationImageMappedOnHostIsNotMappedTwice(t *testing.T) {
	l := newLive(t, 64)
	// Someone else (an operator, another plugin) serves the image with
	// rbd-fuse on this host.
	mnt := filepath.Join(t.TempDir(), "foreign")
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("rbd-fuse", "-f", "-p", l.pool.Name, "-r", l.image, "-c", l.cluster.ConfPath,
		"--id", l.cluster.AdminID, "--keyring", l.cluster.Keyring, mnt)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = exec.Command("umount", mnt).Run()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitForFile(t, filepath.Join(mnt, l.image))
	// Multi-node block: no single-node claim check, only the host check.
	vc := blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER)
	_, err := l.srv.NodeStageVolume(context.Background(), l.stageRequest(vc))
	checkCode(t, err, codes.FailedPrecondition, "already mapped on this node", "fuse at "+mnt)
	if _, err := os.Stat(l.srv.records.volumeDir(l.volID)); !os.IsNotExist(err) {
		t.Fatalf("the refused staging left state: %v", err)
	}
}

func waitForFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear", path)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
