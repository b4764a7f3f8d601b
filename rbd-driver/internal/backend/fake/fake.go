// Package fake is an in-memory backend.Backend with the semantics of the
// go-ceph adapter (clone v2, trash namespace snapshots, the RBD trash and
// mgr tasks), for fast unit tests of the controller and fault injection.
package fake

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
	"github.com/seed-6a310834/ceph-csi/shared/journal/memstore"
)

// Backend is the in-memory backend. Create it with New; it is safe for
// concurrent use.
type Backend struct {
	mu       sync.Mutex
	clusters map[string]*cluster
	nextID   int
	hook     func(op string) error
	after    func(op string) error
	calls    map[string]int
	// mgrDown makes every mgr task request fail with ErrUnavailable.
	mgrDown bool
	tasks   []task
	// now is the clock of image creation times; time.Now when nil.
	now func() time.Time
}

type cluster struct {
	pools     map[string]*pool
	avail     int64
	nextPool  int64
	connected bool
}

type pool struct {
	id     int64
	name   string
	images map[string]*image // key: namespace + "/" + name
	trash  map[string]*image // key: ID
	// partials are half-made images (key: namespace + "/" + name).
	partials map[string]backend.PartialImage
	stores   map[string]*memstore.Store
	// groups are the RBD groups (key: namespace + "/" + name).
	groups map[string]*group
}

type image struct {
	id, name, ns string
	size         uint64
	features     []string
	dataPool     string
	layout       [3]uint64 // object size, stripe unit, stripe count
	parent       *link
	snaps        []*snap
	watchers     []string
	metadata     map[string]string
	pool         *pool
	created      time.Time
}

// link is a clone's reference to its parent snapshot.
type link struct {
	img  *image
	snap *snap
}

type snap struct {
	id       uint64
	name     string
	size     uint64
	trash    bool
	children int
	parent   *link // the image's parent when the snapshot was taken
}

type task struct {
	kind string // "flatten" or "trash remove"
	pool *pool
	id   string // image ID
}

var _ backend.Backend = (*Backend)(nil)

// New returns an empty backend.
func New() *Backend {
	return &Backend{clusters: map[string]*cluster{}, calls: map[string]int{}}
}

// AddCluster registers a cluster with the given pools; availBytes is what
// AvailableBytes reports for each pool and the cluster.
func (b *Backend) AddCluster(clusterID string, availBytes int64, pools ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &cluster{pools: map[string]*pool{}, avail: availBytes, nextPool: 1}
	b.clusters[clusterID] = c
	for _, p := range pools {
		c.pools[p] = &pool{id: c.nextPool, name: p, images: map[string]*image{},
			trash: map[string]*image{}, stores: map[string]*memstore.Store{},
			partials: map[string]backend.PartialImage{}, groups: map[string]*group{}}
		c.nextPool++
	}
}

// SetHook installs a function called at the start of every backend call
// with the operation's name (e.g. "CreateImage"); a non-nil error is
// returned by the call. The hook may block to simulate a slow cluster.
func (b *Backend) SetHook(h func(op string) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hook = h
}

// SetAfterHook installs a function called after every backend call has
// taken effect; a non-nil error replaces the call's result, as when the
// cluster did the work but the reply was lost.
func (b *Backend) SetAfterHook(h func(op string) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.after = h
}

// SetClock sets the clock of image creation times.
func (b *Backend) SetClock(now func() time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = now
}

func (b *Backend) clock() time.Time {
	if b.now == nil {
		return time.Now()
	}
	return b.now()
}

// SetMgrDown makes the mgr refuse (or again accept) tasks.
func (b *Backend) SetMgrDown(down bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.mgrDown = down
}

// Calls returns how often op was called.
func (b *Backend) Calls(op string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.calls[op]
}

// Connections reports whether Connect was ever called for clusterID.
func (b *Backend) Connections(clusterID string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.clusters[clusterID]
	return c != nil && c.connected
}

