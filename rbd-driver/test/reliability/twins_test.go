package reliability

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	// twinCount requests race per round, split between two processes.
	twinCount = 32
	// twinRounds repeats the race with fresh names.
	twinRounds = 12
)

// TestTwins sends twinCount identical requests at once, half to each of two
// driver processes serving the same cluster: the per-name locks hold within
// one process only, so across the two the journal and the idempotent
// backend calls must make the race safe. Every request must succeed with
// the same ID or answer Aborted (never Internal or anything else), exactly
// one volume or snapshot must exist, and after the deletes (raced the same
// way) the pool must be back to its initial state. Even rounds delete the
// snapshot, then the volume (both plain deletes); odd rounds delete the
// volume first, which becomes a tomb, then its last snapshot, which sends
// the tomb to the trash.
func TestTwins(t *testing.T) {
	t.Parallel()
	r := newRig(t, driverBinary(t))
	began := time.Now()
	// With metadata, an adopted image is opened too: a twin that adopts an
	// image another process is still creating must see it whole.
	drivers := []*driver{r.start("", []string{"--set-metadata"}), r.start("", []string{"--set-metadata"})}
	single := 0 // races one request won alone: its twin in the other process answered Aborted
	race := func(what string, c call) string {
		id, won := r.race(drivers, what, c)
		if won == 1 {
			single++
		}
		return id
	}
	for round := 0; round < twinRounds; round++ {
		name := fmt.Sprintf("twin-%d", round)
		volID := race("CreateVolume "+name, createVolumeCall(r.volReq(name, 8*mib, nil)))
		r.check(expect{images: []string{r.volImage(volID)}, volNames: []string{name}, volUUIDs: []string{r.uuidOf(volID)}})

		snapName := name + "-snap"
		snapID := race("CreateSnapshot "+snapName,
			func(ctx context.Context, c csi.ControllerClient) (string, error) {
				resp, err := c.CreateSnapshot(ctx, r.snapReq(snapName, volID))
				return resp.GetSnapshot().GetSnapshotId(), err
			})
		r.check(expect{snapNames: []string{snapName}, snapUUIDs: []string{r.uuidOf(snapID)}})
		if got, want := r.userSnapshots(r.volImage(volID)), []string{"csi-snap-" + r.uuidOf(snapID)}; !sameSet(got, want) {
			t.Errorf("snapshots of %s = %v, want %v", r.volImage(volID), got, want)
		}

		if round%2 == 0 {
			race("DeleteSnapshot "+snapName, deleteSnapshotCall(r, snapID))
			race("DeleteVolume "+name, deleteVolumeCall(r, volID))
		} else {
			race("DeleteVolume (to a tomb) "+name, deleteVolumeCall(r, volID))
			if images := r.audit().Images; len(images) != 1 || !strings.HasPrefix(images[0], "csi-tomb-") {
				t.Errorf("images after deleting a volume with a snapshot: %v, want one tomb", images)
			}
			race("DeleteSnapshot (the tomb's last) "+snapName, deleteSnapshotCall(r, snapID))
		}
		r.check(expect{images: []string{}, volNames: []string{}, volUUIDs: []string{},
			snapNames: []string{}, snapUUIDs: []string{}})
		if t.Failed() {
			return
		}
	}
	for _, d := range drivers {
		d.stop(t)
	}
	t.Logf("%d rounds of %d twins in %s; %d races had a single winner", twinRounds, twinCount,
		time.Since(began).Round(time.Millisecond), single)
}

// race sends twinCount copies of c at once, alternating between the
// drivers, checks the answers and returns the ID and how many succeeded; a
// repetition afterwards must answer the same.
func (r *rig) race(drivers []*driver, what string, c call) (string, int) {
	r.t.Helper()
	ids, errs := make([]string, twinCount), make([]error, twinCount)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range twinCount {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := callCtx()
			defer cancel()
			<-start
			ids[i], errs[i] = c(ctx, drivers[i%len(drivers)].csi)
		}()
	}
	close(start)
	wg.Wait()
	id, won := "", 0
	for i, err := range errs {
		switch {
		case err == nil && won > 0 && ids[i] != id:
			r.t.Errorf("%s: twins answered %q and %q", what, id, ids[i])
		case err == nil:
			id, won = ids[i], won+1
		case status.Code(err) == codes.Aborted:
			// The name is busy: a twin holds its lock in the same process,
			// or is halfway through in the other one.
		default:
			d := drivers[i%len(drivers)]
			r.t.Errorf("%s: twin %d (driver %d) failed: %v\ndriver %d log:\n%s", what, i, i%len(drivers), err,
				i%len(drivers), d.Log())
		}
	}
	if won == 0 {
		r.t.Fatalf("%s: no twin succeeded", what)
	}
	var again string
	err := retryAborted(func(ctx context.Context) (err error) { again, err = c(ctx, drivers[0].csi); return err })
	if err != nil || again != id {
		r.t.Errorf("%s: repeated after the race: %q, %v; want %q", what, again, err, id)
	}
	return id, won
}
