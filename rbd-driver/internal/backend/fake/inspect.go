package fake

import (
	"errors"
	"sort"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

func isNotFound(err error) bool { return errors.Is(err, backend.ErrNotFound) }

// PoolContents is what a pool holds, for leftover checks.
type PoolContents struct {
	// Images are "namespace/name" of the live images.
	Images []string
	// Trash are the IDs of trashed images.
	Trash []string
	// Snapshots counts every snapshot (user and trash namespace).
	Snapshots int
	// JournalObjects are the omap objects of the journal stores.
	JournalObjects []string
	// Groups are the RBD groups (namespace/name) with their snapshots
	// (namespace/name@snap).
	Groups []string
}

// Empty reports whether nothing but empty journal directories is left.
func (c PoolContents) Empty() bool {
	return len(c.Images) == 0 && len(c.Trash) == 0 && c.Snapshots == 0 && len(c.JournalObjects) == 0 &&
		len(c.Groups) == 0
}

// Contents lists what pool holds on clusterID. Journal directory objects
// whose omap is empty do not count.
func (b *Backend) Contents(clusterID, poolName string) PoolContents {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out PoolContents
	p := b.clusters[clusterID].pools[poolName]
	for key, img := range p.images {
		out.Images = append(out.Images, key)
		out.Snapshots += len(img.snaps)
	}
	for id, img := range p.trash {
		out.Trash = append(out.Trash, id)
		out.Snapshots += len(img.snaps)
	}
	for key := range p.partials {
		out.Images = append(out.Images, key+" (half-made)")
	}
	for ns, st := range p.stores {
		out.JournalObjects = append(out.JournalObjects, nonEmptyObjects(st, ns)...)
	}
	out.Groups = p.groupContents()
	sort.Strings(out.Images)
	sort.Strings(out.Trash)
	return out
}

// AddWatcher makes the named image look mapped by a client at addr.
func (b *Backend) AddWatcher(clusterID string, ref backend.ImageRef, addr string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	img := b.clusters[clusterID].pools[ref.Pool].images[ref.Namespace+"/"+ref.Name]
	img.watchers = append(img.watchers, addr)
}

// ClearWatchers removes the watchers of the named image (the hook may call
// it: it takes the lock).
func (b *Backend) ClearWatchers(clusterID string, ref backend.ImageRef) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if img := b.clusters[clusterID].pools[ref.Pool].images[ref.Namespace+"/"+ref.Name]; img != nil {
		img.watchers = nil
	}
}

// ImageMetadata returns the metadata of an image ("" namespace key form
// "namespace/name"), or nil when it does not exist.
func (b *Backend) ImageMetadata(clusterID string, ref backend.ImageRef) map[string]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	img := b.clusters[clusterID].pools[ref.Pool].images[ref.Namespace+"/"+ref.Name]
	if img == nil {
		return nil
	}
	out := map[string]string{}
	for k, v := range img.metadata {
		out[k] = v
	}
	return out
}

// ImageInfo describes a live image for assertions.
type ImageInfo struct {
	Size     uint64
	Features []string
	DataPool string
	Depth    int
	// ObjectSize, StripeUnit and StripeCount are as requested (0: default).
	ObjectSize, StripeUnit, StripeCount uint64
}

// Image returns the description of a live image, or false.
func (b *Backend) Image(clusterID string, ref backend.ImageRef) (ImageInfo, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	img := b.clusters[clusterID].pools[ref.Pool].images[ref.Namespace+"/"+ref.Name]
	if img == nil {
		return ImageInfo{}, false
	}
	depth := 0
	for l := img.parent; l != nil; l = l.snap.parent {
		depth++
	}
	return ImageInfo{Size: img.size, Features: img.features, DataPool: img.dataPool, Depth: depth,
		ObjectSize: img.layout[0], StripeUnit: img.layout[1], StripeCount: img.layout[2]}, true
}
