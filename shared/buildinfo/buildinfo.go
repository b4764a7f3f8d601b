// Package buildinfo describes a driver binary for --version: the module
// version and git commit it was built from (set at build time with
// -ldflags -X on the program's main.version and main.commit), the go-ceph
// version it links (from the binary's module information) and the Ceph
// release it was built for (go-ceph's build tag: pacific, quincy, ...).
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// goCephPath is the module whose version Info reports.
const goCephPath = "github.com/ceph/go-ceph"

// Info is what --version prints.
type Info struct {
	// Name is the program or driver name printed first.
	Name string
	// Version is the module version (its VERSION file at build time).
	Version string
	// Commit is the git commit; from -ldflags, else from the Go toolchain's
	// VCS stamp, else "unknown".
	Commit string
	// GoCeph is the go-ceph module version, "none" if the binary has none.
	GoCeph string
	// CephRelease is the Ceph release the binary was built for.
	CephRelease string
	// Go is the Go toolchain version.
	Go string
}

// Read returns the Info of the running binary. version and commit are the
// values set with -ldflags; an empty commit falls back to the VCS stamp.
func Read(name, version, commit string) Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(bi, name, version, commit)
}

// fromBuildInfo is Read on a given build information (nil: none).
func fromBuildInfo(bi *debug.BuildInfo, name, version, commit string) Info {
	info := Info{Name: name, Version: version, Commit: commit, GoCeph: "none",
		CephRelease: cephRelease, Go: runtime.Version()}
	if bi == nil {
		if info.Commit == "" {
			info.Commit = "unknown"
		}
		return info
	}
	for _, dep := range bi.Deps {
		if dep.Path != goCephPath {
			continue
		}
		info.GoCeph = dep.Version
		if dep.Replace != nil && dep.Replace.Version != "" {
			info.GoCeph = dep.Replace.Version
		}
	}
	if info.Commit == "" {
		info.Commit = vcsRevision(bi)
	}
	return info
}

// vcsRevision returns the commit the Go toolchain stamped (building in a
// git checkout without -buildvcs=false), shortened, or "unknown".
func vcsRevision(bi *debug.BuildInfo) string {
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "unknown"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// String is the --version text: the name and version on the first line,
// then one "key: value" line each.
func (i Info) String() string {
	return fmt.Sprintf("%s %s\ncommit: %s\ngo-ceph: %s\nceph: %s\ngo: %s\n",
		i.Name, i.Version, i.Commit, i.GoCeph, i.CephRelease, i.Go)
}
