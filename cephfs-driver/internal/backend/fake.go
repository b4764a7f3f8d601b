package backend

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// Fake is an in-memory Backend with Ceph's semantics as documented on the
// interface, for unit tests. It is safe for concurrent use.
type Fake struct {
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
	fs     FileSystem
	groups map[string]map[string]*fakeSubvolume
	avail  int64
}

type fakeSubvolume struct {
	path      string
	state     SubvolumeState
	quota     int64
	pool      string
	created   time.Time
	snapshots map[string]time.Time
	clone     *fakeClone
}

type fakeClone struct {
	src       SnapshotRef
	pollsLeft int
	failure   string
}

var _ Backend = (*Fake)(nil)

// NewFake returns a fake with no file systems.
func NewFake() *Fake {
	return &Fake{fss: map[string]*fakeFS{}, calls: map[string]int{}, Errors: map[string]error{}, Now: time.Now}
}

// AddFileSystem adds a file system with metadata pool <name>.meta and data
// pool <name>.data holding avail free bytes.
func (f *Fake) AddFileSystem(name string, id int64, avail int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fss[name] = &fakeFS{
		fs:     FileSystem{Name: name, ID: id, MetadataPool: name + ".meta", DataPools: []string{name + ".data"}},
		groups: map[string]map[string]*fakeSubvolume{},
		avail:  avail,
	}
}

// Calls returns how many times the named method was called.
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

// begin counts a call and returns the injected error, if any. f.mu held.
func (f *Fake) begin(ctx context.Context, method string) error {
	f.calls[method]++
	if err := ctx.Err(); err != nil {
		return err
	}
	return f.Errors[method]
}

func fakeErr(op, obj string, kind error) error {
	return &Error{Op: op, Object: obj, Kind: kind, Err: kind}
}

func (f *Fake) group(op, fs, group string) (map[string]*fakeSubvolume, error) {
	ffs, ok := f.fss[fs]
	if !ok {
		return nil, fakeErr(op, fs, ErrNotFound)
	}
	g, ok := ffs.groups[group]
	if !ok {
		return nil, fakeErr(op, fs+"/"+group, ErrNotFound)
	}
	return g, nil
}

func (f *Fake) subvolume(op string, ref SubvolumeRef) (*fakeSubvolume, error) {
	g, err := f.group(op, ref.FS, ref.Group)
	if err != nil {
		return nil, err
	}
	sv, ok := g[ref.Name]
	if !ok {
		return nil, fakeErr(op, ref.String(), ErrNotFound)
	}
	return sv, nil
}

// FileSystems implements Backend.
func (f *Fake) FileSystems(ctx context.Context) ([]FileSystem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "FileSystems"); err != nil {
		return nil, err
	}
	out := make([]FileSystem, 0, len(f.fss))
	for _, ffs := range f.fss {
		fs := ffs.fs
		fs.DataPools = slices.Clone(fs.DataPools)
		out = append(out, fs)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// CreateGroup implements Backend.
func (f *Fake) CreateGroup(ctx context.Context, fs, group string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateGroup"); err != nil {
		return err
	}
	ffs, ok := f.fss[fs]
	if !ok {
		return fakeErr("create group", fs, ErrNotFound)
	}
	if _, ok := ffs.groups[group]; !ok {
		ffs.groups[group] = map[string]*fakeSubvolume{}
	}
	return nil
}

// RemoveGroup implements Backend.
func (f *Fake) RemoveGroup(ctx context.Context, fs, group string) error {
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
		return fakeErr("remove group", fs+"/"+group, ErrBusy)
	}
	delete(f.fss[fs].groups, group)
	return nil
}

// CreateSubvolume implements Backend.
func (f *Fake) CreateSubvolume(ctx context.Context, ref SubvolumeRef, opts CreateOptions) error {
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
		return fakeErr("create subvolume", ref.String(), ErrInvalid)
	}
	if sv, ok := g[ref.Name]; ok {
		sv.quota = opts.Size
		return nil
	}
	g[ref.Name] = f.newSubvolume(ref, opts.Size, opts.Pool)
	return nil
}

