package controller

import (
	"context"
	"errors"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// DeleteVolumeGroupSnapshot deletes a group snapshot with its member
// snapshots. A malformed or unknown ID is success. A member snapshot that
// backs shallow volumes fails the request with FailedPrecondition before
// anything is deleted.
func (s *Server) DeleteVolumeGroupSnapshot(ctx context.Context, req *csi.DeleteVolumeGroupSnapshotRequest) (*csi.DeleteVolumeGroupSnapshotResponse, error) {
	del := func(ctx context.Context, sc *scope, uuid string) error {
		rec, err := sc.groups.Get(ctx, uuid)
		if errors.Is(err, journal.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
		if err != nil {
			return err
		}
		return s.deleteGroup(ctx, sc, creds, rec)
	}
	err := s.deleteByID(ctx, idRequest{field: "group_snapshot_id", id: req.GetGroupSnapshotId(),
		lock: oplock.KindGroupSnapshotID, secrets: req.GetSecrets()}, del)
	if err != nil {
		return nil, err
	}
	return &csi.DeleteVolumeGroupSnapshotResponse{}, nil
}

// memberSnapshot is a member snapshot to delete.
type memberSnapshot struct {
	volID  string
	snapID string // "" when the member has no snapshot
	id     volid.ID
}

// deleteGroup deletes the member snapshots of rec, each member's entry after
// its snapshot, then the group record. Idempotent; a retry after a crash
// finishes the job.
func (s *Server) deleteGroup(ctx context.Context, sc *scope, creds *credentials.Credentials, rec *journal.GroupRecord) error {
	members, err := memberSnapshots(ctx, sc, rec)
	if err != nil {
		return err
	}
	keys := make([]oplock.Key, 0, len(members))
	for _, m := range members {
		if m.snapID != "" {
			keys = append(keys, oplock.Key{Kind: oplock.KindSnapshotID, ID: m.snapID})
		}
	}
	release, err := s.locks.Acquire(keys...)
	if err != nil {
		return err
	}
	defer release()
	if err := checkMembersUnused(ctx, sc, members); err != nil {
		return err
	}
	for _, m := range members {
		if m.snapID != "" {
			if err := s.deleteMemberSnapshot(ctx, sc, creds, m); err != nil {
				return err
			}
		}
		if err := sc.groups.RemoveMembers(ctx, rec.UUID, []string{m.volID}); err != nil {
			return err
		}
	}
	return sc.groups.Undo(ctx, rec)
}

// memberSnapshots lists the members of rec with their snapshot IDs; a
// member whose ID is not recorded yet is looked up by its member request
// name (a creation interrupted between reserving and recording it).
func memberSnapshots(ctx context.Context, sc *scope, rec *journal.GroupRecord) ([]memberSnapshot, error) {
	out := make([]memberSnapshot, 0, len(rec.Members))
	for _, volID := range sortedKeys(rec.Members) {
		m := memberSnapshot{volID: volID, snapID: rec.Members[volID]}
		if m.snapID == "" {
			snap, err := sc.snaps.Lookup(ctx, journal.GroupMemberRequestName(rec.GroupName, volID))
			switch {
			case err == nil:
				if m.snapID, err = sc.encodeID(snap.UUID); err != nil {
					return nil, err
				}
			case !errors.Is(err, journal.ErrNotFound):
				return nil, err
			}
		}
		if m.snapID != "" {
			id, err := volid.Decode(m.snapID)
			if err != nil {
				m.snapID = "" // not a snapshot this driver can find: nothing to delete
			}
			m.id = id
		}
		out = append(out, m)
	}
	return out, nil
}

// checkMembersUnused fails with FailedPrecondition when a member snapshot
// of this file system backs shallow volumes, as DeleteSnapshot would.
func checkMembersUnused(ctx context.Context, sc *scope, members []memberSnapshot) error {
	for _, m := range members {
		if m.snapID == "" || !sc.holds(m.id) {
			continue
		}
		users, err := snapshotUsers(ctx, sc, m.snapID, m.id.UUID)
		if err != nil {
			return err
		}
		if len(users) > 0 {
			return status.Errorf(codes.FailedPrecondition,
				"member snapshot %s of volume %s backs %d shallow volume(s) (%v); delete them first",
				m.snapID, m.volID, len(users), users)
		}
	}
	return nil
}

// deleteMemberSnapshot deletes one member snapshot as DeleteSnapshot does,
// in its own file system's scope when ceph-csi placed it in another.
func (s *Server) deleteMemberSnapshot(ctx context.Context, sc *scope, creds *credentials.Credentials, m memberSnapshot) error {
	if sc.holds(m.id) {
		return s.deleteSnapshot(ctx, sc, m.id.UUID)
	}
	other, err := s.scopeByID(ctx, m.id, "member snapshot "+m.snapID, creds, notFound)
	if status.Code(err) == codes.NotFound {
		return nil // its file system is gone, and the snapshot with it
	}
	if err != nil {
		return err
	}
	defer other.close()
	return s.deleteSnapshot(ctx, other, m.id.UUID)
}

// holds reports whether a decoded ID names the scope's file system.
func (sc *scope) holds(id volid.ID) bool {
	return id.ClusterID == sc.cluster.ClusterID && id.LocationID == sc.fs.ID
}

// GetVolumeGroupSnapshot returns a complete group snapshot with its
// members. Missing or malformed ID, unknown or unfinished group, or a
// member snapshot deleted on its own: NotFound. snapshot_ids, when given,
// must be the members' snapshot IDs (else InvalidArgument).
func (s *Server) GetVolumeGroupSnapshot(ctx context.Context, req *csi.GetVolumeGroupSnapshotRequest) (*csi.GetVolumeGroupSnapshotResponse, error) {
	if req.GetGroupSnapshotId() == "" {
		return nil, status.Error(codes.InvalidArgument, "group_snapshot_id: missing")
	}
	id, err := volid.Decode(req.GetGroupSnapshotId())
	if err != nil {
		return nil, status.Errorf(codes.NotFound, "group_snapshot_id %q: not found: %v", req.GetGroupSnapshotId(), err)
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	sc, err := s.scopeByID(ctx, id, "group_snapshot_id", creds, notFound)
	if err != nil {
		return nil, err
	}
	defer sc.close()
	rec, err := sc.groups.Get(ctx, id.UUID)
	if errors.Is(err, journal.ErrNotFound) || (err == nil && !groupComplete(rec)) {
		return nil, status.Errorf(codes.NotFound, "group_snapshot_id %q: group snapshot not found", req.GetGroupSnapshotId())
	}
	if err != nil {
		return nil, toStatus(err)
	}
	group, err := groupSnapshotOf(ctx, sc, rec)
	if err != nil {
		return nil, toStatus(err)
	}
	if want := req.GetSnapshotIds(); len(want) > 0 && !sameSnapshotIDs(group, want) {
		return nil, status.Errorf(codes.InvalidArgument, "snapshot_ids: not the members of group snapshot %q",
			req.GetGroupSnapshotId())
	}
	return &csi.GetVolumeGroupSnapshotResponse{GroupSnapshot: group}, nil
}

func sameSnapshotIDs(group *csi.VolumeGroupSnapshot, ids []string) bool {
	have := map[string]bool{}
	for _, snap := range group.GetSnapshots() {
		have[snap.GetSnapshotId()] = true
	}
	for _, id := range ids {
		if !have[id] {
			return false
		}
	}
	return len(ids) == len(have)
}

// groupSnapshotOf builds the CSI group snapshot of a complete record. A
// member in another file system (possible in ceph-csi's groups) is
// reported with its IDs only.
func groupSnapshotOf(ctx context.Context, sc *scope, rec *journal.GroupRecord) (*csi.VolumeGroupSnapshot, error) {
	groupID, err := sc.encodeID(rec.UUID)
	if err != nil {
		return nil, err
	}
	group := &csi.VolumeGroupSnapshot{GroupSnapshotId: groupID, ReadyToUse: true}
	created := rec.CreationTime
	for _, volID := range sortedKeys(rec.Members) {
		snap, err := memberSnapshotOf(ctx, sc, volID, rec.Members[volID])
		if err != nil {
			return nil, err
		}
		snap.GroupSnapshotId = groupID
		if at := snap.GetCreationTime().AsTime(); created.IsZero() || (rec.CreationTime.IsZero() && at.Before(created)) {
			created = at
		}
		group.Snapshots = append(group.Snapshots, snap)
	}
	group.CreationTime = timestamppb.New(created)
	return group, nil
}

func memberSnapshotOf(ctx context.Context, sc *scope, volID, snapID string) (*csi.Snapshot, error) {
	id, err := volid.Decode(snapID)
	if err != nil || !sc.holds(id) {
		return &csi.Snapshot{SnapshotId: snapID, SourceVolumeId: volID, ReadyToUse: true,
			CreationTime: timestamppb.New(time.Time{})}, nil
	}
	rec, err := sc.snaps.Get(ctx, id.UUID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "member snapshot %s of volume %s was deleted", snapID, volID)
	}
	if err != nil {
		return nil, err
	}
	snap, err := snapshotOf(ctx, sc, rec)
	if errors.Is(err, errSnapshotNotReady) {
		return nil, status.Errorf(codes.NotFound, "member snapshot %s of volume %s does not exist", snapID, volID)
	}
	return snap, err
}
