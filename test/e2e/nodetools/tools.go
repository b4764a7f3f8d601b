//go:build tools

// Package nodetools pins the commands of the e2e test's Kubernetes node. The
// file never compiles (the tools tag is never set); it only keeps the modules
// in go.mod/go.sum. test/e2e/tools.sh --node builds them in one go build.
package nodetools

import (
	_ "github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
