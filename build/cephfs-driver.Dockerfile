# syntax=docker/dockerfile:1
# The CephFS CSI driver. Build from the repository root:
#   docker build -f build/cephfs-driver.Dockerfile -t cephfs-driver:dev .
#   docker build -f build/cephfs-driver.Dockerfile --build-arg CEPH_RELEASE=reef -t cephfs-driver:dev .
# CEPH_RELEASE is both the Ceph client release installed and the go-ceph build
# tag; pacific is Debian bookworm's own, other releases come from download.ceph.com.
ARG GO_VERSION=1.26.8
ARG DEBIAN_RELEASE=bookworm

# Only the (static) Go toolchain is taken from this image.
FROM golang:${GO_VERSION} AS go

# Debian with apt set up for the chosen Ceph release.
FROM debian:${DEBIAN_RELEASE}-slim AS ceph-base
ARG CEPH_RELEASE=pacific
COPY build/ceph-apt.sh /usr/local/sbin/ceph-apt.sh
RUN /usr/local/sbin/ceph-apt.sh "$CEPH_RELEASE" && rm /usr/local/sbin/ceph-apt.sh

FROM ceph-base AS build
ARG CEPH_RELEASE=pacific
ARG VERSION=dev
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev librados-dev librbd-dev libcephfs-dev \
 && rm -rf /var/lib/apt/lists/*
COPY --from=go /usr/local/go /usr/local/go
ENV PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false CGO_ENABLED=1
WORKDIR /src
# Workspace mode, as `make build` does: go.work and every module's go.mod /
# go.sum first, so the dependency download is cached across source edits,
# then the sources of this driver and of the shared module only.
COPY go.work go.work.sum ./
COPY shared/go.mod shared/go.sum shared/
COPY rbd-driver/go.mod rbd-driver/go.sum rbd-driver/
COPY cephfs-driver/go.mod cephfs-driver/go.sum cephfs-driver/
COPY liveness-probe/go.mod liveness-probe/go.sum liveness-probe/
RUN go mod download
COPY shared/ shared/
COPY cephfs-driver/ cephfs-driver/
RUN cd cephfs-driver \
 && go build -tags "$CEPH_RELEASE" -ldflags "-s -w -X main.version=$VERSION" -o /out/cephfs-driver ./cmd/cephfs-driver

# Runtime: the Ceph client libraries the binary links, the kernel client's
# mount helper (mount.ceph, in ceph-common), ceph-fuse, and mount(8).
FROM ceph-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librados2 libcephfs2 ceph-common ceph-fuse util-linux mount \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/cephfs-driver /usr/local/bin/cephfs-driver
ENTRYPOINT ["/usr/local/bin/cephfs-driver"]
