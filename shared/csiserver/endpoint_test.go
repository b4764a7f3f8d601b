package csiserver

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		name        string
		endpoint    string
		wantNetwork string
		wantAddress string
		wantErr     string
	}{
		{name: "unix absolute", endpoint: "unix:///csi/csi.sock", wantNetwork: "unix", wantAddress: "/csi/csi.sock"},
		{name: "unix cleaned", endpoint: "unix:///csi//sub/../csi.sock", wantNetwork: "unix", wantAddress: "/csi/csi.sock"},
		{name: "tcp", endpoint: "tcp://127.0.0.1:10000", wantNetwork: "tcp", wantAddress: "127.0.0.1:10000"},
		{name: "tcp all addresses", endpoint: "tcp://:10000", wantNetwork: "tcp", wantAddress: ":10000"},
		{name: "tcp ipv6", endpoint: "tcp://[::1]:10000", wantNetwork: "tcp", wantAddress: "[::1]:10000"},
		{name: "unix relative", endpoint: "unix://csi/csi.sock", wantErr: "must be absolute"},
		{name: "unix empty", endpoint: "unix://", wantErr: "must be absolute"},
		{name: "unix directory", endpoint: "unix:///csi/", wantErr: "directory"},
		{name: "unix too long", endpoint: "unix:///" + strings.Repeat("a", 120), wantErr: "longer than"},
		{name: "tcp no port", endpoint: "tcp://localhost", wantErr: "missing port"},
		{name: "tcp empty port", endpoint: "tcp://localhost:", wantErr: "missing port"},
		{name: "no scheme", endpoint: "/csi/csi.sock", wantErr: "want unix:///"},
		{name: "other scheme", endpoint: "http://localhost:80", wantErr: "want unix:///"},
		{name: "upper case scheme", endpoint: "UNIX:///csi.sock", wantErr: "want unix:///"},
		{name: "empty", endpoint: "", wantErr: "want unix:///"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			network, address, err := ParseEndpoint(tc.endpoint)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseEndpoint(%q) error = %v, want one containing %q", tc.endpoint, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEndpoint(%q): %v", tc.endpoint, err)
			}
			if network != tc.wantNetwork || address != tc.wantAddress {
				t.Fatalf("ParseEndpoint(%q) = %q, %q; want %q, %q", tc.endpoint, network, address, tc.wantNetwork, tc.wantAddress)
			}
		})
	}
}

func TestListenCreatesParentDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "csi.sock")
	lis := mustListen(t, "unix://"+path)
	defer lis.Close()
	assertSocket(t, path)
}

func TestListenRemovesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "csi.sock")
	leaveStaleSocket(t, path)

	lis := mustListen(t, "unix://"+path)
	defer lis.Close()
	assertSocket(t, path)
}

func TestListenRefusesRegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "csi.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if lis, err := Listen("unix://" + path); err == nil {
		lis.Close()
		t.Fatal("Listen succeeded over a regular file")
	} else if !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("Listen error = %v, want it to say the path is not a socket", err)
	}
	if data, err := os.ReadFile(path); err != nil || string(data) != "precious" {
		t.Fatalf("regular file was changed: %q, %v", data, err)
	}
}

func TestListenRefusesLiveSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "csi.sock")
	live := mustListen(t, "unix://"+path)
	defer live.Close()

	if lis, err := Listen("unix://" + path); err == nil {
		lis.Close()
		t.Fatal("Listen took over a socket that is still in use")
	} else if !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Listen error = %v, want it to say the socket is in use", err)
	}
	assertSocket(t, path)
}

func TestListenTCP(t *testing.T) {
	lis := mustListen(t, "tcp://127.0.0.1:0")
	defer lis.Close()
	if lis.Addr().Network() != "tcp" {
		t.Fatalf("listener network = %q, want tcp", lis.Addr().Network())
	}
}

func TestListenInvalidEndpoint(t *testing.T) {
	if _, err := Listen("udp://127.0.0.1:0"); err == nil {
		t.Fatal("Listen accepted a udp endpoint")
	}
}

func mustListen(t *testing.T, endpoint string) net.Listener {
	t.Helper()
	lis, err := Listen(endpoint)
	if err != nil {
		t.Fatalf("Listen(%q): %v", endpoint, err)
	}
	return lis
}

// leaveStaleSocket creates a unix socket file at path that nothing listens on,
// as a crashed driver would leave behind.
func leaveStaleSocket(t *testing.T, path string) {
	t.Helper()
	lis, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	lis.SetUnlinkOnClose(false)
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	assertSocket(t, path)
}

func assertSocket(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("socket %s: %v", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("%s is %v, want a socket", path, fi.Mode())
	}
}
