package clusterconfig

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// config returns a file with one cluster whose monitor is mon.
func config(clusterID, mon string) string {
	return fmt.Sprintf(`[{"clusterID": %q, "monitors": [%q]}]`, clusterID, mon)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()

	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// wantMonitor checks that Get(clusterID) succeeds with the given monitor.
func wantMonitor(t *testing.T, s *Store, clusterID, mon string) {
	t.Helper()

	c, err := s.Get(clusterID)
	if err != nil {
		t.Fatalf("Get(%q) = %v", clusterID, err)
	}

	if got := c.MonitorsString(); got != mon {
		t.Fatalf("Get(%q) monitors = %q; want %q", clusterID, got, mon)
	}
}

// wantError checks that Get(clusterID) fails with an error wrapping target
// and containing text.
func wantError(t *testing.T, s *Store, clusterID string, target error, text string) {
	t.Helper()

	c, err := s.Get(clusterID)
	if !errors.Is(err, target) || !strings.Contains(err.Error(), text) {
		t.Fatalf("Get(%q) = %+v, %v; want an error wrapping %v containing %q", clusterID, c, err, target, text)
	}

	other := ErrConfig
	if target == ErrConfig {
		other = ErrClusterNotFound
	}

	if errors.Is(err, other) {
		t.Fatalf("Get(%q) error %v also wraps %v", clusterID, err, other)
	}
}

func TestStoreGet(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeFile(t, path, realFile)

	s := NewStore(path)
	if s.Path() != path {
		t.Fatalf("Path() = %q; want %q", s.Path(), path)
	}

	tests := []struct {
		clusterID string
		wantMons  string
		wantErr   string
	}{
		{"4a9e463a-4853-4237-a5c5-9ae9d25bacda", "10.0.0.1:6789,10.0.0.2:6789", ""},
		{"minimal", "[v2:10.0.0.3:3300/0,v1:10.0.0.3:6789/0]", ""},
		{"unknown", "", `clusterID "unknown": cluster ID not found`},
		{"", "", `clusterID "": cluster ID not found`},
	}

	for _, tt := range tests {
		t.Run(tt.clusterID, func(t *testing.T) {
			if tt.wantErr != "" {
				wantError(t, s, tt.clusterID, ErrClusterNotFound, tt.wantErr)

				return
			}

			wantMonitor(t, s, tt.clusterID, tt.wantMons)
		})
	}

	if s.loads != 1 {
		t.Fatalf("the unchanged file was read %d times; want once", s.loads)
	}
}

func TestStoreReturnsCopies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeFile(t, path, config("c", "m1"))

	s := NewStore(path)

	c, err := s.Get("c")
	if err != nil {
		t.Fatal(err)
	}

	c.Monitors[0] = "changed"
	c.CephFS.SubvolumeGroup = "changed"

	c2, err := s.Get("c")
	if err != nil || c2.Monitors[0] != "m1" || c2.CephFS.SubvolumeGroup != "csi" {
		t.Fatalf("Get() after changing a result = %+v, %v", c2, err)
	}
}

func TestStoreBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	s := NewStore(path)

	// Missing file.
	wantError(t, s, "c", ErrConfig, "no such file")

	if _, err := s.Get("c"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Get() = %v; want it to wrap fs.ErrNotExist", err)
	}

	// Created.
	writeFile(t, path, config("c", "m1"))
	wantMonitor(t, s, "c", "m1")

	// Broken: the last good configuration is not served.
	replaceFile(t, path, `[{"clusterID": "c"}]`)
	wantError(t, s, "c", ErrConfig, `invalid cluster configuration `+path+`: entry 0 (clusterID "c"): no monitors`)

	// An unchanged broken file is not read again.
	loads := s.loads
	wantError(t, s, "c", ErrConfig, "no monitors")

	if s.loads != loads {
		t.Fatal("the unchanged broken file was read again")
	}

	// One bad entry fails only its own cluster ID.
	replaceFile(t, path, `[{"clusterID": "bad", "monitors": []}, {"clusterID": "c", "monitors": ["m3"]},
		{"clusterID": "c", "monitors": ["ignored"]}]`)
	wantMonitor(t, s, "c", "m3")
	wantError(t, s, "bad", ErrConfig, `invalid cluster configuration `+path+`: entry 0 (clusterID "bad"): no monitors`)
	wantError(t, s, "other", ErrClusterNotFound, "other")

	if all, err := s.Clusters(); err != nil || len(all) != 1 || all[0].ClusterID != "c" {
		t.Fatalf("Clusters() = %+v, %v; want only c", all, err)
	}

	// Fixed.
	replaceFile(t, path, config("c", "m2"))
	wantMonitor(t, s, "c", "m2")

	// Removed.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}

	wantError(t, s, "c", ErrConfig, "no such file")
}

