package prober

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
)

// Target converts a --csi-address value into a gRPC client target.
//
// Accepted forms:
//   - a plain filesystem path ("/csi/csi.sock", "csi.sock"): a unix socket;
//   - "unix:///abs/path", "unix://rel/path" or "unix:path": a unix socket;
//   - "tcp://host:port": a TCP endpoint.
//
// Relative unix paths are made absolute so that the target stays valid no
// matter what the working directory is when gRPC re-dials.
func Target(address string) (string, error) {
	address = strings.TrimSpace(address)
	if address == "" {
		return "", errors.New("empty CSI address")
	}
	lower := strings.ToLower(address)
	switch {
	case strings.HasPrefix(lower, "unix://"):
		return unixTarget(address[len("unix://"):])
	case strings.HasPrefix(lower, "unix:"):
		return unixTarget(address[len("unix:"):])
	case strings.HasPrefix(lower, "tcp://"):
		hostPort := strings.TrimSuffix(address[len("tcp://"):], "/")
		if _, _, err := net.SplitHostPort(hostPort); err != nil {
			return "", fmt.Errorf("invalid tcp CSI address %q: %w", address, err)
		}
		// passthrough: the address is handed to the dialer as is and
		// resolved again on every (re)connect.
		return "passthrough:///" + hostPort, nil
	case strings.Contains(address, "://"):
		return "", fmt.Errorf("unsupported scheme in CSI address %q (use a path, unix:// or tcp://)", address)
	default:
		return unixTarget(address)
	}
}

func unixTarget(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty unix socket path in CSI address")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("unix socket path %q: %w", path, err)
	}
	// abs starts with "/", so this yields the canonical "unix:///abs/path".
	return "unix://" + abs, nil
}
