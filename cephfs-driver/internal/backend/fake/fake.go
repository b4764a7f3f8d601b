// Package fake is an in-memory backend.Backend with Ceph's semantics as
// documented on the interface, for unit tests.
package fake

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// Backend is an in-memory backend.Backend with Ceph's semantics as documented on the
// interface, for unit tests. It is safe for concurrent use.
type Backend struct {
	mu    sync.Mutex
	fss   map[string]*fakeFS
	calls map[string]int

	// ClonePolls is how many CloneStatus calls a new clone stays in
	// progress before it completes (0: complete at once).
	ClonePolls int
	// FailClone, when set, makes clones fail with this reason.
	FailClone string
	// Errors injects an error into the named operation (the method name,
	// e.g. "CreateSubvolume"); it is returned until removed.
	Errors map[string]error
	// Now returns the time stamps; default time.Now.
	Now func() time.Time
}

type fakeFS struct {
	fs     backend.FileSystem
	groups map[string]map[string]*fakeSubvolume
	avail  int64
}

type fakeSubvolume struct {
	path      string
	state     backend.SubvolumeState
	quota     int64
	pool      string
	created   time.Time
	snapshots map[string]time.Time
	clone     *fakeClone
}

type fakeClone struct {
	src       backend.SnapshotRef
	pollsLeft int
	failure   string
}

var _ backend.Backend = (*Backend)(nil)

// New returns a fake with no file systems.
func New() *Backend {
	return &Backend{fss: map[string]*fakeFS{}, calls: map[string]int{}, Errors: map[string]error{}, Now: time.Now}
}

// AddFileSystem adds a file system with metadata pool <name>.meta and data
// pool <name>.data holding avail free bytes.
func (f *Backend) AddFileSystem(name string, id int64, avail int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fss[name] = &fakeFS{
		fs:     backend.FileSystem{Name: name, ID: id, MetadataPool: name + ".meta", DataPools: []string{name + ".data"}},
		groups: map[string]map[string]*fakeSubvolume{},
		avail:  avail,
	}
}

// Calls returns how many times the named method was called.
func (f *Backend) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// begin counts a call and returns the injected error, if any. f.mu held.
func (f *Backend) begin(ctx context.Context, method string) error {
	f.calls[method]++
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.Errors[method]
}

func fakeErr(op, obj string, kind error) error {
	return &backend.Error{Op: op, Object: obj, Kind: kind, Err: kind}
}

func (f *Backend) group(op, fs, group string) (map[string]*fakeSubvolume, error) {
	ffs, ok := f.fss[fs]
	if !ok {
		return nil, fakeErr(op, fs, backend.ErrNotFound)
	}
	g, ok := ffs.groups[group]
	if !ok {
		return nil, fakeErr(op, fs+"/"+group, backend.ErrNotFound)
	}
	return g, nil
}

func (f *Backend) subvolume(op string, ref backend.SubvolumeRef) (*fakeSubvolume, error) {
	g, err := f.group(op, ref.FS, ref.Group)
	if err != nil {
		return nil, err
	}
	sv, ok := g[ref.Name]
	if !ok {
		return nil, fakeErr(op, ref.String(), backend.ErrNotFound)
	}
	return sv, nil
}

// FileSystems implements Backend.
func (f *Backend) FileSystems(ctx context.Context) ([]backend.FileSystem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "FileSystems"); err != nil {
		return nil, err
	}
	out := make([]backend.FileSystem, 0, len(f.fss))
	for _, ffs := range f.fss {
		fs := ffs.fs
		fs.DataPools = slices.Clone(fs.DataPools)
		out = append(out, fs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// CreateGroup implements Backend.
func (f *Backend) CreateGroup(ctx context.Context, fs, group string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateGroup"); err != nil {
		return err
	}
	ffs, ok := f.fss[fs]
	if !ok {
		return fakeErr("create group", fs, backend.ErrNotFound)
	}
	if _, ok := ffs.groups[group]; !ok {
		ffs.groups[group] = map[string]*fakeSubvolume{}
	}
	return nil
}

// RemoveGroup implements Backend.
func (f *Backend) RemoveGroup(ctx context.Context, fs, group string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "RemoveGroup"); err != nil {
		return err
	}
	g, err := f.group("remove group", fs, group)
	if err != nil {
		return nil
	}
	if len(g) > 0 {
		return fakeErr("remove group", fs+"/"+group, backend.ErrBusy)
	}
	delete(f.fss[fs].groups, group)
	return nil
}

