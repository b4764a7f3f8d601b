package reliability

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/killround"
)

const (
	// killOpTimeout is the --ceph-op-timeout of the killed drivers, which
	// sets their half-made image bound (controller.PartialBoundFactor
	// times it: 20 s).
	killOpTimeout   = 2 * time.Second
	killConcurrency = 8
	// killWatchTimeout is the cluster's osd_client_watch_timeout: the
	// killed process's watches on the images it had open last that long,
	// and DeleteVolume answers FailedPrecondition (in use) until then.
	killWatchTimeout = 30 * time.Second
	// killReplayBound: every replayed request succeeds within the longer
	// of the half-made bound and the watch timeout (the killed process's
	// exclusive locks are broken only then), plus 60 s: the requests queued
	// behind one another on the same source volume (each waits for the one
	// before: Aborted) on a busy machine.
	killReplayBound = max(controller.PartialBoundFactor*killOpTimeout, killWatchTimeout) + 60*time.Second
	// killRounds is the default of KILL_ROUNDS: one round per burst kind.
	killRounds = 3
	// Kill instants are drawn from [killMin, killMax).
	killMin = 50 * time.Millisecond
	killMax = 2500 * time.Millisecond
)

// TestRandomKill kills the driver (SIGKILL, from outside) at a random
// instant of a burst of every mutating RPC: CreateVolume (empty, from a
// snapshot, from a volume), CreateSnapshot, DeleteVolume (also of volumes
// with snapshots), DeleteSnapshot and ControllerExpandVolume, at
// concurrency 8. A fresh process then receives every request again: each
// must succeed within killReplayBound (Aborted and Unavailable are retried
// until then, never longer), the results must be what was asked, and after
// everything is deleted the pool must be back to its initial state. The
// schedule comes from shared/killround (KILL_ROUNDS, KILL_SEED, KILL_AT,
// KILL_KINDS); `make test-killtier` runs a long one.
func TestRandomKill(t *testing.T) {
	t.Parallel()
	r := newRig(t, driverBinary(t))
	flags := []string{"--set-metadata", "--ceph-op-timeout=" + killOpTimeout.String()}
	for _, rd := range killround.Plan(t, killRounds, killMin, killMax).Rounds {
		if !r.killRound(rd, flags) {
			t.Logf("failed in %s (repeat: KILL_SEED=%d KILL_ROUNDS=1 KILL_KINDS=%s KILL_AT=%s)",
				rd, rd.Seed, rd.Kind, rd.KillAfter)
			return
		}
	}
}

// killFixture is what a round's burst works on, made before it (IDs).
type killFixture struct {
	tag      string
	src      string // cloned, snapshotted
	srcSnap  string // restored
	delVols  []string
	delSnaps []string
	tombs    []string // deleted by the burst while they have a snapshot
	tombSnap []string
	expVols  []string // expanded by the burst
}

// killOp is a burst request and what it is about.
type killOp struct {
	killround.Op
	kind   string // new, restore, clone, snap, delvol, delsnap, expand
	name   string // created name
	target string // ID the request works on
}

// counts per burst kind: requests of each type.
func killCounts(kind string) map[string]int {
	switch kind {
	case killround.Creates:
		// Clones and snapshots of the one source volume wait for one
		// another (its per-ID lock): few enough to stay well inside the
		// bound.
		return map[string]int{"new": 16, "restore": 12, "clone": 4, "snap": 6}
	case killround.Deletes:
		return map[string]int{"delvol": 24, "tomb": 8, "delsnap": 16}
	}
	return map[string]int{"new": 6, "restore": 5, "clone": 4, "snap": 5, "delvol": 6, "tomb": 3, "delsnap": 5, "expand": 6}
}

func (r *rig) killRound(rd killround.Round, flags []string) bool {
	r.t.Helper()
	began := time.Now()
	d := r.start("", flags)
	n := killCounts(rd.Kind)
	fx := r.killFixtures(d, fmt.Sprintf("k%d", rd.Index), n)
	ops := fx.ops(r, n)
	plain := make([]killround.Op, len(ops))
	killround.Shuffle(rd, ops)
	for i := range ops {
		plain[i] = ops[i].Op
	}
	r.t.Logf("%s: %d requests", rd, len(ops))
	res := killround.Burst(d.csi, plain, killConcurrency, rd, d.Kill)
	sweep := r.sweepStaleWatches()
	defer sweep.finish()
	d2 := r.start(d.Socket, flags)
	ids, stats := killround.Replay(r.t, d2.csi, plain, killConcurrency, killReplayBound, codes.FailedPrecondition)
	if r.t.Failed() {
		r.t.Logf("driver log after the kill:\n%s", d2.Log())
		return false
	}
	r.checkKillRound(fx, ops, ids)
	repaired := fmt.Sprintf("repaired: %d half-made images, %d clones without parent",
		strings.Count(d2.Log(), "removed a half-made image"), strings.Count(d2.Log(), "removed a clone without parent"))
	r.cleanKillRound(d2, fx, ops, ids)
	d2.stop(r.t)
	if stale := sweep.finish(); len(stale) > 0 {
		repaired += fmt.Sprintf(", %d stale watches of the killed process (Ceph bug 58120) cleared: %v", len(stale), stale)
	}
	r.waitEmptyAfter(rd.String())
	r.t.Logf("%s: burst of %d ran %s, %d succeeded before the kill, %d in flight at it; every replay succeeded "+
		"within the bound %s (%v; %s); pool empty after %s", rd, len(ops), res.Took.Round(time.Millisecond), res.Succeeded,
		res.InFlight, killReplayBound, stats, repaired, time.Since(began).Round(time.Millisecond))
	return !r.t.Failed()
}

