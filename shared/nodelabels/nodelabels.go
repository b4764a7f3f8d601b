// Package nodelabels reads the labels of the node's Kubernetes Node
// through the Kubernetes API with the pod's own ServiceAccount (in-cluster
// token and CA), a single GET that needs RBAC `get` on nodes, for the RBD
// topology (ceph-csi's --domainlabels) and both node plugins' read
// affinity (the CRUSH location). It uses net/http only: the node plugins do
// not link client-go for one read.
package nodelabels

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// ServiceAccountDir is where Kubernetes mounts the pod's token and CA.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Client reads Nodes from one API server.
type Client struct {
	// BaseURL is the API server, e.g. https://10.0.0.1:443.
	BaseURL string
	// Token returns the bearer token (read on every call: it rotates).
	Token func() (string, error)
	// HTTP is the client (its transport trusts the cluster CA).
	HTTP *http.Client
}

// InCluster returns a client for the API server of the pod's cluster,
// from KUBERNETES_SERVICE_HOST/PORT and the ServiceAccount files in dir.
func InCluster(dir string) (*Client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("nodelabels: not in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT unset)")
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("nodelabels: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("nodelabels: no certificate in %s", filepath.Join(dir, "ca.crt"))
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &Client{
		BaseURL: "https://" + net.JoinHostPort(host, port),
		Token:   func() (string, error) { return readToken(filepath.Join(dir, "token")) },
		HTTP:    &http.Client{Transport: tr, Timeout: 30 * time.Second},
	}, nil
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("nodelabels: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Labels returns the labels of Node name.
func (c *Client) Labels(ctx context.Context, name string) (map[string]string, error) {
	token, err := c.Token()
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/api/v1/nodes/"+url.PathEscape(name), nil)
	if err != nil {
		return nil, fmt.Errorf("nodelabels: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("nodelabels: get node %q: %w", name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("nodelabels: get node %q: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("nodelabels: get node %q: %s%s: %.200s", name, resp.Status, statusHint(resp.StatusCode), body)
	}
	var node struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(body, &node); err != nil {
		return nil, fmt.Errorf("nodelabels: node %q: %w", name, err)
	}
	return node.Metadata.Labels, nil
}

// statusHint says what an API refusal usually means.
func statusHint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return " (the pod's ServiceAccount needs RBAC get on nodes and its token mounted)"
	case http.StatusNotFound:
		return " (no such Node: is the node ID the Kubernetes node name?)"
	}
	return ""
}

// Topology maps the node labels named by domainLabels to CSI topology
// segments as ceph-csi does: the label's name after its prefix (zone for
// topology.kubernetes.io/zone) under topology.<driverName>/. Every named
// label must be on the node; a name given twice is an error.
func Topology(domainLabels []string, labels map[string]string, driverName string) (map[string]string, error) {
	prefix := strings.ToLower("topology." + driverName)
	if len(prefix) > 63 {
		return nil, fmt.Errorf("nodelabels: topology prefix %q is longer than 63 characters", prefix)
	}
	out := map[string]string{}
	seen := map[string]bool{}
	var missing []string
	for _, l := range domainLabels {
		if seen[l] {
			return nil, fmt.Errorf("nodelabels: label %q given twice", l)
		}
		seen[l] = true
		v, ok := labels[l]
		if !ok {
			missing = append(missing, l)
			continue
		}
		out[prefix+"/"+l[strings.IndexRune(l, '/')+1:]] = v
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("nodelabels: the node lacks the domain labels %v", missing)
	}
	return out, nil
}
