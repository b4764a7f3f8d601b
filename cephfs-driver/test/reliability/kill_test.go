package reliability

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"
	"github.com/seed-6a310834/ceph-csi/shared/killround"
)

const (
	// killReplayBound: every replayed request succeeds within 120 s.
	// Pacific's mgr runs one subvolume command at a time and copies
	// clones in the background, so the replay of a burst (at concurrency
	// 8) queues behind itself; nothing the killed process left stays
	// Aborted longer (its mgr commands finish in the mgr without it).
	killReplayBound = 120 * time.Second
	killConcurrency = 8
	// killRounds is the default of KILL_ROUNDS: one round per burst kind.
	killRounds = 3
	// Kill instants are drawn from [killMin, killMax).
	killMin = 50 * time.Millisecond
	killMax = 2500 * time.Millisecond
)

// TestRandomKill kills the driver (SIGKILL, from outside) at a random
// instant of a burst of every mutating RPC: CreateVolume (empty, from a
// snapshot, from a volume), CreateSnapshot, DeleteVolume (also of volumes
// with snapshots, which are retained), DeleteSnapshot and
// ControllerExpandVolume, at concurrency 8. A fresh process then receives
// every request again: each must succeed within killReplayBound (Aborted
// and Unavailable are retried until then, never longer), the results must
// be what was asked, and after everything is deleted the rig's group,
// journal and namespace must be empty. The schedule comes from
// shared/killround (KILL_ROUNDS, KILL_SEED, KILL_AT, KILL_KINDS); `make
// test-killtier` runs a long one.
func TestRandomKill(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	for _, rd := range killround.Plan(t, killRounds, killMin, killMax).Rounds {
		if !r.killRound(rd) {
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
	retained []string // deleted by the burst while they have a snapshot
	retSnap  []string
	expVols  []string // expanded by the burst
}

// killOp is a burst request and what it is about.
type killOp struct {
	killround.Op
	kind   string // new, restore, clone, snap, delvol, delsnap, expand
	name   string // created name
	target string // ID the request works on
}

// killCounts are the requests of each type in a burst of a kind: the mgr
// runs one subvolume command at a time, so CephFS bursts are smaller than
// RBD's.
func killCounts(kind string) map[string]int {
	switch kind {
	case killround.Creates:
		// A clone from the source volume holds its lock until the mgr
		// has copied it: the snapshots of that volume wait behind it.
		return map[string]int{"new": 12, "restore": 3, "clone": 1, "snap": 4}
	case killround.Deletes:
		// Enough that a kill 2 s in still finds requests in flight.
		return map[string]int{"delvol": 18, "retain": 3, "delsnap": 12}
	}
	return map[string]int{"new": 4, "restore": 2, "clone": 1, "snap": 3, "delvol": 4, "retain": 2, "delsnap": 3, "expand": 4}
}

func plain(ops []killOp) []killround.Op {
	out := make([]killround.Op, len(ops))
	for i := range ops {
		out[i] = ops[i].Op
	}
	return out
}

func (r *rig) killRound(rd killround.Round) bool {
	r.t.Helper()
	began := time.Now()
	d := r.start(fmt.Sprintf("k%d", rd.Index))
	n := killCounts(rd.Kind)
	fx := r.killFixtures(d, fmt.Sprintf("k%d", rd.Index), n)
	ops := fx.ops(r, n)
	killround.Shuffle(rd, ops)
	r.t.Logf("%s: %d requests", rd, len(ops))
	res := killround.Burst(d.ctrl, plain(ops), killConcurrency, rd, d.Kill)
	d2 := r.start(fmt.Sprintf("k%d-again", rd.Index))
	ids, stats := killround.Replay(r.t, d2.ctrl, plain(ops), killConcurrency, killReplayBound)
	if r.t.Failed() {
		r.t.Logf("driver log after the kill:\n%s", d2.Log())
		return false
	}
	r.checkKillRound(fx, ops, ids)
	r.cleanKillRound(d2, fx, ops, ids)
	d2.stop(r.t)
	r.waitState("after "+rd.String(), state{})
	r.t.Logf("%s: burst of %d ran %s, %d succeeded before the kill, %d in flight at it; every replay succeeded "+
		"within the bound %s (%v); group, journal and namespace empty after %s", rd, len(ops),
		res.Took.Round(time.Millisecond), res.Succeeded, res.InFlight, killReplayBound, stats,
		time.Since(began).Round(time.Millisecond))
	return !r.t.Failed()
}

// killFixtures makes the volumes and snapshots a burst of counts n needs,
// 8 at a time.
func (r *rig) killFixtures(d *driver, tag string, n map[string]int) *killFixture {
	fx := &killFixture{tag: tag}
	vols := []killOp{r.createOp("", tag+"-src", nil)}
	for _, g := range []struct{ kind, name string }{{"delvol", "del"}, {"retain", "ret"}, {"expand", "exp"}} {
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
		case "retain":
			fx.retained = append(fx.retained, ids[i+1])
			snaps = append(snaps, r.snapOp(fmt.Sprintf("%s-rsnap-%d", tag, len(fx.retained)), ids[i+1]))
		}
	}
	for i := 0; i < n["delsnap"]; i++ {
		snaps = append(snaps, r.snapOp(fmt.Sprintf("%s-dsnap-%d", tag, i), fx.src))
	}
	ids = r.makeAll(d, snaps)
	fx.srcSnap = ids[0]
	fx.retSnap = ids[1 : 1+len(fx.retained)]
	fx.delSnaps = ids[1+len(fx.retained):]
	return fx
}

// makeAll sends ops 8 at a time (Aborted retried) and returns their IDs.
func (r *rig) makeAll(d *driver, ops []killOp) []string {
	r.t.Helper()
	ids, _ := killround.Replay(r.t, d.ctrl, plain(ops), killConcurrency, killReplayBound)
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
	for _, v := range append(slices.Clone(fx.delVols), fx.retained...) {
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
	return killOp{kind: kind, name: name, Op: killround.Op{Name: "CreateVolume " + name, Call: r.createVolume(name, 8*mib, src)}}
}

func (r *rig) snapOp(name, volID string) killOp {
	return killOp{kind: "snap", name: name, target: volID, Op: killround.Op{Name: "CreateSnapshot " + name,
		Call: r.createSnapshot(name, volID)}}
}

func (r *rig) delVolOp(id string) killOp {
	return killOp{kind: "delvol", target: id, Op: killround.Op{Name: "DeleteVolume " + id, Call: r.deleteVolume(id)}}
}

func (r *rig) delSnapOp(id string) killOp {
	return killOp{kind: "delsnap", target: id, Op: killround.Op{Name: "DeleteSnapshot " + id, Call: r.deleteSnapshot(id)}}
}

func (r *rig) expandOp(id string, size int64) killOp {
	req := &csi.ControllerExpandVolumeRequest{VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		Secrets: r.secrets()}
	return killOp{kind: "expand", target: id, Op: killround.Op{Name: "ControllerExpandVolume " + id,
		Call: func(ctx context.Context, c csi.ControllerClient) (string, error) {
			_, err := c.ControllerExpandVolume(ctx, req)
			return "", err
		}}}
}

// checkKillRound asserts that every replayed request did what it asked,
// from one read of the cluster state.
func (r *rig) checkKillRound(fx *killFixture, ops []killOp, ids []string) {
	r.t.Helper()
	st := r.mustState()
	src := st.Subvolumes[subvolumeOf(r.t, fx.src)]
	for i, op := range ops {
		switch op.kind {
		case "new", "restore", "clone":
			if sv, ok := st.Subvolumes[subvolumeOf(r.t, ids[i])]; !ok || sv.State != "complete" || sv.Quota != 8*mib {
				r.t.Errorf("%s: subvolume %+v (present %v), want complete with quota 8 MiB", op.Name, sv, ok)
			}
		case "snap":
			if !slices.Contains(src.Snapshots, snapshotOf(r.t, ids[i])) {
				r.t.Errorf("%s: snapshot %s missing from %v", op.Name, snapshotOf(r.t, ids[i]), src.Snapshots)
			}
		case "delvol":
			if sv, ok := st.Subvolumes[subvolumeOf(r.t, op.target)]; ok && sv.State == "complete" {
				r.t.Errorf("%s: subvolume still there: %+v", op.Name, sv)
			}
		case "delsnap":
			if slices.Contains(src.Snapshots, snapshotOf(r.t, op.target)) {
				r.t.Errorf("%s: snapshot %s still there", op.Name, snapshotOf(r.t, op.target))
			}
		case "expand":
			if sv := st.Subvolumes[subvolumeOf(r.t, op.target)]; sv.Quota != 16*mib {
				r.t.Errorf("%s: quota %d, want 16 MiB", op.Name, sv.Quota)
			}
		}
	}
}

// cleanKillRound deletes everything the round made, 8 at a time: the new
// volumes, then the snapshots, then the fixtures' volumes.
func (r *rig) cleanKillRound(d *driver, fx *killFixture, ops []killOp, ids []string) {
	r.t.Helper()
	var made, snaps, fixtures []killOp
	for i, op := range ops {
		switch op.kind {
		case "new", "restore", "clone":
			made = append(made, r.delVolOp(ids[i]))
		case "snap":
			snaps = append(snaps, r.delSnapOp(ids[i]))
		}
	}
	for _, s := range append(append([]string{fx.srcSnap}, fx.delSnaps...), fx.retSnap...) {
		snaps = append(snaps, r.delSnapOp(s))
	}
	for _, v := range append(append(append(slices.Clone(fx.delVols), fx.retained...), fx.expVols...), fx.src) {
		fixtures = append(fixtures, r.delVolOp(v))
	}
	for _, group := range [][]killOp{made, snaps, fixtures} {
		killround.Replay(r.t, d.ctrl, plain(group), killConcurrency, killReplayBound)
	}
}
