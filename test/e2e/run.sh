#!/usr/bin/env bash
# End-to-end test: a real Kubernetes control plane (etcd, kube-apiserver,
# kube-controller-manager, snapshot-controller) and the real CSI sidecars
# (csi-provisioner, csi-snapshotter, csi-resizer) on 127.0.0.1, driving
# bin/rbd-driver and bin/cephfs-driver in controller mode against the local
# Ceph cluster (test/cluster.sh). No containers, no kubelet: PVCs bind
# Immediately and nothing is mounted.
#
#   test/e2e/run.sh                      # both drivers
#   E2E_DRIVERS=rbd test/e2e/run.sh      # one driver
#
# What it does, in order:
#  1. binaries: test/e2e/tools.sh (cached build of the control plane,
#     kubectl and the sidecars), etcd from Debian's etcd-server, and the
#     scenarios' test binary (`go test -c` of this directory's Go package);
#  2. control plane: etcd, kube-apiserver (RBAC authorization: the sidecars
#     run with the manifests' ServiceAccount and RBAC, so missing permissions
#     fail the test), kube-controller-manager (PV binder/expander/protection),
#     the VolumeSnapshot CRDs, snapshot-controller;
#  3. manifests: `kubectl apply --dry-run=server -k manifests/<driver>` for
#     both drivers, then a real apply (RBAC, ServiceAccounts, CSIDriver...);
#  4. per driver: the driver, liveness-probe and the three sidecars as local
#     processes, with the arguments of the controller Deployment in
#     manifests/ (socket, ports, kubeconfig rewritten for a local run); a
#     dedicated RBD pool / CephFS subvolume group and journal namespace;
#  5. scenarios: the Go tests of this directory (one file per scenario
#     family, each written once for both drivers), asserting on Kubernetes
#     objects and on Ceph; they print `PASS <name>` / `FAIL <name>` and
#     `e2e: N passed, N failed, N skipped`;
#  6. tear-down (always, from a trap): every started process is stopped by
#     PID, the test pool / subvolume group are removed, logs are copied to
#     E2E_LOG_DIR and the temporary directory is deleted.
#
# Environment: CLUSTER_DIR (the Ceph cluster, default /tmp/ceph-csi-cluster),
# E2E_DRIVERS ("rbd cephfs"), E2E_BIN (driver binaries, default bin/),
# E2E_TOOLS_CACHE (see tools.sh), E2E_LOG_DIR (default .test-logs/e2e),
# E2E_KEEP=1 (keep the temporary directory), E2E_RUN (a `go test -run`
# pattern, e.g. 'TestE2E/rbd-'), E2E_PORT_MIN/E2E_PORT_MAX (the range the
# loopback ports are picked from, default 20000-39999).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=node.sh
. "$HERE/node.sh"
# shellcheck source=deploy.sh
. "$HERE/deploy.sh"

E2E_DRIVERS=${E2E_DRIVERS:-rbd cephfs}
E2E_KUBELET=${E2E_KUBELET:-1}
BIN=${E2E_BIN:-$ROOT/bin}
E2E_LOG_DIR=${E2E_LOG_DIR:-$ROOT/.test-logs/e2e}
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/ceph-csi-cluster}
NODE_ID=e2e-node

# ------------------------------------------------------------------ checks

[ -f "$CLUSTER_DIR/env" ] || die "no Ceph cluster at $CLUSTER_DIR (run: make cluster-up)"
set -a
# shellcheck disable=SC1091
. "$CLUSTER_DIR/env"
set +a
for d in $E2E_DRIVERS; do
	case $d in rbd | cephfs) ;; *) die "E2E_DRIVERS: unknown driver $d" ;; esac
	[ -x "$BIN/$d-driver" ] || die "$BIN/$d-driver missing (run: make build)"
done
[ -x "$BIN/liveness-probe" ] || die "$BIN/liveness-probe missing (run: make build)"
# Debian packages the harness needs (etcd-server is Debian's etcd 3.4).
missing=()
deps="etcd:etcd-server jq:jq curl:curl openssl:openssl ss:iproute2 flock:util-linux"
if [ "$E2E_KUBELET" = 1 ]; then
	deps+=" /usr/lib/cni/loopback:containernetworking-plugins containerd:containerd runc:runc ctr:containerd buildah:buildah iptables:iptables findmnt:util-linux"
