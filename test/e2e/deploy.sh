# shellcheck shell=bash
# The drivers as Kubernetes runs them (sourced by run.sh, never run): with a
# kubelet on the node, `kubectl apply -k` of an overlay of manifests/<driver>
# deploys the controller Deployment and the node DaemonSet from the images
# `make images` built (imported into the node's containerd), the CSI
# sidecars from images the test makes of the cached sidecar binaries, and the
# registrar stand-in (test/e2e/registrar) in place of node-driver-registrar.
#
# The overlay ($WORK/deploy/<driver>/kustomization.yaml) changes only what
# this test machine needs:
#   - image references: the sidecars and the registrar stand-in (our own
#     images keep the names and tags of manifests/images);
#   - the cluster's config.json (ConfigMap ceph-csi-config) and the Ceph
#     user of the Secret;
#   - the controller Deployment runs one replica, in the host's network namespace
#     (hostNetwork): the Ceph cluster listens on 127.0.0.1 only and the node
#     has no CNI network. Its containers then share the host's ports, so each
#     of the Deployment's `--flag=:PORT` arguments (and the matching
#     containerPort, which the probes use by name) gets a free port; and, as
#     no kube-proxy runs, KUBERNETES_SERVICE_HOST/PORT point its in-cluster
#     clients at the API server on 127.0.0.1.
# The node DaemonSet is applied as it is (it is hostNetwork already).

E2E_IMAGES_DIR=${E2E_IMAGES_DIR:-$ROOT/bin/e2e-images}
TOOL_IMAGE_PREFIX=localhost/ceph-csi-e2e
# Host paths the DaemonSets create (hostPath DirectoryOrCreate), recorded
# by node_record_host and removed again if they did not exist.
NODE_HOST_DIRS=(/var/lib/rbd-driver /var/lib/cephfs-driver /run/mount /var/log/pods /var/log/containers)
declare -A CONTROLLER_PORT

# scratch_image NAME BINARY ENTRY: an image of one static binary at /ENTRY,
# imported into the node's containerd as $TOOL_IMAGE_PREFIX/NAME:e2e.
scratch_image() {
	local name=$1 bin=$2 entry=$3 ref=$TOOL_IMAGE_PREFIX/$1:e2e ctr
	local b=(buildah --root "$WORK/buildah/root" --runroot "$WORK/buildah/run" --storage-driver vfs)
	ctr=$("${b[@]}" from scratch)
	"${b[@]}" copy "$ctr" "$bin" "/$entry" >/dev/null
	"${b[@]}" config --entrypoint "[\"/$entry\"]" "$ctr"
	"${b[@]}" commit -q "$ctr" "docker-archive:$WORK/$name.tar:$ref" >/dev/null
	"${b[@]}" rm "$ctr" >/dev/null
	ctr_ images import "$WORK/$name.tar" >/dev/null || die "ctr images import of $ref failed"
	rm -f "$WORK/$name.tar"
}

# import_images: our three images from $E2E_IMAGES_DIR (`make images
# IMAGES_ARCHIVE_DIR=...`), the sidecars the Deployments name and the
# registrar stand-in.
import_images() {
	local f c
	for f in rbd-driver cephfs-driver liveness-probe; do
		[ -f "$E2E_IMAGES_DIR/$f.tar" ] || die "$E2E_IMAGES_DIR/$f.tar missing (make images IMAGES_ARCHIVE_DIR=$E2E_IMAGES_DIR)"
		ctr_ images import "$E2E_IMAGES_DIR/$f.tar" >/dev/null || die "ctr images import of $f failed"
	done
	for c in csi-provisioner csi-snapshotter csi-resizer csi-attacher; do
		scratch_image "$c" "$(tool_bin "$c")" "$c"
	done
	(cd "$HERE" && CGO_ENABLED=0 "${GO:-go}" build -o "$WORK/registrar" ./registrar) || die "test/e2e/registrar does not build"
	scratch_image registrar "$WORK/registrar" csi-node-driver-registrar
	log "images imported: ours from $E2E_IMAGES_DIR, sidecars and registrar stand-in as $TOOL_IMAGE_PREFIX/*:e2e"
}

# image_ref NAME: the reference of our image NAME in bin/images.txt.
image_ref() {
	awk -v n="/$1:" 'index($1, n) { print $1; exit }' "$ROOT/bin/images.txt"
}

