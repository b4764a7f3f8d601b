//go:build pacific

package buildinfo

import "testing"

func TestCephReleaseFromBuildTag(t *testing.T) {
	if got := Read("x", "v1", "c").CephRelease; got != "pacific" {
		t.Fatalf("CephRelease = %q with -tags pacific, want pacific", got)
	}
}
