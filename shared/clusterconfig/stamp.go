package clusterconfig

import "io/fs"

// fileStamp identifies a version of the configuration file. An in-place
// rewrite that keeps the size within the file system's timestamp
// granularity goes unnoticed; replacing the file, as Kubernetes does, never
// does.
type fileStamp struct {
	modTime int64 // nanoseconds since the epoch
	size    int64
	dev     uint64
	ino     uint64
}

func stampOf(fi fs.FileInfo) fileStamp {
	st := fileStamp{modTime: fi.ModTime().UnixNano(), size: fi.Size()}
	st.dev, st.ino = fileID(fi)

	return st
}
