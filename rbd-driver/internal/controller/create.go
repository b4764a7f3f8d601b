package controller

import (
	"context"
	"errors"
	"slices"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"go.uber.org/zap"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/oplock"
)

// createPlan is a validated CreateVolume request.
type createPlan struct {
	name   string
	params *volumeParams
	size   sizeRequest
	source *csi.VolumeContentSource
	// sourceKey is recorded in the journal ("snapshot:<id>", "volume:<id>")
	// so that a retry with another source is AlreadyExists.
	sourceKey string
	creds     *credentials.Credentials
	// qos are the mutable parameters (VolumeAttributesClass), nil without.
	qos qosParams
	// requirements are the accessibility requirements; topology is the
	// volume's accessible topology once placed (nil: unconstrained).
	requirements *csi.TopologyRequirement
	topology     []*csi.Topology
	// scPool is the StorageClass pool when topology placed the volume in
	// another pool ("" otherwise): where earlier layouts kept its journal.
	scPool string
}

func newCreatePlan(req *csi.CreateVolumeRequest) (*createPlan, error) {
	if req.GetName() == "" {
		return nil, invalidArg("name", "is required")
	}
	p := &createPlan{name: req.GetName(), source: req.GetVolumeContentSource(),
		requirements: req.GetAccessibilityRequirements()}
	key, err := sourceKey(p.source)
	if err != nil {
		return nil, err
	}
	p.sourceKey = key
	if err := checkCapabilities("volume_capabilities", req.GetVolumeCapabilities(), p.source != nil); err != nil {
		return nil, err
	}
	if p.params, err = parseParams(req.GetParameters()); err != nil {
		return nil, err
	}
	if p.size, err = parseCapacity(req.GetCapacityRange()); err != nil {
		return nil, err
	}
	if p.qos, err = parseCreateQoS(req); err != nil {
		return nil, err
	}
	if p.creds, err = credentials.ForRBD(req.GetSecrets()); err != nil {
		return nil, err
	}
	return p, nil
}

// sourceKey validates a content source and renders its journal form.
func sourceKey(src *csi.VolumeContentSource) (string, error) {
	switch {
	case src == nil:
		return "", nil
	case src.GetSnapshot() != nil:
		if src.GetSnapshot().GetSnapshotId() == "" {
			return "", invalidArg("volume_content_source.snapshot.snapshot_id", "is required")
		}
		return "snapshot:" + src.GetSnapshot().GetSnapshotId(), nil
	case src.GetVolume() != nil:
		if src.GetVolume().GetVolumeId() == "" {
			return "", invalidArg("volume_content_source.volume.volume_id", "is required")
		}
		return "volume:" + src.GetVolume().GetVolumeId(), nil
	}
	return "", invalidArg("volume_content_source", "must name a snapshot or a volume")
}

// lockKeys are the name and, for a clone or restore, the source ID (so that
// the source is not deleted halfway).
func (p *createPlan) lockKeys() []oplock.Key {
	keys := []oplock.Key{{Kind: oplock.KindVolumeName, ID: p.name}}
	if id := p.source.GetSnapshot().GetSnapshotId(); id != "" {
		keys = append(keys, oplock.Key{Kind: oplock.KindSnapshotID, ID: id})
	}
	if id := p.source.GetVolume().GetVolumeId(); id != "" {
		keys = append(keys, oplock.Key{Kind: oplock.KindVolumeID, ID: id})
	}
	return keys
}

// CreateVolume creates (or, for a known name, returns) a volume.
func (s *Server) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	p, err := newCreatePlan(req)
	if err != nil {
		return nil, toStatus(err)
	}
	release, err := s.locks.Acquire(p.lockKeys()...)
	if err != nil {
		return nil, err
	}
	defer release()
	vol, err := s.createVolume(ctx, p)
	if err != nil {
		logging.FromContext(ctx).Info("CreateVolume failed", zap.String("name", p.name), zap.Error(err))
		return nil, toStatus(err)
	}
	return &csi.CreateVolumeResponse{Volume: vol}, nil
}

// volumeTarget is where a new volume goes.
type volumeTarget struct {
	poolID  int64
	image   backend.PoolRef
	dirPool string
	dirID   int64 // the pool ID of dirPool
	j       *journal.Journal
}

// dirPoolID is the ImagePoolID the directory records.
func (t *volumeTarget) dirPoolID() int64 {
	if t.dirPool == t.image.Pool {
		return journal.SamePool
	}
	return t.poolID
}

