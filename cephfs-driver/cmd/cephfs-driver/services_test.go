package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDriverFlagErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--node-id=n1", "--default-mounter=nfs"}, "--default-mounter"},
		{[]string{"--node-id=n1", "--clone-wait=0s"}, "--clone-wait"},
	}
	for _, tc := range tests {
		err := run(context.Background(), tc.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("run(%q) = %v, want an error naming %s", tc.args, err, tc.wantErr)
		}
	}
}

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
