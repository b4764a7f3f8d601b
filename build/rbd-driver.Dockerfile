# syntax=docker/dockerfile:1
# The RBD CSI driver. Build from the repository root:
#   docker build -f build/rbd-driver.Dockerfile -t rbd-driver:dev .
#   docker build -f build/rbd-driver.Dockerfile --build-arg CEPH_RELEASE=reef -t rbd-driver:dev .
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
COPY rbd-driver/ rbd-driver/
RUN cd rbd-driver \
 && go build -tags "$CEPH_RELEASE" -ldflags "-s -w -X main.version=$VERSION" -o /out/rbd-driver ./cmd/rbd-driver

# Runtime: the Ceph client libraries the binary links, and the tools the node
# mounters run: rbd (krbd map), rbd-nbd, rbd-fuse + losetup, mkfs/fsck/resize
# for ext4 and xfs, mount/blkid.
FROM ceph-base
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librados2 librbd1 ceph-common rbd-nbd rbd-fuse \
      e2fsprogs xfsprogs util-linux mount \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/rbd-driver /usr/local/bin/rbd-driver
ENTRYPOINT ["/usr/local/bin/rbd-driver"]
