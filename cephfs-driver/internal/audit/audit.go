// Package audit finds the orphans of the CephFS driver in one file system
// and subvolume group: journal entries and records without their
// subvolumes or snapshots, half-finished reservations, and subvolumes and
// snapshots with the driver's prefixes that no journal record owns.
// shared/audit decides what may be deleted, prints the report and runs the
// deletions; this package knows the CephFS layout
// (cephfs-driver/docs/architecture.md):
//
//   - a volume is the subvolume <prefix><uuid> of the configured group,
//     recorded in the volume journal (metadata pool, RADOS namespace of the
//     configuration); a shallow volume (csi.volume.backingsnapshotid, or
//     the older csi.backingsnapshotid) has no subvolume and is left alone;
//   - a snapshot is the subvolume snapshot <prefix><uuid> of its volume's
//     subvolume, recorded in the snapshot journal (Source = subvolume,
//     ImageName = snapshot); complete once it holds csi.cephfs.createdat
//     (ceph-csi's records, without csi.cephfs.sourcevolumeid, once the
//     snapshot exists);
//   - a deleted volume that still has snapshots is a subvolume in state
//     snapshot-retained: healthy while one of its snapshots is recorded;
//   - a clone from a volume keeps csi-clone-<new volume's uuid> on the
//     source subvolume until it completes.
//
// Subvolumes and snapshots without our prefixes are never reported nor
// touched; a subvolume of ours holding a snapshot not made by the driver is
// reported but kept.
package audit

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/audit"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// attrCreatedAt marks a finished snapshot record of ours (the
// controller's csi.cephfs.createdat); attrSourceVolumeID is in every
// snapshot record of ours from the reservation on. ceph-csi's records have
// neither: theirs are complete once the snapshot exists.
const (
	attrCreatedAt      = "csi.cephfs.createdat"
	attrSourceVolumeID = "csi.cephfs.sourcevolumeid"
)

// Config says what to audit.
type Config struct {
	// Backend reaches the cluster's mgr.
	Backend backend.Backend
	// Store is the journal's namespace of the metadata pool; it must tell
	// object ages (cephconn.ObjectStore does).
	Store journal.ObjectStore
	// StoreWhere names it in the report ("<metadata pool>/<namespace>").
	StoreWhere string
	// FS and Group hold the subvolumes.
	FS    string
	Group string
	// Instance is the driver's journal instance (--instance-id).
	Instance string
	// VolumePrefixes and SnapshotPrefixes are our name prefixes.
	VolumePrefixes   audit.Prefixes
	SnapshotPrefixes audit.Prefixes
}

// scan is one audit in progress.
type scan struct {
	cfg      Config
	be       backend.Backend
	vols     *audit.JournalScan
	snaps    *audit.JournalScan
	findings []*audit.Finding
}

// Scan audits the group and returns the orphans found. It reads the
// journals first and the subvolumes second, so that a subvolume created
// during the scan shows up young rather than unrecorded-and-old.
func Scan(ctx context.Context, cfg Config) ([]*audit.Finding, error) {
	s := &scan{cfg: cfg, be: cfg.Backend}
	src := audit.JournalSource{Instance: cfg.Instance, Dir: cfg.Store, Objects: cfg.Store,
		DirWhere: cfg.StoreWhere, ObjectsWhere: cfg.StoreWhere}
	var err error
	src.Kind = journal.Volumes
	if s.vols, err = audit.ScanJournal(ctx, src); err != nil {
		return nil, fmt.Errorf("volume journal: %w", err)
	}
	src.Kind = journal.Snapshots
	if s.snaps, err = audit.ScanJournal(ctx, src); err != nil {
		return nil, fmt.Errorf("snapshot journal: %w", err)
	}
	if err := s.checkVolumeRecords(ctx); err != nil {
		return nil, err
	}
	if err := s.checkSnapshotRecords(ctx); err != nil {
		return nil, err
	}
	if err := s.checkSubvolumes(ctx); err != nil {
		return nil, err
	}
	if err := s.checkGroups(ctx); err != nil {
		return nil, fmt.Errorf("group journal: %w", err)
	}
	s.findings = append(s.findings, s.vols.Findings...)
	s.findings = append(s.findings, s.snaps.Findings...)
	return s.findings, nil
}

