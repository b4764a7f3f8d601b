package controller

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// Journal attributes of volume records, beside the journal's own keys.
const (
	// attrSource is "snapshot:<csi snapshot id>" or "volume:<csi volume
	// id>" for volumes with a content source.
	attrSource = "csi.cephfs.source"
	// attrSize is the quota chosen at creation, in bytes.
	attrSize = "csi.cephfs.size"
	// attrCloneSubvolume names the source subvolume of a clone from a
	// volume, which holds the clone's temporary snapshot.
	attrCloneSubvolume = "csi.cephfs.clonesubvolume"
)

// createRequest is a validated CreateVolume request.
type createRequest struct {
	req    *csi.CreateVolumeRequest
	name   string
	params *volumeParams
	size   int64
	creds  *credentials.Credentials
	source *sourceRef
}

// result is what provisioning produced.
type result struct {
	size int64
	// path is the subvolume path ("" for shallow volumes).
	path string
	// backingRoot and backingDir locate a shallow volume's snapshot.
	backingRoot string
	backingDir  string
}

func parseCreateRequest(req *csi.CreateVolumeRequest) (*createRequest, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name: missing")
	}
	params, err := parseVolumeParams(req.GetParameters())
	if err != nil {
		return nil, err
	}
	if err := validateCapabilities(req.GetVolumeCapabilities(), params.BackingSnapshot); err != nil {
		return nil, err
	}
	size, err := volumeSize(req.GetCapacityRange())
	if err != nil {
		return nil, err
	}
	creds, err := credentials.ForCephFSAdmin(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	src, err := parseSource(req.GetVolumeContentSource())
	if err != nil {
		return nil, err
	}
	if params.BackingSnapshot && (src == nil || src.kind != sourceSnapshot) {
		return nil, status.Errorf(codes.InvalidArgument,
			"parameter %q: a shallow volume needs a snapshot as volume_content_source", paramBackingSnapshot)
	}
	return &createRequest{req: req, name: req.GetName(), params: params, size: size, creds: creds, source: src}, nil
}

// CreateVolume creates a subvolume (empty, cloned from a snapshot or a
// volume) or a shallow volume on a snapshot. See the package doc.
func (s *Server) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	r, err := parseCreateRequest(req)
	if err != nil {
		return nil, err
	}
	keys := []oplock.Key{{Kind: oplock.KindVolumeName, ID: r.name}}
	if r.params.BackingSnapshot {
		keys = append(keys, oplock.Key{Kind: oplock.KindSnapshotID, ID: r.source.id})
	}
	release, err := s.locks.Acquire(keys...)
	if err != nil {
		return nil, err
	}
	defer release()
	sc, err := s.scopeByName(ctx, r.params.ClusterID, r.params.FSName, r.creds)
	if err != nil {
		return nil, err
	}
	defer sc.close()
	vol, err := s.createVolume(ctx, sc, r)
	if err != nil {
		return nil, toStatus(err)
	}
	return &csi.CreateVolumeResponse{Volume: vol}, nil
}

func (s *Server) createVolume(ctx context.Context, sc *scope, r *createRequest) (*csi.Volume, error) {
	if g := r.params.SubvolumeGroup; g != "" && g != sc.group {
		return nil, status.Errorf(codes.InvalidArgument,
			"parameter %q: %q is not the subvolume group %q of clusterID %q in the cluster configuration (where the group is set)",
			paramSubvolumeGroup, g, sc.group, sc.cluster.ClusterID)
	}
	src, err := s.resolveSource(ctx, sc, r)
	if err != nil {
		return nil, err
	}
	size, err := targetSize(r, src)
	if err != nil {
		return nil, err
	}
	rec, existed, err := s.reserveVolume(ctx, sc, r, src, size)
	if err != nil {
		return nil, err
	}
	res, err := s.provision(ctx, sc, rec, r, src, existed)
	if err != nil {
		if (!existed && isFinal(err)) || errors.Is(err, errCloneFailed) {
			s.rollback(ctx, sc, rec)
		}
		return nil, err
	}
	return s.volume(sc, rec, r, src, res)
}

