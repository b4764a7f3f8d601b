package credentials

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"
)

// RemoveStale deletes the private credential directories that WriteKeyring
// and WriteSecretFile created with prefix and that a process killed before
// its Remove left behind. Only directories older than minAge whose entries
// are all credential files written by this package are removed, so that
// files in use by a live call and foreign directories are never touched.
// Call it when a driver starts; it returns the paths it removed.
func RemoveStale(prefix string, minAge time.Duration) ([]string, error) {
	if prefix == "" {
		return nil, errors.New("credentials: RemoveStale needs a prefix")
	}
	entries, err := os.ReadDir(os.TempDir())
	if err != nil {
		return nil, fmt.Errorf("credentials: list %s: %w", os.TempDir(), err)
	}
	cutoff := time.Now().Add(-minAge)
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		dir := filepath.Join(os.TempDir(), e.Name())
		if !isStaleCredentialDir(dir, cutoff) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("credentials: remove stale %s: %w", dir, err))
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// isStaleCredentialDir reports whether dir was last modified before cutoff
// and holds nothing but a keyring or secret file.
func isStaleCredentialDir(dir string, cutoff time.Time) bool {
	info, err := os.Stat(dir)
	if err != nil || !info.ModTime().Before(cutoff) {
		return false
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if e.IsDir() || (e.Name() != keyringName && e.Name() != secretName) {
			return false
		}
	}
	return true
}

// StaleAge is how old a leftover credential directory must be before a
// node plugin removes it at start: far longer than any map or mount holds
// one, so that a live call's (or a twin plugin's) file is never touched.
const StaleAge = 10 * time.Minute

// SweepAtStart removes the credential directories with prefix that a
// plugin killed in the middle of a map or mount left behind (RemoveStale
// with StaleAge), and logs what it removed or could not.
func SweepAtStart(prefix string, logger *zap.Logger) {
	removed, err := RemoveStale(prefix, StaleAge)
	if len(removed) > 0 {
		logger.Info("removed stale credential files", zap.Strings("dirs", removed))
	}
	if err != nil {
		logger.Warn("could not remove stale credential files", zap.Error(err))
	}
}
