package credentials

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestRemoveStale(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	c := &Credentials{ID: "admin", Key: "AQBiZ3VzYmFkYmFkYmFkYmFkYmFkYmFkYmFkYQ=="}
	old, err := c.WriteKeyring("stale-test-")
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := c.WriteSecretFile("stale-test-")
	if err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(os.TempDir(), "stale-test-foreign")
	if err := os.MkdirAll(foreign, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(foreign, "data"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	other, err := c.WriteKeyring("other-prefix-")
	if err != nil {
		t.Fatal(err)
	}
	long := time.Now().Add(-2 * time.Hour)
	for _, dir := range []string{filepath.Dir(old.Path), foreign, filepath.Dir(other.Path)} {
		if err := os.Chtimes(dir, long, long); err != nil {
			t.Fatal(err)
		}
	}

	removed, err := RemoveStale("stale-test-", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != filepath.Dir(old.Path) {
		t.Fatalf("removed %v, want only %s", removed, filepath.Dir(old.Path))
	}
	for _, keep := range []string{fresh.Path, foreign, other.Path} {
		if _, err := os.Stat(keep); err != nil {
			t.Errorf("%s was removed: %v", keep, err)
		}
	}
	if _, err := os.Stat(old.Path); !os.IsNotExist(err) {
		t.Errorf("stale keyring still there: %v", err)
	}
	if _, err := RemoveStale("", time.Hour); err == nil {
		t.Error("RemoveStale with an empty prefix was accepted")
	}
}
