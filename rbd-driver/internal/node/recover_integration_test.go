package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// TestIntegrationFuseRecoveredAfterHelperDied: rbd-fuse dies (as with a
// node plugin container restart). Once the pod is gone, publishing the
// volume again (a new pod) stages it again with the healer's credentials
// (after the dead client's watch expired), and the data written before is
// there.
func TestIntegrationFuseRecoveredAfterHelperDied(t *testing.T) {
	l := newLive(t, 64)
	srv, err := New(Config{NodeID: "test-node", StateDir: l.path("state"), ClusterConfig: clusterconfig.NewStore(l.cluster.CSIConfig),
		HolderWait: time.Second, HolderPoll: 200 * time.Millisecond,
		HealSecrets: func() (map[string]string, error) {
			return map[string]string{"userID": l.cluster.AdminID, "userKey": l.cluster.AdminKey}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	l.srv = srv
	vc := mountCap("ext4", csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	l.stage(vc)
	writeTestFile(t, l.publish(vc, "old-pod", false))
	rec, err := l.srv.records.load(l.volID)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(rec.Attachment.HelperPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	l.unpublish("old-pod")
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, err := l.srv.NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{VolumeId: l.volID,
			StagingTargetPath: l.path("staging"), TargetPath: l.path("new-pod"), VolumeCapability: vc})
		if err == nil {
			break
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			t.Fatalf("NodePublishVolume() after rbd-fuse died = %v", err)
		}
		time.Sleep(2 * time.Second)
	}
	checkTestFile(t, l.path("new-pod"))
	l.unpublish("new-pod")
	l.unstage()
}

func writeTestFile(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "data"))
	if err == nil {
		_, err = f.WriteString("survives the helper")
		err = errors.Join(err, f.Sync(), f.Close())
	}
	if err != nil {
		t.Fatal(err)
	}
}

func checkTestFile(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data"))
	if err != nil || string(b) != "survives the helper" {
		t.Fatalf("data after the recovery: %q, %v", b, err)
	}
}
