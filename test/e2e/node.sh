# shellcheck shell=bash
# The e2e test's Kubernetes node (sourced by run.sh, never run): Debian's
# containerd 1.6 + runc with a private root, state and socket under $WORK, a
# kubelet v1.37.2 (test/e2e/tools.sh --node) named $NODE_ID on 127.0.0.1,
# and the test's pod image (test/e2e/podimage: also the sandbox's pause
# image). The drivers' pods are deploy.sh's.
#
# The kubelet changes host state; node_record_host saves it first and
# node_restore_host (from run.sh's teardown) puts it back: the sysctls
# vm.overcommit_memory, kernel.panic, kernel.panic_on_oops; iptables chains
# KUBE-* that were not there before (and the rules jumping to them); the
# kubelet's root directory (mounts under it, then the directory itself if it
# did not exist) and its cgroups (kubepods). Every process is stopped by PID:
# the kubelet and containerd through start_proc/stop_all, the containerd
# shims (which daemonize) by the PIDs found for this run's containerd socket.

KUBELET_DIR=${E2E_KUBELET_DIR:-/var/lib/kubelet}
POD_IMAGE=localhost/ceph-csi-e2e/pod:1
HOST_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops)
NODE_STARTED=""

# node_record_host: what the kubelet may change, saved under $WORK/host.
node_record_host() {
	local s
	mkdir -p "$WORK/host"
	for s in "${HOST_SYSCTLS[@]}"; do
		printf '%s=%s\n' "$s" "$(sysctl -n "$s")"
	done >"$WORK/host/sysctl"
	iptables -S 2>/dev/null | awk '$1 == "-N" { print $2 }' >"$WORK/host/chains.filter"
	iptables -t nat -S 2>/dev/null | awk '$1 == "-N" { print $2 }' >"$WORK/host/chains.nat"
	iptables -t mangle -S 2>/dev/null | awk '$1 == "-N" { print $2 }' >"$WORK/host/chains.mangle"
	if [ -e "$KUBELET_DIR" ]; then touch "$WORK/host/kubelet-dir-existed"; fi
	local dir
	for dir in "${NODE_HOST_DIRS[@]}"; do
		[ -e "$dir" ] && echo "$dir"
	done >"$WORK/host/dirs-existed"
	ls -d /var/log/pods/* /var/log/containers/* 2>/dev/null >"$WORK/host/pod-logs" || true
	ls -d /sys/fs/cgroup/*/kubepods 2>/dev/null >"$WORK/host/kubepods" || true
}

