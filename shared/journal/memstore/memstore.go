// Package memstore is an in-memory journal.ObjectStore with the same
// semantics as the RADOS adapter: for fast unit tests and fault injection.
package memstore

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

// Store is an in-memory pool namespace. The zero value is not usable; call New.
type Store struct {
	mu      sync.Mutex
	objects map[string]map[string]string
	// meta holds the data, extended attributes and version of objects
	// written through the journal.VersionedStore methods.
	meta map[string]*objectMeta
}

var _ journal.ObjectStore = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{objects: map[string]map[string]string{}, meta: map[string]*objectMeta{}}
}

// GetOmapValues implements journal.ObjectStore.
func (s *Store) GetOmapValues(_ context.Context, oid string, keys []string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[oid]
	if !ok {
		return nil, journal.ErrObjectNotFound
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if v, ok := obj[k]; ok {
			out[k] = v
		}
	}
	return out, nil
}

// ListOmap implements journal.ObjectStore.
func (s *Store) ListOmap(_ context.Context, oid, prefix string) (map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[oid]
	if !ok {
		return nil, journal.ErrObjectNotFound
	}
	out := map[string]string{}
	for k, v := range obj {
		if strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out, nil
}

// CreateWithOmap implements journal.ObjectStore.
func (s *Store) CreateWithOmap(_ context.Context, oid string, pairs map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[oid]; ok {
		return journal.ErrObjectExists
	}
	s.objects[oid] = copyMap(pairs)
	return nil
}

// SetOmap implements journal.ObjectStore.
func (s *Store) SetOmap(_ context.Context, oid string, pairs map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[oid]
	if !ok {
		obj = map[string]string{}
		s.objects[oid] = obj
	}
	for k, v := range pairs {
		obj[k] = v
	}
	return nil
}

// UpdateOmap implements journal.ObjectStore.
func (s *Store) UpdateOmap(_ context.Context, oid string, pairs map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[oid]
	if !ok {
		return journal.ErrObjectNotFound
	}
	for k, v := range pairs {
		obj[k] = v
	}
	return nil
}

// RemoveOmapKeys implements journal.ObjectStore.
func (s *Store) RemoveOmapKeys(_ context.Context, oid string, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	obj, ok := s.objects[oid]
	if !ok {
		return nil
	}
	for _, k := range keys {
		delete(obj, k)
	}
	return nil
}

// Remove implements journal.ObjectStore.
func (s *Store) Remove(_ context.Context, oid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, oid)
	delete(s.meta, oid)
	return nil
}

// ListObjects implements journal.ObjectStore.
func (s *Store) ListObjects(_ context.Context, prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name := range s.objects {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names, nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ListOmapAfter implements journal.PagedStore.
func (s *Store) ListOmapAfter(ctx context.Context, oid, prefix, startAfter string, max int) ([]journal.KV, error) {
	all, err := s.ListOmap(ctx, oid, prefix)
	if err != nil {
		return nil, err
	}
	return journal.SlicePairs(all, startAfter, max), nil
}