fi
for pair in $deps; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for tool in rbd rados ceph; do
	command -v "$tool" >/dev/null || die "$tool is not installed (make deps)"
done
timeout 20 ceph health >/dev/null 2>&1 || die "the Ceph cluster at $CLUSTER_DIR does not answer (test/cluster.sh status)"

log "e2e: drivers: $E2E_DRIVERS"
TOOLS=$("$HERE/tools.sh")
NODE_TOOLS=${E2E_NODE_TOOLS:-$("$HERE/tools.sh" --node)}
log "tools: $TOOLS, node tools: $NODE_TOOLS"

# ------------------------------------------------------------------ teardown

WORK=$(mktemp -d /tmp/ceph-csi-e2e.XXXXXX)
mkdir -p "$WORK/logs" "$WORK/pids"
RUN_ID=$(basename "$WORK" | cut -d. -f2 | tr '[:upper:]' '[:lower:]')
CREATED_POOL=""
CREATED_GROUP=""
CREATED_USERS=()

teardown() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	log "teardown: stopping ${#PROC_PIDS[@]} processes"
	# The kubelet first (it would restart containers), then the pods'
	# containers and containerd's shims, then everything else.
	stop_proc kubelet
	stop_pods_and_shims
	save_pod_logs
	stop_all
	node_restore_host
	# containerd's sandboxes leave their shm and rootfs mounts in $WORK.
	unmount_under "$WORK"
	ceph_cleanup
	mkdir -p "$E2E_LOG_DIR"
	rm -rf "$E2E_LOG_DIR"/*.log "$E2E_LOG_DIR/pods"
	cp -r "$WORK/logs/." "$E2E_LOG_DIR/" 2>/dev/null
	if [ "${E2E_KEEP:-0}" = 1 ]; then
		log "kept $WORK"
	else
		rm -rf "$WORK"
	fi
	if [ $rc -ne 0 ]; then
		log "e2e FAILED (exit $rc); logs in $E2E_LOG_DIR"
	fi
	exit $rc
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ceph_cleanup removes what the test created in Ceph, whatever state a
# failed run left it in.
ceph_cleanup() {
	local sv snap obj user
	for user in "${CREATED_USERS[@]}"; do
		ceph auth rm "client.$user" >/dev/null 2>&1 || log "WARNING: could not remove client.$user"
	done
	if [ -n "$CREATED_POOL" ]; then
		ceph osd pool rm "$CREATED_POOL" "$CREATED_POOL" --yes-i-really-really-mean-it >/dev/null 2>&1 ||
			log "WARNING: could not remove pool $CREATED_POOL"
	fi
	if [ -n "$CREATED_GROUP" ]; then
		for sv in $(ceph fs subvolume ls "$FS_NAME" --group_name "$CREATED_GROUP" -f json 2>/dev/null | jq -r '.[].name'); do
			for snap in $(ceph fs subvolume snapshot ls "$FS_NAME" "$sv" --group_name "$CREATED_GROUP" -f json 2>/dev/null | jq -r '.[].name'); do
				ceph fs subvolume snapshot rm "$FS_NAME" "$sv" "$snap" --group_name "$CREATED_GROUP" --force >/dev/null 2>&1
			done
			ceph fs subvolume rm "$FS_NAME" "$sv" --group_name "$CREATED_GROUP" --force >/dev/null 2>&1
		done
		ceph fs subvolumegroup rm "$FS_NAME" "$CREATED_GROUP" --force >/dev/null 2>&1 ||
			log "WARNING: could not remove subvolume group $CREATED_GROUP"
		for obj in $(rados -p "$FS_META_POOL" -N "$CREATED_GROUP" ls 2>/dev/null); do
			rados -p "$FS_META_POOL" -N "$CREATED_GROUP" rm "$obj" >/dev/null 2>&1
		done
	fi
}

# ------------------------------------------------------------------ control plane

start_control_plane() {
	local etcd_port etcd_peer token
	free_port
	etcd_port=$FREE_PORT
	free_port
	etcd_peer=$FREE_PORT
	free_port
	API_PORT=$FREE_PORT

	start_proc etcd etcd --name e2e --data-dir "$WORK/etcd" \
		--listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
		--listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
		--initial-cluster "e2e=http://127.0.0.1:$etcd_peer" --logger zap --log-level warn
	wait_until 30 "etcd" curl -fsS "http://127.0.0.1:$etcd_port/health"

	openssl genrsa -out "$WORK/sa.key" 2048 2>/dev/null
	openssl rsa -in "$WORK/sa.key" -pubout -out "$WORK/sa.pub" 2>/dev/null
	token=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
	# token,user,uid,"groups": system:masters bypasses RBAC.
	echo "$token,e2e-admin,e2e-admin,\"system:masters\"" >"$WORK/tokens.csv"
	chmod 600 "$WORK/tokens.csv" "$WORK/sa.key"

	start_proc kube-apiserver "$TOOLS/bin/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$etcd_port" \
		--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$API_PORT" \
		--cert-dir="$WORK/apiserver" \
		--token-auth-file="$WORK/tokens.csv" --anonymous-auth=false \
		--authorization-mode=RBAC \
		--service-account-issuer=https://kubernetes.default.svc \
		--service-account-key-file="$WORK/sa.pub" \
		--service-account-signing-key-file="$WORK/sa.key" \
		--service-cluster-ip-range=10.96.0.0/24 \
		--endpoint-reconciler-type=none \
		--allow-privileged=true \
		--profiling=false --v=1

	# After "[graceful-termination] apiserver is exiting" the process may
	# linger for many seconds; its state is thrown away anyway.
	PROC_GRACE[kube-apiserver]=3
	KUBECONFIG_ADMIN=$WORK/admin.kubeconfig
	write_kubeconfig "$KUBECONFIG_ADMIN" "$token"
	wait_until 60 "kube-apiserver /readyz" k get --raw /readyz

	start_proc kube-controller-manager "$TOOLS/bin/kube-controller-manager" \
		--kubeconfig="$KUBECONFIG_ADMIN" --leader-elect=false \
		--controllers="$KCM_CONTROLLERS" \
		--root-ca-file="$WORK/apiserver/apiserver.crt" \
		--flex-volume-plugin-dir="$WORK/flexvolume" \
		--bind-address=127.0.0.1 --secure-port=0 \
		--use-service-account-credentials=false --v=2

	# The VolumeSnapshot and VolumeGroupSnapshot CRDs (external-snapshotter's
	# client module, the version the snapshot-controller is built from), and
	# the snapshot-controller with group snapshots on.
	k apply -f "$TOOLS/crd/" >/dev/null
	k apply -f "$(group_snapshot_crds)" >/dev/null
	k wait --for=condition=established --timeout=30s \
		crd/volumesnapshotclasses.snapshot.storage.k8s.io \
		crd/volumesnapshotcontents.snapshot.storage.k8s.io \
		crd/volumesnapshots.snapshot.storage.k8s.io \
		crd/volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io \
		crd/volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io \
		crd/volumegroupsnapshots.groupsnapshot.storage.k8s.io >/dev/null
	start_proc snapshot-controller "$TOOLS/bin/snapshot-controller" \
		--kubeconfig="$KUBECONFIG_ADMIN" --leader-election=false \
		--feature-gates=CSIVolumeGroupSnapshot=true \
		--retry-interval-start=500ms --v=2
	if [ "$E2E_KUBELET" = 1 ]; then
		# The drivers' Deployment and DaemonSet pods are scheduled.
		start_proc kube-scheduler "$NODE_TOOLS/bin/kube-scheduler" \
			--kubeconfig="$KUBECONFIG_ADMIN" --leader-elect=false --secure-port=0 --v=2
	fi
	log "control plane ready"
}

# group_snapshot_crds: a directory with the VolumeGroupSnapshot CRDs of the
# external-snapshotter client module in tools/go.mod (from the module cache,
# downloaded from the module proxy when missing).
group_snapshot_crds() {
	local dir
	dir=$(cd "$HERE/tools" && GOWORK=off GOFLAGS=-mod=readonly "${GO:-go}" mod download -json \
		github.com/kubernetes-csi/external-snapshotter/client/v8 | jq -r .Dir) || die "external-snapshotter client module"
	mkdir -p "$WORK/group-crd"
	cp "$dir"/config/crd/groupsnapshot.storage.k8s.io_*.yaml "$WORK/group-crd/"
	echo "$WORK/group-crd"
}

# The kube-controller-manager controllers PV provisioning needs: binding,
# expansion, and the protection controllers that remove the PVC/PV
# finalizers (without them nothing is ever deleted); and the attach/detach
# controller, which creates the VolumeAttachments of pods' volumes on a node
# for drivers with attachRequired (csi-attacher marks them attached); with
# a kubelet, those that run the drivers' Deployment and DaemonSet, the node
# lifecycle controller (it lifts the not-ready taint the kubelet registers
# the node with) and the publisher of kube-root-ca.crt (the CA in the
# drivers' ServiceAccount volumes).
KCM_CONTROLLERS=persistentvolume-binder-controller,persistentvolume-expander-controller,persistentvolumeclaim-protection-controller,persistentvolume-protection-controller,persistentvolume-attach-detach-controller
if [ "$E2E_KUBELET" = 1 ]; then
	KCM_CONTROLLERS+=,deployment-controller,replicaset-controller,daemonset-controller,node-lifecycle-controller,root-ca-certificate-publisher-controller
fi

# write_kubeconfig FILE TOKEN
write_kubeconfig() {
	cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: e2e
  cluster:
    server: https://127.0.0.1:$API_PORT
    insecure-skip-tls-verify: true
users:
- name: e2e
  user:
    token: $2
contexts:
- name: e2e
  context: {cluster: e2e, user: e2e}
current-context: e2e
EOF
	chmod 600 "$1"
}

# ------------------------------------------------------------------ manifests

validate_manifests() {
	local d
	for d in rbd cephfs; do
		# The namespace must exist for a server-side dry run of the objects in it.
		k apply -f "$ROOT/manifests/$d/namespace.yaml" >/dev/null
		k apply --dry-run=server -k "$ROOT/manifests/$d" >"$WORK/logs/dry-run-$d.log" 2>&1 ||
			{ cat "$WORK/logs/dry-run-$d.log" >&2; die "server-side dry run of manifests/$d failed"; }
		# The sample VolumeGroupSnapshotClass is not in the kustomization
		# (it needs the group snapshot CRDs): applied on its own.
		k apply -f "$ROOT/manifests/$d/groupsnapshotclass.yaml" >>"$WORK/logs/dry-run-$d.log" 2>&1 ||
			{ cat "$WORK/logs/dry-run-$d.log" >&2; die "kubectl apply -f manifests/$d/groupsnapshotclass.yaml failed"; }
		log "manifests/$d: server-side dry run ok ($(wc -l <"$WORK/logs/dry-run-$d.log") objects)"
	done
	# With a kubelet, deploy_driver applies them (an overlay for this node).
	[ "$E2E_KUBELET" = 1 ] && return 0
	for d in $E2E_DRIVERS; do
		k apply -k "$ROOT/manifests/$d" >"$WORK/logs/apply-$d.log" 2>&1 ||
			{ cat "$WORK/logs/apply-$d.log" >&2; die "kubectl apply -k manifests/$d failed"; }
	done
}

# ------------------------------------------------------------------ drivers

declare -A HTTP_PORT

# container_args NS KIND/NAME CONTAINER: the container's args in the
# applied Deployment or DaemonSet, one per line.
container_args() {
	k get -n "$1" "$2" -o json |
		jq -r --arg c "$3" '.spec.template.spec.containers[] | select(.name == $c) | .args[]'
}

# localize NAME SOCKET NAMESPACE KUBECONFIG < args: rewrites a container's
# arguments for a local process: the socket, free loopback ports, the local
# cluster config, the node ID, and (for sidecars) kubeconfig and lease
# namespace. Fails on any other $(VAR) reference.
localize() {
	local name=$1 sock=$2 ns=$3 kc=$4 arg
	while IFS= read -r arg; do
		case $arg in
		--csi-address=* | --endpoint=*) arg="${arg%%=*}=unix://$sock" ;;
		--http-endpoint=* | --metrics-address=* | --http-address=*)
			free_port
			HTTP_PORT[$name]=$FREE_PORT
			arg="${arg%%=*}=127.0.0.1:$FREE_PORT"
			;;
		--node-id=*) arg="--node-id=$NODE_ID" ;;
		--cluster-config=*) arg="--cluster-config=$WORK/config.json" ;;
		--controller-secrets-dir=* | --capacity-secret-dir=* | --node-secrets-dir=*) arg="${arg%%=*}=$(secret_dir "$name")" ;;
		--state-dir=*) arg="--state-dir=$WORK/$name-state" ;;
		*"\$("*) die "$name: unhandled variable in argument $arg" ;;
		esac
		printf '%s\n' "$arg"
	done
	if [ -n "$kc" ]; then
		printf '%s\n' "--kubeconfig=$kc" "--leader-election-namespace=$ns"
	fi
}

# secret_dir NAME: a private directory holding the driver's Ceph user as
# the controller's mounted Secret does (userID/userKey for rbd,
# adminID/adminKey for cephfs); removed with $WORK.
secret_dir() {
	local dir=$WORK/secret-$1
	(
		umask 077
		mkdir -p "$dir"
		case $1 in
		rbd-*) printf '%s' "$RBD_USER" >"$dir/userID" && printf '%s' "$RBD_KEY" >"$dir/userKey" ;;
		cephfs-*)
			printf '%s' "$FS_USER" >"$dir/adminID" && printf '%s' "$FS_KEY" >"$dir/adminKey"
			printf '%s' "$FS_NODE_USER" >"$dir/userID" && printf '%s' "$FS_NODE_KEY" >"$dir/userKey"
			;;
		esac
	)
	printf '%s' "$dir"
}

# local_args NAME NS KIND/NAME CONTAINER SOCKET KUBECONFIG: sets ARGS to
# the container's localized arguments (no pipeline or command substitution
# around localize: the ports it picks must be recorded in this shell).
ARGS=()
local_args() {
	container_args "$2" "$3" "$4" >"$WORK/args.in"
	[ -s "$WORK/args.in" ] || die "no container $4 with args in $2/$3"
	localize "$1" "$5" "$2" "$6" <"$WORK/args.in" >"$WORK/args.out"
	mapfile -t ARGS <"$WORK/args.out"
}

# start_driver D: the driver D (rbd|cephfs), its liveness-probe and the
# three sidecars, as in manifests/D/controller.yaml; and, to check the
# DaemonSet's arguments too, the driver in node mode with its liveness-probe
# as in manifests/D/node.yaml (no kubelet: nothing is staged or mounted).
start_driver() {
	local d=$1 ns=ceph-csi-$1 deploy=deployment/$1-csi-controller ds=daemonset/$1-csi-node plugin=csi-$1plugin
	local sock kc token c
	sock=$WORK/$d/csi.sock
	mkdir -p "$WORK/$d" "$WORK/$d-node"

	local_args "$d-driver" "$ns" "$deploy" "$plugin" "$sock" ""
	start_proc "$d-driver" "$BIN/$d-driver" "${ARGS[@]}"
	wait_until 30 "$d-driver socket" test -S "$sock"

	local_args "$d-liveness-probe" "$ns" "$deploy" liveness-probe "$sock" ""
	start_proc "$d-liveness-probe" "$BIN/liveness-probe" "${ARGS[@]}"

	# The sidecars authenticate as the controller's ServiceAccount.
	token=$(k create token "${deploy#*/}" -n "$ns" --duration=2h)
	kc=$WORK/$d/controller.kubeconfig
	write_kubeconfig "$kc" "$token"
	for c in $(sidecars "$d"); do
		local_args "$d-$c" "$ns" "$deploy" "$c" "$sock" "$kc"
		start_proc "$d-$c" "$(tool_bin "$c")" "${ARGS[@]}"
	done

	local_args "$d-node-driver" "$ns" "$ds" "$plugin" "$WORK/$d-node/csi.sock" ""
	# Restarted when it exits, as the kubelet restarts a container
	# (node-plugin-restart kills it).
	start_proc "$d-node-driver" supervise "$WORK/pids/$d-node-driver.child" "$BIN/$d-driver" "${ARGS[@]}"
	local_args "$d-node-liveness-probe" "$ns" "$ds" liveness-probe "$WORK/$d-node/csi.sock" ""
	start_proc "$d-node-liveness-probe" "$BIN/liveness-probe" "${ARGS[@]}"
}

