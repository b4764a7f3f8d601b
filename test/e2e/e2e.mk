# End-to-end test targets; the root Makefile includes this file
# (`include test/e2e/e2e.mk`, after its own variables: it uses WITH_CLUSTER).
# See test/e2e/README.md.

# Where the control plane and sidecar binaries are cached, keyed by the
# sha256 of test/e2e/tools/go.sum (outside the repository, shared by runs).
E2E_TOOLS_CACHE ?= /var/cache/ceph-csi-e2e
export E2E_TOOLS_CACHE

.PHONY: e2e-tools e2e

e2e-tools: ## build (or reuse from the cache) kube-apiserver, kube-controller-manager, kubectl, the CSI sidecars, kubelet and kube-scheduler for the e2e test
	@test/e2e/tools.sh >/dev/null
	@test/e2e/tools.sh --node >/dev/null

e2e: cluster-up build e2e-tools ## end-to-end test: real control plane + CSI sidecars + both drivers against the local cluster
	@$(WITH_CLUSTER) test/e2e/run.sh
