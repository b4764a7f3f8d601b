package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfoGoCephAndCommit(t *testing.T) {
	bi := &debug.BuildInfo{
		Deps: []*debug.Module{
			{Path: "google.golang.org/grpc", Version: "v1.85.0"},
			{Path: goCephPath, Version: "v0.37.0"},
		},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.modified", Value: "true"}},
	}
	got := fromBuildInfo(bi, "rbd.csi.ceph.com", "v0.1.0", "")
	want := Info{Name: "rbd.csi.ceph.com", Version: "v0.1.0", Commit: "0123456789ab-dirty",
		GoCeph: "v0.37.0", CephRelease: cephRelease, Go: runtime.Version()}
	if got != want {
		t.Fatalf("fromBuildInfo = %+v, want %+v", got, want)
	}
}

func TestFromBuildInfoLdflagsCommitWins(t *testing.T) {
	bi := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "ffff"}}}
	if got := fromBuildInfo(bi, "x", "v1", "abc123"); got.Commit != "abc123" || got.GoCeph != "none" {
		t.Fatalf("got %+v, want commit abc123 and go-ceph none", got)
	}
}

func TestFromBuildInfoReplacedGoCeph(t *testing.T) {
	bi := &debug.BuildInfo{Deps: []*debug.Module{{Path: goCephPath, Version: "v0.37.0",
		Replace: &debug.Module{Path: "example.com/fork", Version: "v0.37.1-fork"}}}}
	if got := fromBuildInfo(bi, "x", "v1", "c"); got.GoCeph != "v0.37.1-fork" {
		t.Fatalf("go-ceph = %q, want the replacement's version", got.GoCeph)
	}
}

func TestFromNoBuildInfo(t *testing.T) {
	got := fromBuildInfo(nil, "x", "v1", "")
	if got.Commit != "unknown" || got.GoCeph != "none" {
		t.Fatalf("got %+v, want commit unknown, go-ceph none", got)
	}
}

func TestString(t *testing.T) {
	s := Info{Name: "cephfs.csi.ceph.com", Version: "v0.1.0", Commit: "abc", GoCeph: "v0.37.0",
		CephRelease: "pacific", Go: "go1.26.8"}.String()
	want := "cephfs.csi.ceph.com v0.1.0\ncommit: abc\ngo-ceph: v0.37.0\nceph: pacific\ngo: go1.26.8\n"
	if s != want {
		t.Fatalf("String() = %q, want %q", s, want)
	}
}

func TestReadInThisBinary(t *testing.T) {
	got := Read("x", "v9", "")
	if got.Version != "v9" || got.Commit == "" || !strings.HasPrefix(got.Go, "go") {
		t.Fatalf("Read = %+v", got)
	}
}
