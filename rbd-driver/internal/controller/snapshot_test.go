package controller

import (
	"context"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

func lockKeyVolume(id string) oplock.Key { return oplock.Key{Kind: oplock.KindVolumeID, ID: id} }

func TestCreateSnapshotBadInput(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-src", 0))
	tests := []struct {
		name string
		req  *csi.CreateSnapshotRequest
		code codes.Code
		msg  []string
	}{
		{"no name", &csi.CreateSnapshotRequest{SourceVolumeId: vol.GetVolumeId(), Secrets: secrets()}, codes.InvalidArgument, []string{"name"}},
		{"no source", &csi.CreateSnapshotRequest{Name: "s", Secrets: secrets()}, codes.InvalidArgument, []string{"source_volume_id"}},
		{"malformed source", &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: "x", Secrets: secrets()}, codes.NotFound, []string{"source_volume_id"}},
		{"no secrets", &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: vol.GetVolumeId()}, codes.InvalidArgument, []string{"userID"}},
		{"unknown parameter", &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: vol.GetVolumeId(), Secrets: secrets(),
			Parameters: map[string]string{"snapshotNamePrefx": "x"}}, codes.InvalidArgument,
			[]string{"parameters.snapshotNamePrefx", `did you mean "snapshotNamePrefix"`}},
		{"empty prefix", &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: vol.GetVolumeId(), Secrets: secrets(),
			Parameters: map[string]string{"snapshotNamePrefix": ""}}, codes.InvalidArgument, []string{"parameters.snapshotNamePrefix"}},
		{"other pool", &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: vol.GetVolumeId(), Secrets: secrets(),
			Parameters: map[string]string{"pool": otherPool}}, codes.InvalidArgument, []string{"parameters.pool"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.CreateSnapshot(context.Background(), tc.req)
			wantCode(t, err, tc.code, tc.msg...)
		})
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestSnapshotLifecycle(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-src", 64*mib))
	snap := e.snapshot("snap-1", vol.GetVolumeId())
	if snap.GetSourceVolumeId() != vol.GetVolumeId() || snap.GetSizeBytes() != 64*mib || !snap.GetReadyToUse() ||
		snap.GetCreationTime() == nil {
		t.Fatalf("snapshot %v", snap)
	}
	if again := e.snapshot("snap-1", vol.GetVolumeId()); again.GetSnapshotId() != snap.GetSnapshotId() {
		t.Fatalf("retry returned another snapshot")
	}
	other := e.create(volReq("pvc-other", 0))
	_, err := e.s.CreateSnapshot(context.Background(), &csi.CreateSnapshotRequest{
		Name: "snap-1", SourceVolumeId: other.GetVolumeId(), Secrets: secrets()})
	wantCode(t, err, codes.AlreadyExists, "snap-1")

	got, err := e.s.GetSnapshot(context.Background(), &csi.GetSnapshotRequest{SnapshotId: snap.GetSnapshotId(), Secrets: secrets()})
	if err != nil || got.GetSnapshot().GetSnapshotId() != snap.GetSnapshotId() {
		t.Fatalf("GetSnapshot = %v, %v", got, err)
	}
	_, err = e.s.GetSnapshot(context.Background(), &csi.GetSnapshotRequest{SnapshotId: "none", Secrets: secrets()})
	wantCode(t, err, codes.NotFound, "snapshot_id")

	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteSnapshot("malformed")
	e.deleteVolume(vol.GetVolumeId())
	e.deleteVolume(other.GetVolumeId())
	e.assertEmpty()
}

func TestRestoreAfterSourceDeleted(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-src", 64*mib))
	snap := e.snapshot("snap-1", vol.GetVolumeId())
	e.deleteVolume(vol.GetVolumeId())
	c := e.be.Contents(testCluster, testPool)
	if len(c.Images) != 1 || c.Images[0][:len("/csi-tomb-")] != "/csi-tomb-" {
		t.Fatalf("after deleting a snapshotted volume: %+v, want a tomb", c)
	}
	req := volReq("pvc-restored", 128*mib)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	restored := e.create(req)
	if restored.GetCapacityBytes() != 128*mib {
		t.Fatalf("restored %d bytes, want 128 MiB", restored.GetCapacityBytes())
	}
	// Deleting the last snapshot retires the tomb; the restored volume
	// keeps reading from it through the trash namespace.
	e.deleteSnapshot(snap.GetSnapshotId())
	if _, ok := e.be.Image(testCluster, backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool},
		Name: restored.GetVolumeContext()["imageName"]}); !ok {
		t.Fatal("restored volume lost")
	}
	e.deleteVolume(restored.GetVolumeId())
	e.assertEmpty()
}

func TestDeleteSnapshotWithRestoredVolume(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-src", 0))
	snap := e.snapshot("snap-1", vol.GetVolumeId())
	req := volReq("pvc-restored", 0)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	restored := e.create(req)
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteVolume(vol.GetVolumeId())
	e.deleteVolume(restored.GetVolumeId())
	e.assertEmpty()
}

