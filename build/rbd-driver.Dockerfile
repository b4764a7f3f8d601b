# syntax=docker/dockerfile:1
# The RBD CSI driver image. Build from the repository root, online:
#   docker build -f build/rbd-driver.Dockerfile -t rbd-driver:v0.1.0 \
#     --build-arg COMMIT=$(git rev-parse --short=12 HEAD) .
#   (podman build takes the same arguments.)
# `make images` builds this same file offline with buildah: BASE_IMAGE and
# GO_IMAGE then name local images (a Debian bookworm made with mmdebstrap, and
# that plus the host's Go toolchain); see build/README.md.
#
# CEPH_RELEASE is both the Ceph client release installed and go-ceph's build
# tag; pacific is Debian bookworm's own, other releases come from
# download.ceph.com (build/ceph-apt.sh).
ARG BASE_IMAGE=debian:bookworm-slim
ARG GO_IMAGE=golang:1.26.8-bookworm

FROM ${GO_IMAGE} AS build
ARG CEPH_RELEASE=pacific
COPY build/ceph-apt.sh /usr/local/sbin/ceph-apt.sh
RUN /usr/local/sbin/ceph-apt.sh "$CEPH_RELEASE" \
 && apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev librados-dev librbd-dev libcephfs-dev \
 && rm -rf /var/lib/apt/lists/*
# The module on its own (GOWORK=off; its go.mod replaces shared with ../shared).
ENV GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=1 \
    GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build
WORKDIR /src
COPY shared/ shared/
COPY rbd-driver/ rbd-driver/
# VERSION defaults to the module's VERSION file; COMMIT to "unknown" (.git is
# not in the build context). GOPROXY may point at a local module cache.
ARG VERSION=
ARG COMMIT=unknown
ARG GOPROXY
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd rbd-driver \
 && go build -trimpath -tags "$CEPH_RELEASE" \
      -ldflags "-s -w -X main.version=${VERSION:-$(cat VERSION)} -X main.commit=$COMMIT" \
      -o /out/rbd-driver ./cmd/rbd-driver

# Runtime: the Ceph client libraries the driver links, and exactly the tools
# it runs: rbd (krbd map/unmap, rbd-nbd via `rbd device map -t nbd`),
# rbd-nbd, rbd-fuse + losetup, mkfs/fsck/resize for ext4 and xfs, blkid,
# blockdev, mount/umount, modprobe (the rbd CLI loads rbd/nbd modules),
# nsenter (maps in rbd.netNamespaceFilePath's network namespace).
# rbd comes out of ceph-common's .deb and the xfs tools out of xfsprogs'
# without their Python dependencies (build/install-runtime.sh).
FROM ${BASE_IMAGE}
ARG CEPH_RELEASE=pacific
COPY build/ceph-apt.sh build/install-runtime.sh /usr/local/sbin/
RUN /usr/local/sbin/ceph-apt.sh "$CEPH_RELEASE" \
 && /usr/local/sbin/install-runtime.sh \
      --install "librados2 librbd1 rbd-nbd rbd-fuse util-linux mount e2fsprogs kmod \
                 libboost-program-options1.74.0 libncurses6 libkeyutils1 libinih1 liburcu8" \
      --extract "ceph-common:/usr/bin/rbd xfsprogs:/sbin/mkfs.xfs,/usr/sbin/xfs_growfs,/sbin/fsck.xfs" \
      --require "rbd rbd-nbd rbd-fuse losetup mount umount blkid blockdev fsck fsck.ext4 mkfs.ext4 \
                 e2fsck resize2fs dumpe2fs mkfs.xfs xfs_growfs fsck.xfs modprobe nsenter" \
 && rm /usr/local/sbin/ceph-apt.sh /usr/local/sbin/install-runtime.sh
COPY --from=build /out/rbd-driver /usr/local/bin/rbd-driver
ENTRYPOINT ["/usr/local/bin/rbd-driver"]