// CreateSubvolume implements Backend.
func (f *Backend) CreateSubvolume(ctx context.Context, ref backend.SubvolumeRef, opts backend.CreateOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateSubvolume"); err != nil {
		return err
	}
	g, err := f.group("create subvolume", ref.FS, ref.Group)
	if err != nil {
		return err
	}
	if opts.Pool != "" && !slices.Contains(f.fss[ref.FS].fs.DataPools, opts.Pool) {
		return fakeErr("create subvolume", ref.String(), backend.ErrInvalid)
	}
	if sv, ok := g[ref.Name]; ok {
		sv.quota = opts.Size
		return nil
	}
	g[ref.Name] = f.newSubvolume(ref, opts.Size, opts.Pool)
	return nil
}

func (f *Backend) newSubvolume(ref backend.SubvolumeRef, quota int64, pool string) *fakeSubvolume {
	if pool == "" {
		pool = f.fss[ref.FS].fs.DataPools[0]
	}
	return &fakeSubvolume{
		path:      fmt.Sprintf("/volumes/%s/%s/%08x", ref.Group, ref.Name, len(ref.Name)*7919),
		state:     backend.StateComplete,
		quota:     quota,
		pool:      pool,
		created:   f.Now(),
		snapshots: map[string]time.Time{},
	}
}

// SubvolumePath implements Backend.
func (f *Backend) SubvolumePath(ctx context.Context, ref backend.SubvolumeRef) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "SubvolumePath"); err != nil {
		return "", err
	}
	sv, err := f.subvolume("subvolume getpath", ref)
	if err != nil {
		return "", err
	}
	if sv.state == backend.StateRetained {
		return "", fakeErr("subvolume getpath", ref.String(), backend.ErrNotFound)
	}
	return sv.path, nil
}

// SubvolumeInfo implements Backend.
func (f *Backend) SubvolumeInfo(ctx context.Context, ref backend.SubvolumeRef) (*backend.SubvolumeInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "backend.SubvolumeInfo"); err != nil {
		return nil, err
	}
	sv, err := f.subvolume("subvolume info", ref)
	if err != nil {
		return nil, err
	}
	if sv.state == backend.StateRetained {
		return &backend.SubvolumeInfo{State: backend.StateRetained}, nil
	}
	return &backend.SubvolumeInfo{Path: sv.path, State: sv.state, Quota: sv.quota, DataPool: sv.pool, CreatedAt: sv.created}, nil
}

// ResizeSubvolume implements Backend.
func (f *Backend) ResizeSubvolume(ctx context.Context, ref backend.SubvolumeRef, size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ResizeSubvolume"); err != nil {
		return err
	}
	sv, err := f.subvolume("subvolume resize", ref)
	if err != nil {
		return err
	}
	sv.quota = size
	return nil
}

// RemoveSubvolume implements Backend.
func (f *Backend) RemoveSubvolume(ctx context.Context, ref backend.SubvolumeRef, force bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "RemoveSubvolume"); err != nil {
		return err
	}
	sv, err := f.subvolume("subvolume rm", ref)
	if err != nil {
		return nil
	}
	if sv.clone != nil {
		switch sv.state {
		case backend.StatePending, backend.StateCloning:
			return fakeErr("subvolume rm", ref.String(), backend.ErrBusy)
		case backend.StateFailed, backend.StateCancelled:
			if !force {
				return fakeErr("subvolume rm", ref.String(), backend.ErrBusy)
			}
		}
	}
	if len(sv.snapshots) > 0 {
		sv.state = backend.StateRetained
		return nil
	}
	delete(f.fss[ref.FS].groups[ref.Group], ref.Name)
	return nil
}

