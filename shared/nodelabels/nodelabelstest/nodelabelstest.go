// Package nodelabelstest serves Nodes as the Kubernetes API does, for the
// tests of code that reads a Node's labels through nodelabels.
package nodelabelstest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/nodelabels"
)

// Client returns a client of an API server, closed with the test, that
// serves Node name with labels and answers 404 for any other node.
func Client(t testing.TB, name string, labels map[string]string) *nodelabels.Client {
	t.Helper()
	var node struct {
		Metadata struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	node.Metadata.Name, node.Metadata.Labels = name, labels
	body, err := json.Marshal(node)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/nodes/"+name {
			http.Error(w, `{"kind":"Status","reason":"NotFound"}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return &nodelabels.Client{BaseURL: srv.URL, HTTP: srv.Client(), Token: func() (string, error) { return "t", nil }}
}