# sidecars D: the CSI sidecars of the controller Deployment of D (every
# container but the driver and liveness-probe), one per line.
sidecars() {
	k get -n "ceph-csi-$1" "deployment/$1-csi-controller" -o json |
		jq -r --arg p "csi-$1plugin" '.spec.template.spec.containers[].name | select(. != $p and . != "liveness-probe")'
}

# tool_bin NAME: the cached binary of a control plane or node tool.
tool_bin() {
	if [ -x "$TOOLS/bin/$1" ]; then echo "$TOOLS/bin/$1"; else echo "$NODE_TOOLS/bin/$1"; fi
}

# check_driver_health D: the liveness-probes report the drivers (controller
# and node mode) healthy, their metrics answer, and each sidecar holds its
# lease.
check_driver_health() {
	local d=$1 c p
	for p in "$d" "$d-node"; do
		wait_until 30 "$p liveness-probe /healthz" curl -fsS "http://127.0.0.1:${HTTP_PORT[$p-liveness-probe]}/healthz"
		curl -fsS "http://127.0.0.1:${HTTP_PORT[$p-driver]}/metrics" >/dev/null ||
			die "$p-driver: metrics endpoint does not answer"
	done
	for c in $(sidecars "$d"); do
		wait_until 60 "$d-$c leader election" curl -fsS "http://127.0.0.1:${HTTP_PORT[$d-$c]}/healthz/leader-election"
		proc_alive "$d-$c" || die "$d-$c exited (log: $E2E_LOG_DIR/$d-$c.log)"
	done
	log "$d: controller and node plugin healthy, sidecars leading"
}