// killFixtures makes the volumes and snapshots a burst of counts n needs,
// 8 at a time.
func (r *rig) killFixtures(d *driver, tag string, n map[string]int) *killFixture {
	fx := &killFixture{tag: tag}
	vols := []killOp{r.createOp("", tag+"-src", nil)}
	for _, g := range []struct{ kind, name string }{{"delvol", "del"}, {"tomb", "tomb"}, {"expand", "exp"}} {
		for i := 0; i < n[g.kind]; i++ {
			vols = append(vols, r.createOp(g.kind, fmt.Sprintf("%s-%s-%d", tag, g.name, i), nil))
		}
	}
	ids := r.makeAll(d, vols)
	fx.src = ids[0]
	snaps := []killOp{r.snapOp(tag+"-src-snap", fx.src)}
	for i, op := range vols[1:] {
		switch op.kind {
		case "delvol":
			fx.delVols = append(fx.delVols, ids[i+1])
		case "expand":
			fx.expVols = append(fx.expVols, ids[i+1])
		case "tomb":
			fx.tombs = append(fx.tombs, ids[i+1])
			snaps = append(snaps, r.snapOp(fmt.Sprintf("%s-tsnap-%d", tag, len(fx.tombs)), ids[i+1]))
		}
	}
	for i := 0; i < n["delsnap"]; i++ {
		snaps = append(snaps, r.snapOp(fmt.Sprintf("%s-dsnap-%d", tag, i), fx.src))
	}
	ids = r.makeAll(d, snaps)
	fx.srcSnap = ids[0]
	fx.tombSnap = ids[1 : 1+len(fx.tombs)]
	fx.delSnaps = ids[1+len(fx.tombs):]
	return fx
}

// makeAll sends ops 8 at a time (Aborted retried) and returns their IDs.
func (r *rig) makeAll(d *driver, ops []killOp) []string {
	r.t.Helper()
	plain := make([]killround.Op, len(ops))
	for i := range ops {
		plain[i] = ops[i].Op
	}
	ids, _ := killround.Replay(r.t, d.csi, plain, killConcurrency, killReplayBound)
	if r.t.Failed() {
		r.t.FailNow()
	}
	return ids
}

// ops are the burst's requests.
func (fx *killFixture) ops(r *rig, n map[string]int) []killOp {
	var ops []killOp
	for i := 0; i < n["new"]; i++ {
		ops = append(ops, r.createOp("new", fmt.Sprintf("%s-new-%d", fx.tag, i), nil))
	}
	for i := 0; i < n["restore"]; i++ {
		ops = append(ops, r.createOp("restore", fmt.Sprintf("%s-restore-%d", fx.tag, i), csisource.Snapshot(fx.srcSnap)))
	}
	for i := 0; i < n["clone"]; i++ {
		ops = append(ops, r.createOp("clone", fmt.Sprintf("%s-clone-%d", fx.tag, i), csisource.Volume(fx.src)))
	}
	for i := 0; i < n["snap"]; i++ {
		ops = append(ops, r.snapOp(fmt.Sprintf("%s-snap-%d", fx.tag, i), fx.src))
	}
	for _, v := range append(slices.Clone(fx.delVols), fx.tombs...) {
		ops = append(ops, r.delVolOp(v))
	}
	for _, s := range fx.delSnaps {
		ops = append(ops, r.delSnapOp(s))
	}
	for _, v := range fx.expVols {
		ops = append(ops, r.expandOp(v, 16*mib))
	}
	return ops
}

func (r *rig) createOp(kind, name string, src *csi.VolumeContentSource) killOp {
	return killOp{kind: kind, name: name, Op: killround.Op{Name: "CreateVolume " + name,
		Call: createVolumeCall(r.volReq(name, 8*mib, src))}}
}

