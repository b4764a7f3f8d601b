package csisource

import "testing"

func TestSources(t *testing.T) {
	if got := Snapshot("s1").GetSnapshot().GetSnapshotId(); got != "s1" {
		t.Errorf("Snapshot(s1) names %q", got)
	}
	if Snapshot("s1").GetVolume() != nil {
		t.Error("Snapshot(s1) also names a volume")
	}
	if got := Volume("v1").GetVolume().GetVolumeId(); got != "v1" {
		t.Errorf("Volume(v1) names %q", got)
	}
	if Volume("v1").GetSnapshot() != nil {
		t.Error("Volume(v1) also names a snapshot")
	}
}
