package driver

import (
	"os"
	"path/filepath"
	"testing"
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
