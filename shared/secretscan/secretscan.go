// Package secretscan looks for a secret where it must never be: in log
// text, in the argument lists and environments of processes, and in files
// left on disk. It is the checking half of the drivers' secrets tests,
// which run a whole volume lifecycle with a key of their own and scan for
// it after every step.
package secretscan

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Lines returns the lines of text that contain secret.
func Lines(text, secret string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, secret) {
			out = append(out, line)
		}
	}
	return out
}

// Processes returns the PIDs among cmdlines (PID -> argument list, as
// driverproc.Cmdlines returns them) whose argument list, or whose
// environment, contains secret.
func Processes(cmdlines map[int][]string, secret string) []int {
	var out []int
	for pid, args := range cmdlines {
		env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if strings.Contains(strings.Join(args, "\x00"), secret) || bytes.Contains(env, []byte(secret)) {
			out = append(out, pid)
		}
	}
	return out
}

// ClusterMark is the file test/cluster.sh leaves in a cluster directory:
// Files does not enter such a directory (the monitor's store holds every
// key of the cluster).
const ClusterMark = ".ceph-csi-cluster"

// maxRead bounds how much of one file Files reads.
const maxRead = 64 << 20

// Report is what Files saw.
type Report struct {
	// Hits are the files that contain the secret.
	Hits []string
	// Read counts the files searched.
	Read int
}

// Files searches the regular files under roots that were modified at or
// after since (older files cannot hold a secret created later) for secret.
// It stays on each root's file system (a live FUSE mount, e.g. a volume's,
// is not entered), skips cluster directories (ClusterMark) and reads at
// most 64 MiB of a file. Missing roots and files that vanish meanwhile are
// ignored.
func Files(roots []string, since time.Time, secret string) (Report, error) {
	var r Report
	for _, root := range roots {
		if err := r.walk(root, since, []byte(secret)); err != nil {
			return r, err
		}
	}
	return r, nil
}

func (r *Report) walk(root string, since time.Time, secret []byte) error {
	dev, ok := device(root)
	if !ok {
		return nil
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return skip(d)
		case d.IsDir():
			if other, ok := device(path); !ok || other != dev || exists(filepath.Join(path, ClusterMark)) {
				return fs.SkipDir
			}
			return nil
		case !d.Type().IsRegular():
			return nil
		}
		info, err := d.Info()
		if err != nil || info.ModTime().Before(since) {
			return nil
		}
		hit, err := contains(path, secret)
		if err != nil {
			return nil // vanished or unreadable meanwhile
		}
		r.Read++
		if hit {
			r.Hits = append(r.Hits, path)
		}
		return nil
	})
}

// skip goes on after an error: past an unreadable directory, over a file.
func skip(d fs.DirEntry) error {
	if d != nil && d.IsDir() {
		return fs.SkipDir
	}
	return nil
}

func device(path string) (uint64, bool) {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return 0, false
	}
	return st.Dev, true
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// contains reports whether the first maxRead bytes of the file hold secret.
func contains(path string, secret []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRead))
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return bytes.Contains(data, secret), nil
}
