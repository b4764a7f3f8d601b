# Ceph CSI driver suite. `make help` lists the targets.
#
# The Ceph release is a build setting: go-ceph needs the tag of the release
# whose client libraries are installed (pacific on Debian 12).
CEPH_RELEASE ?= pacific
GOTAGS       ?= $(CEPH_RELEASE)
GO           ?= go
# Each module's version is its VERSION file (VERSION=... overrides it for all);
# --version prints it with the git commit, go-ceph's version and CEPH_RELEASE.
COMMIT       := $(shell c=$$(git rev-parse --short=12 HEAD 2>/dev/null) || c=unknown; \
                  git diff --quiet HEAD -- 2>/dev/null || c=$$c-dirty; echo $$c)
module_version = $(or $(VERSION),$(shell cat $(1)/VERSION 2>/dev/null),dev)
ldflags        = -s -w -X main.version=$(call module_version,$(1)) -X main.commit=$(COMMIT)
LDFLAGS       := $(call ldflags,shared)

CLUSTER_DIR  ?= /tmp/ceph-csi-cluster
export CLUSTER_DIR
CLUSTER      := test/cluster.sh
# Every recipe that needs the cluster sources its env file.
WITH_CLUSTER := set -a; . $(CLUSTER_DIR)/env; set +a;

CGO_MODULES  := shared rbd-driver cephfs-driver
MODULES      := $(CGO_MODULES) liveness-probe test/faults test/e2e
TEST_FLAGS   ?= -race -count=1 -timeout 30m
TEST_LOG_DIR ?= $(CURDIR)/.test-logs

DEB_PACKAGES := ceph-mon ceph-osd ceph-mgr ceph-mds ceph-common ceph-fuse rbd-fuse rbd-nbd \
                librados-dev librbd-dev libcephfs-dev xfsprogs e2fsprogs util-linux jq curl gcc

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c

.PHONY: help build deps cluster-up cluster-down cluster-status lint vet fmt-check \
        test test-go test-churn test-churn-run test-killtier test-unit fuzz check-liveness-deps funclen demo bench bench-rbd bench-cephfs clean \
        images test-images

help: ## show this help
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

build: bin/rbd-driver bin/cephfs-driver bin/liveness-probe bin/csi-ping bin/rbd-demo bin/cephfs-demo bin/cephfs-bench bin/rbd-bench ## build every binary into bin/

bin/rbd-driver: FORCE
	cd rbd-driver && $(GO) build -tags $(GOTAGS) -ldflags '$(call ldflags,rbd-driver)' -o ../$@ ./cmd/rbd-driver

bin/rbd-demo: FORCE
	cd rbd-driver && $(GO) build -tags $(GOTAGS) -ldflags '$(call ldflags,rbd-driver)' -o ../$@ ./cmd/rbd-demo

bin/rbd-bench: FORCE
	cd rbd-driver && $(GO) build -tags $(GOTAGS) -ldflags '$(call ldflags,rbd-driver)' -o ../$@ ./cmd/rbd-bench

bin/cephfs-demo: FORCE
	cd cephfs-driver && $(GO) build -tags $(GOTAGS) -ldflags '$(call ldflags,cephfs-driver)' -o ../$@ ./cmd/cephfs-demo

bin/cephfs-bench: FORCE
	cd cephfs-driver && $(GO) build -tags $(GOTAGS) -ldflags '$(call ldflags,cephfs-driver)' -o ../$@ ./cmd/cephfs-bench

bin/cephfs-driver: FORCE
	cd cephfs-driver && $(GO) build -tags $(GOTAGS) -ldflags '$(call ldflags,cephfs-driver)' -o ../$@ ./cmd/cephfs-driver

# liveness-probe is pure Go: it builds without cgo and never links Ceph.
bin/liveness-probe: FORCE check-liveness-deps
	cd liveness-probe && CGO_ENABLED=0 $(GO) build -ldflags '$(call ldflags,liveness-probe)' -o ../$@ ./cmd/liveness-probe

bin/csi-ping: FORCE
	cd shared && CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o ../$@ ./cmd/csi-ping

FORCE:

check-liveness-deps: ## fail if liveness-probe depends on go-ceph or any cgo package
	@cd liveness-probe && deps=$$(CGO_ENABLED=0 $(GO) list -deps -f '{{.ImportPath}} {{join .CgoFiles ","}}' ./...); \
	if grep -q 'github.com/ceph/go-ceph' <<<"$$deps"; then echo "liveness-probe depends on go-ceph" >&2; exit 1; fi; \
	if awk 'NF > 1' <<<"$$deps" | grep -q .; then echo "liveness-probe has cgo dependencies:" >&2; awk 'NF > 1' <<<"$$deps" >&2; exit 1; fi; \
	echo "liveness-probe: no go-ceph, no cgo"