// targetSize is the quota of the new volume: the requested size, at least
// the source's size; the source's size when none was requested.
func targetSize(r *createRequest, src *source) (int64, error) {
	if src == nil {
		return r.size, nil
	}
	limit := r.req.GetCapacityRange().GetLimitBytes()
	switch {
	case limit > 0 && src.size > limit:
		return 0, status.Errorf(codes.OutOfRange,
			"capacity_range: limit_bytes %d is below the size %d of the volume_content_source", limit, src.size)
	case r.size != 0 && r.size < src.size:
		return 0, status.Errorf(codes.OutOfRange,
			"capacity_range: %d bytes is below the size %d of the volume_content_source", r.size, src.size)
	case r.size == 0:
		return src.size, nil
	}
	return r.size, nil
}

// reserveVolume finds the journal record of the request name, checking
// that it is compatible, or reserves a new one.
func (s *Server) reserveVolume(ctx context.Context, sc *scope, r *createRequest, src *source, size int64) (*journal.Record, bool, error) {
	rec, err := sc.vols.Lookup(ctx, r.name)
	if err == nil {
		return rec, true, checkExisting(rec, r, src)
	}
	if !errors.Is(err, journal.ErrNotFound) {
		return nil, false, err
	}
	attrs := map[string]string{attrSize: strconv.FormatInt(size, 10)}
	if src != nil {
		attrs[attrSource] = src.ref.attr()
		if src.fromVolume {
			attrs[attrCloneSubvolume] = src.subvolume
		}
		if r.params.BackingSnapshot {
			attrs[journal.KeyBackingSnapshotID] = src.ref.id
		}
	}
	rec, err = sc.vols.Reserve(ctx, journal.Reservation{
		RequestName: r.name, NamePrefix: r.params.NamePrefix, ImagePoolID: journal.SamePool, Attributes: attrs,
	})
	return rec, false, err
}

// checkExisting refuses a request whose source, shallowness or size differ
// from the volume already created under its name. ceph-csi's records (no
// csi.cephfs.size, which ours get at reservation) record neither source nor
// size: as ceph-csi does, only the subvolume's quota is checked, later.
func checkExisting(rec *journal.Record, r *createRequest, src *source) error {
	want := ""
	if src != nil {
		want = src.ref.attr()
	}
	if got := rec.Attributes[attrSource]; ourVolume(rec) && got != want {
		return status.Errorf(codes.AlreadyExists,
			"volume %q exists with another volume_content_source (%q, requested %q)", r.name, got, want)
	}
	backing, _ := backingSnapshot(rec)
	shallow := backing != ""
	if shallow != r.params.BackingSnapshot {
		return status.Errorf(codes.AlreadyExists, "volume %q exists with %s=%t", r.name, paramBackingSnapshot, shallow)
	}
	if v, ok := rec.Attributes[attrSize]; ok {
		size, err := strconv.ParseInt(v, 10, 64)
		if err == nil && !sizeFits(size, r.req.GetCapacityRange()) {
			return status.Errorf(codes.AlreadyExists,
				"volume %q exists with %d bytes, outside the requested capacity_range", r.name, size)
		}
	}
	return nil
}

func (s *Server) provision(ctx context.Context, sc *scope, rec *journal.Record, r *createRequest, src *source, existed bool) (*result, error) {
	size, _ := strconv.ParseInt(rec.Attributes[attrSize], 10, 64)
	switch {
	case src == nil:
		return s.provisionEmpty(ctx, sc, rec, r, existed)
	case r.params.BackingSnapshot:
		return s.provisionShallow(ctx, sc, rec, src, size)
	case !ourVolume(rec):
		// ceph-csi records no size: its retry of a clone or restore that
		// was not expanded yet expands it to the request's size.
		size, _ = targetSize(r, src)
	}
	return s.provisionClone(ctx, sc, rec, r, src, size)
}