# node_restore_host: undoes what node_record_host saved (teardown).
node_restore_host() {
	[ -f "$WORK/host/sysctl" ] || return 0
	local kv
	while read -r kv; do
		sysctl -q -w "$kv" >/dev/null || log "WARNING: could not restore $kv"
	done <"$WORK/host/sysctl"
	local table
	for table in filter nat mangle; do restore_chains "$table"; done
	unmount_under "$KUBELET_DIR"
	if [ ! -f "$WORK/host/kubelet-dir-existed" ]; then rm -rf "$KUBELET_DIR"; fi
	restore_node_dirs
	local cg
	for cg in /sys/fs/cgroup/*/kubepods; do
		[ -d "$cg" ] || continue
		grep -qx "$cg" "$WORK/host/kubepods" && continue
		find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || log "WARNING: could not remove $cg"
	done
}

# restore_node_dirs: what the drivers' DaemonSets left on the host: mounts
# and loop devices under their state directories, the host directories
# they created, the pod logs of this run.
restore_node_dirs() {
	local dir f
	for dir in /var/lib/rbd-driver /var/lib/cephfs-driver; do
		[ -d "$dir" ] || continue
		unmount_under "$dir"
		for f in /sys/block/loop*/loop/backing_file; do
			[ -f "$f" ] && grep -q "^$dir/" "$f" 2>/dev/null || continue
			f=${f%/loop/backing_file}
			losetup -d "/dev/${f##*/}" 2>/dev/null || log "WARNING: could not detach /dev/${f##*/}"
		done
	done
	for f in /var/log/pods/* /var/log/containers/*; do
		[ -e "$f" ] || [ -L "$f" ] || continue
		grep -qxF "$f" "$WORK/host/pod-logs" || rm -rf "$f"
	done
	for dir in "${NODE_HOST_DIRS[@]}"; do
		[ -e "$dir" ] && ! grep -qxF "$dir" "$WORK/host/dirs-existed" && rm -rf "$dir"
	done
	return 0
}

# restore_chains TABLE: removes the KUBE-* chains that are new since
# node_record_host, and every rule that jumps to them.
restore_chains() {
	local table=$1 chain rule
	for chain in $(iptables -t "$table" -S | awk '$1 == "-N" && $2 ~ /^KUBE-/ { print $2 }'); do
		grep -qx "$chain" "$WORK/host/chains.$table" && continue
		iptables -t "$table" -S | grep -E -- "-j $chain( |$)" | while read -r rule; do
			# shellcheck disable=SC2086 # the rule's words are iptables arguments
			iptables -t "$table" ${rule/-A /-D } || log "WARNING: could not delete $rule"
		done
		iptables -t "$table" -F "$chain" && iptables -t "$table" -X "$chain" ||
			log "WARNING: could not remove chain $table/$chain"
	done
}

# unmount_under DIR: lazily unmounts every mount at or below DIR, deepest
# first (pod volumes, projected tmpfs, the kubelet's own bind mount).
unmount_under() {
	local m
	findmnt -rn -o TARGET | awk -v d="$1" 'index($0, d) == 1' | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || log "WARNING: could not unmount $m"
	done
}

# ---------------------------------------------------------------- containerd

CTRD_DIR=""
CTRD_SOCK=""

# start_containerd: containerd with everything under $WORK/containerd, the
# CRI plugin on runc with cgroupfs, restrict_oom_score_adj (this VM lacks
# CAP_SYS_RESOURCE: without it runc cannot set the sandbox's
# oom_score_adj), the test's pod image as the sandbox image; a CNI
# configuration with only the loopback plugin (the test's pods and the
# drivers' use the host's network; with no CNI configuration at all the
# node would never be Ready, and the Deployment's pods never scheduled).
start_containerd() {
	CTRD_DIR=$WORK/containerd
	CTRD_SOCK=$CTRD_DIR/containerd.sock
	mkdir -p "$CTRD_DIR/root" "$CTRD_DIR/state" "$CTRD_DIR/opt" "$CTRD_DIR/net.d"
	cat >"$CTRD_DIR/config.toml" <<TOML
version = 2
root = "$CTRD_DIR/root"
state = "$CTRD_DIR/state"
[grpc]
  address = "$CTRD_SOCK"
[ttrpc]
  address = "$CTRD_DIR/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$CTRD_DIR/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$POD_IMAGE"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "$(command -v runc)"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CTRD_DIR/net.d"
TOML
	printf '%s\n' '{"cniVersion": "1.0.0", "name": "e2e-loopback", "plugins": [{"type": "loopback"}]}' \
		>"$CTRD_DIR/net.d/10-e2e-loopback.conflist"
	start_proc containerd containerd --config "$CTRD_DIR/config.toml" --log-level warn
	wait_until 30 "containerd socket" ctr_ version
	NODE_STARTED=1
}

ctr_() { ctr --address "$CTRD_SOCK" --namespace k8s.io "$@"; }

# stop_pods_and_shims: before containerd stops, every task it still runs is
# killed and deleted, and the shims of this containerd (found by its socket
# path in their command line) are stopped by PID.
stop_pods_and_shims() {
	[ -n "$NODE_STARTED" ] || return 0
	local id pid
	for id in $(ctr_ tasks ls -q 2>/dev/null); do
		ctr_ tasks kill -s SIGKILL "$id" >/dev/null 2>&1
		ctr_ tasks delete -f "$id" >/dev/null 2>&1
	done
	for id in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers rm "$id" >/dev/null 2>&1; done
	for pid in $(shim_pids); do
		kill -TERM "$pid" 2>/dev/null
	done
	sleep 1
	for pid in $(shim_pids); do kill -KILL "$pid" 2>/dev/null; done
}

# shim_pids: the PIDs of containerd-shim processes of this run's containerd.
shim_pids() {
	local p
	for p in /proc/[0-9]*; do
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF -- "-address $CTRD_SOCK " && echo "${p#/proc/}"
	done
	return 0
}

# build_pod_image: the test's pod image (test/e2e/podimage, static, in a
# scratch image; its default command is `pause`, so it also serves as the
# sandbox image), imported into containerd.
build_pod_image() {
	local b ctr
	(cd "$HERE" && CGO_ENABLED=0 "${GO:-go}" build -o "$WORK/e2e-pod" ./podimage) || die "test/e2e/podimage does not build"
	b=(buildah --root "$WORK/buildah/root" --runroot "$WORK/buildah/run" --storage-driver vfs)
	ctr=$("${b[@]}" from scratch)
	"${b[@]}" copy "$ctr" "$WORK/e2e-pod" /e2e-pod >/dev/null
	"${b[@]}" config --entrypoint '["/e2e-pod"]' --cmd pause "$ctr"
	"${b[@]}" commit -q "$ctr" "docker-archive:$WORK/pod-image.tar:$POD_IMAGE" >/dev/null
	"${b[@]}" rm "$ctr" >/dev/null
	ctr_ images import "$WORK/pod-image.tar" >/dev/null || die "ctr images import of the pod image failed"
	log "pod image $POD_IMAGE built and imported"
}

# ---------------------------------------------------------------- kubelet

# start_kubelet: the kubelet as node $NODE_ID on 127.0.0.1 (free ports),
# authenticating as the test's admin, with the settings this machine needs
# (cgroup v1: failCgroupV1 false, cgroupfs; swap allowed).
start_kubelet() {
	local port healthz dir=$WORK/kubelet
	free_port
	port=$FREE_PORT
	free_port
	healthz=$FREE_PORT
	mkdir -p "$dir/pki" "$KUBELET_DIR"
	cat >"$dir/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://$CTRD_SOCK
address: 127.0.0.1
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
registerNode: true
resolvConf: /etc/resolv.conf
syncFrequency: 10s
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
YAML
	start_proc kubelet "$NODE_TOOLS/bin/kubelet" --config="$dir/config.yaml" \
		--kubeconfig="$KUBECONFIG_ADMIN" --root-dir="$KUBELET_DIR" --cert-dir="$dir/pki" \
		--hostname-override="$NODE_ID" --node-ip=127.0.0.1 --v=2
	# shellcheck disable=SC2034 # read by stop_all (lib.sh)
	PROC_GRACE["kubelet"]=5
	wait_until 60 "kubelet /healthz" curl -fsS "http://127.0.0.1:$healthz/healthz"
	wait_until 60 "node $NODE_ID registered" k get node "$NODE_ID"
	log "kubelet: node $NODE_ID registered"
}

csinode_has() {
	k get csinode "$NODE_ID" -o json | jq -e --arg n "$1" 'any(.spec.drivers[]?; .name == $n)' >/dev/null
}
