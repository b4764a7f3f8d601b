package controller

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

func TestCreateVolumeContext(t *testing.T) {
	f := newFixture(t)
	req := createReq("pvc-1", gib)
	req.Parameters = params("mounter", "fuse", "fuseMountOptions", "debug", "volumeNamePrefix", "app-",
		"csi.storage.k8s.io/pvc/name", "data")
	vol := f.create(req)
	vc := vol.GetVolumeContext()
	if vol.GetCapacityBytes() != gib || vc[volctx.Mounter] != "fuse" || vc[volctx.FuseMountOptions] != "debug" ||
		vc[volctx.ClusterID] != testCluster || vc[volctx.FSName] != testFS || !strings.HasPrefix(vc[volctx.SubvolumeName], "app-") ||
		!strings.HasPrefix(vc[volctx.SubvolumePath], "/volumes/csi/app-") {
		t.Fatalf("volume %+v", vol)
	}
	if !strings.Contains(vol.GetVolumeId(), testCluster) {
		t.Fatalf("volume ID %q does not name the cluster", vol.GetVolumeId())
	}
	f.deleteVolume(vol.GetVolumeId())
	f.deleteVolume(vol.GetVolumeId())
	f.wantClean()
}

func TestVolumeSizes(t *testing.T) {
	tests := []struct {
		required, limit, want int64
	}{
		{0, 0, 0},
		{1, 0, mib},
		{mib + 1, 0, 2 * mib},
		{gib, 0, gib},
		{1000000, 1000000, 1000000},
		{0, 5 * mib, 5 * mib},
	}
	for _, tc := range tests {
		got, err := volumeSize(&csi.CapacityRange{RequiredBytes: tc.required, LimitBytes: tc.limit})
		if err != nil || got != tc.want {
			t.Errorf("volumeSize(%d, %d) = %d, %v; want %d", tc.required, tc.limit, got, err, tc.want)
		}
	}
}

func TestCreateVolumeIdempotent(t *testing.T) {
	f := newFixture(t)
	first := f.create(createReq("pvc-1", gib))
	creates := f.be.Calls("CreateSubvolume") // one more when the group was missing
	again := f.create(createReq("pvc-1", gib))
	if first.GetVolumeId() != again.GetVolumeId() || again.GetCapacityBytes() != gib {
		t.Fatalf("second CreateVolume = %+v, want %+v", again, first)
	}
	if n := f.be.Calls("CreateSubvolume"); n != creates {
		t.Fatalf("CreateSubvolume called %d times, want %d", n, creates)
	}
	// A range the existing size fits is compatible.
	fits := createReq("pvc-1", gib/2)
	fits.CapacityRange.LimitBytes = 2 * gib
	f.create(fits)

	_, err := f.srv.CreateVolume(context.Background(), createReq("pvc-1", 2*gib))
	wantCode(t, err, codes.AlreadyExists, "pvc-1")
	snap := f.snapshot("snap-1", first.GetVolumeId())
	_, err = f.srv.CreateVolume(context.Background(), fromSnapshot(createReq("pvc-1", gib), snap.GetSnapshotId()))
	wantCode(t, err, codes.AlreadyExists, "volume_content_source")
	if n := f.be.Calls("CreateSubvolume"); n != creates {
		t.Fatalf("CreateSubvolume called %d times, want %d", n, creates)
	}
	if err := f.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(first.GetVolumeId())
	f.wantClean()
}

// A subvolume created by an attempt that crashed before answering is
// adopted by the retry.
func TestCreateVolumeAdoptsEarlierAttempt(t *testing.T) {
	f := newFixture(t)
	f.be.Errors["SubvolumePath"] = errors.New("mgr went away")
	_, err := f.srv.CreateVolume(context.Background(), createReq("pvc-1", gib))
	wantCode(t, err, codes.Internal, "mgr went away")
	// The error is not final for what exists: the rollback removed it.
	f.wantClean()

	f.be.Errors["SubvolumePath"] = context.DeadlineExceeded
	creates := f.be.Calls("CreateSubvolume")
	_, err = f.srv.CreateVolume(context.Background(), createReq("pvc-1", gib))
	wantCode(t, err, codes.DeadlineExceeded)
	if subs := f.subvolumes(); len(subs) != 1 {
		t.Fatalf("a timed-out attempt should keep its subvolume for the retry, have %v", subs)
	}
	delete(f.be.Errors, "SubvolumePath")
	vol := f.create(createReq("pvc-1", gib))
	if subs := f.subvolumes(); len(subs) != 1 || f.be.Calls("CreateSubvolume") != creates+1 {
		t.Fatalf("subvolumes %v after %d creates", subs, f.be.Calls("CreateSubvolume"))
	}
	f.deleteVolume(vol.GetVolumeId())
	f.wantClean()
}

