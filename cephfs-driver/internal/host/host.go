package host

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
	mountutils "k8s.io/mount-utils"
)

// ErrCorrupted marks a mount point whose file system cannot be reached,
// typically a ceph-fuse mount whose daemon died ("transport endpoint is
// not connected").
var ErrCorrupted = errors.New("mount is corrupted")

// MountPoint is one entry of the mount table.
type MountPoint struct {
	// ID is the mount ID.
	ID int
	// Device is "major:minor" of the mounted file system.
	Device string
	// Root is the directory of the file system mounted here.
	Root string
	// Path is the mount point.
	Path string
	// FSType is the file system type, e.g. fuse.ceph-fuse or ceph.
	FSType string
	// Source is the mount source.
	Source string
}

// SameFile reports whether two mount points show the same directory.
func (m MountPoint) SameFile(o MountPoint) bool { return m.Device == o.Device && m.Root == o.Root }

// Host is the node's mount table and mount system calls.
type Host interface {
	// Mounts returns the mount table in mount order.
	Mounts() ([]MountPoint, error)
	// Bind bind-mounts source on target, read-only if readOnly.
	Bind(source, target string, readOnly bool) error
	// Unmount unmounts the top mount on path.
	Unmount(path string) error
	// Check returns nil for a reachable path, an error wrapping
	// ErrCorrupted for a dead mount and fs.ErrNotExist for a missing path.
	Check(path string) error
}

// System is the Host of this machine.
type System struct {
	// MountInfo is the mount table file; default /proc/self/mountinfo.
	MountInfo string
}

var _ Host = System{}

// Mounts implements Host.
func (s System) Mounts() ([]MountPoint, error) {
	path := s.MountInfo
	if path == "" {
		path = "/proc/self/mountinfo"
	}
	infos, err := mountutils.ParseMountInfo(path)
	if err != nil {
		return nil, err
	}
	out := make([]MountPoint, 0, len(infos))
	for _, i := range infos {
		out = append(out, MountPoint{ID: i.ID, Device: fmt.Sprintf("%d:%d", i.Major, i.Minor), Root: unescapeOctal(i.Root),
			Path: unescapeOctal(i.MountPoint), FSType: i.FsType, Source: i.Source})
	}
	return out, nil
}

// unescapeOctal undoes the kernel's escaping of space, tab, newline and
// backslash as \ooo in mountinfo paths (mount-utils leaves it), so that a
// staging or target path with a space is found in the mount table.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// Bind implements Host. A read-only bind needs a second, remounting call.
func (System) Bind(source, target string, readOnly bool) error {
	if err := unix.Mount(source, target, "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount " + source + " on", Path: target, Err: err}
	}
	if !readOnly {
		return nil
	}
	if err := unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		_ = unix.Unmount(target, 0)
		return &os.PathError{Op: "remount read-only", Path: target, Err: err}
	}
	return nil
}

// Unmount implements Host.
func (System) Unmount(path string) error {
	if err := unix.Unmount(path, 0); err != nil {
		return &os.PathError{Op: "unmount", Path: path, Err: err}
	}
	return nil
}

// Check implements Host.
func (System) Check(path string) error {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, fs.ErrNotExist):
		return err
	case deadMount(err):
		return fmt.Errorf("%w: %s: %w", ErrCorrupted, path, err)
	}
	return err
}

// deadMount reports whether err, from a call on a mount, means that its
// file system cannot be reached. Beside mount-utils' list: the calls in
// flight when a FUSE daemon dies fail with ECONNABORTED (later ones with
// ENOTCONN).
func deadMount(err error) bool {
	return mountutils.IsCorruptedMnt(err) || errors.Is(err, syscall.ECONNABORTED)
}

// Find returns the top mount at path (the last one mounted), if any. path
// is cleaned and resolved like the kernel reports it.
func Find(mounts []MountPoint, path string) (MountPoint, bool) {
	path = filepath.Clean(path)
	var top MountPoint
	found := false
	for _, m := range mounts {
		if m.Path == path {
			top, found = m, true
		}
	}
	return top, found
}

// IsCorrupted reports whether err says a mount is dead.
func IsCorrupted(err error) bool {
	return errors.Is(err, ErrCorrupted) || errors.Is(err, syscall.ENOTCONN) || errors.Is(err, syscall.ECONNABORTED)
}
