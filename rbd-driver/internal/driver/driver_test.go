package driver

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/cliflags"
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
	var expansion bool
	for _, c := range caps {
		if c.GetVolumeExpansion().GetType() == csi.PluginCapability_VolumeExpansion_ONLINE {
			expansion = true
		}
	}
	if len(caps) != 2 || !expansion {
		t.Fatalf("controller capabilities %v", caps)
	}
	if caps := PluginCapabilities(cliflags.ModeNode); len(caps) != 0 {
		t.Fatalf("node mode announces %v", caps)
	}
}