// Connect implements backend.Backend.
func (b *Backend) Connect(ctx context.Context, t backend.Target) (backend.Session, error) {
	if err := b.enter(ctx, "Connect"); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.clusters[t.ClusterID]
	if !ok {
		return nil, fmt.Errorf("cluster %q: %w", t.ClusterID, backend.ErrUnavailable)
	}
	c.connected = true
	return &session{b: b, c: c}, nil
}

// leave runs the after-hook.
func (b *Backend) leave(op string, err error) error {
	b.mu.Lock()
	h := b.after
	b.mu.Unlock()
	if err == nil && h != nil {
		return h(op)
	}
	return err
}

// enter counts the call and runs the hook outside the lock.
func (b *Backend) enter(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	b.calls[op]++
	h := b.hook
	b.mu.Unlock()
	if h != nil {
		return h(op)
	}
	return nil
}

func (b *Backend) newID() string {
	b.nextID++
	return fmt.Sprintf("%012x", b.nextID)
}

// RunTasks runs every queued mgr task once, as the rbd_support module
// would, and keeps the ones that failed (a trash remove of an image that
// still has snapshots) for the next run. It returns how many completed.
func (b *Backend) RunTasks() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var left []task
	done := 0
	for _, t := range b.tasks {
		if b.runTask(t) {
			done++
		} else {
			left = append(left, t)
		}
	}
	b.tasks = left
	return done
}

// addTask queues t unless the same task is queued, as the mgr does.
func (b *Backend) addTask(t task) {
	for _, q := range b.tasks {
		if q == t {
			return
		}
	}
	b.tasks = append(b.tasks, t)
}

// PendingTasks returns the queued mgr tasks as "kind pool/id" strings.
func (b *Backend) PendingTasks() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, 0, len(b.tasks))
	for _, t := range b.tasks {
		out = append(out, t.kind+" "+t.pool.name+"/"+t.id)
	}
	sort.Strings(out)
	return out
}

func (b *Backend) runTask(t task) bool {
	switch t.kind {
	case "flatten":
		if img := t.pool.byID(t.id); img != nil {
			img.flatten()
		}
		return true
	default:
		img, ok := t.pool.trash[t.id]
		if !ok {
			return true
		}
		return img.pool.removeTrashed(img)
	}
}

func (p *pool) byID(id string) *image {
	for _, img := range p.images {
		if img.id == id {
			return img
		}
	}
	return p.trash[id]
}

func (p *pool) store(ns string) *memstore.Store {
	s, ok := p.stores[ns]
	if !ok {
		s = memstore.New()
		p.stores[ns] = s
	}
	return s
}

// removeTrashed removes a trashed image without snapshots and detaches it
// from its parent. It reports false when snapshots remain.
func (p *pool) removeTrashed(img *image) bool {
	if len(img.snaps) > 0 {
		return false
	}
	delete(p.trash, img.id)
	img.detach()
	return true
}

// detach drops the image's head link to its parent (flatten or removal).
func (img *image) detach() {
	l := img.parent
	img.parent = nil
	img.release(l)
}

func (img *image) flatten() {
	img.detach()
}

// release drops a reference to link l once neither the head nor any
// snapshot of img uses it, removing a trashed parent snapshot that loses its
// last child, as librbd does for clone v2.
func (img *image) release(l *link) {
	if l == nil || img.parent == l {
		return
	}
	for _, s := range img.snaps {
		if s.parent == l {
			return
		}
	}
	l.snap.children--
	if l.snap.trash && l.snap.children == 0 {
		l.img.dropSnap(l.snap)
	}
}

func (img *image) dropSnap(s *snap) {
	for i, x := range img.snaps {
		if x == s {
			img.snaps = append(img.snaps[:i], img.snaps[i+1:]...)
			img.release(s.parent)
			return
		}
	}
}

var _ journal.ObjectStore = (*memstore.Store)(nil)
