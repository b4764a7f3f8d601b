package reliability

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/cephrbd"
	"github.com/seed-6a310834/ceph-csi/shared/crashpoint"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// crashWait bounds the wait for an armed driver to kill itself; a crash
// point in the background purger fires after the RPC has answered.
const crashWait = 30 * time.Second

// flow is a request that is crashed at every step it passes through: the
// crash points (see crashpoint) it hits, in order. The driver dies at the
// first hit of the armed step; a step a flow passes several times is listed
// as "<step>#<n>" for its (n+1)th hit (crashEnv sets crashpoint.EnvSkip).
type flow struct {
	name  string
	flags []string // driver flags beside --set-metadata
	steps []string
	// prepare creates one run's fixtures through the helper driver h;
	// tag makes its names unique.
	prepare func(r *rig, h *driver, tag string) *run
}

// driverFlags: every flow records the PVC metadata, whose write is a step.
func (f flow) driverFlags() []string { return append([]string{"--set-metadata"}, f.flags...) }

// run is one request under test.
type run struct {
	// call sends the request.
	call call
	// check asserts what the pool holds once the request succeeded.
	check func(id string)
	// cleanup deletes, through h, everything the run left.
	cleanup func(id string)
}

// Steps shared by several flows, in the order the driver passes them.
var (
	reserveSteps = []string{journal.StepReserveUUIDCreated, journal.StepReserveDirectoryWritten}
	undoSteps    = []string{journal.StepUndoDirectoryRemoved, journal.StepUndoUUIDRemoved}
)

func steps(groups ...[]string) []string {
	var out []string
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

func one(names ...string) []string { return names }

// flows are the requests of the crash test. A new volume's image is made
// (and its metadata set) before its reservation, which records the image ID
// in its first write.
var flows = []flow{
	{name: "CreateVolume", prepare: createVolumeRun,
		steps: steps(one(cephrbd.StepImageCreated, cephrbd.StepMetadataSet), reserveSteps)},
	{name: "CreateSnapshot", prepare: createSnapshotRun,
		steps: steps(reserveSteps, one(cephrbd.StepSnapshotCreated, journal.StepAttributesSet))},
	{name: "RestoreSnapshot", prepare: restoreRun,
		steps: steps(one(cephrbd.StepImageCloned, cephrbd.StepImageResized, cephrbd.StepMetadataSet), reserveSteps)},
	// Every clone is queued for flattening at soft depth 1.
	{name: "CloneVolume", prepare: cloneRun, flags: []string{"--clone-soft-depth=1"},
		steps: steps(one(cephrbd.StepSnapshotCreated, cephrbd.StepImageCloned, cephrbd.StepSnapshotRemoved,
			cephrbd.StepImageResized, cephrbd.StepMetadataSet, cephrbd.StepFlattenQueued), reserveSteps)},
	{name: "DeleteVolume", prepare: deleteVolumeRun,
		steps: steps(one(cephrbd.StepImageTrashed, cephrbd.StepPurgeQueued), undoSteps)},
	{name: "DeleteVolumeWithSnapshot", prepare: tombRun,
		steps: steps(one(cephrbd.StepImageRenamed), undoSteps)},
	{name: "DeleteSnapshot", prepare: deleteSnapshotRun,
		steps: steps(one(cephrbd.StepSnapshotRemoved), undoSteps)},
	{name: "DeleteLastSnapshotOfTomb", prepare: deleteTombSnapshotRun,
		steps: steps(one(cephrbd.StepSnapshotRemoved, cephrbd.StepImageTrashed, cephrbd.StepPurgeQueued), undoSteps)},
}

// notInAnyFlow are the crash points no flow reaches: the synchronous trash
// removal runs only when the mgr cannot take a purge task, and the RBD
// driver never forgets a group member (the CephFS driver does).
var notInAnyFlow = map[string]bool{cephrbd.StepTrashRemoved: true, journal.StepGroupMembersRemoved: true}

// TestFlowsCoverEveryCrashPoint keeps the flows honest: a crash point added
// to the adapter or the journal must be visited by some flow.
func TestFlowsCoverEveryCrashPoint(t *testing.T) {
	visited := map[string]bool{}
	for _, f := range flows {
		for _, s := range f.steps {
			step, _, _ := strings.Cut(s, "#")
			visited[step] = true
		}
	}
	all := append(append(append([]string(nil), journal.CrashSteps...), journal.GroupCrashSteps...), cephrbd.CrashSteps...)
	for _, name := range all {
		if !visited[name] && !notInAnyFlow[name] {
			t.Errorf("no flow crashes at %s", name)
		}
	}
}

// TestCrashAtEveryStep kills the driver (SIGKILL, from inside, at a named
// step after a Ceph write) at every step of every flow, restarts it on the
// same socket without the crash point and repeats the request: the retry
// must succeed with the same ID, leave exactly the expected images and
// journal records, and after deleting everything the pool must be back to
// its initial state.
func TestCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	bin := driverBinary(t)
	for _, f := range flows {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, bin)
			began := time.Now()
			h := r.start("", f.driverFlags())
			for i, s := range f.steps {
				if !r.crashRun(h, f, s, strconv.Itoa(i)) {
					return
				}
			}
			h.stop(t)
			t.Logf("%s: %d crash points, each retried to the same result and cleaned up, in %s", f.name,
				len(f.steps), time.Since(began).Round(time.Millisecond))
		})
	}
}