// ListSubvolumes implements Backend.
func (f *Backend) ListSubvolumes(ctx context.Context, fs, group string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListSubvolumes"); err != nil {
		return nil, err
	}
	g, err := f.group("subvolume ls", fs, group)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(g))
	for n := range g {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// CreateSnapshot implements Backend.
func (f *Backend) CreateSnapshot(ctx context.Context, ref backend.SnapshotRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateSnapshot"); err != nil {
		return err
	}
	sv, err := f.subvolume("snapshot create", ref.SubvolumeRef)
	if err != nil {
		return err
	}
	if sv.state == backend.StateRetained {
		return fakeErr("snapshot create", ref.String(), backend.ErrNotFound)
	}
	if _, ok := sv.snapshots[ref.Snapshot]; !ok {
		sv.snapshots[ref.Snapshot] = f.Now()
	}
	return nil
}

// SnapshotInfo implements Backend.
func (f *Backend) SnapshotInfo(ctx context.Context, ref backend.SnapshotRef) (*backend.SnapshotInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "backend.SnapshotInfo"); err != nil {
		return nil, err
	}
	sv, err := f.subvolume("snapshot info", ref.SubvolumeRef)
	if err != nil {
		return nil, err
	}
	created, ok := sv.snapshots[ref.Snapshot]
	if !ok {
		return nil, fakeErr("snapshot info", ref.String(), backend.ErrNotFound)
	}
	return &backend.SnapshotInfo{CreatedAt: created, HasPendingClones: f.pendingClones(ref)}, nil
}

// pendingClones reports clones of ref that are not finished. f.mu held.
func (f *Backend) pendingClones(ref backend.SnapshotRef) bool {
	for _, g := range f.fss[ref.FS].groups {
		for _, sv := range g {
			if sv.clone != nil && sv.clone.src == ref && (sv.state == backend.StatePending || sv.state == backend.StateCloning) {
				return true
			}
		}
	}
	return false
}

// RemoveSnapshot implements Backend.
func (f *Backend) RemoveSnapshot(ctx context.Context, ref backend.SnapshotRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "RemoveSnapshot"); err != nil {
		return err
	}
	sv, err := f.subvolume("snapshot rm", ref.SubvolumeRef)
	if err != nil {
		return nil
	}
	if _, ok := sv.snapshots[ref.Snapshot]; !ok {
		return nil
	}
	if f.pendingClones(ref) {
		return fakeErr("snapshot rm", ref.String(), backend.ErrBusy)
	}
	delete(sv.snapshots, ref.Snapshot)
	if sv.state == backend.StateRetained && len(sv.snapshots) == 0 {
		delete(f.fss[ref.FS].groups[ref.Group], ref.Name)
	}
	return nil
}

// ListSnapshots implements Backend.
func (f *Backend) ListSnapshots(ctx context.Context, ref backend.SubvolumeRef) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "ListSnapshots"); err != nil {
		return nil, err
	}
	sv, err := f.subvolume("snapshot ls", ref)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(sv.snapshots))
	for n := range sv.snapshots {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// CloneSnapshot implements Backend.
func (f *Backend) CloneSnapshot(ctx context.Context, src backend.SnapshotRef, target, pool string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CloneSnapshot"); err != nil {
		return err
	}
	sv, err := f.subvolume("snapshot clone", src.SubvolumeRef)
	if err != nil {
		return err
	}
	if _, ok := sv.snapshots[src.Snapshot]; !ok {
		return fakeErr("snapshot clone", src.String(), backend.ErrNotFound)
	}
	g := f.fss[src.FS].groups[src.Group]
	if _, ok := g[target]; ok {
		return fakeErr("snapshot clone", target, backend.ErrExists)
	}
	if pool == "" {
		pool = sv.pool
	}
	clone := f.newSubvolume(backend.SubvolumeRef{FS: src.FS, Group: src.Group, Name: target}, sv.quota, pool)
	clone.state = backend.StatePending
	clone.clone = &fakeClone{src: src, pollsLeft: f.ClonePolls, failure: f.FailClone}
	g[target] = clone
	return nil
}

