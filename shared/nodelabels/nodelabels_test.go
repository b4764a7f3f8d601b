package nodelabels

import (
	"context"
	"encoding/pem"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTopology(t *testing.T) {
	labels := map[string]string{"topology.kubernetes.io/region": "east", "topology.kubernetes.io/zone": "z1", "rack": "r7"}
	got, err := Topology([]string{"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "rack"}, labels, "rbd.csi.ceph.com")
	want := map[string]string{"topology.rbd.csi.ceph.com/region": "east", "topology.rbd.csi.ceph.com/zone": "z1",
		"topology.rbd.csi.ceph.com/rack": "r7"}
	if err != nil || !maps.Equal(got, want) {
		t.Fatalf("Topology = %v, %v; want %v", got, err, want)
	}
	if _, err := Topology([]string{"topology.kubernetes.io/zone", "x/missing"}, labels, "rbd.csi.ceph.com"); err == nil ||
		!strings.Contains(err.Error(), "x/missing") {
		t.Errorf("missing label: %v", err)
	}
	if _, err := Topology([]string{"rack", "rack"}, labels, "rbd.csi.ceph.com"); err == nil {
		t.Error("duplicate label accepted")
	}
	if _, err := Topology([]string{"rack"}, labels, strings.Repeat("d", 60)); err == nil {
		t.Error("over-long prefix accepted")
	}
}

// fakeAPIServer serves one Node over TLS and checks the bearer token;
// InCluster is pointed at it through the environment and a fake
// ServiceAccount directory.
func fakeAPIServer(t *testing.T) (*Client, *int) {
	calls := new(int)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*calls++
		if r.Header.Get("Authorization") != "Bearer sa-token" {
			http.Error(w, `{"kind":"Status","code":401}`, http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/api/v1/nodes/worker-1" {
			http.Error(w, `{"kind":"Status","code":404}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte(`{"kind":"Node","metadata":{"name":"worker-1","labels":{"topology.kubernetes.io/zone":"z2"}}}`))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	for name, data := range map[string][]byte{"ca.crt": ca, "token": []byte("sa-token\n")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "https://"), ":")
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	c, err := InCluster(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c, calls
}

func TestLabelsInCluster(t *testing.T) {
	c, calls := fakeAPIServer(t)
	labels, err := c.Labels(context.Background(), "worker-1")
	if err != nil || labels["topology.kubernetes.io/zone"] != "z2" || *calls != 1 {
		t.Fatalf("Labels = %v, %v after %d calls", labels, err, *calls)
	}
	if _, err := c.Labels(context.Background(), "worker-2"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("unknown node: %v", err)
	}
	c.Token = func() (string, error) { return "wrong", nil }
	if _, err := c.Labels(context.Background(), "worker-1"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
}

func TestInClusterOutsideAPod(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := InCluster(t.TempDir()); err == nil {
		t.Fatal("InCluster outside a pod succeeded")
	}
}
