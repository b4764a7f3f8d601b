// Package cephfstest holds real-cluster fixtures of the cephfs-driver's
// tests that need more than the mgr's commands. It is part of the go-ceph
// adapter (the only place that may import go-ceph).
package cephfstest

import (
	"fmt"
	"path"

	"github.com/ceph/go-ceph/cephfs"

	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
)

// LeaveHalfMadeSubvolume makes what a subvolume create cut off inside the
// mgr leaves: the subvolume's directory and its data directory in group,
// without the .meta file the mgr writes last. The mgr lists it, and its
// `subvolume info` fails with ENODATA.
func LeaveHalfMadeSubvolume(conn *cephconn.Conn, fs, group, name, dataDir string) error {
	m, err := cephfs.CreateFromRados(conn.Conn)
	if err != nil {
		return fmt.Errorf("libcephfs: %w", err)
	}
	defer func() { _ = m.Release() }()
	if err := m.SelectFilesystem(fs); err != nil {
		return fmt.Errorf("select file system %s: %w", fs, err)
	}
	if err := m.Mount(); err != nil {
		return fmt.Errorf("mount %s: %w", fs, err)
	}
	defer func() { _ = m.Unmount() }()
	dir := path.Join("/volumes", group, name, dataDir)
	if err := m.MakeDirs(dir, 0o755); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	return nil
}