// replaceFile writes a new file and renames it over path, as editors do.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()

	tmp := path + ".tmp"
	writeFile(t, tmp, content)

	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestStoreInPlaceEdit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeFile(t, path, config("c", "m1"))

	s := NewStore(path)
	wantMonitor(t, s, "c", "m1")

	// Same inode, same size: only the modification time tells.
	writeFile(t, path, config("c", "m2"))

	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}

	wantMonitor(t, s, "c", "m2")

	// Same inode, same time, other size.
	writeFile(t, path, config("c", "m33"))

	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}

	wantMonitor(t, s, "c", "m33")
}

// configMapDir mimics the volume Kubernetes mounts for a ConfigMap:
// config.json -> ..data/config.json, ..data -> ..<version>, updated by
// atomically renaming a new ..data symlink over the old one.
type configMapDir struct {
	t       *testing.T
	dir     string
	version int
}

func newConfigMapDir(t *testing.T, content string) *configMapDir {
	d := &configMapDir{t: t, dir: t.TempDir()}
	d.update(content)

	if err := os.Symlink(filepath.Join("..data", "config.json"), d.path()); err != nil {
		t.Fatal(err)
	}

	return d
}

func (d *configMapDir) path() string {
	return filepath.Join(d.dir, "config.json")
}

// update writes content to a new version directory and swaps ..data to it.
func (d *configMapDir) update(content string) {
	d.version++
	version := fmt.Sprintf("..v%d", d.version)

	if err := os.Mkdir(filepath.Join(d.dir, version), 0o755); err != nil {
		d.t.Fatal(err)
	}

	writeFile(d.t, filepath.Join(d.dir, version, "config.json"), content)

	tmp := filepath.Join(d.dir, "..data_tmp")
	if err := os.Symlink(version, tmp); err != nil {
		d.t.Fatal(err)
	}

	if err := os.Rename(tmp, filepath.Join(d.dir, "..data")); err != nil {
		d.t.Fatal(err)
	}
}

func TestStoreConfigMapSwap(t *testing.T) {
	d := newConfigMapDir(t, config("c", "m1"))
	s := NewStore(d.path())
	wantMonitor(t, s, "c", "m1")

	// Same size, and possibly the same modification time: the inode differs.
	d.update(config("c", "m2"))
	wantMonitor(t, s, "c", "m2")

	d.update(config("other", "m3"))
	wantError(t, s, "c", ErrClusterNotFound, `clusterID "c"`)
	wantMonitor(t, s, "other", "m3")

	if s.loads != 3 {
		t.Fatalf("read the file %d times; want 3", s.loads)
	}
}

func TestStoreCheckInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeFile(t, path, config("c", "m1"))

	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewStore(path, WithCheckInterval(time.Second))
	s.now = func() time.Time { return now }

	wantMonitor(t, s, "c", "m1")
	replaceFile(t, path, config("c", "m2"))

	steps := []struct {
		advance time.Duration
		want    string
	}{
		{0, "m1"},
		{999 * time.Millisecond, "m1"},
		{time.Millisecond, "m2"},
	}

	for _, step := range steps {
		now = now.Add(step.advance)
		wantMonitor(t, s, "c", step.want)
	}
}

// TestStoreConcurrent runs lookups while the ConfigMap is swapped, under
// -race; every result must be one consistent version.
func TestStoreConcurrent(t *testing.T) {
	d := newConfigMapDir(t, config("c", "v0"))
	s := NewStore(d.path())

	var wg sync.WaitGroup

	for range 8 {
		wg.Go(func() {
			for range 300 {
				c, err := s.Get("c")
				if err != nil {
					t.Errorf("Get() = %v", err)

					return
				}

				if len(c.Monitors) != 1 || !strings.HasPrefix(c.Monitors[0], "v") {
					t.Errorf("Get() = %+v", c)

					return
				}
			}
		})
	}

	for i := 1; i <= 30; i++ {
		d.update(config("c", fmt.Sprintf("v%d", i)))
	}

	wg.Wait()
	wantMonitor(t, s, "c", "v30")
}

func TestStoreClusters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.json")
	writeFile(t, path, `[{"clusterID": "b", "monitors": ["m2"]}, {"clusterID": "a", "monitors": ["m1"]}]`)
	s := NewStore(path)

	list, err := s.Clusters()
	if err != nil {
		t.Fatal(err)
	}

	if len(list) != 2 || list[0].ClusterID != "a" || list[1].ClusterID != "b" {
		t.Fatalf("Clusters() = %+v; want a, b in order", list)
	}

	if list[0].CephFS.SubvolumeGroup != DefaultSubvolumeGroup {
		t.Fatalf("Clusters() did not apply the defaults: %+v", list[0].CephFS)
	}

	list[0].Monitors[0] = "changed"
	wantMonitor(t, s, "a", "m1")

	writeFile(t, path, "not json")

	if _, err := s.Clusters(); !errors.Is(err, ErrConfig) {
		t.Fatalf("Clusters() on a broken file = %v; want ErrConfig", err)
	}
}
