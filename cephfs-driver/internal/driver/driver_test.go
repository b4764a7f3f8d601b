package driver

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels/nodelabelstest"
)

func TestReadSecretDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := readSecretDir(dir); err == nil {
		t.Fatal("read an empty directory")
	}
	key := "AQBhc2VjcmV0a2V5c2VjcmV0a2V5c2VjcmV0a2V5MQ=="
	for name, v := range map[string]string{"adminID": "client.admin\n", "adminKey": key + "\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := readSecretDir(dir)
	if err != nil || c.ID != "admin" || c.Key != key {
		t.Fatalf("readSecretDir = %v, %v", c, err)
	}
}

// TestAffinityReadsTheNodeWhenConfigJSONAsks: with readAffinity enabled
// in config.json and no --node-labels, newNode's labels are the Node's,
// read through the configured API client.
func TestAffinityReadsTheNodeWhenConfigJSONAsks(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "config.json")
	entry := `[{"clusterID":"c","monitors":["m:6789"],"readAffinity":{"enabled":true}}]`
	if err := os.WriteFile(conf, []byte(entry), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Shared: &cliflags.Options{NodeID: "node-b"}, Logger: zap.NewNop(),
		CephFS: CephFSOptions{NodeAPI: nodelabelstest.Client(t, "node-b", map[string]string{"topology.kubernetes.io/zone": "z9"})}}
	got := affinity(cfg, clusterconfig.NewStore(conf)).Labels(context.Background())
	if got["topology.kubernetes.io/zone"] != "z9" {
		t.Fatalf("labels %v", got)
	}
	cfg.Shared.NodeID = "node-c" // not served: no labels, no failed start
	if got := affinity(cfg, clusterconfig.NewStore(conf)).Labels(context.Background()); got != nil {
		t.Fatalf("labels of an unknown node: %v", got)
	}
}