func TestGroupCreatedOnFirstUse(t *testing.T) {
	f := newFixture(t)
	vol := f.create(createReq("pvc-1", gib))
	f.create(createReq("pvc-2", gib))
	if n := f.be.Calls("CreateGroup"); n != 1 {
		t.Fatalf("CreateGroup called %d times, want once", n)
	}
	f.deleteVolume(vol.GetVolumeId())
}

func TestConcurrentRequestIsAborted(t *testing.T) {
	f := newFixture(t)
	release, err := f.srv.locks.Acquire(oplock.Key{Kind: oplock.KindVolumeName, ID: "pvc-1"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.srv.CreateVolume(context.Background(), createReq("pvc-1", gib))
	wantCode(t, err, codes.Aborted, "pvc-1")
	release()
	vol := f.create(createReq("pvc-1", gib))
	f.deleteVolume(vol.GetVolumeId())
}

func TestCloneFromSnapshot(t *testing.T) {
	f := newFixture(t)
	f.be.ClonePolls = 3
	src := f.create(createReq("src", gib))
	snap := f.snapshot("snap", src.GetVolumeId())
	if snap.GetSizeBytes() != gib || snap.GetSourceVolumeId() != src.GetVolumeId() || !snap.GetReadyToUse() {
		t.Fatalf("snapshot %+v", snap)
	}
	clone := f.create(fromSnapshot(createReq("clone", 2*gib), snap.GetSnapshotId()))
	if clone.GetCapacityBytes() != 2*gib || clone.GetContentSource().GetSnapshot().GetSnapshotId() != snap.GetSnapshotId() {
		t.Fatalf("clone %+v", clone)
	}
	// Too small for the snapshot.
	_, err := f.srv.CreateVolume(context.Background(), fromSnapshot(createReq("small", gib/2), snap.GetSnapshotId()))
	wantCode(t, err, codes.OutOfRange, "capacity_range")
	f.deleteVolume(clone.GetVolumeId())
	if err := f.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(src.GetVolumeId())
	f.wantClean()
}

// A CreateVolume that gives up waiting for its clone leaves the clone
// running and its journal record; the retry resumes that clone instead of
// starting another.
func TestCloneResumesAfterTimeout(t *testing.T) {
	f := newFixture(t)
	src := f.create(createReq("src", gib))
	snap := f.snapshot("snap", src.GetVolumeId())
	f.be.ClonePolls = 1 << 30

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := f.srv.CreateVolume(ctx, fromSnapshot(createReq("clone", gib), snap.GetSnapshotId()))
	if c := status.Code(err); c != codes.Aborted && c != codes.DeadlineExceeded {
		t.Fatalf("CreateVolume during a long clone = %v, want Aborted or DeadlineExceeded", err)
	}
	if n := len(f.subvolumes()); n != 2 {
		t.Fatalf("want the source and the running clone, have %v", f.subvolumes())
	}
	// Another attempt, still too early.
	f.srv.cfg.CloneWait = 20 * time.Millisecond
	_, err = f.srv.CreateVolume(context.Background(), fromSnapshot(createReq("clone", gib), snap.GetSnapshotId()))
	wantCode(t, err, codes.Aborted, "retry")

	f.be.SetClonePolls(2)
	f.srv.cfg.CloneWait = time.Minute
	clone := f.create(fromSnapshot(createReq("clone", gib), snap.GetSnapshotId()))
	if n := f.be.Calls("CloneSnapshot"); n != 1 {
		t.Fatalf("CloneSnapshot called %d times, want 1 (resumed)", n)
	}
	f.deleteVolume(clone.GetVolumeId())
	if err := f.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(src.GetVolumeId())
	f.wantClean()
}

func TestFailedCloneIsCleanedUp(t *testing.T) {
	f := newFixture(t)
	src := f.create(createReq("src", gib))
	snap := f.snapshot("snap", src.GetVolumeId())
	f.be.FailClone = "No space left on device (errno -28)"
	_, err := f.srv.CreateVolume(context.Background(), fromSnapshot(createReq("clone", gib), snap.GetSnapshotId()))
	wantCode(t, err, codes.Internal, "failed", "No space left")
	if subs := f.subvolumes(); !slices.Equal(subs, []string{src.GetVolumeContext()[volctx.SubvolumeName]}) {
		t.Fatalf("failed clone not removed: %v", subs)
	}
	f.be.FailClone = ""
	clone := f.create(fromSnapshot(createReq("clone", gib), snap.GetSnapshotId()))
	f.deleteVolume(clone.GetVolumeId())
	if err := f.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(src.GetVolumeId())
	f.wantClean()
}

func TestCloneFromVolume(t *testing.T) {
	f := newFixture(t)
	f.be.ClonePolls = 2
	src := f.create(createReq("src", gib))
	clone := f.create(fromVolume(createReq("clone", gib), src.GetVolumeId()))
	if clone.GetContentSource().GetVolume().GetVolumeId() != src.GetVolumeId() {
		t.Fatalf("clone %+v", clone)
	}
	srcRef := backend.SubvolumeRef{FS: testFS, Group: testGroup, Name: src.GetVolumeContext()[volctx.SubvolumeName]}
	if snaps, _ := f.be.ListSnapshots(context.Background(), srcRef); len(snaps) != 0 {
		t.Fatalf("temporary snapshot left on the source: %v", snaps)
	}
	f.deleteVolume(src.GetVolumeId())
	f.deleteVolume(clone.GetVolumeId())
	f.wantClean()
}

// Deleting a clone whose copy still runs cancels it and removes its
// temporary snapshot.
func TestDeleteCloneInProgress(t *testing.T) {
	f := newFixture(t)
	src := f.create(createReq("src", gib))
	f.be.ClonePolls = 1 << 30
	f.srv.cfg.CloneWait = 10 * time.Millisecond
	_, err := f.srv.CreateVolume(context.Background(), fromVolume(createReq("clone", gib), src.GetVolumeId()))
	wantCode(t, err, codes.Aborted)
	rec, err := f.journalRecord("clone")
	if err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(rec)
	f.deleteVolume(src.GetVolumeId())
	f.wantClean()
}

// journalRecord returns the CSI ID reserved for a request name.
func (f *fixture) journalRecord(name string) (string, error) {
	sc, err := f.srv.scopeByName(context.Background(), testCluster, testFS, nil)
	if err != nil {
		return "", err
	}
	defer sc.close()
	rec, err := sc.vols.Lookup(context.Background(), name)
	if err != nil {
		return "", err
	}
	return sc.encodeID(rec.UUID)
}

func TestSnapshotsOutliveTheirVolume(t *testing.T) {
	f := newFixture(t)
	src := f.create(createReq("src", gib))
	s1 := f.snapshot("s1", src.GetVolumeId())
	s2 := f.snapshot("s2", src.GetVolumeId())
	f.deleteVolume(src.GetVolumeId())
	if subs := f.subvolumes(); len(subs) != 1 {
		t.Fatalf("the retained subvolume should remain while it has snapshots: %v", subs)
	}
	clone := f.create(fromSnapshot(createReq("clone", gib), s1.GetSnapshotId()))
	if err := f.deleteSnapshot(s1.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	if subs := f.subvolumes(); len(subs) != 2 {
		t.Fatalf("retained subvolume and clone expected: %v", subs)
	}
	if err := f.deleteSnapshot(s2.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	if subs := f.subvolumes(); !slices.Equal(subs, []string{clone.GetVolumeContext()[volctx.SubvolumeName]}) {
		t.Fatalf("the retained subvolume should go with its last snapshot: %v", subs)
	}
	f.deleteVolume(clone.GetVolumeId())
	f.wantClean()
}

func TestSnapshotIdempotent(t *testing.T) {
	f := newFixture(t)
	a := f.create(createReq("a", gib))
	b := f.create(createReq("b", gib))
	s := f.snapshot("s", a.GetVolumeId())
	again := f.snapshot("s", a.GetVolumeId())
	if again.GetSnapshotId() != s.GetSnapshotId() || !again.GetCreationTime().AsTime().Equal(s.GetCreationTime().AsTime()) {
		t.Fatalf("repeat = %+v, want %+v", again, s)
	}
	_, err := f.srv.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: b.GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.AlreadyExists, "s")
	if n := f.be.Calls("CreateSnapshot"); n != 1 {
		t.Fatalf("CreateSnapshot called %d times", n)
	}
	if err := f.deleteSnapshot(s.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(a.GetVolumeId())
	f.deleteVolume(b.GetVolumeId())
	f.wantClean()
}

func TestShallowVolume(t *testing.T) {
	f := newFixture(t)
	src := f.create(createReq("src", gib))
	snap := f.snapshot("snap", src.GetVolumeId())
	req := fromSnapshot(createReq("shallow", gib), snap.GetSnapshotId())
	req.Parameters[volctx.BackingSnapshot] = "true"
	req.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
	vol := f.create(req)
	vc := vol.GetVolumeContext()
	srcPath := src.GetVolumeContext()[volctx.SubvolumePath]
	wantRoot := srcPath[:strings.LastIndex(srcPath, "/")]
	if vc[volctx.BackingSnapshot] != "true" || vc[volctx.BackingSnapshotRoot] != wantRoot ||
		!strings.HasPrefix(vc[volctx.BackingSnapshotDir], ".snap/csi-snap-") || vc[volctx.SubvolumePath] != "" {
		t.Fatalf("shallow volume context %v (source path %s)", vc, srcPath)
	}
	if n := len(f.subvolumes()); n != 1 {
		t.Fatalf("a shallow volume must not create a subvolume: %v", f.subvolumes())
	}
	if again := f.create(req); again.GetVolumeId() != vol.GetVolumeId() {
		t.Fatal("shallow CreateVolume is not idempotent")
	}
	wantCode(t, f.deleteSnapshot(snap.GetSnapshotId()), codes.FailedPrecondition, "shallow")
	// The source volume may go: the snapshot is retained.
	f.deleteVolume(src.GetVolumeId())
	_, err := f.srv.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 2 * gib}, Secrets: secrets()})
	wantCode(t, err, codes.InvalidArgument, "shallow")
	f.deleteVolume(vol.GetVolumeId())
	if err := f.deleteSnapshot(snap.GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.wantClean()
}

func TestExpand(t *testing.T) {
	f := newFixture(t)
	vol := f.create(createReq("pvc", gib))
	expand := func(size int64) (*csi.ControllerExpandVolumeResponse, error) {
		return f.srv.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
			VolumeId: vol.GetVolumeId(), CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Secrets: secrets()})
	}
	resp, err := expand(2*gib + 1)
	if err != nil || resp.GetCapacityBytes() != 2*gib+mib || resp.GetNodeExpansionRequired() {
		t.Fatalf("expand = %+v, %v", resp, err)
	}
	if resp, err = expand(2*gib + 1); err != nil || resp.GetCapacityBytes() != 2*gib+mib {
		t.Fatalf("repeated expand = %+v, %v", resp, err)
	}
	_, err = expand(gib)
	wantCode(t, err, codes.OutOfRange, "shrinking")
	f.deleteVolume(vol.GetVolumeId())
}

