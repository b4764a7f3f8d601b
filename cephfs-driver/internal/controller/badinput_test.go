package controller

import (
	"context"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// A well-formed ID of a volume that does not exist.
var missingID = func() string {
	id, err := volid.ID{ClusterID: testCluster, LocationID: testFSID, UUID: "00000000-0000-0000-0000-000000000001"}.Encode()
	if err != nil {
		panic(err)
	}
	return id
}()

// An ID of a cluster that is not configured.
var foreignID = func() string {
	id, err := volid.ID{ClusterID: "other-cluster", LocationID: testFSID, UUID: "00000000-0000-0000-0000-000000000001"}.Encode()
	if err != nil {
		panic(err)
	}
	return id
}()

// blockCap asks for a block volume, which CephFS cannot give.
var blockCap = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Block{Block: &csi.VolumeCapability_BlockVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER},
}

// createBadInputCase is one TestCreateVolumeBadInput case: change spoils a
// good request, and the call must fail with code and an error naming words.
type createBadInputCase struct {
	name   string
	change func(*csi.CreateVolumeRequest)
	code   codes.Code
	words  []string
}

// createBadInputCases are TestCreateVolumeBadInput's cases.
var createBadInputCases = []createBadInputCase{
	{"missing name", func(r *csi.CreateVolumeRequest) { r.Name = "" }, codes.InvalidArgument, []string{"name"}},
	{"no capabilities", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = nil }, codes.InvalidArgument, []string{"volume_capabilities"}},
	{"block access", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = []*csi.VolumeCapability{blockCap} },
		codes.InvalidArgument, []string{"volume_capabilities[0]", "block"}},
	{"no access mode", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities[0].AccessMode = nil },
		codes.InvalidArgument, []string{"access mode"}},
	{"missing clusterID", func(r *csi.CreateVolumeRequest) { delete(r.Parameters, "clusterID") },
		codes.InvalidArgument, []string{`"clusterID"`}},
	{"unknown clusterID", func(r *csi.CreateVolumeRequest) { r.Parameters["clusterID"] = "nope" },
		codes.InvalidArgument, []string{"clusterID", "nope"}},
	{"missing fsName", func(r *csi.CreateVolumeRequest) { delete(r.Parameters, "fsName") },
		codes.InvalidArgument, []string{`"fsName"`}},
	{"unknown fsName", func(r *csi.CreateVolumeRequest) { r.Parameters["fsName"] = "nofs" },
		codes.InvalidArgument, []string{"fsName", "nofs"}},
	{"unknown mounter", func(r *csi.CreateVolumeRequest) { r.Parameters["mounter"] = "nfs" },
		codes.InvalidArgument, []string{"mounter", "nfs"}},
	{"bad backingSnapshot", func(r *csi.CreateVolumeRequest) { r.Parameters["backingSnapshot"] = "yes please" },
		codes.InvalidArgument, []string{"backingSnapshot"}},
	{"backingSnapshot without snapshot", func(r *csi.CreateVolumeRequest) {
		r.Parameters["backingSnapshot"] = "true"
		r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
	},
		codes.InvalidArgument, []string{"backingSnapshot", "volume_content_source"}},
	{"backingSnapshot writable", func(r *csi.CreateVolumeRequest) {
		r.Parameters["backingSnapshot"] = "true"
		fromSnapshot(r, missingID)
	}, codes.InvalidArgument, []string{"access mode", "backingSnapshot"}},
	{"unknown parameter", func(r *csi.CreateVolumeRequest) { r.Parameters["fsname"] = "x" },
		codes.InvalidArgument, []string{"not a known parameter", "fsname", `did you mean "fsName"`}},
	{"unsupported parameter", func(r *csi.CreateVolumeRequest) { r.Parameters["encrypted"] = "true" },
		codes.InvalidArgument, []string{"not supported yet", "encrypted"}},
	{"bad volumeNamePrefix", func(r *csi.CreateVolumeRequest) { r.Parameters["volumeNamePrefix"] = "../x" },
		codes.InvalidArgument, []string{"volumeNamePrefix"}},
	{"missing secrets", func(r *csi.CreateVolumeRequest) { r.Secrets = nil }, codes.InvalidArgument, []string{"adminID"}},
	{"missing adminKey", func(r *csi.CreateVolumeRequest) { delete(r.Secrets, "adminKey") },
		codes.InvalidArgument, []string{"adminKey"}},
	{"malformed adminKey", func(r *csi.CreateVolumeRequest) { r.Secrets["adminKey"] = "not a key\n" },
		codes.InvalidArgument, []string{"adminKey"}},
	{"required above limit", func(r *csi.CreateVolumeRequest) {
		r.CapacityRange = &csi.CapacityRange{RequiredBytes: 2 * gib, LimitBytes: gib}
	},
		codes.OutOfRange, []string{"capacity_range", "limit_bytes"}},
	{"negative size", func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: -1} },
		codes.InvalidArgument, []string{"capacity_range"}},
	{"malformed source snapshot", func(r *csi.CreateVolumeRequest) { fromSnapshot(r, "not-an-id") },
		codes.NotFound, []string{"volume_content_source.snapshot.snapshot_id", "not-an-id"}},
	{"missing source snapshot", func(r *csi.CreateVolumeRequest) { fromSnapshot(r, missingID) },
		codes.NotFound, []string{"snapshot_id", missingID}},
	{"missing source volume", func(r *csi.CreateVolumeRequest) { fromVolume(r, missingID) },
		codes.NotFound, []string{"volume_content_source.volume.volume_id"}},
	{"source on another cluster", func(r *csi.CreateVolumeRequest) { fromVolume(r, foreignID) },
		codes.InvalidArgument, []string{"volume_id", "other-cluster"}},
	{"empty source ID", func(r *csi.CreateVolumeRequest) { fromVolume(r, "") },
		codes.InvalidArgument, []string{"volume_id"}},
}