func (s *Server) createVolume(ctx context.Context, p *createPlan) (*csi.Volume, error) {
	c, err := s.connect(ctx, fromParameters, "parameters."+paramClusterID, p.params.ClusterID, p.creds)
	if err != nil {
		return nil, err
	}
	defer c.sess.Release()
	if ns := p.params.RadosNamespace; ns != "" && ns != c.ns() {
		return nil, invalidArg("parameters."+paramRadosNamespace,
			"%q is not the namespace of cluster %q in the cluster configuration (%q): set rbd.radosNamespace there",
			ns, p.params.ClusterID, c.ns())
	}
	if err := s.place(ctx, c, p); err != nil {
		return nil, err
	}
	vol, err := s.provisionVolume(ctx, c, p)
	if err != nil || p.qos == nil {
		return vol, err
	}
	// Applied on every attempt (idempotent): a retry after a crash
	// between the image's creation and this step completes it.
	img := backend.ImageRef{PoolRef: c.pool(p.params.Pool), Name: vol.GetVolumeContext()[volctx.ImageName]}
	if err := applyQoS(ctx, c.sess, img, p.qos, vol.GetCapacityBytes()); err != nil {
		return nil, err
	}
	return vol, nil
}

// provisionVolume finds or creates the volume of a plan.
func (s *Server) provisionVolume(ctx context.Context, c *cluster, p *createPlan) (*csi.Volume, error) {
	t, err := s.target(ctx, c, p.params)
	if err != nil {
		return nil, err
	}
	rec, err := t.j.Lookup(ctx, p.name)
	if errors.Is(err, journal.ErrNotFound) {
		t, rec, err = s.lookupElsewhere(ctx, c, t, p)
	}
	switch {
	case err == nil:
		if vol, done, err := s.existingVolume(ctx, c, t, p, rec); done {
			return vol, err
		}
	case !errors.Is(err, journal.ErrNotFound):
		return nil, err
	}
	src, err := s.resolveSource(ctx, c, p)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return s.buildThenReserve(ctx, &creation{c: c, t: t, p: p, src: src})
	}
	// A record without its image: an attempt that reserved first (an
	// earlier version, or a UUID collision) and did not finish.
	cr := &creation{c: c, t: t, p: p, src: src, rec: rec, reserved: true}
	vol, err := s.build(ctx, cr)
	if err != nil {
		s.abandon(ctx, cr)
		return nil, err
	}
	return vol, nil
}

func (p *createPlan) reservation(t *volumeTarget) journal.Reservation {
	r := journal.Reservation{RequestName: p.name, NamePrefix: p.params.NamePrefix,
		ImagePoolID: t.dirPoolID(), Source: p.sourceKey}
	if t.dirPool != t.image.Pool {
		r.Attributes = map[string]string{journal.KeyJournalPool: journal.EncodePoolID(t.dirID)}
	}
	return r
}

// lookupElsewhere looks a name up in the directories where earlier
// layouts kept it, when the image pool's directory has no entry for it:
// the StorageClass `pool` of a topology-constrained volume (ceph-csi before
// v3.11 and this driver's older versions kept the directory there, the
// record split over both pools) and the StorageClass journalPool (this
// driver's older versions kept the directory there; a journal pool that does
// not exist is skipped: ceph-csi never opens it for volumes). Not found
// anywhere: t unchanged and journal.ErrNotFound.
func (s *Server) lookupElsewhere(ctx context.Context, c *cluster, t *volumeTarget, p *createPlan) (*volumeTarget, *journal.Record, error) {
	for _, pool := range p.earlierDirPools() {
		dirID, err := c.sess.PoolID(ctx, pool)
		if errors.Is(err, backend.ErrPoolNotFound) {
			continue
		}
		if err != nil {
			return t, nil, err
		}
		j, err := s.journal(ctx, c, journal.Volumes, pool, t.image.Pool)
		if err != nil {
			return t, nil, err
		}
		rec, err := j.Lookup(ctx, p.name)
		if errors.Is(err, journal.ErrNotFound) || errors.Is(err, backend.ErrPermission) {
			continue // a journal pool the user may not read held nothing of ours
		}
		if err != nil {
			return t, nil, err
		}
		return &volumeTarget{poolID: t.poolID, image: t.image, dirPool: pool, dirID: dirID, j: j}, rec, nil
	}
	return t, nil, journal.ErrNotFound
}

