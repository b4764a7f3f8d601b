#!/usr/bin/env bash
# Demo: start each driver on a unix socket against the local Ceph cluster and
# show what it answers. Run through `make demo`, which brings the cluster up,
# builds bin/ and exports the cluster's environment (test/cluster.sh env).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
work=$(mktemp -d /tmp/ceph-csi-demo.XXXXXX)
pids=()

cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }

wait_socket() {
	for _ in $(seq 1 100); do [ -S "$1" ] && return 0; sleep 0.1; done
	echo "socket $1 did not appear" >&2
	return 1
}

start_driver() { # name, extra args...
	local name=$1; shift
	"$bin/$name" --endpoint "unix://$work/$name.sock" --node-id demo-node \
		--cluster-config "${CEPH_CSI_CONFIG:?run through make demo}" "$@" \
		>"$work/$name.log" 2>&1 &
	pids+=($!)
	wait_socket "$work/$name.sock"
}

step "Ceph cluster"
ceph -s | sed -n '1,12p'

for driver in rbd-driver cephfs-driver; do
	step "$driver: Identity service"
	start_driver "$driver"
	"$bin/csi-ping" --endpoint "unix://$work/$driver.sock"
done

step "liveness-probe next to rbd-driver"
"$bin/liveness-probe" --csi-address "unix://$work/rbd-driver.sock" --http-address 127.0.0.1:19808 \
	--probe-interval 1s >"$work/liveness.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 50); do curl -fsS http://127.0.0.1:19808/healthz >/dev/null 2>&1 && break; sleep 0.2; done
printf '/healthz: '; curl -sS http://127.0.0.1:19808/healthz; echo
curl -sS http://127.0.0.1:19808/metrics | grep -E '^csi_liveness'

step "demo finished"