func TestCreateVolumeBadInput(t *testing.T) {
	for _, tc := range createBadInputCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			req := createReq("pvc-1", gib)
			tc.change(req)
			_, err := f.srv.CreateVolume(context.Background(), req)
			wantCode(t, err, tc.code, tc.words...)
			f.wantClean()
		})
	}
}

// rpcBadInputCase is one TestOtherRPCsBadInput case: call makes a bad
// request, which must fail with code and an error naming words.
type rpcBadInputCase struct {
	name  string
	call  func(*Server) error
	code  codes.Code
	words []string
}

// volumeRPCBadInputCases are TestOtherRPCsBadInput's cases for the volume
// RPCs other than CreateVolume; mount is a good capability.
func volumeRPCBadInputCases(ctx context.Context, mount *csi.VolumeCapability) []rpcBadInputCase {
	return []rpcBadInputCase{
		{"DeleteVolume without ID", func(s *Server) error {
			_, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{Secrets: secrets()})
			return err
		}, codes.InvalidArgument, []string{"volume_id"}},
		{"DeleteVolume without secrets", func(s *Server) error {
			_, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: missingID})
			return err
		}, codes.InvalidArgument, []string{"adminID"}},
		{"DeleteVolume of an unconfigured cluster", func(s *Server) error {
			_, err := s.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: foreignID, Secrets: secrets()})
			return err
		}, codes.InvalidArgument, []string{"volume_id", "other-cluster"}},
		{"ValidateVolumeCapabilities of a missing volume", func(s *Server) error {
			_, err := s.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: missingID,
				VolumeCapabilities: []*csi.VolumeCapability{mount}, Secrets: secrets()})
			return err
		}, codes.NotFound, []string{"volume_id"}},
		{"ValidateVolumeCapabilities of a malformed ID", func(s *Server) error {
			_, err := s.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: "bad",
				VolumeCapabilities: []*csi.VolumeCapability{mount}, Secrets: secrets()})
			return err
		}, codes.NotFound, []string{"volume_id"}},
		{"ValidateVolumeCapabilities without capabilities", func(s *Server) error {
			_, err := s.ValidateVolumeCapabilities(ctx, &csi.ValidateVolumeCapabilitiesRequest{VolumeId: missingID, Secrets: secrets()})
			return err
		}, codes.InvalidArgument, []string{"volume_capabilities"}},
		{"expand a malformed ID", func(s *Server) error {
			_, err := s.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: "bad",
				CapacityRange: &csi.CapacityRange{RequiredBytes: gib}, Secrets: secrets()})
			return err
		}, codes.NotFound, []string{"volume_id"}},
		{"expand without capacity", func(s *Server) error {
			_, err := s.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: missingID, Secrets: secrets()})
			return err
		}, codes.InvalidArgument, []string{"capacity_range"}},
		{"expand a missing volume", func(s *Server) error {
			_, err := s.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: missingID,
				CapacityRange: &csi.CapacityRange{RequiredBytes: gib}, Secrets: secrets()})
			return err
		}, codes.NotFound, []string{"volume_id"}},
	}
}

