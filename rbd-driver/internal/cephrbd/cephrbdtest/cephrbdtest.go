// Package cephrbdtest holds the real-cluster helpers of the rbd-driver's
// integration and conformance tests and of cmd/rbd-bench: a throw-away
// pool, an audit of what a pool holds, a client holding a watch on an
// image, and the bare librbd calls the benchmark compares the driver with.
// It is part of the go-ceph adapter (the only place that may import
// go-ceph).
package cephrbdtest

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/shared/testcluster"
)

// Admin is an administrator's connection to the cluster.
type Admin struct {
	conn *rados.Conn
}

// Close shuts the connection down.
func (a *Admin) Close() { a.conn.Shutdown() }

// Conn is an admin connection to the test cluster, shut down at the end of
// the test.
func Conn(t testing.TB, c *testcluster.Cluster) *Admin {
	t.Helper()
	a, err := Connect(c.Monitors, c.AdminID, c.AdminKey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

// Connect opens a connection as user id with key; Close it.
func Connect(monitors []string, id, key string) (*Admin, error) {
	conn, err := connect(monitors, id, key)
	if err != nil {
		return nil, err
	}
	return &Admin{conn: conn}, nil
}

// PoolID returns the ID of a pool.
func (a *Admin) PoolID(pool string) (int64, error) { return a.conn.GetPoolByName(pool) }

func connect(monitors []string, id, key string) (*rados.Conn, error) {
	conn, err := rados.NewConnWithUser(id)
	if err != nil {
		return nil, err
	}
	for k, v := range map[string]string{"mon_host": strings.Join(monitors, ","), "key": key,
		"keyring": "", "log_to_stderr": "false", "log_file": ""} {
		if err := conn.SetConfigOption(k, v); err != nil {
			conn.Shutdown()
			return nil, fmt.Errorf("set %s: %w", k, err)
		}
	}
	if err := conn.Connect(); err != nil {
		conn.Shutdown()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

func (a *Admin) monCommand(cmd map[string]any) error {
	body, err := json.Marshal(cmd)
	if err != nil {
		return err
	}
	_, info, err := a.conn.MonCommand(body)
	if err != nil {
		return fmt.Errorf("%v: %w: %s", cmd["prefix"], err, info)
	}
	return nil
}

// CreatePool creates an RBD pool of 8 PGs (rbd pool init), removing a
// leftover of an earlier run of the same name first.
func (a *Admin) CreatePool(t testing.TB, name string) {
	t.Helper()
	if err := a.MakePool(name); err != nil {
		t.Fatal(err)
	}
}

// MakePool is CreatePool for programs.
func (a *Admin) MakePool(name string) error {
	_ = a.DeletePool(name)
	if err := a.monCommand(map[string]any{"prefix": "osd pool create", "pool": name,
		"pg_num": 8, "pgp_num": 8}); err != nil {
		return err
	}
	// The client must see the new pool (not a deleted namesake) before
	// using it; a fresh pool may briefly answer ENOENT.
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = a.conn.WaitForLatestOSDMap(); err == nil {
			if err = a.initPool(name); err == nil {
				return a.waitActive(name, time.Minute)
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("rbd pool init %s: %w", name, err)
}

// waitActive waits until every PG of the pool is active+clean, so that
// the first measured operations do not wait for peering.
func (a *Admin) waitActive(pool string, timeout time.Duration) error {
	body, err := json.Marshal(map[string]string{"prefix": "pg ls-by-pool", "poolstr": pool, "format": "json"})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		out, info, err := a.conn.MonCommand(body)
		if err != nil {
			return fmt.Errorf("pg ls-by-pool %s: %w: %s", pool, err, info)
		}
		var pgs struct {
			Stats []struct {
				State string `json:"state"`
			} `json:"pg_stats"`
		}
		if err := json.Unmarshal(out, &pgs); err != nil {
			return err
		}
		clean := len(pgs.Stats) > 0
		for _, pg := range pgs.Stats {
			clean = clean && pg.State == "active+clean"
		}
		if clean {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pool %s: PGs not active+clean after %s", pool, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (a *Admin) initPool(name string) error {
	io, err := a.conn.OpenIOContext(name)
	if err != nil {
		return err
	}
	defer io.Destroy()
	return rbd.PoolInit(io, false)
}

// DeletePool removes a pool (the cluster allows pool deletion).
func (a *Admin) DeletePool(name string) error {
	return a.monCommand(map[string]any{"prefix": "osd pool rm", "pool": name, "pool2": name,
		"yes_i_really_really_mean_it": true})
}

// Contents is what a pool holds beyond its empty bookkeeping objects.
type Contents struct {
	// Images are the live images.
	Images []string
	// Trash are the trashed images' IDs.
	Trash []string
	// Tasks are the pending mgr rbd_support tasks.
	Tasks []string
	// Objects are the other objects: image data and headers, journal
	// UUID objects, journal directories with keys.
	Objects []string
}

// Empty reports whether the pool is back to its initial state.
func (c Contents) Empty() bool {
	return len(c.Images)+len(c.Trash)+len(c.Tasks)+len(c.Objects) == 0
}

func (c Contents) String() string {
	return fmt.Sprintf("images %v, trash %v, mgr tasks %v, objects %v", c.Images, c.Trash, c.Tasks, c.Objects)
}

// bookkeeping are objects librbd and the mgr leave behind, empty, once
// used; csi.volumes.*, csi.snaps.* and csi.groups.* directories and the
// RBD group directory count when they hold keys.
var bookkeeping = map[string]bool{"rbd_info": true, "rbd_directory": true, "rbd_trash": true,
	"rbd_children": true, "rbd_task": true, "rbd_mirroring": true, "rbd_group_directory": true}

// Audit lists what the pool's namespace ns holds.
func (a *Admin) Audit(pool, ns string) (Contents, error) {
	var c Contents
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return c, err
	}
	defer io.Destroy()
	io.SetNamespace(ns)
	if c.Images, err = rbd.GetImageNames(io); err != nil {
		return c, fmt.Errorf("list images: %w", err)
	}
	trash, err := rbd.GetTrashList(io)
	if err != nil {
		return c, fmt.Errorf("list trash: %w", err)
	}
	for _, e := range trash {
		c.Trash = append(c.Trash, e.Id+" ("+e.Name+")")
	}
	err = io.ListObjects(func(oid string) {
		c.Objects = append(c.Objects, oid)
	})
	if err != nil {
		return c, fmt.Errorf("list objects: %w", err)
	}
	c.Objects, c.Tasks = filterObjects(io, c.Objects)
	return c, nil
}

// filterObjects drops empty bookkeeping objects and reports the keys of
// the mgr task queue.
func filterObjects(io *rados.IOContext, oids []string) (objects, tasks []string) {
	for _, oid := range oids {
		isDir := strings.HasPrefix(oid, "csi.volumes.") || strings.HasPrefix(oid, "csi.snaps.") ||
			strings.HasPrefix(oid, "csi.groups.") || oid == "rbd_group_directory"
		if !bookkeeping[oid] && !isDir {
			objects = append(objects, oid)
			continue
		}
		keys, err := io.GetAllOmapValues(oid, "", "", 1000)
		if err != nil {
			objects = append(objects, oid+" (unreadable)")
			continue
		}
		for k := range keys {
			if oid == "rbd_task" {
				tasks = append(tasks, k)
			} else if isDir || oid == "rbd_children" {
				objects = append(objects, oid+"["+k+"]")
			}
		}
	}
	sort.Strings(objects)
	sort.Strings(tasks)
	return objects, tasks
}

// WaitEmpty polls the pool until it is empty (the mgr purges the trash in
// the background, retrying every 30s or more while snapshots remain) or
// the timeout passes, and returns the last audit.
func (a *Admin) WaitEmpty(pool, ns string, timeout time.Duration) (Contents, error) {
	deadline := time.Now().Add(timeout)
	for {
		c, err := a.Audit(pool, ns)
		if err != nil || c.Empty() || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(time.Second)
	}
}

// HoldImage opens an image read-write, which registers a watch on its
// header as a mapped image has, until the returned function is called.
func (a *Admin) HoldImage(t testing.TB, pool, ns, name string) (release func()) {
	t.Helper()
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		t.Fatal(err)
	}
	io.SetNamespace(ns)
	img, err := rbd.OpenImage(io, name, rbd.NoSnapshot)
	if err != nil {
		io.Destroy()
		t.Fatalf("open %s/%s: %v", pool, name, err)
	}
	done := false
	release = func() {
		if !done {
			done = true
			_ = img.Close()
			io.Destroy()
		}
	}
	t.Cleanup(release)
	return release
}

// Image describes an image for assertions.
type Image struct {
	Size      uint64
	HasParent bool
	Snapshots []string
	Metadata  map[string]string
	// ObjectSize, StripeUnit and StripeCount are the image's layout.
	ObjectSize, StripeUnit, StripeCount uint64
	// Features are the image's feature names.
	Features []string
}

// Describe opens an image read-only and describes it.
func (a *Admin) Describe(pool, ns, name string) (*Image, error) {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return nil, err
	}
	defer io.Destroy()
	io.SetNamespace(ns)
	img, err := rbd.OpenImageReadOnly(io, name, rbd.NoSnapshot)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	out := &Image{}
	if out.Size, err = img.GetSize(); err != nil {
		return nil, err
	}
	_, perr := img.GetParent()
	out.HasParent = perr == nil
	if err := describeLayout(img, out); err != nil {
		return nil, err
	}
	snaps, err := img.GetSnapshotNames()
	if err != nil {
		return nil, err
	}
	for _, s := range snaps {
		if ns, err := img.GetSnapNamespaceType(s.Id); err == nil && ns == rbd.SnapNamespaceTypeUser {
			out.Snapshots = append(out.Snapshots, s.Name)
		}
	}
	out.Metadata, err = img.ListMetadata()
	return out, err
}

// FlattenTasks lists the pending flatten tasks of the mgr for pool.
func (a *Admin) FlattenTasks(pool string) ([]string, error) {
	body, err := json.Marshal(map[string]string{"prefix": "rbd task list", "format": "json"})
	if err != nil {
		return nil, err
	}
	out, info, err := a.conn.MgrCommand([][]byte{body})
	if err != nil {
		return nil, fmt.Errorf("rbd task list: %w: %s", err, info)
	}
	var tasks []struct {
		Refs map[string]string `json:"refs"`
	}
	if err := json.Unmarshal(out, &tasks); err != nil {
		return nil, err
	}
	var names []string
	for _, task := range tasks {
		if task.Refs["action"] == "flatten" && task.Refs["pool_name"] == pool {
			names = append(names, task.Refs["image_name"])
		}
	}
	return names, nil
}

// WriteAt writes data to an image at off.
func (a *Admin) WriteAt(pool, ns, name string, off int64, data []byte) error {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return err
	}
	defer io.Destroy()
	io.SetNamespace(ns)
	img, err := rbd.OpenImage(io, name, rbd.NoSnapshot)
	if err != nil {
		return err
	}
	defer img.Close()
	_, err = img.WriteAt(data, off)
	return err
}

// ReadAt reads n bytes of an image at off.
func (a *Admin) ReadAt(pool, ns, name string, off int64, n int) ([]byte, error) {
	io, err := a.conn.OpenIOContext(pool)
	if err != nil {
		return nil, err
	}
	defer io.Destroy()
	io.SetNamespace(ns)
	img, err := rbd.OpenImageReadOnly(io, name, rbd.NoSnapshot)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	buf := make([]byte, n)
	_, err = img.ReadAt(buf, off)
	return buf, err
}

func describeLayout(img *rbd.Image, out *Image) error {
	info, err := img.Stat()
	if err != nil {
		return err
	}
	out.ObjectSize = info.Obj_size
	if out.StripeUnit, err = img.GetStripeUnit(); err != nil {
		return err
	}
	if out.StripeCount, err = img.GetStripeCount(); err != nil {
		return err
	}
	features, err := img.GetFeatures()
	set := rbd.FeatureSet(features)
	out.Features = set.Names()
	return err
}