// crashRun runs f's request with the driver armed at s; false when the
// test failed.
func (r *rig) crashRun(h *driver, f flow, s, tag string) bool {
	r.t.Helper()
	ru := f.prepare(r, h, tag)
	armed := r.start("", f.driverFlags(), crashEnv(s)...)
	ctx, cancel := callCtx()
	_, err := ru.call(ctx, armed.csi)
	cancel()
	if !armed.WaitExit(crashWait) || !armed.Killed() {
		r.t.Errorf("step %s: the driver did not kill itself (request: %v)\n%s", s, err, armed.Log())
		return false
	}
	d := r.start(armed.Socket, f.driverFlags())
	id, ok := r.retryTwice(d, ru.call, s)
	if !ok {
		return false
	}
	ru.check(id)
	d.stop(r.t)
	ru.cleanup(id)
	r.waitEmptyAfter("a crash at " + s)
	if r.t.Failed() {
		r.t.Logf("failed at step %s", s)
		return false
	}
	return true
}

// crashEnv arms a driver at step s; "<step>#<n>" crashes at the step's
// (n+1)th hit (a flow that passes a step several times).
func crashEnv(s string) []string {
	step, skip, ok := strings.Cut(s, "#")
	if !ok {
		return []string{crashpoint.EnvVar + "=" + s}
	}
	return []string{crashpoint.EnvVar + "=" + step, crashpoint.EnvSkip + "=" + skip}
}

// retryTwice repeats a request after the crash until it succeeds (Aborted
// answers are retried), then once more: both must answer the same ID.
func (r *rig) retryTwice(d *driver, c call, s string) (string, bool) {
	r.t.Helper()
	var id, again string
	err := retryAborted(func(ctx context.Context) (err error) { id, err = c(ctx, d.csi); return err })
	if err == nil {
		err = retryAborted(func(ctx context.Context) (err error) { again, err = c(ctx, d.csi); return err })
	}
	if err != nil {
		r.t.Errorf("step %s: retry after the crash: %v\n%s", s, err, d.Log())
		return "", false
	}
	if again != id {
		r.t.Errorf("step %s: the retry answered %q, its repetition %q", s, id, again)
	}
	return id, true
}

// volImage is the image of a volume ID (default prefix).
func (r *rig) volImage(id string) string { return "csi-vol-" + r.uuidOf(id) }

func createVolumeCall(req *csi.CreateVolumeRequest) call {
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		resp, err := c.CreateVolume(ctx, req)
		return resp.GetVolume().GetVolumeId(), err
	}
}

