package node

import (
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"time"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
)

// busyRetry is the pause before unmounting a busy mount point again.
const busyRetry = 250 * time.Millisecond

// mountState is the state of a path in the mount table.
type mountState int

const (
	notMounted mountState = iota
	healthy
	corrupted
)

// inspect returns the state of path and its top mount.
func (s *Server) inspect(path string) (mountState, host.MountPoint, error) {
	mounts, err := s.cfg.Host.Mounts()
	if err != nil {
		return notMounted, host.MountPoint{}, err
	}
	mp, ok := host.Find(mounts, path)
	if !ok {
		return notMounted, mp, nil
	}
	err = s.cfg.Host.Check(path)
	switch {
	case err == nil:
		return healthy, mp, nil
	case host.IsCorrupted(err):
		return corrupted, mp, nil
	}
	return notMounted, mp, err
}

// unmountAll removes every mount stacked on path (a shallow volume's
// staging path holds two).
func (s *Server) unmountAll(path string) error {
	path = filepath.Clean(path)
	for range 8 {
		mounts, err := s.cfg.Host.Mounts()
		if err != nil {
			return err
		}
		if _, ok := host.Find(mounts, path); !ok {
			return nil
		}
		err = s.cfg.Host.Unmount(path)
		if errors.Is(err, syscall.EBUSY) {
			// A FUSE mount stays busy a moment after the last file on it
			// was closed (seen right after reading through a bind of a
			// shallow volume's snapshot directory): try again shortly.
			time.Sleep(busyRetry)
			continue
		}
		if err != nil {
			return err
		}
	}
	return fmt.Errorf("%s is still mounted after 8 unmounts", path)
}

// binds returns the mount points other than except that show the same
// directory as mp (the bind mounts of a staging path).
func binds(mounts []host.MountPoint, mp host.MountPoint, except ...string) []string {
	var out []string
	for _, m := range mounts {
		if !m.SameFile(mp) || contains(except, m.Path) {
			continue
		}
		out = append(out, m.Path)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if filepath.Clean(x) == s {
			return true
		}
	}
	return false
}