// CloneStatus implements Backend.
func (f *Backend) CloneStatus(ctx context.Context, ref backend.SubvolumeRef) (*backend.CloneStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "backend.CloneStatus"); err != nil {
		return nil, err
	}
	sv, err := f.subvolume("clone status", ref)
	if err != nil {
		return nil, err
	}
	if sv.clone == nil {
		return &backend.CloneStatus{State: backend.CloneComplete}, nil
	}
	f.advance(sv)
	st := &backend.CloneStatus{State: backend.CloneState(sv.state)}
	if sv.state == backend.StateFailed {
		st.Failure = sv.clone.failure
	}
	return st, nil
}

// advance moves a clone on by one poll. f.mu held.
func (f *Backend) advance(sv *fakeSubvolume) {
	if sv.state != backend.StatePending && sv.state != backend.StateCloning {
		return
	}
	if sv.clone.pollsLeft > 0 {
		sv.clone.pollsLeft--
		sv.state = backend.StateCloning
		return
	}
	if sv.clone.failure != "" {
		sv.state = backend.StateFailed
		return
	}
	sv.state = backend.StateComplete
}

// CancelClone implements Backend.
func (f *Backend) CancelClone(ctx context.Context, ref backend.SubvolumeRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CancelClone"); err != nil {
		return err
	}
	sv, err := f.subvolume("clone cancel", ref)
	if err != nil || sv.clone == nil {
		return nil
	}
	if sv.state == backend.StatePending || sv.state == backend.StateCloning {
		sv.state = backend.StateCancelled
	}
	return nil
}

// PoolUsage implements Backend.
func (f *Backend) PoolUsage(ctx context.Context, fs, pool string) (*backend.PoolUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "backend.PoolUsage"); err != nil {
		return nil, err
	}
	ffs, ok := f.fss[fs]
	if !ok || !slices.Contains(ffs.fs.DataPools, pool) {
		return nil, fakeErr("pool usage", fs+"/"+pool, backend.ErrNotFound)
	}
	return &backend.PoolUsage{Available: ffs.avail}, nil
}

// Connector hands out sessions over a Backend and in-memory journal
// stores (one per pool and namespace, kept across sessions).
type Connector struct {
	Backend *Backend
	// Err, when set, fails every Connect.
	Err error

	mu       sync.Mutex
	stores   map[string]*memstore.Store
	sessions int
}

var _ backend.Connector = (*Connector)(nil)

// NewConnector returns a connector over b.
func NewConnector(b *Backend) *Connector {
	return &Connector{Backend: b, stores: map[string]*memstore.Store{}}
}

// Store returns the journal store of pool and namespace.
func (c *Connector) Store(pool, namespace string) *memstore.Store {
	c.mu.Lock()
	defer c.mu.Unlock()
	key := pool + "/" + namespace
	s, ok := c.stores[key]
	if !ok {
		s = memstore.New()
		c.stores[key] = s
	}
	return s
}

// OpenSessions returns the number of sessions not yet released.
func (c *Connector) OpenSessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions
}

// Connect implements Connector.
func (c *Connector) Connect(ctx context.Context, t backend.Target) (backend.Session, error) {
	if c.Err != nil {
		return nil, fmt.Errorf("%w: %v", backend.ErrConnect, c.Err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.sessions++
	c.mu.Unlock()
	return &fakeSession{c: c}, nil
}

type fakeSession struct {
	c    *Connector
	once sync.Once
}

func (s *fakeSession) Backend() backend.Backend { return s.c.Backend }

func (s *fakeSession) ObjectStore(pool, namespace string) (backend.ObjectStore, func(), error) {
	return s.c.Store(pool, namespace), func() {}, nil
}

func (s *fakeSession) Release() {
	s.once.Do(func() {
		s.c.mu.Lock()
		s.c.sessions--
		s.c.mu.Unlock()
	})
}

// SetClonePolls makes every unfinished clone complete (or fail) after n
// more CloneStatus calls.
func (f *Backend) SetClonePolls(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ffs := range f.fss {
		for _, g := range ffs.groups {
			for _, sv := range g {
				if sv.clone != nil {
					sv.clone.pollsLeft = n
				}
			}
		}
	}
}