// snapshotRPCBadInputCases are TestOtherRPCsBadInput's cases for the
// snapshot RPCs and GetCapacity.
func snapshotRPCBadInputCases(ctx context.Context) []rpcBadInputCase {
	return []rpcBadInputCase{
		{"snapshot without source", func(s *Server) error {
			_, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", Secrets: secrets()})
			return err
		}, codes.InvalidArgument, []string{"source_volume_id"}},
		{"snapshot without name", func(s *Server) error {
			_, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{SourceVolumeId: missingID, Secrets: secrets()})
			return err
		}, codes.InvalidArgument, []string{"name"}},
		{"snapshot of a missing volume", func(s *Server) error {
			_, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: missingID, Secrets: secrets()})
			return err
		}, codes.NotFound, []string{"source_volume_id"}},
		{"snapshot with another clusterID parameter", func(s *Server) error {
			_, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: missingID, Secrets: secrets(),
				Parameters: map[string]string{volctx.ClusterID: "x"}})
			return err
		}, codes.InvalidArgument, []string{"clusterID"}},
		{"snapshot with an unknown parameter", func(s *Server) error {
			_, err := s.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: "s", SourceVolumeId: missingID, Secrets: secrets(),
				Parameters: map[string]string{"pool": "x"}})
			return err
		}, codes.InvalidArgument, []string{"not a known parameter", "pool"}},
		{"DeleteSnapshot without ID", func(s *Server) error {
			_, err := s.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{Secrets: secrets()})
			return err
		}, codes.InvalidArgument, []string{"snapshot_id"}},
		{"GetSnapshot of a missing snapshot", func(s *Server) error {
			_, err := s.GetSnapshot(ctx, &csi.GetSnapshotRequest{SnapshotId: missingID, Secrets: secrets()})
			return err
		}, codes.NotFound, []string{"snapshot_id"}},
		{"ListSnapshots with a bad token", func(s *Server) error {
			_, err := s.ListSnapshots(ctx, &csi.ListSnapshotsRequest{StartingToken: "junk", Secrets: secrets()})
			return err
		}, codes.Aborted, []string{"starting_token"}},
		{"GetCapacity of an unknown pool", func(s *Server) error {
			_, err := s.GetCapacity(ctx, &csi.GetCapacityRequest{Parameters: params("pool", "nopool")})
			return err
		}, codes.InvalidArgument, []string{"pool"}},
	}
}

func TestOtherRPCsBadInput(t *testing.T) {
	ctx := context.Background()
	mount := mountCap(csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER)
	tests := append(volumeRPCBadInputCases(ctx, mount), snapshotRPCBadInputCases(ctx)...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			wantCode(t, tc.call(f.srv), tc.code, tc.words...)
		})
	}
}

// Deleting what does not exist succeeds, as the CO expects.
func TestDeleteUnknownIsSuccess(t *testing.T) {
	f := newFixture(t)
	for _, id := range []string{"not-an-id", missingID} {
		f.deleteVolume(id)
		if err := f.deleteSnapshot(id); err != nil {
			t.Fatalf("DeleteSnapshot(%s) = %v", id, err)
		}
	}
}