func TestValidateVolumeCapabilities(t *testing.T) {
	f := newFixture(t)
	vol := f.create(createReq("pvc", gib))
	validate := func(c *csi.VolumeCapability) *csi.ValidateVolumeCapabilitiesResponse {
		resp, err := f.srv.ValidateVolumeCapabilities(context.Background(), &csi.ValidateVolumeCapabilitiesRequest{
			VolumeId: vol.GetVolumeId(), VolumeCapabilities: []*csi.VolumeCapability{c}, Secrets: secrets()})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	for mode := range csi.VolumeCapability_AccessMode_Mode_name {
		m := csi.VolumeCapability_AccessMode_Mode(mode)
		if m == csi.VolumeCapability_AccessMode_UNKNOWN {
			continue
		}
		if validate(mountCap(m)).GetConfirmed() == nil {
			t.Errorf("mode %v not confirmed", m)
		}
	}
	block := &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER}}
	if resp := validate(block); resp.GetConfirmed() != nil || !strings.Contains(resp.GetMessage(), "block") {
		t.Errorf("block confirmed: %+v", resp)
	}
	f.deleteVolume(vol.GetVolumeId())
}

func TestListSnapshots(t *testing.T) {
	f := newFixture(t)
	a := f.create(createReq("a", gib))
	b := f.create(createReq("b", gib))
	var ids []string
	for _, n := range []string{"s1", "s2", "s3"} {
		ids = append(ids, f.snapshot(n, a.GetVolumeId()).GetSnapshotId())
	}
	ids = append(ids, f.snapshot("s4", b.GetVolumeId()).GetSnapshotId())
	slices.Sort(ids)
	list := func(req *csi.ListSnapshotsRequest) *csi.ListSnapshotsResponse {
		req.Secrets = secrets()
		resp, err := f.srv.ListSnapshots(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var got []string
	token := ""
	for {
		resp := list(&csi.ListSnapshotsRequest{MaxEntries: 3, StartingToken: token})
		for _, e := range resp.GetEntries() {
			got = append(got, e.GetSnapshot().GetSnapshotId())
		}
		if token = resp.GetNextToken(); token == "" {
			break
		}
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("paged listing %v, want %v", got, ids)
	}
	if n := len(list(&csi.ListSnapshotsRequest{SourceVolumeId: a.GetVolumeId()}).GetEntries()); n != 3 {
		t.Fatalf("%d snapshots of a, want 3", n)
	}
	one := list(&csi.ListSnapshotsRequest{SnapshotId: ids[1]})
	if len(one.GetEntries()) != 1 || one.GetEntries()[0].GetSnapshot().GetSnapshotId() != ids[1] {
		t.Fatalf("by ID: %+v", one)
	}
	if n := len(list(&csi.ListSnapshotsRequest{SnapshotId: missingID}).GetEntries()); n != 0 {
		t.Fatalf("missing snapshot listed")
	}
	got2, err := f.srv.GetSnapshot(context.Background(), &csi.GetSnapshotRequest{SnapshotId: ids[2], Secrets: secrets()})
	if err != nil || got2.GetSnapshot().GetSnapshotId() != ids[2] {
		t.Fatalf("GetSnapshot = %+v, %v", got2, err)
	}
	for _, id := range ids {
		if err := f.deleteSnapshot(id); err != nil {
			t.Fatal(err)
		}
	}
	f.deleteVolume(a.GetVolumeId())
	f.deleteVolume(b.GetVolumeId())
	f.wantClean()
}

func TestGetCapacity(t *testing.T) {
	f := newFixture(t)
	for _, p := range []map[string]string{nil, params(), params("pool", testFS+".data")} {
		resp, err := f.srv.GetCapacity(context.Background(), &csi.GetCapacityRequest{Parameters: p})
		if err != nil || resp.GetAvailableCapacity() != 100*gib {
			t.Fatalf("GetCapacity(%v) = %+v, %v", p, resp, err)
		}
	}
}

func TestCapabilitiesFollowConfig(t *testing.T) {
	f := newFixture(t)
	has := func(s *Server, want csi.ControllerServiceCapability_RPC_Type) bool {
		resp, _ := s.ControllerGetCapabilities(context.Background(), &csi.ControllerGetCapabilitiesRequest{})
		return slices.ContainsFunc(resp.GetCapabilities(), func(c *csi.ControllerServiceCapability) bool {
			return c.GetRpc().GetType() == want
		})
	}
	if !has(f.srv, csi.ControllerServiceCapability_RPC_GET_CAPACITY) || !has(f.srv, csi.ControllerServiceCapability_RPC_CLONE_VOLUME) {
		t.Fatal("missing capabilities")
	}
	noCap, err := New(Config{Connector: f.conn, Clusters: fakeClusters{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []csi.ControllerServiceCapability_RPC_Type{csi.ControllerServiceCapability_RPC_GET_CAPACITY,
		csi.ControllerServiceCapability_RPC_LIST_VOLUMES, csi.ControllerServiceCapability_RPC_GET_VOLUME} {
		if !has(f.srv, c) || has(noCap, c) {
			t.Fatalf("%v: advertised %v with driver credentials, %v without", c, has(f.srv, c), has(noCap, c))
		}
	}
	if !has(noCap, csi.ControllerServiceCapability_RPC_GET_VOLUME_HEALTH) || has(f.srv, csi.ControllerServiceCapability_RPC_MODIFY_VOLUME) {
		t.Fatal("GET_VOLUME_HEALTH missing or MODIFY_VOLUME advertised")
	}
}
