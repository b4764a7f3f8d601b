package controller

import (
	"context"
	"errors"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Kinds of volume content sources.
const (
	sourceSnapshot = "snapshot"
	sourceVolume   = "volume"
)

// sourceRef is a requested volume content source, as given.
type sourceRef struct {
	kind string
	id   string
	// parsed is the decoded ID; decodeErr is set instead when the ID is
	// malformed (reported as NotFound, as for any missing source).
	parsed    volid.ID
	decodeErr error
}

// attr is the journal form of the source: "<kind>:<id>".
func (r *sourceRef) attr() string { return r.kind + ":" + r.id }

// field names the source's ID field in errors.
func (r *sourceRef) field() string {
	return "volume_content_source." + r.kind + "." + r.kind + "_id"
}

func parseSource(cs *csi.VolumeContentSource) (*sourceRef, error) {
	if cs == nil {
		return nil, nil
	}
	ref := &sourceRef{}
	switch {
	case cs.GetSnapshot() != nil:
		ref.kind, ref.id = sourceSnapshot, cs.GetSnapshot().GetSnapshotId()
	case cs.GetVolume() != nil:
		ref.kind, ref.id = sourceVolume, cs.GetVolume().GetVolumeId()
	default:
		return nil, status.Error(codes.InvalidArgument, "volume_content_source: unknown source type")
	}
	if ref.id == "" {
		return nil, status.Errorf(codes.InvalidArgument, "%s: missing", ref.field())
	}
	ref.parsed, ref.decodeErr = volid.Decode(ref.id)
	return ref, nil
}

// source is a resolved content source.
type source struct {
	ref *sourceRef
	// snap is the snapshot to clone or to back a shallow volume; for a
	// volume source it is the temporary snapshot, named once the target's
	// UUID is known.
	snap backend.SnapshotRef
	// fromVolume marks a clone from a volume; subvolume is that volume's
	// subvolume.
	fromVolume bool
	subvolume  string
	// size is the source's size: the minimum capacity of the new volume.
	size int64
	// path is the snapshotted subvolume's path (snapshot sources).
	path string
	// snapUUID is the snapshot's journal UUID (snapshot sources).
	snapUUID string
}

// resolveSource finds the request's content source: NotFound when it does
// not exist, InvalidArgument when it lives on another cluster or file
// system than the new volume.
func (s *Server) resolveSource(ctx context.Context, sc *scope, r *createRequest) (*source, error) {
	ref := r.source
	if ref == nil {
		return nil, nil
	}
	if ref.decodeErr != nil {
		return nil, status.Errorf(codes.NotFound, "%s %q: not found: %v", ref.field(), ref.id, ref.decodeErr)
	}
	if ref.parsed.ClusterID != sc.cluster.ClusterID || ref.parsed.LocationID != sc.fs.ID {
		return nil, status.Errorf(codes.InvalidArgument,
			"%s %q: the source is on cluster %q file system ID %d, the new volume on cluster %q file system %q (ID %d)",
			ref.field(), ref.id, ref.parsed.ClusterID, ref.parsed.LocationID, sc.cluster.ClusterID, sc.fs.Name, sc.fs.ID)
	}
	if ref.kind == sourceSnapshot {
		return s.snapshotSource(ctx, sc, ref, ref.parsed.UUID)
	}
	return s.volumeSource(ctx, sc, ref)
}

// snapshotSource resolves the snapshot with journal UUID id.
func (s *Server) snapshotSource(ctx context.Context, sc *scope, ref *sourceRef, id string) (*source, error) {
	rec, err := sc.snaps.Get(ctx, id)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "%s %q: snapshot not found", ref.field(), ref.id)
	}
	if err != nil {
		return nil, err
	}
	if err := notEncrypted(ref.field(), ref.id, rec); err != nil {
		return nil, err
	}
	if masked, err := snapshotMasked(ctx, sc, ref.id); err != nil || masked {
		if err == nil {
			err = status.Errorf(codes.NotFound, "%s %q: snapshot was deleted (it lives on only for its shallow volumes)",
				ref.field(), ref.id)
		}
		return nil, err
	}
	v, err := viewSnapshot(ctx, sc, rec)
	if errors.Is(err, errSnapshotNotReady) {
		return nil, status.Errorf(codes.NotFound, "%s %q: snapshot is not created yet", ref.field(), ref.id)
	}
	if err != nil {
		return nil, err
	}
	return &source{
		ref:      ref,
		snap:     sc.snapshot(rec.Source, rec.ImageName),
		size:     v.size,
		path:     v.path,
		snapUUID: rec.UUID,
	}, nil
}

// volumeSource resolves a source volume. A shallow volume is cloned from
// its backing snapshot.
func (s *Server) volumeSource(ctx context.Context, sc *scope, ref *sourceRef) (*source, error) {
	rec, err := sc.vols.Get(ctx, ref.parsed.UUID)
	if errors.Is(err, journal.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "%s %q: volume not found", ref.field(), ref.id)
	}
	if err != nil {
		return nil, err
	}
	if err := notEncrypted(ref.field(), ref.id, rec); err != nil {
		return nil, err
	}
	if backing, _ := backingSnapshot(rec); backing != "" {
		return s.backingSource(ctx, sc, ref, backing)
	}
	sv := sc.subvolume(rec.ImageName)
	info, err := sc.be.SubvolumeInfo(ctx, sv)
	if errors.Is(err, backend.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "%s %q: subvolume %s not found", ref.field(), ref.id, sv)
	}
	if err != nil {
		return nil, err
	}
	if info.State != backend.StateComplete {
		return nil, status.Errorf(codes.FailedPrecondition, "%s %q: subvolume %s is in state %q",
			ref.field(), ref.id, sv, info.State)
	}
	return &source{ref: ref, fromVolume: true, subvolume: rec.ImageName, size: info.Quota, path: info.Path}, nil
}

// backingSource resolves the backing snapshot of a shallow source volume.
func (s *Server) backingSource(ctx context.Context, sc *scope, ref *sourceRef, snapID string) (*source, error) {
	parsed, err := volid.Decode(snapID)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "%s %q: bad backing snapshot ID %q: %v", ref.field(), ref.id, snapID, err)
	}
	src, err := s.snapshotSource(ctx, sc, ref, parsed.UUID)
	if err != nil {
		return nil, err
	}
	return src, nil
}