deps: ## install the Debian packages the build and the tests need (when missing)
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else echo "deps: all Debian packages present"; fi
	@cd shared && $(GO) mod download

cluster-up: deps ## start the local single-node Ceph cluster (idempotent)
	$(CLUSTER) up

cluster-down: ## stop the local Ceph cluster and remove its data
	$(CLUSTER) down

cluster-status: ## show the local Ceph cluster's health
	$(CLUSTER) status

vet: ## go vet every module (with the Ceph build tag)
	@for m in $(CGO_MODULES) test/faults test/e2e; do (cd $$m && $(GO) vet -tags $(GOTAGS) ./...) || exit 1; done
	cd liveness-probe && CGO_ENABLED=0 $(GO) vet ./...

fmt-check: ## fail if any Go file is not gofmt-formatted
	@out=$$(gofmt -l $(MODULES)); if [ -n "$$out" ]; then echo "gofmt needed:" >&2; echo "$$out" >&2; exit 1; fi; echo "gofmt: clean"

funclen: ## fail if any Go function in the project is over 60 lines
	cd shared && $(GO) run ./cmd/funclen -max 60 $(addprefix ../,$(MODULES))

lint: vet fmt-check check-liveness-deps funclen ## vet, gofmt check, dependency check, function length

# The unit, integration and conformance tests of every module, with -race,
# against the local cluster. CEPH_CSI_REQUIRE_CLUSTER=1 turns a missing
# cluster into a failure instead of a skip. Every module runs even after
# another failed; the failures are listed together at the end.
test-go:
	@mkdir -p $(TEST_LOG_DIR)
	@$(WITH_CLUSTER) export CEPH_CSI_REQUIRE_CLUSTER=1; \
	export LIVENESS_TEST_DRIVER_BINARY=$(CURDIR)/bin/rbd-driver; \
	export RBD_DRIVER_BINARY=$(CURDIR)/bin/rbd-driver CEPHFS_DRIVER_BINARY=$(CURDIR)/bin/cephfs-driver; \
	failed=""; \
	for m in $(MODULES); do \
		echo "== go test $$m"; \
		tags=$$( [ $$m = liveness-probe ] || echo "-tags $(GOTAGS)" ); \
		log=$(TEST_LOG_DIR)/$$(tr / - <<<"$$m").log; \
		(cd $$m && $(GO) test $$tags $(TEST_FLAGS) -v ./... 2>&1) > $$log \
			&& rc=0 || rc=$$?; \
		grep -E '^\s*--- (PASS|FAIL|SKIP)|^(ok|FAIL|panic:)|^\s+\S+\.go:[0-9]+:' $$log || true; \
		if [ $$rc -ne 0 ]; then echo "go test $$m FAILED (full log: $$log)" >&2; failed="$$failed $$m"; fi; \
	done; \
	if [ -n "$$failed" ]; then \
		echo "== go test failed in:$$failed" >&2; \
		grep -h -E '^\s*--- FAIL' $(TEST_LOG_DIR)/*.log >&2 || true; \
		test/failed-output.sh $(TEST_LOG_DIR)/*.log >&2 || true; \
		exit 1; \
	fi

# A short real fuzzing run of every Go fuzz target (the seed corpora also run
# as plain tests in test-go).
FUZZ_TIME ?= 10s
fuzz: ## run each fuzz target for FUZZ_TIME
	cd shared && $(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZ_TIME) ./volid
	cd shared && $(GO) test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZ_TIME) ./volid
	cd rbd-driver && $(GO) test -tags $(GOTAGS) -run '^$$' -fuzz '^FuzzControllerRequests$$' -fuzztime $(FUZZ_TIME) ./internal/controller
	cd rbd-driver && $(GO) test -tags $(GOTAGS) -run '^$$' -fuzz '^FuzzNodeRequests$$' -fuzztime $(FUZZ_TIME) ./internal/node
	cd cephfs-driver && $(GO) test -tags $(GOTAGS) -run '^$$' -fuzz '^FuzzControllerRequests$$' -fuzztime $(FUZZ_TIME) ./internal/controller
	cd cephfs-driver && $(GO) test -tags $(GOTAGS) -run '^$$' -fuzz '^FuzzNodeRequests$$' -fuzztime $(FUZZ_TIME) ./internal/node

test: cluster-up lint build test-go fuzz ## everything: vet, gofmt, unit + integration + conformance tests against the local cluster
	@echo "make test: all passed"

# The full CephFS churn: 1,000 create/delete cycles at concurrency 8 (`make
# test` runs 100). Pacific's mgr purges removed subvolumes slowly (the churn
# waits for it after each batch), so this takes about 9 minutes (measured 520 s).
# (The RBD churn runs its 1,000 cycles inside `make test`.)
# test-churn-run runs it without building, with CHURN_DRIVER (CI runs it
# next to the image build and the e2e test, from a copy of the binary that
# their own `make build` cannot replace while it runs).
CHURN_DRIVER ?= $(CURDIR)/bin/cephfs-driver
test-churn: cluster-up build test-churn-run ## the 1,000-cycle CephFS churn (about 9 min)

test-churn-run:
	@$(WITH_CLUSTER) export CEPH_CSI_REQUIRE_CLUSTER=1 CEPHFS_DRIVER_BINARY=$(CHURN_DRIVER) \
		CEPHFS_CHURN_CYCLES=1000; \
	cd cephfs-driver && $(GO) test -tags $(GOTAGS) -count=1 -timeout 45m -run '^TestChurn$$' -v ./test/reliability/

# The random-kill tier, long: KILL_ROUNDS rounds per driver, each a burst
# of every mutating RPC killed (SIGKILL) at a seeded random instant, then
# replayed and cleaned up (`make test` runs 3 rounds per driver). KILL_SEED,
# KILL_AT (e.g. 400ms,1s,2s) and KILL_KINDS (creates,deletes,mixed) pin the
# schedule: see shared/killround.
KILL_ROUNDS ?= 30
test-killtier: cluster-up build ## the random-kill tier, KILL_ROUNDS rounds per driver (about 40 s per RBD round, 60 s per CephFS round)
	@$(WITH_CLUSTER) export CEPH_CSI_REQUIRE_CLUSTER=1 RBD_DRIVER_BINARY=$(CURDIR)/bin/rbd-driver \
		CEPHFS_DRIVER_BINARY=$(CURDIR)/bin/cephfs-driver KILL_ROUNDS=$(KILL_ROUNDS) KILL_SEED=$(KILL_SEED) \
		KILL_AT=$(KILL_AT) KILL_KINDS=$(KILL_KINDS); \
	(cd rbd-driver && $(GO) test -tags $(GOTAGS) -count=1 -timeout 4h -run '^TestRandomKill$$' -v ./test/reliability/) && \
	(cd cephfs-driver && $(GO) test -tags $(GOTAGS) -count=1 -timeout 4h -run '^TestRandomKill$$' -v ./test/reliability/)

test-unit: ## unit tests only (no cluster needed; integration tests are skipped)
	@for m in $(MODULES); do \
		tags=$$( [ $$m = liveness-probe ] || echo "-tags $(GOTAGS)" ); \
		(cd $$m && $(GO) test $$tags $(TEST_FLAGS) ./...) || exit 1; done

demo: cluster-up build ## show the drivers working against the local cluster
	@$(WITH_CLUSTER) test/demo.sh
	@$(WITH_CLUSTER) test/demo-rbd.sh
	@$(WITH_CLUSTER) BIN_DIR=$(CURDIR)/bin test/demo-cephfs.sh

# Benchmarks (not tests): driver throughput and RSS against the bare go-ceph
# floor on the same cluster; the driver/floor ratios are the figures that count.
BENCH_RBD_ARGS    ?= -n 200 -c 32 -size 1GiB
BENCH_CEPHFS_ARGS ?=
bench: bench-rbd bench-cephfs ## run both provisioning benchmarks

bench-rbd: cluster-up bin/rbd-driver bin/rbd-bench ## RBD: N CreateVolume + N DeleteVolume at concurrency C vs. the go-ceph floor
	@$(WITH_CLUSTER) bin/rbd-bench -driver bin/rbd-driver $(BENCH_RBD_ARGS)

bench-cephfs: cluster-up bin/cephfs-driver bin/cephfs-bench ## CephFS: CreateVolume/DeleteVolume at C=1 and C=8 vs. the go-ceph floor
	@$(WITH_CLUSTER) bin/cephfs-bench --driver bin/cephfs-driver $(BENCH_CEPHFS_ARGS)

# Container images, built offline from build/*.Dockerfile (build/README.md).
images: ## build the rbd-driver, cephfs-driver and liveness-probe images (no Docker daemon/registry); sizes in bin/images.txt
	@mkdir -p bin
	@CEPH_RELEASE=$(CEPH_RELEASE) COMMIT=$(COMMIT) IMAGES_ARCHIVE_DIR=$(IMAGES_ARCHIVE_DIR) build/images.sh

# The images are also written as archives for `make e2e` (E2E_IMAGES_DIR),
# which then reuses them instead of building again.
test-images: ## build the images if needed and check them: --version, tools, no python/compilers, sizes
	@mkdir -p bin
	@CEPH_RELEASE=$(CEPH_RELEASE) COMMIT=$(COMMIT) IMAGES_ARCHIVE_DIR=$(or $(IMAGES_ARCHIVE_DIR),$(E2E_IMAGES_DIR)) \
		test/images/run.sh

include test/e2e/e2e.mk

clean: ## remove build outputs
	rm -rf bin $(TEST_LOG_DIR)