# ------------------------------------------------------------------ Ceph test scope

prepare_ceph() {
	local monitors
	FS_NAME=cephfs
	FS_META_POOL=$(ceph fs ls -f json | jq -r --arg fs "$FS_NAME" '.[] | select(.name == $fs) | .metadata_pool')
	[ -n "$FS_META_POOL" ] || die "no CephFS $FS_NAME in the cluster"
	CLUSTER_ID=e2e-$RUN_ID
	RBD_POOL=e2e-rbd-$RUN_ID
	FS_GROUP=e2e-$RUN_ID
	# The drivers act as Ceph users with the capabilities that
	# manifests/<driver>/secret.yaml documents, not as client.admin.
	RBD_USER=e2e-rbd-$RUN_ID
	FS_USER=e2e-cephfs-$RUN_ID
	FS_NODE_USER=e2e-cephfs-node-$RUN_ID
	case " $E2E_DRIVERS " in *" rbd "*)
		CREATED_POOL=$RBD_POOL
		ceph osd pool create "$RBD_POOL" 8 8 >/dev/null 2>&1
		rbd pool init "$RBD_POOL"
		CREATED_USERS+=("$RBD_USER")
		RBD_KEY=$(ceph auth get-or-create-key "client.$RBD_USER" \
			mon 'profile rbd' osd "profile rbd pool=$RBD_POOL" mgr "profile rbd pool=$RBD_POOL")
		log "RBD pool $RBD_POOL and user client.$RBD_USER created"
		;;
	esac
	case " $E2E_DRIVERS " in *" cephfs "*)
		CREATED_GROUP=$FS_GROUP
		ceph fs subvolumegroup create "$FS_NAME" "$FS_GROUP"
		CREATED_USERS+=("$FS_USER")
		# The node plugin mounts provisioned volumes as adminID (as ceph-csi
		# does; userID only for static volumes): the provisioner user needs
		# the node's capabilities too.
		FS_KEY=$(ceph auth get-or-create-key "client.$FS_USER" \
			mon 'allow r' mgr 'allow rw' osd 'allow rw tag cephfs *=*' mds 'allow rw')
		CREATED_USERS+=("$FS_NODE_USER")
		FS_NODE_KEY=$(ceph auth get-or-create-key "client.$FS_NODE_USER" \
			mon 'allow r' mgr 'allow rw' osd 'allow rw tag cephfs *=*' mds 'allow rw')
		log "CephFS subvolume group $FS_GROUP (journal: pool $FS_META_POOL, namespace $FS_GROUP) and users client.$FS_USER (provisioner), client.$FS_NODE_USER (node) created"
		;;
	esac
	monitors=$(tr ',' '\n' <<<"$CEPH_MONITORS" | jq -R . | jq -sc .)
	jq -n --arg id "$CLUSTER_ID" --argjson mons "$monitors" --arg group "$FS_GROUP" \
		'[{clusterID: $id, monitors: $mons, rbd: {radosNamespace: ""}, cephFS: {subvolumeGroup: $group, radosNamespace: $group}}]' \
		>"$WORK/config.json"
}

