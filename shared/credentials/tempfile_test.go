package credentials

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWriteFiles(t *testing.T) {
	c := &Credentials{ID: "csi-user", Key: testKey}

	tests := []struct {
		name  string
		write func(prefix string) (*TempFile, error)
		want  string
	}{
		{"keyring", c.WriteKeyring, "[client.csi-user]\n\tkey = " + testKey + "\n"},
		{"secret file", c.WriteSecretFile, testKey},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TMPDIR", t.TempDir())

			// A permissive umask must not loosen the modes.
			old := syscall.Umask(0)
			defer syscall.Umask(old)

			tf, err := tt.write("csi-test-")
			if err != nil {
				t.Fatalf("write failed: %v", err)
			}

			dir := filepath.Dir(tf.Path)
			if !strings.HasPrefix(filepath.Base(dir), "csi-test-") {
				t.Errorf("directory %s does not start with the prefix", dir)
			}

			checkMode(t, dir, fs.ModeDir|0o700)
			checkMode(t, tf.Path, 0o600)

			got, err := os.ReadFile(tf.Path)
			if err != nil || string(got) != tt.want {
				t.Fatalf("content = %q, %v; want %q", got, err, tt.want)
			}

			for range 2 {
				if err := tf.Remove(); err != nil {
					t.Fatalf("Remove() = %v", err)
				}
			}

			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("directory %s still exists after Remove: %v", dir, err)
			}
		})
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()

	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}

	if got := fi.Mode(); got != want {
		t.Errorf("mode of %s = %v; want %v", path, got, want)
	}
}

func TestWriteRefusesBadCredentials(t *testing.T) {
	tests := []struct {
		name string
		c    Credentials
	}{
		{"newline in key", Credentials{"a", testKey + "\n[client.admin]"}},
		{"empty key", Credentials{"a", ""}},
		{"newline in ID", Credentials{"a]\n[client.b", testKey}},
		{"empty ID", Credentials{"", testKey}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp)

			for _, write := range []func(string) (*TempFile, error){tt.c.WriteKeyring, tt.c.WriteSecretFile} {
				tf, err := write("x")
				if err == nil {
					_ = tf.Remove()
					t.Fatal("write succeeded")
				}

				if tt.c.Key != "" && strings.Contains(err.Error(), tt.c.Key) {
					t.Fatalf("error %q contains the key", err)
				}
			}

			if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
				t.Fatalf("left %d entries behind", len(entries))
			}
		})
	}
}

func TestWriteErrorCleansUp(t *testing.T) {
	t.Setenv("TMPDIR", filepath.Join(t.TempDir(), "missing"))

	c := &Credentials{ID: "a", Key: testKey}
	if _, err := c.WriteKeyring("x"); err == nil || strings.Contains(err.Error(), testKey) {
		t.Fatalf("WriteKeyring() into a missing TMPDIR = %v; want an error without the key", err)
	}
}

func TestRemoveZero(t *testing.T) {
	var nilFile *TempFile

	for _, tf := range []*TempFile{nilFile, {}, {Path: "relative/file"}} {
		if err := tf.Remove(); err != nil {
			t.Fatalf("Remove() on %+v = %v", tf, err)
		}
	}
}