// checkVolume asserts an image's size and PVC metadata.
func (r *rig) checkVolume(name, img string, size int64) {
	r.t.Helper()
	d, err := r.admin.Describe(r.pool, "", img)
	if err != nil {
		r.t.Errorf("describe %s: %v", img, err)
		return
	}
	if int64(d.Size) != size {
		r.t.Errorf("%s: size %d, want %d", img, d.Size, size)
	}
	for k, want := range map[string]string{"csi.storage.k8s.io/pvc/name": name,
		"csi.storage.k8s.io/pvc/namespace": "reliability"} {
		if d.Metadata[k] != want {
			r.t.Errorf("%s: metadata %s = %q, want %q (all: %v)", img, k, d.Metadata[k], want, d.Metadata)
		}
	}
}

func createVolumeRun(r *rig, h *driver, tag string) *run {
	name := "cv-" + tag
	return &run{
		call: createVolumeCall(r.volReq(name, 8*mib, nil)),
		check: func(id string) {
			r.check(expect{images: []string{r.volImage(id)}, volNames: []string{name}, volUUIDs: []string{r.uuidOf(id)}})
			r.checkVolume(name, r.volImage(id), 8*mib)
		},
		cleanup: func(id string) { r.deleteVolume(h, id) },
	}
}

// source is a fixture volume, and optionally a snapshot of it.
type source struct {
	name string
	vol  *csi.Volume
	snap *csi.Snapshot
}

func (r *rig) source(h *driver, name string, withSnapshot bool) *source {
	r.t.Helper()
	s := &source{name: name, vol: r.createVolume(h, r.volReq(name, 8*mib, nil))}
	if withSnapshot {
		s.snap = r.createSnapshot(h, name+"-snap", s.vol.GetVolumeId())
	}
	return s
}

func (s *source) volUUID(r *rig) string { return r.uuidOf(s.vol.GetVolumeId()) }

func createSnapshotRun(r *rig, h *driver, tag string) *run {
	src := r.source(h, "cs-"+tag+"-src", false)
	name := "cs-" + tag
	return &run{
		call: func(ctx context.Context, c csi.ControllerClient) (string, error) {
			resp, err := c.CreateSnapshot(ctx, r.snapReq(name, src.vol.GetVolumeId()))
			return resp.GetSnapshot().GetSnapshotId(), err
		},
		check: func(id string) {
			r.check(expect{images: []string{image(src.vol)}, volNames: []string{src.name},
				volUUIDs: []string{src.volUUID(r)}, snapNames: []string{name}, snapUUIDs: []string{r.uuidOf(id)}})
			if got, want := r.userSnapshots(image(src.vol)), []string{"csi-snap-" + r.uuidOf(id)}; !sameSet(got, want) {
				r.t.Errorf("snapshots of %s = %v, want %v", image(src.vol), got, want)
			}
		},
		cleanup: func(id string) {
			r.deleteSnapshot(h, id)
			r.deleteVolume(h, src.vol.GetVolumeId())
		},
	}
}

func restoreRun(r *rig, h *driver, tag string) *run {
	src := r.source(h, "rs-"+tag+"-src", true)
	name := "rs-" + tag
	return &run{
		call: createVolumeCall(r.volReq(name, 16*mib, csisource.Snapshot(src.snap.GetSnapshotId()))),
		check: func(id string) {
			r.check(expect{images: []string{image(src.vol), r.volImage(id)}, volNames: []string{src.name, name},
				volUUIDs: []string{src.volUUID(r), r.uuidOf(id)}, snapNames: []string{src.name + "-snap"},
				snapUUIDs: []string{r.uuidOf(src.snap.GetSnapshotId())}})
			r.checkVolume(name, r.volImage(id), 16*mib)
		},
		cleanup: func(id string) {
			r.deleteVolume(h, id)
			r.waitTrashEmpty()
			r.deleteSnapshot(h, src.snap.GetSnapshotId())
			r.deleteVolume(h, src.vol.GetVolumeId())
		},
	}
}

