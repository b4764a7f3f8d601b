package faults

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clientDeadline is the deadline of every request of the workload (the CSI
// sidecars' default timeout): longer than the drivers' own Ceph bounds, so
// that a request still running when it passes means the driver hung.
const clientDeadline = 10 * time.Second

// pause spaces the requests of one operation loop.
const pause = 500 * time.Millisecond

// maxSnapshots caps the snapshots the workload keeps on its base volume
// (CephFS allows 100 per directory).
const maxSnapshots = 10

// Operations of the workload.
const (
	opCreateVolume   = "CreateVolume"
	opDeleteVolume   = "DeleteVolume"
	opCreateSnapshot = "CreateSnapshot"
	opDeleteSnapshot = "DeleteSnapshot"
	opGetCapacity    = "GetCapacity"
	// opNewUser is a CreateVolume as a user the driver has no connection
	// for yet: it must connect to the monitor first. It starts once the
	// daemon is down (workload.arm).
	opNewUser = "CreateVolume(new user)"
)

var operations = []string{opCreateVolume, opDeleteVolume, opCreateSnapshot, opDeleteSnapshot, opGetCapacity, opNewUser}

// outcome is one request of the workload.
type outcome struct {
	op      string
	started time.Time
	took    time.Duration
	code    codes.Code
	msg     string
	// clientExpired: the client's deadline had passed when the call
	// returned, so the answer did not come from the driver.
	clientExpired bool
}

func (o outcome) String() string {
	s := fmt.Sprintf("%s %s after %s", o.op, o.code, o.took.Round(10*time.Millisecond))
	if o.msg != "" {
		s += ": " + o.msg
	}
	if o.clientExpired {
		s += " (client deadline passed)"
	}
	return s
}

// deletions holds the IDs a delete loop works on. Once it is empty, the
// loop deletes the last deleted object again, which must succeed too.
type deletions struct {
	ids  []string
	last string
}

// next returns the ID to delete.
func (q *deletions) next() string {
	if len(q.ids) == 0 {
		return q.last
	}
	id := q.ids[0]
	q.ids = q.ids[1:]
	return id
}

// done records the result of deleting id.
func (q *deletions) done(id string, err error) {
	switch {
	case err == nil:
		q.last = id
	case id != q.last:
		q.ids = append(q.ids, id)
	}
}

// workload keeps one driver busy with every operation, each in a loop of
// its own, and records what it created so that the test can clean up as a
// CO would: a failed CreateVolume or CreateSnapshot is retried with the
// same name until it succeeds, then the object is deleted.
type workload struct {
	d    *driver
	base string // the source volume of the snapshots

	mu       sync.Mutex
	outcomes []outcome
	seq      int
	// pending is, by operation, the name whose creation failed: the next
	// request asks for it again, as a CO retries a request until it
	// succeeds.
	pending     map[string]string
	vols, snaps deletions
	// lastSnap is the last snapshot name created: with maxSnapshots
	// pending, CreateSnapshot asks for it again (idempotent).
	lastSnap string
	// newUser are the secrets of opNewUser; armed starts it, its first
	// success stops it (the user's connection is made then).
	newUser map[string]string
	armed   atomic.Bool

	stop   chan struct{}
	halted sync.Once
	wg     sync.WaitGroup
}

// newWorkload creates the base volume, and a few volumes and snapshots for
// the delete loops; the driver must serve normally.
func newWorkload(t *testing.T, d *driver, newUser map[string]string) *workload {
	t.Helper()
	w := &workload{d: d, stop: make(chan struct{}), newUser: newUser, pending: map[string]string{}}
	ctx, cancel := withTimeout(time.Minute)
	defer cancel()
	base, err := d.createVolume(ctx, w.name("vol"))
	if err != nil {
		t.Fatalf("%s: CreateVolume before the outage: %v", d.name, err)
	}
	w.base = base.GetVolumeId()
	for range 3 {
		v, err := d.createVolume(ctx, w.name("vol"))
		if err != nil {
			t.Fatalf("%s: CreateVolume before the outage: %v", d.name, err)
		}
		w.vols.ids = append(w.vols.ids, v.GetVolumeId())
	}
	for range 2 {
		w.lastSnap = w.name("snap")
		snap, err := d.createSnapshot(ctx, w.lastSnap, w.base)
		if err != nil {
			t.Fatalf("%s: CreateSnapshot before the outage: %v", d.name, err)
		}
		w.snaps.ids = append(w.snaps.ids, snap.GetSnapshotId())
	}
	return w
}

// name returns a new request name.
func (w *workload) name(what string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.newName(what)
}

func (w *workload) newName(what string) string {
	w.seq++
	return fmt.Sprintf("faults-%s-%s-%d", w.d.name, what, w.seq)
}

// nameFor returns the name op asks for: the one that failed last, else a
// new one.
func (w *workload) nameFor(op, what string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending[op] == "" {
		w.pending[op] = w.newName(what)
	}
	return w.pending[op]
}

// run starts one loop per operation.
func (w *workload) run() {
	for _, op := range operations {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for {
				if op != opNewUser || w.armed.Load() {
					if o, sent := w.do(op); sent {
						w.record(o)
						if op == opNewUser && o.code == codes.OK {
							w.armed.Store(false)
						}
					}
				}
				select {
				case <-w.stop:
					return
				case <-time.After(pause):
				}
			}
		}()
	}
}

// halt stops the loops and waits for their last requests; it may be
// called again.
func (w *workload) halt() {
	w.halted.Do(func() { close(w.stop) })
	w.wg.Wait()
}

// errNothing means a delete loop had nothing to delete yet: no request.
var errNothing = errors.New("nothing to delete")