# deploy_driver D: writes the overlay of manifests/D and applies it.
deploy_driver() {
	local d=$1 dir=$WORK/deploy/$1
	mkdir -p "$dir"
	k kustomize "$ROOT/manifests/$d" >"$dir/base.yaml"
	k create --dry-run=client -o json -f "$dir/base.yaml" | jq -s '{items: .}' >"$dir/base.json"
	jq --arg n "$d-csi-controller" '.items[] | select(.kind == "Deployment" and .metadata.name == $n)' \
		"$dir/base.json" >"$dir/controller.json"
	controller_patch "$d" "$dir"
	cluster_patches "$d" "$dir"
	share_host_paths "$dir"
	overlay "$d" "$dir" >"$dir/kustomization.yaml"
	k apply -k "$dir" >"$WORK/logs/apply-$d.log" 2>&1 ||
		{ cat "$WORK/logs/apply-$d.log" >&2; die "kubectl apply -k of the overlay of manifests/$d failed"; }
	log "$d: applied manifests/$d (overlay $dir)"
}

# controller_patch D DIR: DIR/controller-patch.json, the JSON patch of the
# controller Deployment (hostNetwork, free ports, API server address).
controller_patch() {
	local d=$1 dir=$2 port map="{}"
	for port in $(jq -r '.spec.template.spec.containers[].args[]? | capture("^--[a-z-]+=:(?<p>[0-9]+)$").p' "$dir/controller.json" | sort -u); do
		free_port
		CONTROLLER_PORT[$d:$port]=$FREE_PORT
		map=$(jq -c --arg k "$port" --arg v "$FREE_PORT" '. + {($k): $v}' <<<"$map")
	done
	jq --argjson m "$map" --arg api "$API_PORT" -f "$HERE/controller-patch.jq" "$dir/controller.json" >"$dir/controller-patch.json"
}

