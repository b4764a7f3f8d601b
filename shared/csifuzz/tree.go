package csifuzz

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Tree describes everything under root, one line per entry in lexical
// order: the path relative to root, its type and permissions, and for a
// regular file a digest of its content (for a symlink its target). Two
// calls return the same string exactly when nothing under root was
// created, removed or changed.
func Tree(root string) string {
	var b strings.Builder
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(root, path)
		if err != nil {
			fmt.Fprintf(&b, "%s error %v\n", rel, err)
			return nil
		}
		fmt.Fprintf(&b, "%s %s\n", rel, describe(path, d))
		return nil
	})
	if err != nil {
		fmt.Fprintf(&b, "walk error %v\n", err)
	}
	return b.String()
}

func describe(path string, d fs.DirEntry) string {
	info, err := d.Info()
	if err != nil {
		return "info error " + err.Error()
	}
	switch {
	case info.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(path)
		return "symlink -> " + target
	case !info.Mode().IsRegular():
		return info.Mode().String()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return info.Mode().String() + " read error " + err.Error()
	}
	sum := sha256.Sum256(data)
	return info.Mode().String() + " " + hex.EncodeToString(sum[:8])
}

// Dir returns a new empty directory for one fuzz case, removed when the test
// ends. It is in /dev/shm when that is available: node servers fsync their
// records, which on a disk costs most of a case's time.
func Dir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "csifuzz-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}
