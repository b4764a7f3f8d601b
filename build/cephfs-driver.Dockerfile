# syntax=docker/dockerfile:1
# The CephFS CSI driver image. Build from the repository root, online:
#   docker build -f build/cephfs-driver.Dockerfile -t cephfs-driver:v0.1.0 \
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
COPY cephfs-driver/ cephfs-driver/
# VERSION defaults to the module's VERSION file; COMMIT to "unknown" (.git is
# not in the build context). GOPROXY may point at a local module cache.
ARG VERSION=
ARG COMMIT=unknown
ARG GOPROXY
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    cd cephfs-driver \
 && go build -trimpath -tags "$CEPH_RELEASE" \
      -ldflags "-s -w -X main.version=${VERSION:-$(cat VERSION)} -X main.commit=$COMMIT" \
      -o /out/cephfs-driver ./cmd/cephfs-driver

# Runtime: the Ceph client libraries the driver links, and exactly the tools
# it runs: ceph-fuse, mount.ceph (the kernel client's mount helper, run by
# `mount -t ceph`), mount/umount, modprobe (mount.ceph loads the ceph module),
# nsenter (mounts in cephFS.netNamespaceFilePath's network namespace).
# mount.ceph comes out of ceph-common's .deb and ceph-fuse out of its own
# without their Python dependencies (build/install-runtime.sh).
FROM ${BASE_IMAGE}
ARG CEPH_RELEASE=pacific
COPY build/ceph-apt.sh build/install-runtime.sh /usr/local/sbin/
RUN /usr/local/sbin/ceph-apt.sh "$CEPH_RELEASE" \
 && /usr/local/sbin/install-runtime.sh \
      --install "librados2 libcephfs2 util-linux mount kmod libfuse2 libfmt9 libkeyutils1 libcap-ng0" \
      --extract "ceph-common:/sbin/mount.ceph ceph-fuse:/usr/bin/ceph-fuse" \
      --require "mount umount mount.ceph ceph-fuse modprobe nsenter" \
 && rm /usr/local/sbin/ceph-apt.sh /usr/local/sbin/install-runtime.sh
COPY --from=build /out/cephfs-driver /usr/local/bin/cephfs-driver
ENTRYPOINT ["/usr/local/bin/cephfs-driver"]
