package cephrbdtest

import (
	"encoding/json"
	"fmt"

	"github.com/ceph/go-ceph/rbd"
)

// Ceph Pacific keeps a watch for ever when its client is killed while the
// OSD still applies the watch op (https://tracker.ceph.com/issues/58120,
// fixed in Quincy and Reef): the watcher is written to the header's object
// info, but with the client's session gone the OSD never arms the watch's
// timeout. `rbd status` lists it, librbd refuses to remove the image, and
// neither the watch timeout nor `ceph osd blocklist add` clears it. The
// OSD tracks such a watch nowhere in memory (`ceph tell osd.N
// dump_watchers` does not list it); once the object's context is loaded
// again (`ceph tell osd.N cache drop`, an OSD restart) the OSD arms the
// timeout and the watch goes 30 s later. A test that SIGKILLs a driver at a
// random instant hits this now and then; it clears such watches as an
// operator would (README: "A watcher that never goes away").

// StaleWatch is a watch on an image that the OSD lists in the header's
// object info but holds no watch for.
type StaleWatch struct {
	Image  string
	Addr   string
	Client int64
	Cookie uint64
}

func (w StaleWatch) String() string {
	return fmt.Sprintf("%s: client.%d at %s (cookie %d)", w.Image, w.Client, w.Addr, w.Cookie)
}

// watchKey names one watch: the object, the client and its cookie.
type watchKey struct {
	object string
	client int64
	cookie uint64
}

// liveWatches returns the watches osd.0 holds in memory (test/cluster.sh
// runs one OSD).
func (a *Admin) liveWatches() (map[watchKey]bool, error) {
	out, info, err := a.conn.OsdCommand(0, [][]byte{[]byte(`{"prefix":"dump_watchers","format":"json"}`)})
	if err != nil {
		return nil, fmt.Errorf("tell osd.0 dump_watchers: %w: %s", err, info)
	}
	var dump []struct {
		Object string `json:"object"`
		Entity struct {
			Num int64 `json:"num"`
		} `json:"entity_name"`
		Cookie uint64 `json:"cookie"`
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		return nil, fmt.Errorf("tell osd.0 dump_watchers: %w", err)
	}
	live := make(map[watchKey]bool, len(dump))
	for _, w := range dump {
		live[watchKey{w.Object, w.Entity.Num, w.Cookie}] = true
	}
	return live, nil
}

// StaleWatches lists the watches on the images of pool (default namespace)
// that osd.0 does not hold in memory. A watch being registered this very
// moment can be listed too: call it twice, some seconds apart, and trust
// only what both calls list.
func (a *Admin) StaleWatches(pool string) ([]StaleWatch, error) {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return nil, err
	}
	defer io.Destroy()
	names, err := rbd.GetImageNames(io)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	live, err := a.liveWatches()
	if err != nil {
		return nil, err
	}
	var stale []StaleWatch
	for _, name := range names {
		img, err := rbd.OpenImageReadOnly(io, name, rbd.NoSnapshot)
		if err != nil {
			continue // removed meanwhile, or half-made
		}
		id, idErr := img.GetId()
		ws, wErr := img.ListWatchers()
		_ = img.Close()
		if idErr != nil || wErr != nil {
			continue
		}
		for _, w := range ws {
			if !live[watchKey{"rbd_header." + id, w.Id, w.Cookie}] {
				stale = append(stale, StaleWatch{Image: name, Addr: w.Addr, Client: w.Id, Cookie: w.Cookie})
			}
		}
	}
	return stale, nil
}

// DropOSDCache has osd.0 load its object contexts again
// (`ceph tell osd.0 cache drop`), which arms the timeout of stale watches.
func (a *Admin) DropOSDCache() error {
	_, info, err := a.conn.OsdCommand(0, [][]byte{[]byte(`{"prefix":"cache drop"}`)})
	if err != nil {
		return fmt.Errorf("tell osd.0 cache drop: %w: %s", err, info)
	}
	return nil
}

// Watchers lists the addresses of the watchers on an image of pool (read
// through a read-only open, which registers no watch).
func (a *Admin) Watchers(pool, image string) ([]string, error) {
	var addrs []string
	err := a.withImageRO(pool, "", image, func(img *rbd.Image) error {
		ws, err := img.ListWatchers()
		for _, w := range ws {
			addrs = append(addrs, w.Addr)
		}
		return err
	})
	return addrs, err
}
