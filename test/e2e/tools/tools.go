//go:build tools

// Package tools pins the commands the e2e test runs: the Kubernetes control
// plane, kubectl and the external CSI sidecars. The file never compiles (the
// tools tag is never set); it only keeps the modules in go.mod/go.sum.
// test/e2e/tools.sh builds every command listed here in one go build.
// external-snapshotter/client/v8 is listed for its CRDs (config/crd/ in the
// module), which tools.sh copies next to the binaries.
package tools

import (
	_ "github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner"
	_ "github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer"
	_ "github.com/kubernetes-csi/external-snapshotter/client/v8/apis/volumesnapshot/v1"
	_ "github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter"
	_ "github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
