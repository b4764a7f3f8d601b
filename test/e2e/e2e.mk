# End-to-end test targets; the root Makefile includes this file
# (`include test/e2e/e2e.mk`, after its own variables: it uses WITH_CLUSTER).
# See test/e2e/README.md.

# Where the control plane and sidecar binaries are cached, keyed by the
# sha256 of test/e2e/tools/go.sum (outside the repository, shared by runs).
E2E_TOOLS_CACHE ?= /var/cache/ceph-csi-e2e
export E2E_TOOLS_CACHE

# With a kubelet (E2E_KUBELET=1, the default) the drivers run from our
# images: `make images` writes them here as archives for the node's
# containerd.
E2E_IMAGES_DIR ?= $(CURDIR)/bin/e2e-images
export E2E_IMAGES_DIR

.PHONY: e2e-tools e2e-images e2e

e2e-tools: ## build (or reuse from the cache) kube-apiserver, kube-controller-manager, kubectl, the CSI sidecars, kubelet and kube-scheduler for the e2e test
	@test/e2e/tools.sh >/dev/null
	@test/e2e/tools.sh --node >/dev/null

# Archives written for this very commit (by `make test-images`, which CI
# runs first, or an earlier `make e2e`) are reused; a dirty tree rebuilds.
e2e-images: ## build the images (make images) as archives in E2E_IMAGES_DIR for the e2e node
	@if [ "$${E2E_KUBELET:-1}" != 1 ]; then exit 0; fi; \
	if [[ "$(COMMIT)" != *-dirty ]] && [ "$$(cat $(E2E_IMAGES_DIR)/commit 2>/dev/null)" = "$(COMMIT)" ] && \
		[ -s $(E2E_IMAGES_DIR)/rbd-driver.tar ] && [ -s $(E2E_IMAGES_DIR)/cephfs-driver.tar ] && \
		[ -s $(E2E_IMAGES_DIR)/liveness-probe.tar ]; then \
		echo "e2e images: reusing the archives of commit $(COMMIT) in $(E2E_IMAGES_DIR)"; \
	else $(MAKE) --no-print-directory images IMAGES_ARCHIVE_DIR=$(E2E_IMAGES_DIR); fi

e2e: cluster-up build e2e-tools e2e-images ## end-to-end test: real control plane + CSI sidecars + both drivers against the local cluster
	@$(WITH_CLUSTER) test/e2e/run.sh