// provisionEmpty creates an empty subvolume, or finds the one a previous
// attempt created.
func (s *Server) provisionEmpty(ctx context.Context, sc *scope, rec *journal.Record, r *createRequest, existed bool) (*result, error) {
	ref := sc.subvolume(rec.ImageName)
	if existed {
		info, err := sc.be.SubvolumeInfo(ctx, ref)
		if err == nil {
			return existingResult(r, ref, info)
		}
		if !errors.Is(err, backend.ErrNotFound) {
			return nil, err
		}
	}
	if err := s.createSubvolume(ctx, sc, ref, backend.CreateOptions{Size: r.size, Pool: r.params.Pool}); err != nil {
		return nil, err
	}
	path, err := sc.be.SubvolumePath(ctx, ref)
	if err != nil {
		return nil, err
	}
	return &result{size: r.size, path: path}, nil
}

func existingResult(r *createRequest, ref backend.SubvolumeRef, info *backend.SubvolumeInfo) (*result, error) {
	if info.State != backend.StateComplete {
		return nil, status.Errorf(codes.FailedPrecondition, "subvolume %s is in state %q", ref, info.State)
	}
	if !sizeFits(info.Quota, r.req.GetCapacityRange()) {
		return nil, status.Errorf(codes.AlreadyExists,
			"volume %q exists with %d bytes, outside the requested capacity_range", r.name, info.Quota)
	}
	return &result{size: info.Quota, path: info.Path}, nil
}

// createSubvolume creates a subvolume, creating its group on first use.
func (s *Server) createSubvolume(ctx context.Context, sc *scope, ref backend.SubvolumeRef, opts backend.CreateOptions) error {
	err := sc.be.CreateSubvolume(ctx, ref, opts)
	if !errors.Is(err, backend.ErrNotFound) {
		return err
	}
	logging.FromContext(ctx).Info("creating subvolume group", zap.String("fs", ref.FS), zap.String("group", ref.Group))
	if err := sc.be.CreateGroup(ctx, ref.FS, ref.Group); err != nil {
		return err
	}
	return sc.be.CreateSubvolume(ctx, ref, opts)
}

// rollback undoes a failed create: the subvolume (or the shallow volume's
// snapshot reference), a clone's temporary snapshot, and the reservation.
// It runs even if the request's context has ended.
func (s *Server) rollback(ctx context.Context, sc *scope, rec *journal.Record) {
	log := logging.FromContext(ctx).With(zap.String("subvolume", rec.ImageName))
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if err := s.removeVolume(ctx, sc, rec); err != nil {
		log.Warn("rollback: volume left behind", zap.Error(err))
		return
	}
	if err := sc.vols.Undo(ctx, rec); err != nil {
		log.Warn("rollback: reservation left behind", zap.Error(err))
	}
}

// volume builds the CSI volume of a provisioned record.
func (s *Server) volume(sc *scope, rec *journal.Record, r *createRequest, src *source, res *result) (*csi.Volume, error) {
	id, err := sc.encodeID(rec.UUID)
	if err != nil {
		return nil, fmt.Errorf("encode volume ID: %w", err)
	}
	vc := map[string]string{
		volctx.ClusterID:      sc.cluster.ClusterID,
		volctx.FSName:         sc.fs.Name,
		volctx.SubvolumeGroup: sc.group,
		volctx.Mounter:        r.params.Mounter,
	}
	setIf(vc, volctx.KernelMountOptions, r.params.KernelOptions)
	setIf(vc, volctx.FuseMountOptions, r.params.FuseOptions)
	if res.backingRoot != "" {
		vc[volctx.BackingSnapshot] = "true"
		vc[volctx.BackingSnapshotID] = src.ref.id
		vc[volctx.BackingSnapshotRoot] = res.backingRoot
		vc[volctx.BackingSnapshotDir] = res.backingDir
	} else {
		vc[volctx.SubvolumeName] = rec.ImageName
		vc[volctx.SubvolumePath] = res.path
	}
	return &csi.Volume{
		VolumeId:      id,
		CapacityBytes: res.size,
		VolumeContext: vc,
		ContentSource: r.req.GetVolumeContentSource(),
	}, nil
}

func setIf(m map[string]string, k, v string) {
	if v != "" {
		m[k] = v
	}
}