func (r *rig) snapOp(name, volID string) killOp {
	return killOp{kind: "snap", name: name, target: volID, Op: killround.Op{Name: "CreateSnapshot " + name,
		Call: func(ctx context.Context, c csi.ControllerClient) (string, error) {
			resp, err := c.CreateSnapshot(ctx, r.snapReq(name, volID))
			return resp.GetSnapshot().GetSnapshotId(), err
		}}}
}

func (r *rig) delVolOp(id string) killOp {
	return killOp{kind: "delvol", target: id, Op: killround.Op{Name: "DeleteVolume " + id,
		Call: func(ctx context.Context, c csi.ControllerClient) (string, error) {
			_, err := c.DeleteVolume(ctx, r.delVolReq(id))
			return "", err
		}}}
}

func (r *rig) delSnapOp(id string) killOp {
	return killOp{kind: "delsnap", target: id, Op: killround.Op{Name: "DeleteSnapshot " + id,
		Call: func(ctx context.Context, c csi.ControllerClient) (string, error) {
			_, err := c.DeleteSnapshot(ctx, r.delSnapReq(id))
			return "", err
		}}}
}

func (r *rig) expandOp(id string, size int64) killOp {
	return killOp{kind: "expand", target: id, Op: killround.Op{Name: "ControllerExpandVolume " + id,
		Call: func(ctx context.Context, c csi.ControllerClient) (string, error) {
			_, err := c.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: id,
				CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Secrets: r.secrets})
			return "", err
		}}}
}

// checkKillRound asserts that every replayed request did what it asked.
func (r *rig) checkKillRound(fx *killFixture, ops []killOp, ids []string) {
	r.t.Helper()
	c := r.audit()
	srcSnaps := r.userSnapshots(r.volImage(fx.src))
	for i, op := range ops {
		switch op.kind {
		case "new", "restore", "clone":
			r.checkVolume(op.name, r.volImage(ids[i]), 8*mib)
			if d, err := r.admin.Describe(r.pool, "", r.volImage(ids[i])); err == nil && d.HasParent != (op.kind != "new") {
				r.t.Errorf("%s: image %s has a parent: %v, want %v", op.Name, r.volImage(ids[i]), d.HasParent, op.kind != "new")
			}
		case "snap":
			if !slices.Contains(srcSnaps, "csi-snap-"+r.uuidOf(ids[i])) {
				r.t.Errorf("%s: snapshot csi-snap-%s missing from %v", op.Name, r.uuidOf(ids[i]), srcSnaps)
			}
		case "delvol":
			if slices.Contains(c.Images, r.volImage(op.target)) {
				r.t.Errorf("%s: image %s still there", op.Name, r.volImage(op.target))
			}
		case "delsnap":
			if slices.Contains(srcSnaps, "csi-snap-"+r.uuidOf(op.target)) {
				r.t.Errorf("%s: snapshot csi-snap-%s still there", op.Name, r.uuidOf(op.target))
			}
		case "expand":
			if d, err := r.admin.Describe(r.pool, "", r.volImage(op.target)); err != nil || int64(d.Size) != 16*mib {
				r.t.Errorf("%s: %+v, %v; want 16 MiB", op.Name, d, err)
			}
		}
	}
}

// cleanKillRound deletes everything the round made: the new volumes first
// (and waits for the mgr to purge them, so that their sources purge at
// once), then the snapshots, then the fixtures' volumes; 8 at a time.
func (r *rig) cleanKillRound(d *driver, fx *killFixture, ops []killOp, ids []string) {
	r.t.Helper()
	var vols, snaps []killOp
	for i, op := range ops {
		switch op.kind {
		case "new", "restore", "clone":
			vols = append(vols, r.delVolOp(ids[i]))
		case "snap":
			snaps = append(snaps, r.delSnapOp(ids[i]))
		}
	}
	r.deleteAll(d, vols)
	r.waitTrashEmpty()
	for _, s := range append(append([]string{fx.srcSnap}, fx.delSnaps...), fx.tombSnap...) {
		snaps = append(snaps, r.delSnapOp(s))
	}
	r.deleteAll(d, snaps)
	vols = vols[:0]
	for _, v := range append(append(append(slices.Clone(fx.delVols), fx.tombs...), fx.expVols...), fx.src) {
		vols = append(vols, r.delVolOp(v))
	}
	r.deleteAll(d, vols)
}

// deleteAll sends the deletes 8 at a time; FailedPrecondition (the killed
// process's watch, until the cluster drops it) is retried too.
func (r *rig) deleteAll(d *driver, ops []killOp) {
	r.t.Helper()
	plain := make([]killround.Op, len(ops))
	for i := range ops {
		plain[i] = ops[i].Op
	}
	killround.Replay(r.t, d.csi, plain, killConcurrency, killReplayBound, codes.FailedPrecondition)
}