func (s *scan) subvolume(name string) backend.SubvolumeRef {
	return backend.SubvolumeRef{FS: s.cfg.FS, Group: s.cfg.Group, Name: name}
}

func (s *scan) snapshot(subvolume, snap string) backend.SnapshotRef {
	return backend.SnapshotRef{SubvolumeRef: s.subvolume(subvolume), Snapshot: snap}
}

// checkVolumeRecords reports the volume records whose subvolume does not
// exist (never created, or deleted from outside) or was removed with its
// snapshots retained while the record stayed (a DeleteVolume that did not
// finish). Shallow volumes have no subvolume and are not checked.
func (s *scan) checkVolumeRecords(ctx context.Context) error {
	for _, r := range s.vols.Records {
		if r.Attributes[journal.KeyBackingSnapshotID] != "" || r.Attributes[journal.KeyBackingSnapshotIDV0] != "" {
			continue
		}
		gone, why, err := s.subvolumeGone(ctx, r.ImageName)
		if err != nil {
			return err
		}
		if !gone {
			continue
		}
		name := r.ImageName
		s.findings = append(s.findings, s.vols.OrphanRecord(audit.MissingObject, r, why, func(ctx context.Context) error {
			gone, _, err := s.subvolumeGone(ctx, name)
			if err != nil {
				return err
			}
			if !gone {
				return fmt.Errorf("%w: subvolume %s exists now", audit.ErrChanged, name)
			}
			return nil
		}))
	}
	return nil
}

// subvolumeGone reports whether a volume's subvolume is missing or only
// retained for its snapshots, and says which.
func (s *scan) subvolumeGone(ctx context.Context, name string) (bool, string, error) {
	ref := s.subvolume(name)
	info, err := s.be.SubvolumeInfo(ctx, ref)
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return true, fmt.Sprintf("subvolume %s does not exist (never created, or deleted)", ref), nil
	case errors.Is(err, backend.ErrBusy):
		return false, "", nil // a clone in progress: not ready for info
	case err != nil:
		return false, "", err
	case info.State == backend.StateRetained:
		return true, fmt.Sprintf("subvolume %s was removed (snapshots retained) but its record was not", ref), nil
	}
	return false, "", nil
}

// checkSnapshotRecords reports the snapshot records whose snapshot does not
// exist, or that were never completed although their snapshot exists.
func (s *scan) checkSnapshotRecords(ctx context.Context) error {
	for _, r := range s.snaps.Records {
		ref := s.snapshot(r.Source, r.ImageName)
		info, err := s.be.SnapshotInfo(ctx, ref)
		switch {
		case errors.Is(err, backend.ErrNotFound):
			s.findings = append(s.findings, s.snaps.OrphanRecord(audit.MissingObject, r,
				fmt.Sprintf("snapshot %s does not exist", ref), func(ctx context.Context) error {
					_, err := s.be.SnapshotInfo(ctx, ref)
					return stillMissing(err)
				}))
		case err != nil:
			return err
		case r.Attributes[attrCreatedAt] == "" && r.Attributes[attrSourceVolumeID] != "":
			s.findings = append(s.findings, s.incompleteSnapshot(r, ref, info))
		}
	}
	return nil
}

// incompleteSnapshot reports a snapshot record never completed although its
// snapshot exists: a CreateSnapshot that stopped halfway, whose snapshot
// the CO never got. Its removal removes the snapshot, then the record.
func (s *scan) incompleteSnapshot(r audit.Record, ref backend.SnapshotRef, info *backend.SnapshotInfo) *audit.Finding {
	if info.CreatedAt.After(r.Since) {
		r.Since = info.CreatedAt
	}
	f := s.snaps.OrphanRecord(audit.Incomplete, r, fmt.Sprintf("snapshot %s exists but its record was never completed", ref),
		func(ctx context.Context) error { return s.be.RemoveSnapshot(ctx, ref) })
	if info.HasPendingClones {
		f.InUse = "clones from it are in progress"
	}
	return f
}

// stillMissing turns the error of a re-check lookup into the release's
// verdict: nil when the object is still missing, ErrChanged when it exists.
func stillMissing(err error) error {
	switch {
	case errors.Is(err, backend.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return fmt.Errorf("%w: the object exists now", audit.ErrChanged)
}

// sorted returns the names sorted (a copy).
func sorted(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return out
}
