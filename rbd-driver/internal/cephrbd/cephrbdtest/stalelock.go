package cephrbdtest

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
)

// PlantOwnStaleLock leaves on an image the managed exclusive lock that a
// close during an OSD outage leaves behind: owned by conn (the driver's
// own pooled connection), tag "internal", cookie "auto <handle>" of a
// handle that does not exist, so that no watch backs it. librbd refuses to
// break such a lock for another handle of the same connection (it would
// blocklist itself) and answers EROFS.
func PlantOwnStaleLock(conn *cephconn.Conn, pool, image string) error {
	io, err := conn.OpenIOContext(pool)
	if err != nil {
		return err
	}
	defer io.Destroy()
	img, err := rbd.OpenImageReadOnly(io, image, rbd.NoSnapshot)
	if err != nil {
		return err
	}
	id, err := img.GetId()
	img.Close()
	if err != nil {
		return err
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	op.Exec("lock", "lock", lockOp("rbd_lock", "auto 1", "internal"))
	if err := op.Operate(io, "rbd_header."+id, rados.OperationNoFlag); err != nil {
		return fmt.Errorf("lock rbd_header.%s: %w", id, err)
	}
	return nil
}

// Lockers returns the clients holding a lock on an image ("client.N").
func (a *Admin) Lockers(pool, image string) ([]string, error) {
	var out []string
	err := a.withImageRO(pool, "", image, func(img *rbd.Image) error {
		_, ls, err := img.ListLockers()
		for _, l := range ls {
			out = append(out, l.Client+" "+l.Cookie)
		}
		return err
	})
	return out, err
}

// lockOp encodes cls_lock_lock_op (version 1): name, type (1: exclusive),
// cookie, tag, description, duration (utime_t 0: forever), flags.
func lockOp(name, cookie, tag string) []byte {
	var b []byte
	str := func(s string) {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	str(name)
	b = append(b, 1)
	str(cookie)
	str(tag)
	str("")
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = append(b, 0)
	head := []byte{1, 1}
	head = binary.LittleEndian.AppendUint32(head, uint32(len(b)))
	return append(head, b...)
}

// DefaultFeatures returns the cluster's rbd_default_features as names: what
// librbd gives an image created without features.
func (a *Admin) DefaultFeatures() ([]string, error) {
	v, err := a.conn.GetConfigOption("rbd_default_features")
	if err != nil {
		return nil, err
	}
	if n, perr := strconv.ParseUint(strings.TrimSpace(v), 10, 64); perr == nil {
		set := rbd.FeatureSet(n)
		return set.Names(), nil
	}
	var names []string
	for _, f := range strings.Split(v, ",") {
		names = append(names, strings.TrimSpace(f))
	}
	return names, nil
}