# ------------------------------------------------------------------ scenarios

# build_scenarios: compiles the scenarios' Go test package before anything
# starts, so that a build error costs no control plane.
build_scenarios() {
	log "building the scenarios (go test -c in test/e2e)"
	(cd "$HERE" && "${GO:-go}" test -c -o "$WORK/e2e.test" .) || die "the scenarios do not build"
}

# run_scenarios: runs the scenarios' test binary with what it needs to know
# of this run; its exit code is the run's.
run_scenarios() {
	local rc=0 args=(-test.v -test.count=1 -test.timeout=60m)
	[ -n "${E2E_RUN:-}" ] && args+=(-test.run "$E2E_RUN")
	(
		cd "$HERE"
		export E2E_KUBECONFIG=$KUBECONFIG_ADMIN E2E_WORK=$WORK E2E_DRIVERS E2E_CLUSTER_ID=$CLUSTER_ID E2E_NODE=$NODE_ID E2E_POD_IMAGE=$POD_IMAGE E2E_KUBELET E2E_KUBELET_DIR=$KUBELET_DIR \
			E2E_CONTAINERD=$CTRD_SOCK E2E_CONTROLLER_PORTS=$(controller_ports_json) \
			E2E_RBD_POOL=$RBD_POOL E2E_FS_NAME=$FS_NAME E2E_FS_GROUP=$FS_GROUP E2E_FS_META_POOL=$FS_META_POOL
		[ -z "${RBD_KEY:-}" ] || E2E_RBD_SECRET_DIR=$(secret_dir rbd-scenarios)
		[ -z "${FS_KEY:-}" ] || E2E_CEPHFS_SECRET_DIR=$(secret_dir cephfs-scenarios)
		export E2E_RBD_SECRET_DIR E2E_CEPHFS_SECRET_DIR
		"$WORK/e2e.test" "${args[@]}"
	) 2>&1 | tee "$WORK/logs/scenarios.log" || rc=$?
	return $rc
}

