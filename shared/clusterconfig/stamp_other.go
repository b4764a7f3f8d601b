//go:build !unix

package clusterconfig

import "io/fs"

// fileID returns zeros where there are no inode numbers; modification time
// and size still identify the file's version.
func fileID(fs.FileInfo) (dev, ino uint64) {
	return 0, 0
}