func (f *Fake) newSubvolume(ref SubvolumeRef, quota int64, pool string) *fakeSubvolume {
	if pool == "" {
		pool = f.fss[ref.FS].fs.DataPools[0]
	}
	return &fakeSubvolume{
		path:      fmt.Sprintf("/volumes/%s/%s/%08x", ref.Group, ref.Name, len(ref.Name)*7919),
		state:     StateComplete,
		quota:     quota,
		pool:      pool,
		created:   f.Now(),
		snapshots: map[string]time.Time{},
	}
}

// SubvolumePath implements Backend.
func (f *Fake) SubvolumePath(ctx context.Context, ref SubvolumeRef) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "SubvolumePath"); err != nil {
		return "", err
	}
	sv, err := f.subvolume("subvolume getpath", ref)
	if err != nil {
		return "", err
	}
	if sv.state == StateRetained {
		return "", fakeErr("subvolume getpath", ref.String(), ErrNotFound)
	}
	return sv.path, nil
}

// SubvolumeInfo implements Backend.
func (f *Fake) SubvolumeInfo(ctx context.Context, ref SubvolumeRef) (*SubvolumeInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "SubvolumeInfo"); err != nil {
		return nil, err
	}
	sv, err := f.subvolume("subvolume info", ref)
	if err != nil {
		return nil, err
	}
	if sv.state == StateRetained {
		return &SubvolumeInfo{State: StateRetained}, nil
	}
	return &SubvolumeInfo{Path: sv.path, State: sv.state, Quota: sv.quota, DataPool: sv.pool, CreatedAt: sv.created}, nil
}

// ResizeSubvolume implements Backend.
func (f *Fake) ResizeSubvolume(ctx context.Context, ref SubvolumeRef, size int64) error {
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
func (f *Fake) RemoveSubvolume(ctx context.Context, ref SubvolumeRef, force bool) error {
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
		case StatePending, StateCloning:
			return fakeErr("subvolume rm", ref.String(), ErrBusy)
		case StateFailed, StateCancelled:
			if !force {
				return fakeErr("subvolume rm", ref.String(), ErrBusy)
			}
		}
	}
	if len(sv.snapshots) > 0 {
		sv.state = StateRetained
		return nil
	}
	delete(f.fss[ref.FS].groups[ref.Group], ref.Name)
	return nil
}

// ListSubvolumes implements Backend.
func (f *Fake) ListSubvolumes(ctx context.Context, fs, group string) ([]string, error) {
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
func (f *Fake) CreateSnapshot(ctx context.Context, ref SnapshotRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CreateSnapshot"); err != nil {
		return err
	}
	sv, err := f.subvolume("snapshot create", ref.SubvolumeRef)
	if err != nil {
		return err
	}
	if sv.state == StateRetained {
		return fakeErr("snapshot create", ref.String(), ErrNotFound)
	}
	if _, ok := sv.snapshots[ref.Snapshot]; !ok {
		sv.snapshots[ref.Snapshot] = f.Now()
	}
	return nil
}

// SnapshotInfo implements Backend.
func (f *Fake) SnapshotInfo(ctx context.Context, ref SnapshotRef) (*SnapshotInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "SnapshotInfo"); err != nil {
		return nil, err
	}
	sv, err := f.subvolume("snapshot info", ref.SubvolumeRef)
	if err != nil {
		return nil, err
	}
	created, ok := sv.snapshots[ref.Snapshot]
	if !ok {
		return nil, fakeErr("snapshot info", ref.String(), ErrNotFound)
	}
	return &SnapshotInfo{CreatedAt: created, HasPendingClones: f.pendingClones(ref)}, nil
}

// pendingClones reports clones of ref that are not finished. f.mu held.
func (f *Fake) pendingClones(ref SnapshotRef) bool {
	for _, g := range f.fss[ref.FS].groups {
		for _, sv := range g {
			if sv.clone != nil && sv.clone.src == ref && (sv.state == StatePending || sv.state == StateCloning) {
				return true
			}
		}
	}
	return false
}

// RemoveSnapshot implements Backend.
func (f *Fake) RemoveSnapshot(ctx context.Context, ref SnapshotRef) error {
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
		return fakeErr("snapshot rm", ref.String(), ErrBusy)
	}
	delete(sv.snapshots, ref.Snapshot)
	if sv.state == StateRetained && len(sv.snapshots) == 0 {
		delete(f.fss[ref.FS].groups[ref.Group], ref.Name)
	}
	return nil
}

