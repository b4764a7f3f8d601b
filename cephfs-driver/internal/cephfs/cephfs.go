// Package cephfs is THE go-ceph adapter of the CephFS driver: it
// implements backend.Backend with go-ceph's cephfs/admin package over a
// connection borrowed from a shared/cephconn pool, and opens the journal's
// RADOS object store on the same connection. Besides shared/cephconn it is
// the only package of the driver that imports go-ceph (it needs cgo and the
// -tags of the Ceph release, e.g. pacific).
package cephfs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ceph/go-ceph/cephfs/admin"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
)

// Connector opens sessions over a cephconn pool.
type Connector struct {
	pool *cephconn.Pool
}

var _ backend.Connector = (*Connector)(nil)

// NewConnector returns a connector borrowing connections from pool.
func NewConnector(pool *cephconn.Pool) *Connector {
	return &Connector{pool: pool}
}

// Connect implements backend.Connector.
func (c *Connector) Connect(ctx context.Context, t backend.Target) (backend.Session, error) {
	conn, err := c.pool.Get(ctx, cephconn.Target{ClusterID: t.ClusterID, Monitors: t.Monitors, Creds: t.Creds})
	if err != nil {
		if errors.Is(err, cephconn.ErrConnect) {
			return nil, fmt.Errorf("%w: %w", backend.ErrConnect, err)
		}
		return nil, err
	}
	return &session{conn: conn, fsa: &Admin{fsa: admin.NewFromConn(conn.Conn), check: conn.Check}}, nil
}

type session struct {
	conn *cephconn.Conn
	fsa  *Admin
}

func (s *session) Backend() backend.Backend { return s.fsa }

func (s *session) ObjectStore(pool, namespace string) (backend.ObjectStore, func(), error) {
	st, err := s.conn.ObjectStore(pool, namespace)
	if err != nil {
		return nil, nil, s.fsa.classify("open pool", pool, err)
	}
	return st, st.Destroy, nil
}

func (s *session) Release() { s.conn.Release() }

// Admin implements backend.Backend with go-ceph's FSAdmin.
type Admin struct {
	fsa *admin.FSAdmin
	// check is the pooled connection's cephconn.Conn.Check (nil from New):
	// an error saying the cluster blocklisted it drops it from the pool.
	check func(error) error
}

// classify is the package's classify, after check.
func (a *Admin) classify(op, object string, err error) error {
	if err != nil && a.check != nil {
		err = a.check(err)
	}
	return classify(op, object, err)
}

var _ backend.Backend = (*Admin)(nil)

// New returns an Admin over a RADOS connection (anything that sends mon and
// mgr commands, e.g. *rados.Conn).
func New(conn admin.RadosCommander) *Admin {
	return &Admin{fsa: admin.NewFromConn(conn)}
}

// FileSystems implements backend.Backend: `fs dump` for the IDs and `fs ls`
// for the pools.
func (a *Admin) FileSystems(ctx context.Context) ([]backend.FileSystem, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	idents, err := a.fsa.EnumerateVolumes()
	if err != nil {
		return nil, a.classify("fs dump", "", err)
	}
	pools, err := a.fsa.ListFileSystems()
	if err != nil {
		return nil, a.classify("fs ls", "", err)
	}
	byName := make(map[string]admin.FSPoolInfo, len(pools))
	for _, p := range pools {
		byName[p.Name] = p
	}
	out := make([]backend.FileSystem, 0, len(idents))
	for _, id := range idents {
		p, ok := byName[id.Name]
		if !ok {
			continue
		}
		out = append(out, backend.FileSystem{Name: id.Name, ID: id.ID, MetadataPool: p.MetadataPool,
			DataPools: append([]string(nil), p.DataPools...)})
	}
	return out, nil
}

// CreateGroup implements backend.Backend.
func (a *Admin) CreateGroup(ctx context.Context, fs, group string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return hitIfDone(StepGroupCreated,
		a.classify("create subvolume group", fs+"/"+group, a.fsa.CreateSubVolumeGroup(fs, group, nil)))
}

