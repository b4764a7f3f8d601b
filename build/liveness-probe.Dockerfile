# syntax=docker/dockerfile:1
# The liveness exporter: pure Go, static, on distroless. Build from the
# repository root:
#   docker build -f build/liveness-probe.Dockerfile -t liveness-probe:dev .
# It runs as root (distroless "static", not "static:nonroot") because it must
# connect to the driver's root-owned socket; the manifests drop every capability.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
ARG VERSION=dev
ENV GOWORK=off GOFLAGS=-buildvcs=false CGO_ENABLED=0
WORKDIR /src/liveness-probe
COPY liveness-probe/go.mod liveness-probe/go.sum ./
RUN go mod download
COPY liveness-probe/ ./
RUN go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o /out/liveness-probe ./cmd/liveness-probe

FROM gcr.io/distroless/static-debian12
COPY --from=build /out/liveness-probe /liveness-probe
ENTRYPOINT ["/liveness-probe"]
