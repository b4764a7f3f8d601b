package driver

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels/nodelabelstest"
)

func TestSecretsReader(t *testing.T) {
	if SecretsReader("") != nil {
		t.Fatal("a reader without a directory")
	}
	dir := t.TempDir()
	read := SecretsReader(dir)
	if _, err := read(); err == nil || !strings.Contains(err.Error(), "userID") {
		t.Fatalf("missing files: %v", err)
	}
	for k, v := range map[string]string{"userID": "csi\n", "userKey": "AQAkey==\n"} {
		if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	got, err := read()
	if err != nil || got["userID"] != "csi" || got["userKey"] != "AQAkey==" {
		t.Fatalf("read = %v, %v", got, err)
	}
}

func TestPluginCapabilities(t *testing.T) {
	caps := PluginCapabilities(cliflags.ModeController)
	var expansion, topology, group bool
	for _, c := range caps {
		if c.GetService().GetType() == csi.PluginCapability_Service_GROUP_CONTROLLER_SERVICE {
			group = true
		}
		if c.GetVolumeExpansion().GetType() == csi.PluginCapability_VolumeExpansion_ONLINE {
			expansion = true
		}
		if c.GetService().GetType() == csi.PluginCapability_Service_VOLUME_ACCESSIBILITY_CONSTRAINTS {
			topology = true
		}
	}
	if len(caps) != 4 || !expansion || !topology || !group {
		t.Fatalf("controller capabilities %v", caps)
	}
	if caps := PluginCapabilities(cliflags.ModeNode); len(caps) != 0 {
		t.Fatalf("node mode announces %v", caps)
	}
}

func TestNodeTopologyFromDomainLabels(t *testing.T) {
	api := nodelabelstest.Client(t, "worker-1", map[string]string{"topology.kubernetes.io/region": "east", "topology.kubernetes.io/zone": "z1"})
	cfg := Config{Shared: &cliflags.Options{NodeID: "worker-1", DriverName: "rbd.csi.ceph.com"},
		RBD: RBDOptions{Topology: map[string]string{"static": "yes"}, NodeAPI: api,
			DomainLabels: []string{"topology.kubernetes.io/region", "topology.kubernetes.io/zone"}}}
	got, err := nodeTopology(cfg)
	want := map[string]string{"static": "yes", "topology.rbd.csi.ceph.com/region": "east", "topology.rbd.csi.ceph.com/zone": "z1"}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("nodeTopology = %v, %v; want %v", got, err, want)
	}
	cfg.Shared.NodeID = "worker-2"
	if _, err := nodeTopology(cfg); err == nil || !strings.Contains(err.Error(), "--domainlabels") {
		t.Fatalf("unknown node: %v", err)
	}
	cfg.RBD.DomainLabels = nil
	if got, err := nodeTopology(cfg); err != nil || !maps.Equal(got, map[string]string{"static": "yes"}) {
		t.Fatalf("without --domainlabels: %v, %v", got, err)
	}
}

// TestAffinityTakesTheNodeFromTheFlags: the node plugin's read-affinity
// labels come from the Node named by --node-id, read through the API when
// --crush-location-labels is set, and --node-labels wins.
func TestAffinityTakesTheNodeFromTheFlags(t *testing.T) {
	api := nodelabelstest.Client(t, "worker-1", map[string]string{"topology.kubernetes.io/zone": "z1"})
	cfg := Config{Shared: &cliflags.Options{NodeID: "worker-1"},
		RBD: RBDOptions{NodeAPI: api, CrushLocationLabels: []string{"topology.kubernetes.io/zone"}}}
	if got := affinity(cfg, nil, zap.NewNop()).Labels(context.Background()); got["topology.kubernetes.io/zone"] != "z1" {
		t.Fatalf("labels from the API: %v", got)
	}
	cfg.RBD.NodeLabels = map[string]string{"topology.kubernetes.io/zone": "flag"}
	if got := affinity(cfg, nil, zap.NewNop()).Labels(context.Background()); got["topology.kubernetes.io/zone"] != "flag" {
		t.Fatalf("--node-labels lost precedence: %v", got)
	}
}
