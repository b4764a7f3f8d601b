package csiserver

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Endpoint schemes accepted by ParseEndpoint.
const (
	schemeUnix = "unix://"
	schemeTCP  = "tcp://"
)

// maxUnixPathLen is the longest socket path Linux accepts (sun_path holds
// 108 bytes including the terminating NUL).
const maxUnixPathLen = 107

// staleProbeTimeout bounds the dial used to tell a live socket from a stale one.
const staleProbeTimeout = 200 * time.Millisecond

// ParseEndpoint splits a CSI endpoint into the network and address expected
// by net.Listen. Accepted forms are "unix:///absolute/path" and
// "tcp://host:port" (host may be empty to listen on all addresses).
func ParseEndpoint(endpoint string) (network, address string, err error) {
	if path, ok := strings.CutPrefix(endpoint, schemeUnix); ok {
		return parseUnix(endpoint, path)
	}
	if hostPort, ok := strings.CutPrefix(endpoint, schemeTCP); ok {
		return parseTCP(endpoint, hostPort)
	}
	return "", "", fmt.Errorf("endpoint %q: want unix:///absolute/path or tcp://host:port", endpoint)
}

func parseUnix(endpoint, path string) (string, string, error) {
	switch {
	case !filepath.IsAbs(path):
		return "", "", fmt.Errorf("endpoint %q: unix socket path must be absolute (unix:///path)", endpoint)
	case strings.HasSuffix(path, "/"):
		return "", "", fmt.Errorf("endpoint %q: unix socket path names a directory", endpoint)
	case len(path) > maxUnixPathLen:
		return "", "", fmt.Errorf("endpoint %q: unix socket path is longer than %d bytes", endpoint, maxUnixPathLen)
	}
	return "unix", filepath.Clean(path), nil
}

func parseTCP(endpoint, hostPort string) (string, string, error) {
	_, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		return "", "", fmt.Errorf("endpoint %q: %w", endpoint, err)
	}
	if port == "" {
		return "", "", fmt.Errorf("endpoint %q: missing port", endpoint)
	}
	return "tcp", hostPort, nil
}

// Listen parses endpoint and listens on it. For a unix socket it first
// creates the parent directory and removes a stale socket left by an earlier
// run. It refuses to remove anything that is not a socket, and a socket that
// still accepts connections.
func Listen(endpoint string) (net.Listener, error) {
	network, address, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if err := prepareUnixSocket(address); err != nil {
			return nil, err
		}
	}
	lis, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", endpoint, err)
	}
	return lis, nil
}

func prepareUnixSocket(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("create socket directory: %w", err)
	}
	return removeStaleSocket(path)
}

// removeStaleSocket removes the socket at path if nothing listens on it.
// A missing path is not an error.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("refusing to remove %s: it exists and is not a unix socket", path)
	}
	if socketIsLive(path) {
		return fmt.Errorf("unix socket %s is in use by another process", path)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

func socketIsLive(path string) bool {
	conn, err := net.DialTimeout("unix", path, staleProbeTimeout)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// removeSocket removes the unix socket at path after the server stopped,
// leaving anything that is not a socket alone.
func removeSocket(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove socket %s: %w", path, err)
	}
	return nil
}