# share_host_paths DIR: the host directories the node DaemonSet mounts with
# Bidirectional propagation must be shared mounts. On a systemd host "/" is
# shared and so is everything below it; here it is not, so each such
# directory (but the kubelet's, which the kubelet makes shared itself)
# becomes a shared bind mount of itself; node_restore_host unmounts it.
share_host_paths() {
	local path
	for path in $(jq -r '.items[] | select(.kind == "DaemonSet") | .spec.template.spec as $s |
		[$s.containers[].volumeMounts[]? | select(.mountPropagation == "Bidirectional") | .name] as $names |
		$s.volumes[] | select(.name as $n | $names | index($n)) | .hostPath.path // empty' "$1/base.json" | sort -u); do
		case $path in "$KUBELET_DIR" | "$KUBELET_DIR"/*) continue ;; esac
		mkdir -p "$path"
		findmnt -rn -o TARGET --target "$path" | grep -qxF "$path" || mount --bind "$path" "$path"
		mount --make-rshared "$path"
		log "host path $path: a shared mount (Bidirectional in the node DaemonSet)"
	done
}

# cluster_patches D DIR: the test cluster's config.json and Ceph user, as
# strategic merge patches of the ConfigMap and the Secret (0600 files in
# $WORK, removed with it).
cluster_patches() {
	local d=$1 dir=$2 secret
	jq -n --arg d "$d" --rawfile c "$WORK/config.json" \
		'{apiVersion: "v1", kind: "ConfigMap", metadata: {name: "ceph-csi-config", namespace: "ceph-csi-\($d)"}, data: {"config.json": $c}}' \
		>"$dir/config-patch.json"
	secret=$(secret_dir "$d-deploy")
	(
		umask 077
		jq -n --arg d "$d" --rawfile uid "$secret/userID" --rawfile ukey "$secret/userKey" \
			--arg aid "$(cat "$secret/adminID" 2>/dev/null)" --arg akey "$(cat "$secret/adminKey" 2>/dev/null)" \
			'{apiVersion: "v1", kind: "Secret", metadata: {name: "csi-\($d)-secret", namespace: "ceph-csi-\($d)"},
			  stringData: ({userID: $uid, userKey: $ukey} + (if $aid != "" then {adminID: $aid, adminKey: $akey} else {} end))}' \
			>"$dir/secret-patch.json"
	)
}

# overlay D DIR: the overlay's kustomization.yaml.
overlay() {
	local d=$1 dir=$2 c
	cat <<YAML
# Written by test/e2e/deploy.sh: manifests/$d as this test machine runs it.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$dir" "$ROOT/manifests/$d")
patches:
  - path: config-patch.json
  - path: secret-patch.json
  - path: controller-patch.json
    target: {kind: Deployment, name: $d-csi-controller}
images:
YAML
	for c in csi-provisioner csi-snapshotter csi-resizer csi-attacher; do
		printf '  - {name: registry.k8s.io/sig-storage/%s, newName: %s/%s, newTag: e2e}\n' "$c" "$TOOL_IMAGE_PREFIX" "$c"
	done
	printf '  - {name: registry.k8s.io/sig-storage/csi-node-driver-registrar, newName: %s/registrar, newTag: e2e}\n' "$TOOL_IMAGE_PREFIX"
	for c in rbd-driver cephfs-driver liveness-probe; do
		local ref
		ref=$(image_ref "$c")
		[ -n "$ref" ] || die "no $c in bin/images.txt (make images)"
		printf '  - {name: ghcr.io/seed-6a310834/ceph-csi/%s, newName: %s, newTag: %s}\n' "$c" "${ref%:*}" "${ref##*:}"
	done
}

# wait_deployed D: the controller Deployment available, the node DaemonSet
# ready, and the kubelet has registered the node plugin (CSINode).
wait_deployed() {
	local d=$1 ns=ceph-csi-$1
	k -n "$ns" rollout status "deployment/$d-csi-controller" --timeout=120s >"$WORK/logs/rollout-$d.log" 2>&1 ||
		{ pod_states "$ns" >&2; die "$d: the controller Deployment did not become available"; }
	k -n "$ns" rollout status "daemonset/$d-csi-node" --timeout=180s >>"$WORK/logs/rollout-$d.log" 2>&1 ||
		{ pod_states "$ns" >&2; die "$d: the node DaemonSet did not become ready"; }
	wait_until 60 "$d: CSINode $NODE_ID lists the driver" csinode_has "$d.csi.ceph.com"
	log "$d: controller Deployment available, node DaemonSet ready, node plugin registered"
}

# pod_states NS: the namespace's pods, events and the node's taints and
# conditions; then one line per container.
pod_states() {
	k -n "$1" get pods -o wide
	k -n "$1" get events --sort-by=.lastTimestamp | tail -20
	k get node "$NODE_ID" -o json | jq -c '.spec.taints, [.status.conditions[] | {type, status, reason}]'
	k -n "$1" get pods -o json | jq -r '.items[] | .metadata.name as $p |
		(.status.containerStatuses // [])[] | "\($p)/\(.name): ready=\(.ready) restarts=\(.restartCount) \(.state | tostring)"'
}

# check_deployed_health D: our metrics and liveness endpoints answer on the
# host (node plugin: the DaemonSet's fixed ports; controller: the ports the
# overlay gave it).
check_deployed_health() {
	local d=$1 port
	for port in $(deployed_ports "$d"); do
		wait_until 60 "$d: http://127.0.0.1:$port" curl -fsS -o /dev/null "http://127.0.0.1:$port/metrics"
	done
	log "$d: metrics of the driver and liveness-probe answer (controller and node)"
}

# deployed_ports D: the driver's and liveness-probe's HTTP ports on the host:
# the node DaemonSet's as in the manifests, the controller's as moved.
deployed_ports() {
	local d=$1 port
	jq -r --arg n "$d-csi-node" '.items[] | select(.kind == "DaemonSet" and .metadata.name == $n) |
		.spec.template.spec.containers[].args[]? | capture("^--(metrics|http)-address=:(?<p>[0-9]+)$").p' \
		"$WORK/deploy/$d/base.json"
	for port in $(jq -r '.spec.template.spec.containers[].args[]? | capture("^--(metrics|http)-address=:(?<p>[0-9]+)$").p' \
		"$WORK/deploy/$d/controller.json"); do
		echo "${CONTROLLER_PORT[$d:$port]}"
	done
}

# controller_ports_json: the overlay's port mapping of every driver, for
# the scenarios ({"rbd": {"8080": 2xxxx, ...}, ...}).
controller_ports_json() {
	local key out="{}"
	for key in "${!CONTROLLER_PORT[@]}"; do
		out=$(jq -c --arg d "${key%%:*}" --arg p "${key#*:}" --argjson v "${CONTROLLER_PORT[$key]}" \
			'.[$d] += {($p): $v}' <<<"$out")
	done
	printf '%s' "$out"
}

# save_pod_logs: the logs of the drivers' pods (every container, also the
# previous instance of a restarted one) into $WORK/logs/pods.
save_pod_logs() {
	[ -d /var/log/pods ] || return 0
	local dir
	for dir in /var/log/pods/ceph-csi-*; do
		[ -d "$dir" ] || continue
		mkdir -p "$WORK/logs/pods"
		cp -r "$dir" "$WORK/logs/pods/" 2>/dev/null
	done
}