# ------------------------------------------------------------------ main

# Everything runs from main, called on the script's last line with exit:
# bash has then read the whole file, so editing run.sh during a run cannot
# change the running one.
main() {
	T_START=$SECONDS
	build_scenarios
	[ "$E2E_KUBELET" = 1 ] && node_record_host
	start_control_plane
	if [ "$E2E_KUBELET" = 1 ]; then
		start_containerd
		build_pod_image
		start_kubelet
	fi
	T_CP=$SECONDS
	validate_manifests
	prepare_ceph
	if [ "$E2E_KUBELET" = 1 ]; then
		import_images
		for d in $E2E_DRIVERS; do deploy_driver "$d"; done
		for d in $E2E_DRIVERS; do wait_deployed "$d"; done
		for d in $E2E_DRIVERS; do check_deployed_health "$d"; done
	else
		for d in $E2E_DRIVERS; do start_driver "$d"; done
		for d in $E2E_DRIVERS; do check_driver_health "$d"; done
	fi
	T_READY=$SECONDS
	log "setup took $((T_READY - T_START))s (control plane $((T_CP - T_START))s)"

	local rc=0 d
	run_scenarios || rc=$?
	log "scenarios took $((SECONDS - T_READY))s; total $((SECONDS - T_START))s"
	[ "$rc" -eq 0 ] || exit "$rc"
}

main "$@"; exit $?
