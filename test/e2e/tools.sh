#!/usr/bin/env bash
# Builds (or finds in the cache) the binaries the e2e test runs: the Kubernetes
# control plane (kube-apiserver, kube-controller-manager), kubectl and the CSI
# sidecars (csi-provisioner, csi-snapshotter, snapshot-controller,
# csi-resizer), plus the VolumeSnapshot CRDs, from the pinned wrapper module
# test/e2e/tools (not part of go.work).
#
# The result lives outside the repository, keyed by the sha256 of the
# wrapper's go.sum:  $E2E_TOOLS_CACHE/<sha256>/{bin,crd}/ . A cached set is
# reused in milliseconds; a cold build costs ~1,400 CPU-seconds and runs under
# `nice -n 19` so that it does not starve other work on the machine.
#
# Usage: test/e2e/tools.sh [--node]          build if needed; print the cache dir
#        test/e2e/tools.sh [--node] --dir    print the cache dir, build nothing
#
# --node: the Kubernetes node's commands instead (kubelet, kube-scheduler,
# csi-attacher) from the wrapper module test/e2e/nodetools, cached in
# $E2E_TOOLS_CACHE/node-<sha256 of nodetools/go.sum>/bin (kubelet alone is
# ~1,100 CPU-seconds cold).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache_root=${E2E_TOOLS_CACHE:-/var/cache/ceph-csi-e2e}
K8S_VERSION=v1.37.2 # must match k8s.io/kubernetes in tools/go.mod and nodetools/go.mod
if [ "${1:-}" = --node ]; then
	shift
	tools=$here/nodetools
	prefix=node-
	PKGS=(
		k8s.io/kubernetes/cmd/kubelet
		k8s.io/kubernetes/cmd/kube-scheduler
		github.com/kubernetes-csi/external-attacher/v4/cmd/csi-attacher
	)
	BINS=(kubelet kube-scheduler csi-attacher)
	CRDS=""
else
	tools=$here/tools
	prefix=""
	PKGS=(
		k8s.io/kubernetes/cmd/kube-apiserver
		k8s.io/kubernetes/cmd/kube-controller-manager
		k8s.io/kubernetes/cmd/kubectl
		github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner
		github.com/kubernetes-csi/external-snapshotter/v8/cmd/csi-snapshotter
		github.com/kubernetes-csi/external-snapshotter/v8/cmd/snapshot-controller
		github.com/kubernetes-csi/external-resizer/v2/cmd/csi-resizer
	)
	BINS=(kube-apiserver kube-controller-manager kubectl csi-provisioner csi-snapshotter snapshot-controller csi-resizer)
	CRDS=github.com/kubernetes-csi/external-snapshotter/client/v8
fi
key=$(sha256sum "$tools/go.sum" | cut -c1-64)
dir=$cache_root/$prefix$key

if [ "${1:-}" = --dir ]; then echo "$dir"; exit 0; fi

complete() {
	[ -f "$1/.complete" ] || return 1
	for b in "${BINS[@]}"; do [ -x "$1/bin/$b" ] || return 1; done
}

if complete "$dir"; then
	echo "e2e tools: cached in $dir" >&2
	echo "$dir"
	exit 0
fi

mkdir -p "$cache_root"
# One builder at a time per cache; a second caller waits for the first.
exec 9>"$cache_root/.lock"
flock 9
if complete "$dir"; then echo "$dir"; exit 0; fi

major=${K8S_VERSION#v}; major=${major%%.*}
minor=${K8S_VERSION#v*.}; minor=${minor%%.*}
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	ldflags+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$minor"
	ldflags+=" -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done

tmp=$(mktemp -d "$cache_root/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
mkdir -p "$tmp/bin" "$tmp/crd"
echo "e2e tools: building ${BINS[*]} (cold: ~1,400 CPU-seconds, ~12-18 min on 2 cores)" >&2
start=$(date +%s)
(
	cd "$tools"
	export GOWORK=off CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
	nice -n 19 go build -ldflags "$ldflags" -o "$tmp/bin/" "${PKGS[@]}"
	if [ -n "$CRDS" ]; then
		crd=$(go list -m -f '{{.Dir}}' "$CRDS")/config/crd
		cp "$crd"/snapshot.storage.k8s.io_*.yaml "$tmp/crd/"
		chmod u+w "$tmp/crd"/*
	fi
)
echo "built in $(( $(date +%s) - start ))s from $(cd "$tools" && pwd)" >"$tmp/.complete"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "e2e tools: built in $(( $(date +%s) - start ))s into $dir" >&2
echo "$dir"