// RemoveGroup implements backend.Backend.
func (a *Admin) RemoveGroup(ctx context.Context, fs, group string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return hitIfDone(StepGroupRemoved,
		ignoreNotFound(a.classify("remove subvolume group", fs+"/"+group, a.fsa.RemoveSubVolumeGroup(fs, group))))
}

// CreateSubvolume implements backend.Backend.
func (a *Admin) CreateSubvolume(ctx context.Context, ref backend.SubvolumeRef, opts backend.CreateOptions) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &admin.SubVolumeOptions{Size: admin.ByteCount(opts.Size), PoolLayout: opts.Pool}
	return hitIfDone(StepSubvolumeCreated,
		a.classify("create subvolume", ref.String(), a.fsa.CreateSubVolume(ref.FS, ref.Group, ref.Name, o)))
}

// SubvolumePath implements backend.Backend.
func (a *Admin) SubvolumePath(ctx context.Context, ref backend.SubvolumeRef) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	p, err := a.fsa.SubVolumePath(ref.FS, ref.Group, ref.Name)
	return p, a.classify("subvolume getpath", ref.String(), err)
}

// SubvolumeInfo implements backend.Backend.
func (a *Admin) SubvolumeInfo(ctx context.Context, ref backend.SubvolumeRef) (*backend.SubvolumeInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := a.fsa.SubVolumeInfo(ref.FS, ref.Group, ref.Name)
	if err != nil {
		return nil, a.classify("subvolume info", ref.String(), err)
	}
	out := &backend.SubvolumeInfo{
		Path:      info.Path,
		State:     backend.SubvolumeState(info.State),
		Used:      int64(info.BytesUsed),
		DataPool:  info.DataPool,
		CreatedAt: info.CreatedAt.Time,
	}
	if q, ok := info.BytesQuota.(admin.ByteCount); ok {
		out.Quota = int64(q)
	}
	return out, nil
}

// ResizeSubvolume implements backend.Backend. The result of the resize
// command is ignored: Pacific reports a zero quota there.
func (a *Admin) ResizeSubvolume(ctx context.Context, ref backend.SubvolumeRef, size int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := a.fsa.ResizeSubVolume(ref.FS, ref.Group, ref.Name, admin.ByteCount(size), true)
	return hitIfDone(StepSubvolumeResized, a.classify("subvolume resize", ref.String(), err))
}

// RemoveSubvolume implements backend.Backend, always with
// --retain-snapshots (which removes a subvolume without snapshots fully).
func (a *Admin) RemoveSubvolume(ctx context.Context, ref backend.SubvolumeRef, force bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := a.fsa.RemoveSubVolumeWithFlags(ref.FS, ref.Group, ref.Name,
		admin.SubVolRmFlags{Force: force, RetainSnapshots: true})
	if errno(err) == errInvalid && strings.Contains(err.Error(), "snapshot retention") {
		// A legacy subvolume, or one whose create was cut off inside the
		// mgr (no .meta; the mgr's next create completes it as legacy),
		// cannot retain snapshots: removed plainly (ENOTEMPTY while it
		// has snapshots).
		err = a.fsa.RemoveSubVolumeWithFlags(ref.FS, ref.Group, ref.Name, admin.SubVolRmFlags{Force: force})
	}
	return hitIfDone(StepSubvolumeRemoved, ignoreNotFound(a.classify("subvolume rm", ref.String(), err)))
}

// ListSubvolumes implements backend.Backend.
func (a *Admin) ListSubvolumes(ctx context.Context, fs, group string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := a.fsa.ListSubVolumes(fs, group)
	return names, a.classify("subvolume ls", fs+"/"+group, err)
}

// CreateSnapshot implements backend.Backend.
func (a *Admin) CreateSnapshot(ctx context.Context, ref backend.SnapshotRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := a.classify("snapshot create", ref.String(),
		a.fsa.CreateSubVolumeSnapshot(ref.FS, ref.Group, ref.Name, ref.Snapshot))
	if errors.Is(err, backend.ErrExists) {
		err = nil
	}
	return hitIfDone(StepSnapshotCreated, err)
}

