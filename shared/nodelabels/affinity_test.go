package nodelabels

import (
	"context"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
)

// nodeAPI serves worker-1 (zone z1), answers 403 for denied and 404 for
// any other node, and counts the requests.
func nodeAPI(t *testing.T) (*Client, *int) {
	calls := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		*calls++
		switch r.URL.Path {
		case "/api/v1/nodes/worker-1":
			_, _ = w.Write([]byte(`{"metadata":{"labels":{"topology.kubernetes.io/zone":"z1"}}}`))
		case "/api/v1/nodes/denied":
			http.Error(w, `{"kind":"Status","reason":"Forbidden"}`, http.StatusForbidden)
		default:
			http.Error(w, `{"kind":"Status","reason":"NotFound"}`, http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return &Client{BaseURL: srv.URL, HTTP: srv.Client(), Token: func() (string, error) { return "t", nil }}, calls
}

func storeWith(t *testing.T, entries string) *clusterconfig.Store {
	path := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(path, []byte(entries), 0o600); err != nil {
		t.Fatal(err)
	}
	return clusterconfig.NewStore(path)
}

const (
	affinityOn  = `[{"clusterID":"a","monitors":["m:6789"]},{"clusterID":"b","monitors":["m:6789"],"readAffinity":{"enabled":true}}]`
	affinityOff = `[{"clusterID":"a","monitors":["m:6789"],"readAffinity":{"crushLocationLabels":["x"]}}]`
)

func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zap.InfoLevel)
	return zap.New(core), logs
}

func TestAffinityReadsTheNodeWhenConfigJSONEnablesIt(t *testing.T) {
	api, calls := nodeAPI(t)
	a := &Affinity{NodeName: "worker-1", Clusters: storeWith(t, affinityOn), API: api}
	got := a.Labels(context.Background())
	if !maps.Equal(got, map[string]string{"topology.kubernetes.io/zone": "z1"}) || *calls != 1 {
		t.Fatalf("Labels = %v after %d calls", got, *calls)
	}
}

func TestAffinityReadsTheNodeWhenCrushLocationLabelsAreSet(t *testing.T) {
	api, calls := nodeAPI(t)
	a := &Affinity{NodeName: "worker-1", CrushLocationLabels: []string{"topology.kubernetes.io/zone"}, API: api}
	if got := a.Labels(context.Background()); got["topology.kubernetes.io/zone"] != "z1" || *calls != 1 {
		t.Fatalf("Labels = %v after %d calls", got, *calls)
	}
}

func TestAffinityStaticLabelsAndNoAffinityNeedNoAPI(t *testing.T) {
	api, calls := nodeAPI(t)
	static := map[string]string{"topology.kubernetes.io/zone": "static"}
	a := &Affinity{NodeName: "worker-1", Static: static, Clusters: storeWith(t, affinityOn), API: api}
	if got := a.Labels(context.Background()); !maps.Equal(got, static) {
		t.Fatalf("--node-labels lost precedence: %v", got)
	}
	for _, store := range []*clusterconfig.Store{nil, storeWith(t, affinityOff), storeWith(t, "not json")} {
		a := &Affinity{NodeName: "worker-1", Clusters: store, API: api}
		if got := a.Labels(context.Background()); got != nil {
			t.Errorf("read affinity off: labels %v", got)
		}
	}
	if *calls != 0 {
		t.Fatalf("%d API calls without need", *calls)
	}
}

// TestAffinityFailuresDisableReadAffinity: a Node the API does not know
// (404), a refusal (403) and an unreachable API give no labels and an
// error log naming the node and the status, not a failed start.
func TestAffinityFailuresDisableReadAffinity(t *testing.T) {
	api, _ := nodeAPI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	unreachable := &Client{BaseURL: closed, HTTP: http.DefaultClient, Token: api.Token}
	for _, tc := range []struct {
		node string
		api  *Client
		want []string
	}{
		{"worker-2", api, []string{`"worker-2"`, "404 Not Found", "no such Node"}},
		{"denied", api, []string{`"denied"`, "403 Forbidden", "RBAC get on nodes"}},
		{"worker-1", unreachable, []string{`"worker-1"`, "connection refused"}},
	} {
		logger, logs := observed()
		a := &Affinity{NodeName: tc.node, CrushLocationLabels: []string{"zone"}, API: tc.api, Logger: logger}
		if got := a.Labels(context.Background()); got != nil {
			t.Errorf("%s: labels %v", tc.node, got)
		}
		errs := logs.FilterLevelExact(zap.ErrorLevel).All()
		if len(errs) != 1 {
			t.Fatalf("%s: error logs %v", tc.node, logs.All())
		}
		msg := errs[0].Message + " " + errs[0].ContextMap()["error"].(string)
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: log %q lacks %q", tc.node, msg, w)
			}
		}
	}
}

func TestAffinityOutsideAPodIsNotFatal(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	logger, logs := observed()
	a := &Affinity{NodeName: "worker-1", CrushLocationLabels: []string{"zone"}, Logger: logger}
	if got := a.Labels(context.Background()); got != nil || logs.FilterLevelExact(zap.ErrorLevel).Len() != 1 {
		t.Fatalf("Labels = %v, logs %v", got, logs.All())
	}
}
