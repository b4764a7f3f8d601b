package node

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
)

func TestRecordStore(t *testing.T) {
	s := recordStore{dir: filepath.Join(t.TempDir(), "state")}
	if rec, err := s.load("v/1"); rec != nil || err != nil {
		t.Fatalf("load(missing) = %v, %v", rec, err)
	}
	rec := &stageRecord{VolumeID: "v/1", StagingPath: "/s", FsType: "xfs", Complete: true,
		Attachment: host.Attachment{Mounter: "fuse", Device: "/dev/loop1", HelperPID: 42, FuseMount: "/m"},
		Targets:    []publishTarget{{Path: "/t", ReadOnly: true}}}
	if err := s.save(rec); err != nil {
		t.Fatal(err)
	}
	dir := s.volumeDir("v/1")
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state directory = %v, %v", fi, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, recordName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("record file = %v, %v", fi, err)
	}
	got, err := s.load("v/1")
	if err != nil || got.Attachment != rec.Attachment || got.target("/t") == nil || got.Version != recordVersion {
		t.Fatalf("load() = %+v, %v", got, err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	if s.volumeDir("v/2") == dir || filepath.Dir(s.fuseWorkDir("v/1")) != dir {
		t.Fatal("volume directories are not per volume")
	}

	// A record of another volume under this name, or a corrupt one, is an error.
	other := *rec
	other.VolumeID = "v/2"
	if err := s.save(&other); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(s.volumeDir("v/2"), recordName), filepath.Join(dir, recordName)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load("v/1"); err == nil {
		t.Fatal("load() accepted another volume's record")
	}
	if err := os.WriteFile(filepath.Join(dir, recordName), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.load("v/1"); err == nil {
		t.Fatal("load() accepted a corrupt record")
	}
	for range 2 {
		if err := s.remove("v/1"); err != nil {
			t.Fatalf("remove() = %v", err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("volume directory left: %v", err)
	}
}

func TestRecordRemoveKeepsOtherFiles(t *testing.T) {
	s := recordStore{dir: t.TempDir()}
	if err := s.save(&stageRecord{VolumeID: "v"}); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(s.fuseWorkDir("v"), "mnt")
	if err := os.MkdirAll(keep, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.remove("v"); err == nil {
		t.Fatal("remove() succeeded although the fuse directory is still there")
	}
	if _, err := os.Stat(keep); err != nil {
		t.Fatalf("remove() removed the fuse directory: %v", err)
	}
}
