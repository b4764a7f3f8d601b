package csifuzz

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// TestPathStaysInside checks what makes the node targets safe to fuzz:
// every path Path builds is inside the case's directory, or relative
// without leaving the working directory.
func TestPathStaysInside(t *testing.T) {
	names := []string{"", ".", "..", "../../etc", "a/../../b", "/abs", strings.Repeat("x", 1000), "nul\x00"}
	for _, name := range names {
		for mode := range uint8(16) {
			in := Input{Name: name, Paths: mode<<4 | mode}
			for _, second := range []bool{false, true} {
				p := in.Path(second, "/case", "/case/existing")
				switch {
				case p == "":
				case filepath.IsAbs(p):
					if clean := filepath.Clean(p); clean != "/case" && !strings.HasPrefix(clean, "/case/") {
						t.Errorf("Path(%q, mode %d) = %q: outside /case", name, mode, p)
					}
				case strings.Contains(p, "/") || p == "." || p == "..":
					t.Errorf("Path(%q, mode %d) = %q: a relative path that can leave the directory", name, mode, p)
				}
			}
		}
	}
}

// TestObjectIDModes checks that the modes that keep the ID well-formed do,
// and change what they say they change.
func TestObjectIDModes(t *testing.T) {
	vol := "0001-0009-cluster-1-0000000000000002-8f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
	snap := "0001-0009-cluster-1-0000000000000002-0f4b3c2a-1d5e-4f6a-9b7c-0123456789ab"
	o := Objects{Volume: vol, Snapshot: snap}
	base, _ := volid.Decode(vol)
	for mode, check := range map[uint8]func(volid.ID) bool{
		4: func(id volid.ID) bool { return id.ClusterID == "other" && id.UUID == base.UUID },
		5: func(id volid.ID) bool { return id.ClusterID == base.ClusterID && id.UUID != base.UUID },
		6: func(id volid.ID) bool { return id.LocationID != base.LocationID && id.UUID == base.UUID },
	} {
		got := Input{IDMode: mode, ID: "other"}.ObjectID(o)
		id, err := volid.Decode(got)
		if err != nil || !check(id) {
			t.Errorf("mode %d: %q (%v)", mode, got, err)
		}
	}
	if got := (Input{IDMode: 1}).ObjectID(o.Swap()); got != snap {
		t.Errorf("mode 1 of swapped objects = %q, want the snapshot", got)
	}
	if got := (Input{IDMode: 7, ID: "Z"}).ObjectID(o); got == vol || len(got) != len(vol) {
		t.Errorf("mode 7 = %q, want one byte of %q changed", got, vol)
	}
}
