package integration

import (
	"testing"
)

// TestStaleWatchesSkipsLiveWatches: the kill tier's detector of Ceph
// Pacific's stale watches (cephrbdtest.StaleWatches, bug 58120) takes a
// live watch, of a client that holds the image open, for a live one, and
// `cache drop` on the OSD keeps that watch: the tier clears stale watches
// without touching the watches of the tests running next to it.
func TestStaleWatchesSkipsLiveWatches(t *testing.T) {
	r := newRig(t, 4, 8)
	vol := r.create(r.ctrl, r.volReq("pvc-watched", 32*mib))
	release := r.admin.HoldImage(t, r.pool, "", image(vol))
	defer release()
	assertNoStale := func(when string) {
		t.Helper()
		stale, err := r.admin.StaleWatches(r.pool)
		if err != nil {
			t.Fatal(err)
		}
		if len(stale) != 0 {
			t.Fatalf("%s: %v taken for stale watches", when, stale)
		}
	}
	assertNoStale("held")
	if err := r.admin.DropOSDCache(); err != nil {
		t.Fatal(err)
	}
	assertNoStale("after cache drop")
	watchers, err := r.admin.Watchers(r.pool, image(vol))
	if err != nil || len(watchers) != 1 {
		t.Fatalf("watchers after cache drop: %v, %v; want the holder's one", watchers, err)
	}
	release()
	r.deleteVolume(vol.GetVolumeId())
}
