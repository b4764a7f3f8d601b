// Package buildinfo is liveness-probe's --version text: the module version
// and git commit it was built from (set with -ldflags -X on main.version and
// main.commit). liveness-probe links neither go-ceph nor Ceph, so it says so
// on the lines where the drivers (shared/buildinfo) name their versions; it
// does not import shared, whose module requires go-ceph.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Text returns the --version output of name: the version on the first
// line, then one "key: value" line each. An empty commit falls back to the
// Go toolchain's VCS stamp, then to "unknown".
func Text(name, version, commit string) string {
	if commit == "" {
		commit = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			commit = vcsRevision(bi, commit)
		}
	}
	return fmt.Sprintf("%s %s\ncommit: %s\ngo-ceph: none\nceph: none\ngo: %s\n",
		name, version, commit, runtime.Version())
}

// vcsRevision returns the shortened vcs.revision of bi, or fallback.
func vcsRevision(bi *debug.BuildInfo, fallback string) string {
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && s.Value != "" {
			if len(s.Value) > 12 {
				return s.Value[:12]
			}
			return s.Value
		}
	}
	return fallback
}
