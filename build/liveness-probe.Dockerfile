# syntax=docker/dockerfile:1
# The liveness exporter: pure Go, static, alone in a scratch image (no shell,
# no libc). Build from the repository root, online:
#   docker build -f build/liveness-probe.Dockerfile -t liveness-probe:v0.1.0 \
#     --build-arg COMMIT=$(git rev-parse --short=12 HEAD) .
# `make images` builds it offline with buildah (GO_IMAGE a local image with
# the host's Go toolchain); see build/README.md.
# It runs as root because it must connect to the driver's root-owned socket;
# the manifests drop every capability and make the root file system read-only.
ARG GO_IMAGE=golang:1.26.8-bookworm

FROM ${GO_IMAGE} AS build
ENV GOTOOLCHAIN=local GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0 \
    GOMODCACHE=/go/pkg/mod GOCACHE=/root/.cache/go-build
WORKDIR /src/liveness-probe
COPY liveness-probe/ ./
ARG VERSION=
ARG COMMIT=unknown
ARG GOPROXY
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION:-$(cat VERSION)} -X main.commit=$COMMIT" \
      -o /out/liveness-probe ./cmd/liveness-probe

FROM scratch
COPY --from=build /out/liveness-probe /liveness-probe
ENTRYPOINT ["/liveness-probe"]