// ListSnapshots implements Backend.
func (f *Fake) ListSnapshots(ctx context.Context, ref SubvolumeRef) ([]string, error) {
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
func (f *Fake) CloneSnapshot(ctx context.Context, src SnapshotRef, target, pool string) error {
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
		return fakeErr("snapshot clone", src.String(), ErrNotFound)
	}
	g := f.fss[src.FS].groups[src.Group]
	if _, ok := g[target]; ok {
		return fakeErr("snapshot clone", target, ErrExists)
	}
	if pool == "" {
		pool = sv.pool
	}
	clone := f.newSubvolume(SubvolumeRef{FS: src.FS, Group: src.Group, Name: target}, sv.quota, pool)
	clone.state = StatePending
	clone.clone = &fakeClone{src: src, pollsLeft: f.ClonePolls, failure: f.FailClone}
	g[target] = clone
	return nil
}

// CloneStatus implements Backend.
func (f *Fake) CloneStatus(ctx context.Context, ref SubvolumeRef) (*CloneStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CloneStatus"); err != nil {
		return nil, err
	}
	sv, err := f.subvolume("clone status", ref)
	if err != nil {
		return nil, err
	}
	if sv.clone == nil {
		return &CloneStatus{State: CloneComplete}, nil
	}
	f.advance(sv)
	st := &CloneStatus{State: CloneState(sv.state)}
	if sv.state == StateFailed {
		st.Failure = sv.clone.failure
	}
	return st, nil
}

// advance moves a clone on by one poll. f.mu held.
func (f *Fake) advance(sv *fakeSubvolume) {
	if sv.state != StatePending && sv.state != StateCloning {
		return
	}
	if sv.clone.pollsLeft > 0 {
		sv.clone.pollsLeft--
		sv.state = StateCloning
		return
	}
	if sv.clone.failure != "" {
		sv.state = StateFailed
		return
	}
	sv.state = StateComplete
}

// CancelClone implements Backend.
func (f *Fake) CancelClone(ctx context.Context, ref SubvolumeRef) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "CancelClone"); err != nil {
		return err
	}
	sv, err := f.subvolume("clone cancel", ref)
	if err != nil || sv.clone == nil {
		return nil
	}
	if sv.state == StatePending || sv.state == StateCloning {
		sv.state = StateCancelled
	}
	return nil
}

// PoolUsage implements Backend.
func (f *Fake) PoolUsage(ctx context.Context, fs, pool string) (*PoolUsage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.begin(ctx, "PoolUsage"); err != nil {
		return nil, err
	}
	ffs, ok := f.fss[fs]
	if !ok || !slices.Contains(ffs.fs.DataPools, pool) {
		return nil, fakeErr("pool usage", fs+"/"+pool, ErrNotFound)
	}
	return &PoolUsage{Available: ffs.avail}, nil
}

// FakeConnector hands out sessions over a Fake and in-memory journal
// stores (one per pool and namespace, kept across sessions).
type FakeConnector struct {
	Backend *Fake
	// Err, when set, fails every Connect.
	Err error

	mu       sync.Mutex
	stores   map[string]*memstore.Store
	sessions int
}

var _ Connector = (*FakeConnector)(nil)

// NewFakeConnector returns a connector over b.
func NewFakeConnector(b *Fake) *FakeConnector {
	return &FakeConnector{Backend: b, stores: map[string]*memstore.Store{}}
}

// Store returns the journal store of pool and namespace.
func (c *FakeConnector) Store(pool, namespace string) *memstore.Store {
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
func (c *FakeConnector) OpenSessions() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sessions
}

// Connect implements Connector.
func (c *FakeConnector) Connect(ctx context.Context, t Target) (Session, error) {
	if c.Err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConnect, c.Err)
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
	c    *FakeConnector
	once sync.Once
}

func (s *fakeSession) Backend() Backend { return s.c.Backend }

func (s *fakeSession) ObjectStore(pool, namespace string) (journal.ObjectStore, func(), error) {
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
func (f *Fake) SetClonePolls(n int) {
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