func cloneRun(r *rig, h *driver, tag string) *run {
	src := r.source(h, "cl-"+tag+"-src", false)
	name := "cl-" + tag
	return &run{
		call: createVolumeCall(r.volReq(name, 16*mib, csisource.Volume(src.vol.GetVolumeId()))),
		check: func(id string) {
			r.check(expect{images: []string{image(src.vol), r.volImage(id)}, volNames: []string{src.name, name},
				volUUIDs: []string{src.volUUID(r), r.uuidOf(id)}, snapNames: []string{}, snapUUIDs: []string{}})
			// The temporary snapshot is gone (to the trash namespace).
			if snaps := r.userSnapshots(image(src.vol)); len(snaps) != 0 {
				r.t.Errorf("the source keeps snapshots %v", snaps)
			}
			r.checkVolume(name, r.volImage(id), 16*mib)
		},
		cleanup: func(id string) {
			r.deleteVolume(h, id)
			r.waitTrashEmpty()
			r.deleteVolume(h, src.vol.GetVolumeId())
		},
	}
}

func deleteVolumeCall(r *rig, id string) call {
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		_, err := c.DeleteVolume(ctx, r.delVolReq(id))
		return "", err
	}
}

func deleteSnapshotCall(r *rig, id string) call {
	return func(ctx context.Context, c csi.ControllerClient) (string, error) {
		_, err := c.DeleteSnapshot(ctx, r.delSnapReq(id))
		return "", err
	}
}

func deleteVolumeRun(r *rig, h *driver, tag string) *run {
	src := r.source(h, "dv-"+tag, false)
	return &run{
		call: deleteVolumeCall(r, src.vol.GetVolumeId()),
		check: func(string) {
			r.check(expect{images: []string{}, volNames: []string{}, volUUIDs: []string{}})
		},
		cleanup: func(string) {},
	}
}

// tombRun deletes a volume that has a snapshot: the image becomes a tomb
// holding the snapshot.
func tombRun(r *rig, h *driver, tag string) *run {
	src := r.source(h, "tv-"+tag, true)
	snapImage := "csi-snap-" + r.uuidOf(src.snap.GetSnapshotId())
	return &run{
		call: deleteVolumeCall(r, src.vol.GetVolumeId()),
		check: func(string) {
			r.check(expect{volNames: []string{}, volUUIDs: []string{}, snapNames: []string{src.name + "-snap"},
				snapUUIDs: []string{r.uuidOf(src.snap.GetSnapshotId())}})
			images := r.audit().Images
			if len(images) != 1 || !strings.HasPrefix(images[0], "csi-tomb-") {
				r.t.Errorf("images %v, want one tomb", images)
				return
			}
			if got := r.userSnapshots(images[0]); !sameSet(got, []string{snapImage}) {
				r.t.Errorf("snapshots of the tomb = %v, want [%s]", got, snapImage)
			}
		},
		cleanup: func(string) { r.deleteSnapshot(h, src.snap.GetSnapshotId()) },
	}
}

func deleteSnapshotRun(r *rig, h *driver, tag string) *run {
	src := r.source(h, "ds-"+tag, true)
	return &run{
		call: deleteSnapshotCall(r, src.snap.GetSnapshotId()),
		check: func(string) {
			r.check(expect{images: []string{image(src.vol)}, volNames: []string{src.name},
				volUUIDs: []string{src.volUUID(r)}, snapNames: []string{}, snapUUIDs: []string{}})
			if snaps := r.userSnapshots(image(src.vol)); len(snaps) != 0 {
				r.t.Errorf("%s keeps snapshots %v", image(src.vol), snaps)
			}
		},
		cleanup: func(string) { r.deleteVolume(h, src.vol.GetVolumeId()) },
	}
}

// deleteTombSnapshotRun deletes the last snapshot of a deleted volume: the
// tomb goes to the trash.
func deleteTombSnapshotRun(r *rig, h *driver, tag string) *run {
	src := r.source(h, "dt-"+tag, true)
	r.deleteVolume(h, src.vol.GetVolumeId())
	return &run{
		call: deleteSnapshotCall(r, src.snap.GetSnapshotId()),
		check: func(string) {
			r.check(expect{images: []string{}, volNames: []string{}, volUUIDs: []string{},
				snapNames: []string{}, snapUUIDs: []string{}})
		},
		cleanup: func(string) {},
	}
}
