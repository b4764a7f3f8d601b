package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/csiserver"
	"github.com/seed-6a310834/ceph-csi/shared/identity"
	"github.com/seed-6a310834/ceph-csi/shared/testcluster"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host/hosttest"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/node"
)

// testPool is this package's pool on the test cluster, removed after the
// tests.
const testPool = "csi-rbd-demo-e2e"

func TestMain(m *testing.M) { os.Exit(hosttest.RemovePoolAfter(m, testPool)) }

// serveDriver serves the Identity, Controller and Node services in-process
// on a unix socket, as rbd-driver --mode all does, and returns the
// endpoint.
func serveDriver(t *testing.T, c *testcluster.Cluster, dir string) string {
	t.Helper()
	store := clusterconfig.NewStore(c.CSIConfig)
	conns := cephconn.NewPool(cephconn.Options{})
	t.Cleanup(conns.Close)
	ctrl, err := controller.New(controller.Config{Backend: cephrbd.New(conns, cephrbd.Options{}), Clusters: store})
	if err != nil {
		t.Fatal(err)
	}
	nodeSrv, err := node.New(node.Config{NodeID: "demo-node", StateDir: filepath.Join(dir, "state"), ClusterConfig: store})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := identity.New(identity.Config{Name: "rbd.csi.ceph.com", Version: "test", Capabilities: []*csi.PluginCapability{
		identity.ServiceCapability(csi.PluginCapability_Service_CONTROLLER_SERVICE),
	}})
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "unix://" + filepath.Join(dir, "csi.sock")
	srv, err := csiserver.New(csiserver.Config{Endpoint: endpoint, DriverName: "rbd.csi.ceph.com",
		Identity: ids, Controller: ctrl, Node: nodeSrv})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "csi.sock")); err == nil {
			return endpoint
		}
		if time.Now().After(deadline) {
			t.Fatal("the CSI socket did not appear")
		}
	}
}

func TestIntegrationDemoLifecycle(t *testing.T) {
	c := testcluster.Get(t)
	hosttest.RequireRoot(t)
	pool := hosttest.EnsurePool(t, c, testPool)
	dir := t.TempDir()
	t.Setenv("TMPDIR", t.TempDir())
	t.Cleanup(func() {
		if leaks := hosttest.Leaks(dir); len(leaks) > 0 {
			t.Errorf("leaked: %q", leaks)
			hosttest.ForceCleanup(dir)
		}
	})
	endpoint := serveDriver(t, c, dir)
	var out, stderr bytes.Buffer
	args := []string{"--endpoint", endpoint, "--cluster-id", c.FSID, "--pool", pool.Name,
		"--work-dir", filepath.Join(dir, "work")}
	err := run(context.Background(), args, &out, &stderr)
	t.Logf("demo output:\n%s%s", out.String(), stderr.String())
	if err != nil {
		t.Fatalf("run() = %v", err)
	}
	for _, want := range []string{"stage (fuse)", "read the file back", "image 512 MiB, xfs filesystem", "delete volume", "lifecycle done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, image := range strings.Fields(pool.RBD(t, "ls", pool.Name)) {
		// A deleted volume whose image still lists a snapshot becomes a
		// csi-tomb- image (the controller's design); the snapshot moved to
		// the trash namespace while the restored clone awaits its purge.
		if strings.HasPrefix(image, "csi-tomb-") {
			t.Logf("left by the controller: %s", image)
			continue
		}
		t.Errorf("image left: %s", image)
	}
}
