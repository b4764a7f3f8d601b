package journaltest

import (
	"context"
	"errors"
	"sync"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// ErrCrash is what CrashStore returns in place of the write it drops: the
// process "died" before that write reached RADOS.
var ErrCrash = errors.New("journaltest: simulated crash")

// CrashStore wraps a store and fails the Nth write (1-based) and every write
// after it without performing them, as if the process had been killed just
// before that write. Reads pass through. It works over any store, the real
// RADOS adapter included.
type CrashStore struct {
	journal.ObjectStore
	mu     sync.Mutex
	writes int
	failAt int
}

// NewCrashStore returns a store whose failAt-th write (and all later ones)
// fail with ErrCrash. failAt 0 never fails.
func NewCrashStore(inner journal.ObjectStore, failAt int) *CrashStore {
	return &CrashStore{ObjectStore: inner, failAt: failAt}
}

// Writes returns how many writes were attempted.
func (c *CrashStore) Writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes
}

func (c *CrashStore) write() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.failAt > 0 && c.writes >= c.failAt {
		return ErrCrash
	}
	return nil
}

// CreateWithOmap implements journal.ObjectStore.
func (c *CrashStore) CreateWithOmap(ctx context.Context, oid string, pairs map[string]string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ObjectStore.CreateWithOmap(ctx, oid, pairs)
}

// SetOmap implements journal.ObjectStore.
func (c *CrashStore) SetOmap(ctx context.Context, oid string, pairs map[string]string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ObjectStore.SetOmap(ctx, oid, pairs)
}

// UpdateOmap implements journal.ObjectStore.
func (c *CrashStore) UpdateOmap(ctx context.Context, oid string, pairs map[string]string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ObjectStore.UpdateOmap(ctx, oid, pairs)
}

// RemoveOmapKeys implements journal.ObjectStore.
func (c *CrashStore) RemoveOmapKeys(ctx context.Context, oid string, keys []string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ObjectStore.RemoveOmapKeys(ctx, oid, keys)
}

// Remove implements journal.ObjectStore.
func (c *CrashStore) Remove(ctx context.Context, oid string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.ObjectStore.Remove(ctx, oid)
}

// CountingStore counts the calls (round trips) made through it.
type CountingStore struct {
	journal.ObjectStore
	mu    sync.Mutex
	calls int
}

// Reset zeroes the counter.
func (c *CountingStore) Reset() { c.mu.Lock(); c.calls = 0; c.mu.Unlock() }

// Calls returns the number of calls since the last Reset.
func (c *CountingStore) Calls() int { c.mu.Lock(); defer c.mu.Unlock(); return c.calls }

func (c *CountingStore) count() { c.mu.Lock(); c.calls++; c.mu.Unlock() }

// GetOmapValues implements journal.ObjectStore.
func (c *CountingStore) GetOmapValues(ctx context.Context, oid string, keys []string) (map[string]string, error) {
	c.count()
	return c.ObjectStore.GetOmapValues(ctx, oid, keys)
}

// ListOmap implements journal.ObjectStore.
func (c *CountingStore) ListOmap(ctx context.Context, oid, prefix string) (map[string]string, error) {
	c.count()
	return c.ObjectStore.ListOmap(ctx, oid, prefix)
}

// ListOmapAfter implements journal.PagedStore (through ListOmap when the
// wrapped store does not).
func (c *CountingStore) ListOmapAfter(ctx context.Context, oid, prefix, startAfter string, max int) ([]journal.KV, error) {
	c.count()
	if ps, ok := c.ObjectStore.(journal.PagedStore); ok {
		return ps.ListOmapAfter(ctx, oid, prefix, startAfter, max)
	}
	all, err := c.ObjectStore.ListOmap(ctx, oid, prefix)
	if err != nil {
		return nil, err
	}
	return journal.SlicePairs(all, startAfter, max), nil
}

// CreateWithOmap implements journal.ObjectStore.
func (c *CountingStore) CreateWithOmap(ctx context.Context, oid string, pairs map[string]string) error {
	c.count()
	return c.ObjectStore.CreateWithOmap(ctx, oid, pairs)
}

// SetOmap implements journal.ObjectStore.
func (c *CountingStore) SetOmap(ctx context.Context, oid string, pairs map[string]string) error {
	c.count()
	return c.ObjectStore.SetOmap(ctx, oid, pairs)
}

// UpdateOmap implements journal.ObjectStore.
func (c *CountingStore) UpdateOmap(ctx context.Context, oid string, pairs map[string]string) error {
	c.count()
	return c.ObjectStore.UpdateOmap(ctx, oid, pairs)
}

// RemoveOmapKeys implements journal.ObjectStore.
func (c *CountingStore) RemoveOmapKeys(ctx context.Context, oid string, keys []string) error {
	c.count()
	return c.ObjectStore.RemoveOmapKeys(ctx, oid, keys)
}

// Remove implements journal.ObjectStore.
func (c *CountingStore) Remove(ctx context.Context, oid string) error {
	c.count()
	return c.ObjectStore.Remove(ctx, oid)
}

// ListObjects implements journal.ObjectStore.
func (c *CountingStore) ListObjects(ctx context.Context, prefix string) ([]string, error) {
	c.count()
	return c.ObjectStore.ListObjects(ctx, prefix)
}