func TestRestoreSizeLimits(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-src", 64*mib))
	snap := e.snapshot("snap-1", vol.GetVolumeId())
	req := volReq("pvc-small", 0)
	req.CapacityRange = &csi.CapacityRange{LimitBytes: 32 * mib}
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId())
	_, err := e.s.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.OutOfRange, "capacity_range")
	req = volReq("pvc-missing", 0)
	req.VolumeContentSource = csisource.Snapshot(snap.GetSnapshotId()[:len(snap.GetSnapshotId())-1] + "0")
	_, err = e.s.CreateVolume(context.Background(), req)
	wantCode(t, err, codes.NotFound, "snapshot_id")
	e.deleteSnapshot(snap.GetSnapshotId())
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestListSnapshots(t *testing.T) {
	e := newEnv(t)
	vols := []*csi.Volume{e.create(volReq("pvc-a", 0)), e.create(volReq("pvc-b", 0))}
	var ids []string
	for i, name := range []string{"s1", "s2", "s3", "s4", "s5"} {
		ids = append(ids, e.snapshot(name, vols[i%2].GetVolumeId()).GetSnapshotId())
	}
	list := func(r *csi.ListSnapshotsRequest) *csi.ListSnapshotsResponse {
		t.Helper()
		r.Secrets = secrets()
		resp, err := e.s.ListSnapshots(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if n := len(list(&csi.ListSnapshotsRequest{}).GetEntries()); n != 5 {
		t.Fatalf("listed %d, want 5", n)
	}
	first := list(&csi.ListSnapshotsRequest{MaxEntries: 2})
	if len(first.GetEntries()) != 2 || first.GetNextToken() == "" {
		t.Fatalf("first page %v", first)
	}
	rest := list(&csi.ListSnapshotsRequest{StartingToken: first.GetNextToken()})
	if len(rest.GetEntries()) != 3 || rest.GetNextToken() != "" {
		t.Fatalf("second page has %d entries, token %q", len(rest.GetEntries()), rest.GetNextToken())
	}
	if n := len(list(&csi.ListSnapshotsRequest{SourceVolumeId: vols[0].GetVolumeId()}).GetEntries()); n != 3 {
		t.Fatalf("%d snapshots of volume a, want 3", n)
	}
	one := list(&csi.ListSnapshotsRequest{SnapshotId: ids[3]})
	if len(one.GetEntries()) != 1 || one.GetEntries()[0].GetSnapshot().GetSnapshotId() != ids[3] {
		t.Fatalf("by ID: %v", one)
	}
	for _, r := range []*csi.ListSnapshotsRequest{{SnapshotId: "nope"}, {SourceVolumeId: "nope"}} {
		if n := len(list(r).GetEntries()); n != 0 {
			t.Fatalf("%v listed %d", r, n)
		}
	}
	_, err := e.s.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{StartingToken: "bogus"})
	wantCode(t, err, codes.Aborted, "starting_token")
	_, err = e.s.ListSnapshots(context.Background(), &csi.ListSnapshotsRequest{MaxEntries: -1})
	wantCode(t, err, codes.InvalidArgument, "max_entries")
	for _, id := range ids {
		e.deleteSnapshot(id)
	}
	for _, v := range vols {
		e.deleteVolume(v.GetVolumeId())
	}
	e.assertEmpty()
}

// TestSnapshotNamePrefix: the VolumeSnapshotClass's snapshotNamePrefix names
// the RBD snapshot; retries and deletes find it.
func TestSnapshotNamePrefix(t *testing.T) {
	e := newEnv(t)
	vol := e.create(volReq("pvc-prefix", 0))
	req := &csi.CreateSnapshotRequest{Name: "snap-prefix", SourceVolumeId: vol.GetVolumeId(), Secrets: secrets(),
		Parameters: map[string]string{"clusterID": testCluster, "snapshotNamePrefix": "k8s-snap-"}}
	first, err := e.s.CreateSnapshot(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(vol.GetVolumeContext()["imageName"])
	info, err := e.rawSession().Stat(context.Background(), img)
	if err != nil {
		t.Fatal(err)
	}
	want := "k8s-snap-" + e.uuidOf(first.GetSnapshot().GetSnapshotId())
	if len(info.Snapshots) != 1 || info.Snapshots[0].Name != want {
		t.Fatalf("snapshots %+v, want one named %s", info.Snapshots, want)
	}
	again, err := e.s.CreateSnapshot(context.Background(), req)
	if err != nil || again.GetSnapshot().GetSnapshotId() != first.GetSnapshot().GetSnapshotId() {
		t.Fatalf("retry: %v, %v", again, err)
	}
	e.deleteSnapshot(first.GetSnapshot().GetSnapshotId())
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}
