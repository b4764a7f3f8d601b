package host

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Log strategies of ceph-csi's cephLogStrategy: what happens to an rbd-nbd
// log file once its device is unmapped.
const (
	LogRemove   = "remove"
	LogCompress = "compress"
	LogPreserve = "preserve"
)

// NbdLogFile returns ceph-csi's rbd-nbd log file of a volume in dir:
// DIR/rbd-nbd-VOLUME-ID.log. A volume ID that is not a plain file name
// gives "" (no log file).
func NbdLogFile(dir, volumeID string) string {
	if dir == "" || volumeID == "" || strings.ContainsAny(volumeID, "/\x00") || volumeID == "." || volumeID == ".." {
		return ""
	}
	return filepath.Join(dir, "rbd-nbd-"+volumeID+".log")
}

// finishLog applies the log strategy to an unmapped device's log file:
// remove (the default), compress (to FILE.gz) or preserve.
func finishLog(path, strategy string) error {
	if path == "" {
		return nil
	}
	switch strings.ToLower(strategy) {
	case LogPreserve:
		return nil
	case LogCompress:
		return gzipFile(path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// gzipFile compresses path to path.gz and removes path.
func gzipFile(path string) error {
	in, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(path+".gz", os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if err = errors.Join(err, zw.Close(), out.Close()); err != nil {
		return fmt.Errorf("compressing %s: %w", path, err)
	}
	return os.Remove(path)
}
