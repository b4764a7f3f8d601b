// Package nodelookup finds on the cluster what a volume context leaves
// out, for the node service: the subvolume path of a PV made by ceph-csi
// before v3.3 (its volume context has subvolumeName but no subvolumePath),
// and the snapshot directory of a shallow volume made by ceph-csi (its
// context says backingSnapshot but not where the snapshot is). ceph-csi's
// node plugin asks the cluster the same way, with the node-stage
// credentials: `subvolume info` through the mgr, and the journal for a
// shallow volume's backing snapshot.
package nodelookup

import (
	"context"
	"errors"
	"fmt"
	"path"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// ErrNotFound wraps a volume, snapshot or subvolume that is not there.
var ErrNotFound = errors.New("not found")

// Lookup asks a cluster over a backend.Connector.
type Lookup struct {
	// Connector opens sessions.
	Connector backend.Connector
	// InstanceID names the journal instance (--instance-id).
	InstanceID string
}

// Backing locates a shallow volume's snapshot: Root is the directory to
// mount (the snapshotted subvolume's base directory), Dir the snapshot's
// directory under it (.snap/<snapshot>/<subvolume uuid dir>).
type Backing struct {
	FSName string
	Root   string
	Dir    string
}

func (l *Lookup) connect(ctx context.Context, cluster *clusterconfig.Cluster, creds *credentials.Credentials) (backend.Session, error) {
	return l.Connector.Connect(ctx, backend.Target{ClusterID: cluster.ClusterID, Monitors: cluster.Monitors, Creds: creds})
}

// SubvolumePath returns the path of subvolume name of group on file
// system fsName.
func (l *Lookup) SubvolumePath(ctx context.Context, cluster *clusterconfig.Cluster, creds *credentials.Credentials,
	fsName, group, name string) (string, error) {
	sess, err := l.connect(ctx, cluster, creds)
	if err != nil {
		return "", err
	}
	defer sess.Release()
	info, err := sess.Backend().SubvolumeInfo(ctx, backend.SubvolumeRef{FS: fsName, Group: group, Name: name})
	if errors.Is(err, backend.ErrNotFound) {
		return "", fmt.Errorf("%w: subvolume %s/%s/%s: %v", ErrNotFound, fsName, group, name, err)
	}
	if err != nil {
		return "", err
	}
	return info.Path, nil
}

// BackingSnapshot locates the snapshot of shallow volume volumeID from the
// journals: the volume's record names the snapshot's CSI ID, the
// snapshot's record its subvolume and name, and `subvolume info` the
// subvolume's path.
func (l *Lookup) BackingSnapshot(ctx context.Context, cluster *clusterconfig.Cluster, creds *credentials.Credentials,
	volumeID string) (*Backing, error) {
	id, err := volid.Decode(volumeID)
	if err != nil {
		return nil, fmt.Errorf("%w: volume ID %q: %v", ErrNotFound, volumeID, err)
	}
	sess, err := l.connect(ctx, cluster, creds)
	if err != nil {
		return nil, err
	}
	defer sess.Release()
	fs, err := findFS(ctx, sess.Backend(), id.LocationID)
	if err != nil {
		return nil, err
	}
	store, release, err := sess.ObjectStore(fs.MetadataPool, cluster.CephFS.RadosNamespace)
	if err != nil {
		return nil, err
	}
	defer release()
	snap, err := l.backingRecord(ctx, store, id.UUID)
	if err != nil {
		return nil, err
	}
	ref := backend.SubvolumeRef{FS: fs.Name, Group: cluster.CephFS.SubvolumeGroup, Name: snap.Source}
	info, err := sess.Backend().SubvolumeInfo(ctx, ref)
	if err != nil || info.Path == "" {
		return nil, fmt.Errorf("%w: path of subvolume %s of the backing snapshot: %v", ErrNotFound, ref, err)
	}
	return &Backing{FSName: fs.Name, Root: path.Dir(info.Path),
		Dir: path.Join(".snap", snap.ImageName, path.Base(info.Path))}, nil
}

// backingRecord reads the snapshot record behind shallow volume volUUID.
func (l *Lookup) backingRecord(ctx context.Context, store journal.ObjectStore, volUUID string) (*journal.Record, error) {
	vols := journal.New(store, journal.Options{Kind: journal.Volumes, Instance: l.InstanceID})
	vol, err := vols.Get(ctx, volUUID)
	if err != nil {
		return nil, notFound("volume record "+volUUID, err)
	}
	snapID := vol.Attributes[journal.KeyBackingSnapshotID]
	if snapID == "" {
		snapID = vol.Attributes[journal.KeyBackingSnapshotIDV0]
	}
	sid, err := volid.Decode(snapID)
	if err != nil {
		return nil, fmt.Errorf("%w: volume %s has no backing snapshot ID (%q)", ErrNotFound, volUUID, snapID)
	}
	snaps := journal.New(store, journal.Options{Kind: journal.Snapshots, Instance: l.InstanceID})
	snap, err := snaps.Get(ctx, sid.UUID)
	if err != nil {
		return nil, notFound("snapshot record "+sid.UUID, err)
	}
	return snap, nil
}

func notFound(what string, err error) error {
	if errors.Is(err, journal.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	return fmt.Errorf("read %s: %w", what, err)
}

func findFS(ctx context.Context, be backend.Backend, id int64) (*backend.FileSystem, error) {
	fss, err := be.FileSystems(ctx)
	if err != nil {
		return nil, err
	}
	for i := range fss {
		if fss[i].ID == id {
			return &fss[i], nil
		}
	}
	return nil, fmt.Errorf("%w: no file system with ID %d", ErrNotFound, id)
}
