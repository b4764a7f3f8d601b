//go:build unix

package clusterconfig

import (
	"io/fs"
	"syscall"
)

// fileID returns the device and inode numbers of fi.
func fileID(fi fs.FileInfo) (dev, ino uint64) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0
	}

	return uint64(st.Dev), uint64(st.Ino) //nolint:unconvert // the types differ between platforms
}