// earlierDirPools are the pools lookupElsewhere searches, in order.
func (p *createPlan) earlierDirPools() []string {
	var out []string
	for _, pool := range []string{p.scPool, p.params.JournalPool} {
		if pool != "" && pool != p.params.Pool && !slices.Contains(out, pool) {
			out = append(out, pool)
		}
	}
	return out
}

// target resolves the pools of a new volume and opens its journal. The
// journal goes to the image pool, as ceph-csi does: it ignores the
// StorageClass journalPool for volumes, and keeps the journal of a
// topology-constrained volume in the pool it chose (v3.11+).
func (s *Server) target(ctx context.Context, c *cluster, p *volumeParams) (*volumeTarget, error) {
	poolID, err := c.sess.PoolID(ctx, p.Pool)
	if err != nil {
		return nil, lookupError(fromParameters, "parameters."+paramPool, err)
	}
	t := &volumeTarget{poolID: poolID, image: c.pool(p.Pool), dirPool: p.Pool, dirID: poolID}
	if p.DataPool != "" {
		if _, err := c.sess.PoolID(ctx, p.DataPool); err != nil {
			return nil, lookupError(fromParameters, "parameters."+paramDataPool, err)
		}
	}
	if t.j, err = s.journal(ctx, c, journal.Volumes, t.dirPool, p.Pool); err != nil {
		return nil, err
	}
	return t, nil
}

// existingVolume answers a retry. done is false when the reservation exists
// but its image does not (yet): the caller builds it.
func (s *Server) existingVolume(ctx context.Context, c *cluster, t *volumeTarget, p *createPlan, rec *journal.Record) (*csi.Volume, bool, error) {
	if rec.ImagePoolID != t.dirPoolID() {
		return nil, true, alreadyExists("name", "volume %q already exists in another pool", p.name)
	}
	// ceph-csi records no content source: its clones and restores are
	// recognized by their image (cephCSIMadeFrom).
	otherSource := rec.Source != p.sourceKey
	if otherSource && (rec.Source != "" || rec.ImageID == "") {
		return nil, true, alreadyExists("name", "volume %q already exists with content source %q", p.name, rec.Source)
	}
	if rec.ImageID == "" {
		return nil, false, nil
	}
	img := backend.ImageRef{PoolRef: t.image, Name: rec.ImageName}
	st, err := c.sess.Stat(ctx, img)
	if errors.Is(err, backend.ErrNotFound) && !otherSource {
		return nil, false, nil
	}
	if err == nil && otherSource {
		var made bool
		if made, err = cephCSIMadeFrom(ctx, c.sess, st, img, rec, p.source); err == nil && !made {
			err = alreadyExists("name", "volume %q already exists without content source %q", p.name, p.sourceKey)
		}
	}
	if err != nil {
		return nil, true, missingAsAlreadyExists(err, p.name)
	}
	if !p.size.fits(int64(st.Size)) {
		return nil, true, alreadyExists("name",
			"volume %q already exists with %d bytes, outside the requested capacity_range", p.name, st.Size)
	}
	vol, err := p.volume(c, t, rec, int64(st.Size))
	return vol, true, err
}

// volume renders the CSI volume.
func (p *createPlan) volume(c *cluster, t *volumeTarget, rec *journal.Record, size int64) (*csi.Volume, error) {
	id, err := encodeID(p.params.ClusterID, t.poolID, rec.UUID)
	if err != nil {
		return nil, err
	}
	return &csi.Volume{
		VolumeId:           id,
		CapacityBytes:      size,
		VolumeContext:      p.params.context(c.ns(), rec.ImageName, t.dirPool),
		ContentSource:      p.source,
		AccessibleTopology: p.topology,
	}, nil
}

// parseCreateQoS merges the QoS keys of the StorageClass parameters with
// the mutable parameters (VolumeAttributesClass), which win.
func parseCreateQoS(req *csi.CreateVolumeRequest) (qosParams, error) {
	sc, err := parseQoS("parameters", pickQoS(req.GetParameters()))
	if err != nil {
		return nil, err
	}
	vac, err := parseQoS("mutable_parameters", req.GetMutableParameters())
	if err != nil {
		return nil, err
	}
	return mergeQoS(sc, vac), nil
}

// missingAsAlreadyExists reports a record whose image is gone, met with
// another content source, as AlreadyExists (other errors pass).
func missingAsAlreadyExists(err error, name string) error {
	if errors.Is(err, backend.ErrNotFound) {
		return alreadyExists("name", "volume %q already exists with another content source", name)
	}
	return err
}
