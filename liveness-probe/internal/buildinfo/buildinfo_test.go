package buildinfo

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestText(t *testing.T) {
	got := Text("liveness-probe", "v0.1.0", "abc123")
	want := "liveness-probe v0.1.0\ncommit: abc123\ngo-ceph: none\nceph: none\ngo: " + runtime.Version() + "\n"
	if got != want {
		t.Fatalf("Text = %q, want %q", got, want)
	}
}

func TestVCSRevision(t *testing.T) {
	bi := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef"}}}
	if got := vcsRevision(bi, "unknown"); got != "0123456789ab" {
		t.Errorf("vcsRevision = %q, want the first 12 characters", got)
	}
	if got := vcsRevision(&debug.BuildInfo{}, "unknown"); got != "unknown" {
		t.Errorf("vcsRevision without a stamp = %q, want the fallback", got)
	}
}