// SnapshotInfo implements backend.Backend.
func (a *Admin) SnapshotInfo(ctx context.Context, ref backend.SnapshotRef) (*backend.SnapshotInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := a.fsa.SubVolumeSnapshotInfo(ref.FS, ref.Group, ref.Name, ref.Snapshot)
	if err != nil {
		return nil, a.classify("snapshot info", ref.String(), err)
	}
	return &backend.SnapshotInfo{CreatedAt: info.CreatedAt.Time, HasPendingClones: info.HasPendingClones == "yes",
		Size: int64(info.Size)}, nil
}

// RemoveSnapshot implements backend.Backend.
func (a *Admin) RemoveSnapshot(ctx context.Context, ref backend.SnapshotRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := a.fsa.RemoveSubVolumeSnapshot(ref.FS, ref.Group, ref.Name, ref.Snapshot)
	return hitIfDone(StepSnapshotRemoved, ignoreNotFound(a.classify("snapshot rm", ref.String(), err)))
}

// ListSnapshots implements backend.Backend.
func (a *Admin) ListSnapshots(ctx context.Context, ref backend.SubvolumeRef) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	names, err := a.fsa.ListSubVolumeSnapshots(ref.FS, ref.Group, ref.Name)
	return names, a.classify("snapshot ls", ref.String(), err)
}

// CloneSnapshot implements backend.Backend. The target group is always
// passed (go-ceph sends the source group as target_group_name, which is
// right here because clones stay in their source's group); without it Ceph
// would put the clone in the default group.
func (a *Admin) CloneSnapshot(ctx context.Context, src backend.SnapshotRef, target, pool string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	o := &admin.CloneOptions{TargetGroup: src.Group, PoolLayout: pool}
	err := a.fsa.CloneSubVolumeSnapshot(src.FS, src.Group, src.Name, src.Snapshot, target, o)
	return hitIfDone(StepCloneStarted, a.classify("snapshot clone", src.String()+" -> "+target, err))
}

// CloneStatus implements backend.Backend.
func (a *Admin) CloneStatus(ctx context.Context, ref backend.SubvolumeRef) (*backend.CloneStatus, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st, err := a.fsa.CloneStatus(ref.FS, ref.Group, ref.Name)
	if errno(err) == errNotSupported {
		return &backend.CloneStatus{State: backend.CloneComplete}, nil // not a clone
	}
	if err != nil {
		return nil, a.classify("clone status", ref.String(), err)
	}
	out := &backend.CloneStatus{State: backend.CloneState(st.State)}
	if f := st.GetFailure(); f != nil {
		out.Failure = fmt.Sprintf("%s (errno %s)", f.ErrStr, f.Errno)
	}
	return out, nil
}

// CancelClone implements backend.Backend.
func (a *Admin) CancelClone(ctx context.Context, ref backend.SubvolumeRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := a.fsa.CancelClone(ref.FS, ref.Group, ref.Name)
	switch errno(err) {
	case errNotSupported, errInvalid: // not a clone, or already finished
		err = nil
	}
	return hitIfDone(StepCloneCancelled, ignoreNotFound(a.classify("clone cancel", ref.String(), err)))
}

// PoolUsage implements backend.Backend with `fs volume info`.
func (a *Admin) PoolUsage(ctx context.Context, fs, pool string) (*backend.PoolUsage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	info, err := a.fsa.FetchVolumeInfo(fs)
	if err != nil {
		return nil, a.classify("fs volume info", fs, err)
	}
	for _, p := range info.Pools.DataPool {
		if p.Name == pool {
			return &backend.PoolUsage{Available: int64(p.Available), Used: int64(p.Used)}, nil
		}
	}
	return nil, &backend.Error{Op: "fs volume info", Object: fs + "/" + pool, Kind: backend.ErrNotFound,
		Err: errors.New("no such data pool")}
}

// PendingDeletions returns how many removed subvolumes of file system fs
// Ceph has yet to purge from its trash (`fs volume info`), for audits:
// the mgr's purge threads empty the trash in the background, slowly (on
// the test cluster, about one subvolume a second).
func (a *Admin) PendingDeletions(ctx context.Context, fs string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	info, err := a.fsa.FetchVolumeInfo(fs)
	if err != nil {
		return 0, a.classify("fs volume info", fs, err)
	}
	return info.PendingSubvolDels, nil
}