// do sends one request of op; sent is false when there was nothing to
// send.
func (w *workload) do(op string) (o outcome, sent bool) {
	ctx, cancel := withTimeout(clientDeadline)
	defer cancel()
	o = outcome{op: op, started: time.Now()}
	var err error
	switch op {
	case opCreateVolume:
		err = w.createVolume(ctx, op, w.d.secrets)
	case opNewUser:
		err = w.createVolume(ctx, op, w.newUser)
	case opDeleteVolume:
		err = w.deleteVolume(ctx)
	case opCreateSnapshot:
		err = w.createSnapshot(ctx)
	case opDeleteSnapshot:
		err = w.deleteSnapshot(ctx)
	case opGetCapacity:
		err = w.d.getCapacity(ctx)
	}
	if errors.Is(err, errNothing) {
		return o, false
	}
	o.took = time.Since(o.started)
	o.clientExpired = ctx.Err() != nil
	o.code = status.Code(err)
	if err != nil {
		o.msg = status.Convert(err).Message()
	}
	return o, true
}

func (w *workload) createVolume(ctx context.Context, op string, secrets map[string]string) error {
	v, err := w.d.createVolumeAs(ctx, w.nameFor(op, "vol"), secrets)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.pending[op] = ""
		w.vols.ids = append(w.vols.ids, v.GetVolumeId())
	}
	return err
}

func (w *workload) deleteVolume(ctx context.Context) error {
	w.mu.Lock()
	id := w.vols.next()
	w.mu.Unlock()
	if id == "" {
		return errNothing
	}
	err := w.d.deleteVolume(ctx, id)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.vols.done(id, err)
	return err
}

func (w *workload) createSnapshot(ctx context.Context) error {
	w.mu.Lock()
	name, repeat := w.lastSnap, len(w.snaps.ids) >= maxSnapshots && w.pending[opCreateSnapshot] == ""
	w.mu.Unlock()
	if !repeat {
		name = w.nameFor(opCreateSnapshot, "snap")
	}
	snap, err := w.d.createSnapshot(ctx, name, w.base)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case err == nil && !repeat:
		w.pending[opCreateSnapshot] = ""
		w.lastSnap = name
		fallthrough
	case err == nil && !slices.Contains(w.snaps.ids, snap.GetSnapshotId()):
		// A repeated name whose snapshot the delete loop took is
		// created again.
		w.snaps.ids = append(w.snaps.ids, snap.GetSnapshotId())
	}
	return err
}

func (w *workload) deleteSnapshot(ctx context.Context) error {
	w.mu.Lock()
	id := w.snaps.next()
	w.mu.Unlock()
	if id == "" {
		return errNothing
	}
	err := w.d.deleteSnapshot(ctx, id)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.snaps.done(id, err)
	return err
}

func (w *workload) record(o outcome) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.outcomes = append(w.outcomes, o)
}

// since returns the outcomes of the requests started at or after t.
func (w *workload) since(t time.Time) []outcome {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []outcome
	for _, o := range w.outcomes {
		if !o.started.Before(t) {
			out = append(out, o)
		}
	}
	return out
}

// triedAll reports whether every operation has a request started at or
// after t that has returned.
func (w *workload) triedAll(t time.Time) bool {
	seen := map[string]bool{}
	for _, o := range w.since(t) {
		seen[o.op] = true
	}
	return len(seen) == len(operations)
}

// servedAgain reports whether every operation succeeded in a request
// started at or after back; opNewUser, which stops at its first success,
// counts from down.
func (w *workload) servedAgain(down, back time.Time) bool {
	ok := map[string]bool{}
	for _, o := range w.since(down) {
		if o.code == codes.OK && (o.op == opNewUser || !o.started.Before(back)) {
			ok[o.op] = true
		}
	}
	return len(ok) == len(operations)
}

// cleanUp deletes everything the workload created, retrying failed
// creations first as a CO does.
func (w *workload) cleanUp(t *testing.T) {
	t.Helper()
	ctx, cancel := withTimeout(2 * time.Minute)
	defer cancel()
	d := w.d
	start := time.Now()
	snaps := append([]string{}, w.snaps.ids...)
	if name := w.pending[opCreateSnapshot]; name != "" {
		snap, err := d.createSnapshot(ctx, name, w.base)
		if err != nil {
			t.Errorf("%s: CreateSnapshot(%s) retried after the outage: %v", d.name, name, err)
		} else {
			snaps = append(snaps, snap.GetSnapshotId())
		}
	}
	for _, id := range snaps {
		if err := d.deleteSnapshot(ctx, id); err != nil {
			t.Errorf("%s: DeleteSnapshot(%s): %v", d.name, id, err)
		}
	}
	t.Logf("%s: %d snapshots deleted in %s", d.name, len(snaps), time.Since(start).Round(100*time.Millisecond))
	start = time.Now()
	vols := append([]string{w.base}, w.vols.ids...)
	for _, name := range []string{w.pending[opCreateVolume], w.pending[opNewUser]} {
		if name == "" {
			continue
		}
		vol, err := d.createVolumeAs(ctx, name, d.secrets)
		if err != nil {
			t.Errorf("%s: CreateVolume(%s) retried after the outage: %v", d.name, name, err)
			continue
		}
		vols = append(vols, vol.GetVolumeId())
	}
	for _, id := range vols {
		if err := d.deleteVolume(ctx, id); err != nil {
			t.Errorf("%s: DeleteVolume(%s): %v", d.name, id, err)
		}
	}
	t.Logf("%s: %d volumes deleted in %s", d.name, len(vols), time.Since(start).Round(100*time.Millisecond))
}
