package memstore

import (
	"context"

	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

var _ journal.VersionedStore = (*Store)(nil)

// objectMeta is what RADOS keeps beside the omap. Only the versioned
// methods change versions; the journal.ObjectStore methods leave them.
type objectMeta struct {
	version uint64
	data    []byte
	xattrs  map[string][]byte
}

// ReadVersioned implements journal.VersionedStore.
func (s *Store) ReadVersioned(_ context.Context, oid, xattr string, dataLen int, keys []string) (*journal.VersionedObject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	omap, ok := s.objects[oid]
	if !ok {
		return nil, journal.ErrObjectNotFound
	}
	m := s.metaOf(oid)
	obj := &journal.VersionedObject{Version: m.version, Xattr: append([]byte(nil), m.xattrs[xattr]...),
		Data: append([]byte(nil), m.data[:min(dataLen, len(m.data))]...), Omap: map[string][]byte{}}
	for k, v := range omap {
		if keys == nil {
			obj.Omap[k] = []byte(v)
		}
	}
	for _, k := range keys {
		if v, ok := omap[k]; ok {
			obj.Omap[k] = []byte(v)
		}
	}
	return obj, nil
}

// metaOf returns oid's metadata, creating it. s.mu held.
func (s *Store) metaOf(oid string) *objectMeta {
	m, ok := s.meta[oid]
	if !ok {
		m = &objectMeta{version: 1, xattrs: map[string][]byte{}}
		s.meta[oid] = m
	}
	return m
}

// CreateVersioned implements journal.VersionedStore.
func (s *Store) CreateVersioned(_ context.Context, oid, xattr string, xattrValue, data []byte, omap map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[oid]; ok {
		return journal.ErrObjectExists
	}
	pairs := make(map[string]string, len(omap))
	for k, v := range omap {
		pairs[k] = string(v)
	}
	s.objects[oid] = pairs
	s.meta[oid] = &objectMeta{version: 1, data: append([]byte(nil), data...),
		xattrs: map[string][]byte{xattr: append([]byte(nil), xattrValue...)}}
	return nil
}

// WriteVersioned implements journal.VersionedStore.
func (s *Store) WriteVersioned(_ context.Context, oid string, version uint64, w journal.VersionedWrite) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	omap, ok := s.objects[oid]
	if !ok || s.metaOf(oid).version != version {
		return journal.ErrVersionChanged
	}
	if w.Delete {
		delete(s.objects, oid)
		delete(s.meta, oid)
		return nil
	}
	m := s.meta[oid]
	m.version++
	m.data = append([]byte(nil), w.Data...)
	for _, k := range w.Remove {
		delete(omap, k)
	}
	for k, v := range w.Set {
		omap[k] = string(v)
	}
	return nil
}
