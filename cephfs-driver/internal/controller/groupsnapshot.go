package controller

import (
	"context"
	"errors"
	"sort"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/csicaps"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Volume group snapshots are journaled in ceph-csi's group layout
// (journal.Groups) in the members' file system's metadata pool. Their
// members are ordinary snapshots of the snapshot journal, reserved under
// ceph-csi's member request name "<group name>-<source volume ID>", so
// ListSnapshots, GetSnapshot, DeleteSnapshot and CreateVolume from a
// snapshot treat them like any other.
//
// Order of writes of CreateVolumeGroupSnapshot, each retried after a crash
// converging on the same group:
//  1. the group record (name -> UUID);
//  2. every member volume with an empty snapshot ID: the request's volume
//     set is fixed from here on (a retry with another set is AlreadyExists);
//  3. the member snapshots' reservations;
//  4. the subvolume snapshots, back to back under the Quiescer;
//  5. the member snapshots' records, then every member's snapshot ID.
// A group is complete when every member has a snapshot ID. Delete walks
// back: the member snapshots (found by ID, or by member request name while
// the ID is still empty), each member's entry, the group record last.

// groupParams are the parsed CreateVolumeGroupSnapshot parameters.
type groupParams struct {
	ClusterID  string
	FSName     string
	NamePrefix string
}

func parseGroupParams(params map[string]string) (*groupParams, error) {
	p := &groupParams{}
	err := setImplemented(GroupSnapshotClassParams, params, func(k, v string) error {
		switch k {
		case paramClusterID:
			p.ClusterID = v
		case paramFSName:
			p.FSName = v
		case paramVolumeGroupNamePrefix:
			return setPrefix(&p.NamePrefix, k, v)
		default:
			return unknownParam(k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// GroupControllerGetCapabilities advertises volume group snapshots.
func (s *Server) GroupControllerGetCapabilities(context.Context, *csi.GroupControllerGetCapabilitiesRequest) (*csi.GroupControllerGetCapabilitiesResponse, error) {
	return csicaps.Group(csi.GroupControllerServiceCapability_RPC_CREATE_DELETE_GET_VOLUME_GROUP_SNAPSHOT), nil
}

// groupSources decodes the source volume IDs of a group request: missing
// or repeated is InvalidArgument, malformed is NotFound (as an unknown
// volume), volumes of several clusters or file systems InvalidArgument.
func groupSources(ids []string) ([]volid.ID, error) {
	if len(ids) == 0 {
		return nil, status.Error(codes.InvalidArgument, "source_volume_ids: missing")
	}
	seen := make(map[string]bool, len(ids))
	out := make([]volid.ID, 0, len(ids))
	for i, raw := range ids {
		if raw == "" {
			return nil, status.Errorf(codes.InvalidArgument, "source_volume_ids[%d]: empty", i)
		}
		if seen[raw] {
			return nil, status.Errorf(codes.InvalidArgument, "source_volume_ids[%d]: %q is listed twice", i, raw)
		}
		seen[raw] = true
		id, err := volid.Decode(raw)
		if err != nil {
			return nil, status.Errorf(codes.NotFound, "source_volume_ids[%d] %q: not found: %v", i, raw, err)
		}
		if len(out) > 0 && (id.ClusterID != out[0].ClusterID || id.LocationID != out[0].LocationID) {
			return nil, status.Errorf(codes.InvalidArgument,
				"source_volume_ids[%d] %q: not in the cluster and file system of source_volume_ids[0]: "+
					"a group snapshot's volumes must share one file system", i, raw)
		}
		out = append(out, id)
	}
	return out, nil
}

// CreateVolumeGroupSnapshot snapshots every source volume, one subvolume
// snapshot each, as one group (see the order of writes above).
func (s *Server) CreateVolumeGroupSnapshot(ctx context.Context, req *csi.CreateVolumeGroupSnapshotRequest) (*csi.CreateVolumeGroupSnapshotResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name: missing")
	}
	ids, err := groupSources(req.GetSourceVolumeIds())
	if err != nil {
		return nil, err
	}
	params, err := parseGroupParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	if params.ClusterID != "" && params.ClusterID != ids[0].ClusterID {
		return nil, status.Errorf(codes.InvalidArgument, "parameter %q: %q is not the cluster %q of the source volumes",
			paramClusterID, params.ClusterID, ids[0].ClusterID)
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	keys := []oplock.Key{{Kind: oplock.KindGroupSnapshotName, ID: req.GetName()}}
	for _, v := range req.GetSourceVolumeIds() {
		keys = append(keys, oplock.Key{Kind: oplock.KindVolumeID, ID: v})
	}
	release, err := s.locks.Acquire(keys...)
	if err != nil {
		return nil, err
	}
	defer release()
	sc, err := s.scopeByID(ctx, ids[0], "source_volume_ids[0]", creds, notFound)
	if err != nil {
		return nil, err
	}
	defer sc.close()
	if params.FSName != "" && params.FSName != sc.fs.Name {
		return nil, status.Errorf(codes.InvalidArgument, "parameter %q: %q is not the file system %q of the source volumes",
			paramFSName, params.FSName, sc.fs.Name)
	}
	group, err := s.createGroup(ctx, sc, creds, req.GetName(), params.NamePrefix, memberList(ids, req.GetSourceVolumeIds()))
	if err != nil {
		return nil, toStatus(err)
	}
	return &csi.CreateVolumeGroupSnapshotResponse{GroupSnapshot: group}, nil
}

// member is one source volume of a group being created.
type member struct {
	volID   string
	volUUID string
	vol     *journal.Record
	info    *backend.SubvolumeInfo
	snap    *journal.Record // the member snapshot's record once reserved
	snapID  string          // set once the snapshot is taken and recorded
}

func memberList(ids []volid.ID, raw []string) []*member {
	out := make([]*member, len(ids))
	for i := range ids {
		out[i] = &member{volID: raw[i], volUUID: ids[i].UUID}
	}
	return out
}

func (s *Server) createGroup(ctx context.Context, sc *scope, creds *credentials.Credentials, name, prefix string, members []*member) (*csi.VolumeGroupSnapshot, error) {
	rec, err := sc.groups.Lookup(ctx, name)
	existed := err == nil
	switch {
	case existed:
		if err := sameMembers(rec, members); err != nil {
			return nil, err
		}
		if groupComplete(rec) {
			return groupSnapshotOf(ctx, sc, rec)
		}
	case !errors.Is(err, journal.ErrNotFound):
		return nil, err
	}
	// Every source is checked before anything is written: a missing or
	// shallow source fails the request with nothing to undo.
	for _, m := range members {
		if rec != nil && rec.Members[m.volID] != "" {
			m.snapID = rec.Members[m.volID]
			continue
		}
		if m.vol, m.info, err = s.snapshotSourceVolume(ctx, sc, m.volID, m.volUUID); err != nil {
			return nil, err
		}
	}
	if !existed {
		if rec, err = sc.groups.Reserve(ctx, name, prefix); err != nil {
			return nil, err
		}
	}
	if err := s.fillGroup(ctx, sc, rec, members); err != nil {
		if !existed && isFinal(err) {
			s.undoGroup(ctx, sc, creds, rec)
		}
		return nil, err
	}
	return groupSnapshotOf(ctx, sc, rec)
}

// sameMembers: AlreadyExists unless rec's volume set (once written) is the
// request's.
func sameMembers(rec *journal.GroupRecord, members []*member) error {
	if len(rec.Members) == 0 {
		return nil // reserved, set not written yet
	}
	same := len(rec.Members) == len(members)
	for _, m := range members {
		if _, ok := rec.Members[m.volID]; !ok {
			same = false
		}
	}
	if !same {
		return status.Errorf(codes.AlreadyExists, "group snapshot %q exists with other source volumes (%v)",
			rec.RequestName, sortedKeys(rec.Members))
	}
	return nil
}

func groupComplete(rec *journal.GroupRecord) bool {
	for _, snapID := range rec.Members {
		if snapID == "" {
			return false
		}
	}
	return len(rec.Members) > 0
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fillGroup runs steps 2 to 5 of a group's creation for the members
// without a snapshot ID.
func (s *Server) fillGroup(ctx context.Context, sc *scope, rec *journal.GroupRecord, members []*member) error {
	if len(rec.Members) == 0 {
		set := make(map[string]string, len(members))
		for _, m := range members {
			set[m.volID] = ""
		}
		if err := sc.groups.AddMembers(ctx, rec.UUID, set); err != nil {
			return err
		}
		rec.Members = set
	}
	pending, err := s.reserveMembers(ctx, sc, rec, members)
	if err != nil {
		return err
	}
	if err := s.snapshotMembers(ctx, sc, rec, pending); err != nil {
		return err
	}
	done := map[string]string{}
	for _, m := range members {
		if rec.Members[m.volID] != "" {
			continue
		}
		if m.snapID == "" {
			if err := recordSnapshot(ctx, sc, m.snap, m.info); err != nil {
				return err
			}
			if m.snapID, err = sc.encodeID(m.snap.UUID); err != nil {
				return err
			}
		}
		done[m.volID] = m.snapID
	}
	if len(done) == 0 {
		return nil
	}
	if err := sc.groups.AddMembers(ctx, rec.UUID, done); err != nil {
		return err
	}
	for k, v := range done {
		rec.Members[k] = v
	}
	return nil
}

// reserveMembers reserves (or finds) each member's snapshot record and
// returns the members whose subvolume snapshot is still to be taken.
func (s *Server) reserveMembers(ctx context.Context, sc *scope, rec *journal.GroupRecord, members []*member) ([]*member, error) {
	groupID, err := sc.encodeID(rec.UUID)
	if err != nil {
		return nil, err
	}
	var pending []*member
	for _, m := range members {
		if m.snapID != "" {
			continue
		}
		name := journal.GroupMemberRequestName(rec.GroupName, m.volID)
		snap, err := sc.snaps.Lookup(ctx, name)
		switch {
		case err == nil:
			m.snap = snap
			if v, err := viewSnapshot(ctx, sc, snap); err == nil {
				m.snapID, err = sc.encodeID(v.rec.UUID)
				if err != nil {
					return nil, err
				}
				continue
			} else if !errors.Is(err, errSnapshotNotReady) {
				return nil, err
			}
		case errors.Is(err, journal.ErrNotFound):
			if m.snap, err = sc.snaps.Reserve(ctx, journal.Reservation{
				RequestName: name, ImagePoolID: journal.SamePool, Source: m.vol.ImageName,
				Attributes: map[string]string{attrSourceVolumeID: m.volID, attrGroupSnapshotID: groupID},
			}); err != nil {
				return nil, err
			}
		default:
			return nil, err
		}
		pending = append(pending, m)
	}
	return pending, nil
}

// snapshotMembers takes the pending members' subvolume snapshots back to
// back, under the Quiescer.
func (s *Server) snapshotMembers(ctx context.Context, sc *scope, rec *journal.GroupRecord, pending []*member) (err error) {
	if len(pending) == 0 {
		return nil
	}
	refs := make([]backend.SubvolumeRef, len(pending))
	for i, m := range pending {
		refs[i] = sc.subvolume(m.snap.Source)
	}
	resume, err := s.cfg.Quiescer.Quiesce(ctx, sc.fs.Name, rec.UUID, refs)
	if err != nil {
		return err
	}
	defer func() {
		if rerr := resume(context.WithoutCancel(ctx)); rerr != nil && err == nil {
			err = rerr
		}
	}()
	for _, m := range pending {
		if err := sc.be.CreateSnapshot(ctx, sc.snapshot(m.snap.Source, m.snap.ImageName)); err != nil {
			return err
		}
	}
	return nil
}

// undoGroup rolls back a group this request created, after a final error.
func (s *Server) undoGroup(ctx context.Context, sc *scope, creds *credentials.Credentials, rec *journal.GroupRecord) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := s.deleteGroup(ctx, sc, creds, rec); err != nil {
		logging.FromContext(ctx).Warn("rollback: group snapshot left behind", zap.String("group", rec.GroupName), zap.Error(err))
	}
}
