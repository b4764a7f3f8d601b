// Package audit finds the orphans of the RBD driver in one pool (and RADOS
// namespace): journal entries and records without their images or
// snapshots, half-finished reservations, and images and snapshots with the
// driver's prefixes that no journal record owns. shared/audit decides what
// may be deleted, prints the report and runs the deletions; this package
// knows the RBD layout (rbd-driver/docs/design.md):
//
//   - a volume is the image <prefix><uuid>, recorded in the volume journal
//     (csi.volume.<uuid> in the image pool); its record is complete once it
//     holds the image ID;
//   - a snapshot is the RBD snapshot csi-snap-<uuid> on its volume's image,
//     recorded in the snapshot journal with the ID of that image; complete
//     once it holds csi.imageid;
//   - a deleted volume that still has snapshots is the image
//     csi-tomb-<image id>, healthy while one of its snapshots is recorded;
//   - a clone from a volume leaves, while it runs, the snapshot
//     csi-clone-<new volume's uuid> on the source image;
//   - a volume group snapshot is a group journal record whose members are
//     snapshot records (groups.go).
//
// Images whose name has none of our prefixes are never reported nor
// touched, nor are their snapshots; an image of ours that holds a snapshot
// not made by the driver is reported but kept.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// attrParentImageID is the controller's record attribute
// (internal/controller/session.go) the audit reads.
const attrParentImageID = "csi.rbd.parentimageid"

// tombPrefix names a deleted volume that still has snapshots.
const tombPrefix = "csi-tomb-"

// Config says what to audit.
type Config struct {
	// Session reaches the cluster.
	Session backend.Inventory
	// Pool and Namespace hold the images and the journals' UUID objects.
	Pool      string
	Namespace string
	// JournalPool holds the journal directories ("" or Pool: the same
	// pool).
	JournalPool string
	// Instance is the driver's journal instance (--instance-id).
	Instance string
	// VolumePrefixes and SnapshotPrefixes are our name prefixes.
	VolumePrefixes   audit.Prefixes
	SnapshotPrefixes audit.Prefixes
}

// scan is one audit in progress.
type scan struct {
	cfg    Config
	sess   backend.Inventory
	pool   backend.PoolRef
	poolID int64
	// journalPoolID is the pool ID of cfg.JournalPool.
	journalPoolID int64
	vols          *audit.JournalScan
	snaps         *audit.JournalScan
	// images are the pool's images by name.
	images   map[string]*image
	findings []*audit.Finding
}

// image is an image of the pool as the audit saw it.
type image struct {
	ref backend.ImageRef
	st  *backend.ImageStatus
	// since is when the image got its name (creation or rename).
	since time.Time
}

// Scan audits the pool and returns the orphans found. It reads the
// journals first and the images second, so that an image created during
// the scan shows up young rather than unrecorded-and-old.
func Scan(ctx context.Context, cfg Config) ([]*audit.Finding, error) {
	if cfg.JournalPool == "" {
		cfg.JournalPool = cfg.Pool
	}
	s := &scan{cfg: cfg, sess: cfg.Session, pool: backend.PoolRef{Pool: cfg.Pool, Namespace: cfg.Namespace}}
	var err error
	if s.poolID, err = s.sess.PoolID(ctx, cfg.Pool); err != nil {
		return nil, err
	}
	if s.journalPoolID, err = s.sess.PoolID(ctx, cfg.JournalPool); err != nil {
		return nil, err
	}
	if err := s.scanJournals(ctx); err != nil {
		return nil, err
	}
	if err := s.listImages(ctx); err != nil {
		return nil, err
	}
	if err := s.checkVolumeRecords(ctx); err != nil {
		return nil, err
	}
	if err := s.checkSnapshotRecords(ctx); err != nil {
		return nil, err
	}
	s.checkImages()
	if err := s.checkTrash(ctx); err != nil {
		return nil, err
	}
	if err := s.checkGroups(ctx); err != nil {
		return nil, err
	}
	s.findings = append(s.findings, s.vols.Findings...)
	s.findings = append(s.findings, s.snaps.Findings...)
	return s.findings, nil
}

// scanJournals reads both journals: directories in the journal pool,
// UUID objects in the image pool.
func (s *scan) scanJournals(ctx context.Context) error {
	objects, err := s.sess.ObjectStore(ctx, s.pool)
	if err != nil {
		return err
	}
	dirRef := backend.PoolRef{Pool: s.cfg.JournalPool, Namespace: s.cfg.Namespace}
	dir := objects
	if s.cfg.JournalPool != s.cfg.Pool {
		if dir, err = s.sess.ObjectStore(ctx, dirRef); err != nil {
			return err
		}
	}
	src := audit.JournalSource{Instance: s.cfg.Instance, Dir: dir, Objects: objects,
		DirWhere: where(dirRef), ObjectsWhere: where(s.pool),
		EntryInScope: s.entryInScope, RecordInScope: s.recordInScope}
	src.Kind = journal.Volumes
	if s.vols, err = audit.ScanJournal(ctx, src); err != nil {
		return fmt.Errorf("volume journal: %w", err)
	}
	src.Kind = journal.Snapshots
	if s.snaps, err = audit.ScanJournal(ctx, src); err != nil {
		return fmt.Errorf("snapshot journal: %w", err)
	}
	return nil
}

// entryInScope keeps the directory entries of images in the audited pool:
// SamePool entries when the directory is in it, else entries naming it.
func (s *scan) entryInScope(e journal.Entry) bool {
	if s.cfg.JournalPool == s.cfg.Pool {
		return e.ImagePoolID == journal.SamePool
	}
	return e.ImagePoolID == s.poolID
}

// recordInScope keeps the UUID objects whose directory is in the audited
// journal pool (a record names its journal pool when it is not the image
// pool, as a 16-hex pool ID or, in older records of ours, a pool name).
// The empty image-pool half of a split record is never in scope: its
// directory and keys are in another pool (audit that one with
// --journal-pool, where the halves are read together).
func (s *scan) recordInScope(rec *journal.Record) bool {
	if splitHalf(rec) {
		return false
	}
	v := rec.Attributes[journal.KeyJournalPool]
	if v == "" {
		return s.cfg.JournalPool == s.cfg.Pool
	}
	id, name := journal.ParseJournalPool(v)
	if id != journal.SamePool {
		return id == s.journalPoolID
	}
	return name == s.cfg.JournalPool
}

// splitHalf reports whether a record is the empty UUID object ceph-csi
// creates in the image pool when the journal is in another pool (before
// v3.11, the StorageClass pool of a topology-constrained volume): it names
// neither request nor image, and stands for the image <prefix><its uuid>.
func splitHalf(rec *journal.Record) bool {
	return rec.RequestName == "" && rec.ImageName == ""
}

// where renders pool[/namespace].
func where(p backend.PoolRef) string {
	if p.Namespace == "" {
		return p.Pool
	}
	return p.Pool + "/" + p.Namespace
}

// imageName renders pool[/namespace]/name.
func imageName(img backend.ImageRef) string { return where(img.PoolRef) + "/" + img.Name }
