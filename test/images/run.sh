#!/usr/bin/env bash
# `make test-images`: builds the images if needed (build/images.sh, warm in
# seconds), then checks each one in a container:
#   - the entrypoint is the binary the manifests run (they give only args) and
#     `--version` prints the module's VERSION, the commit, go-ceph's version
#     (none for liveness-probe) and the Ceph release;
#   - the driver starts with the arguments of its node DaemonSet and of its
#     controller Deployment in manifests/ and serves the CSI Identity service
#     on the socket; the liveness-probe image, with those manifests' args,
#     reports it healthy;
#   - every tool the mounters run is there and runs, with all its shared
#     libraries;
#   - no Python, compilers or Go toolchain; liveness-probe's image holds its
#     binary and nothing else (no shell);
#   - the sizes in bin/images.txt are within the targets.
# Prints PASS/FAIL lines and "N passed, N failed"; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

STATE=${IMAGES_STATE:-/var/lib/ceph-csi-images}
REGISTRY=${IMAGE_REGISTRY:-ghcr.io/seed-6a310834/ceph-csi}
CEPH_RELEASE=${CEPH_RELEASE:-pacific}
export TMPDIR=$STATE/tmp
RUNC=$(command -v runc)
passed=0 failed=0
declare -A TARGET=([rbd-driver]=200000000 [cephfs-driver]=200000000 [liveness-probe]=20000000)
declare -A DRIVER_NAME=([rbd-driver]=rbd.csi.ceph.com [cephfs-driver]=cephfs.csi.ceph.com)
declare -A ENTRYPOINT=([rbd-driver]=/usr/local/bin/rbd-driver [cephfs-driver]=/usr/local/bin/cephfs-driver
	[liveness-probe]=/liveness-probe)

# Each tool with a command that shows it runs (exit 0, or the output named).
RBD_TOOLS=(
	"rbd --version" "rbd-nbd --version" "rbd-fuse --version" "losetup --version" "mount --version"
	"umount --version" "blkid -V" "blockdev --version" "fsck --version" "fsck.ext4 -V" "mkfs.ext4 -V"
	"e2fsck -V" "resize2fs|resize2fs 1." "dumpe2fs -V" "mkfs.xfs -V" "xfs_growfs -V" "fsck.xfs|"
	"modprobe --version" "nsenter --version"
)
CEPHFS_TOOLS=(
	"ceph-fuse --version" "mount.ceph|usage: mount.ceph" "mount --version" "umount --version"
	"modprobe --version" "nsenter --version"
)

bah() { buildah --root "$STATE/storage" --runroot "$STATE/run" "$@"; }
# bah_bg: for `bah_bg run ... &`. The background job IS buildah (exec), so
# that $! is buildah's PID and a kill reaches it; buildah then stops the
# container's process. (With `bah run ... &` the job is a subshell: a kill
# ended the subshell only, and buildah, its runtime monitor and the driver
# kept running for the rest of CI, the monitor polling `runc state`.)
bah_bg() { exec buildah --root "$STATE/storage" --runroot "$STATE/run" "$@"; }

# stop_bg PID: stops a `bah_bg run` job: SIGTERM, 10 s, then SIGKILL.
stop_bg() {
	local pid=$1
	kill "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() {
	echo "FAIL $1: $2"
	failed=$((failed + 1))
}
check() { # check NAME DETAIL COMMAND...: PASS if COMMAND succeeds
	local name=$1 detail=$2
	shift 2
	if "$@"; then pass "$name"; else fail "$name" "$detail"; fi
}

CTRS=()
cleanup() {
	local c
	for c in "${CTRS[@]}"; do bah rm "$c" >/dev/null 2>&1; done
}
trap cleanup EXIT

# in CTR COMMAND...: runs COMMAND in working container CTR.
inside() {
	local ctr=$1
	shift
	bah run --runtime "$RUNC" --network host "$ctr" -- "$@"
}

check_version() {
	local mod=$1 ctr=$2 version out first
	version=$(cat "$mod/VERSION")
	out=$(inside "$ctr" "${ENTRYPOINT[$mod]}" --version 2>&1)
	first=${DRIVER_NAME[$mod]:-$mod}" $version"
	local gold=(-e "^$first\$" -e "^commit: $COMMIT\$" -e "^go: go")
	if [ "$mod" = liveness-probe ]; then
		gold+=(-e '^go-ceph: none$' -e '^ceph: none$')
	else
		local goceph
		goceph=$(awk '$1 == "github.com/ceph/go-ceph" { print $2 }' "$mod/go.mod")
		gold+=(-e "^go-ceph: $goceph\$" -e "^ceph: $CEPH_RELEASE\$")
	fi
	local n_want=$((${#gold[@]} / 2)) n_got
	n_got=$(grep -c "${gold[@]}" <<<"$out")
	check "$mod/version" "--version printed: $(tr '\n' '|' <<<"$out") (want $n_want matching lines)" \
		test "$n_got" -eq "$n_want"
}

check_entrypoint() {
	local mod=$1 ref=$2 got
	got=$(bah inspect --type image --format '{{.OCIv1.Config.Entrypoint}}' "$ref")
	check "$mod/entrypoint" "entrypoint $got, want [${ENTRYPOINT[$mod]}]" test "$got" = "[${ENTRYPOINT[$mod]}]"
}

# tool_runs CTR SPEC: SPEC is "command args" (must exit 0) or
# "command|text" (must print text, whatever its exit code).
tool_runs() {
	local ctr=$1 spec=$2 prog out missing
	if [[ $spec == *"|"* ]]; then
		prog=${spec%%|*}
		out=$(inside "$ctr" sh -c "$prog 2>&1" </dev/null 2>/dev/null) || true
		[ -n "${spec#*|}" ] && ! grep -qF -- "${spec#*|}" <<<"$out" && { echo "$prog printed: $out"; return 1; }
		inside "$ctr" sh -c "command -v $prog" >/dev/null || { echo "$prog: not on PATH"; return 1; }
	else
		prog=${spec%% *}
		# shellcheck disable=SC2086 # the spec's words are the command line
		out=$(inside "$ctr" $spec 2>&1 </dev/null) || { echo "$spec: $out"; return 1; }
	fi
	missing=$(inside "$ctr" sh -c "p=\$(command -v $prog); head -c4 \"\$p\" | grep -q ELF || exit 0; ldd \"\$p\" | grep 'not found' || true")
	[ -z "$missing" ] || { echo "$prog: missing libraries: $missing"; return 1; }
}

check_tools() {
	local mod=$1 ctr=$2 spec why
	shift 2
	for spec in "$@"; do
		if why=$(tool_runs "$ctr" "$spec"); then pass "$mod/tool/${spec%%[ |]*}"; else fail "$mod/tool/${spec%%[ |]*}" "$why"; fi
	done
}

# check_no_toolchains: no Python, C/C++ compiler or Go toolchain anywhere.
check_no_toolchains() {
	local mod=$1 ctr=$2 mnt found
	mnt=$(bah mount "$ctr")
	found=$(cd "$mnt" && find . -xdev \( -name 'python[0-9]*' -o -name 'gcc*' -o -name 'cc1*' -o -name 'g++*' \
		-o -name 'clang*' -o -name 'go' -o -name 'gofmt' -o -name 'libpython*' \) \( -type f -o -type l \) \
		-not -path './usr/share/*' -not -path './var/lib/dpkg/*' 2>/dev/null | head -5)
	bah umount "$ctr" >/dev/null
	check "$mod/no-python-compilers-go" "found: $(tr '\n' ' ' <<<"$found")" test -z "$found"
}

# check_only_binary: liveness-probe's image is its static binary alone (in
# a fresh container: `buildah run` adds /etc/hosts and such to one it ran in).
check_only_binary() {
	local ref=$1 ctr=$2 fresh mnt files
	fresh=$(bah from --pull=never "$ref") || return 1
	CTRS+=("$fresh")
	mnt=$(bah mount "$fresh")
	files=$(cd "$mnt" && find . -xdev \( -type f -o -type l \) | sort | tr '\n' ' ')
	bah umount "$fresh" >/dev/null
	check liveness-probe/only-binary "files: $files" test "$files" = "./liveness-probe "
	if inside "$ctr" /bin/sh -c true >/dev/null 2>&1; then
		fail liveness-probe/no-shell "/bin/sh -c true ran in the image"
	else
		pass liveness-probe/no-shell
	fi
}

# manifest_args FILE CONTAINER: the args of CONTAINER in a manifest, with
# $(NODE_ID) filled in.
# shellcheck disable=SC2016 # sed matches a literal $(NODE_ID)
manifest_args() {
	awk -v c="$2" '
		/^ *- name: / { in_c = ($3 == c); in_args = 0; next }
		in_c && /^ *args:/ { in_args = 1; next }
		in_c && in_args && /^ *- / { sub(/^ *- /, ""); print; next }
		in_c && in_args { in_args = 0 }' "$1" | sed 's/\$(NODE_ID)/images-test-node/'
}

# check_serves MOD REF MANIFEST CONTAINER: starts the driver with the
# manifest's args (the socket directory, cluster config, Secret directory and
# /tmp from a temp dir mounted where the manifests mount them; its own network namespace, so
# the host ports named there may be taken), probes its Identity service
# (bin/csi-ping), then runs the liveness-probe image with the same
# manifest's liveness-probe args on that socket and asks its /healthz.
check_serves() {
	local mod=$1 ref=$2 manifest=$3 cname=$4 dir args pid ok=1 out kind
	kind=$(basename "$manifest" .yaml)
	dir=$(mktemp -d)
	mkdir -p "$dir/csi" "$dir/config" "$dir/secret" "$dir/tmp"
	echo '[{"clusterID": "images-test", "monitors": ["127.0.0.1:1"]}]' >"$dir/config/config.json"
	mapfile -t args < <(manifest_args "$manifest" "$cname")
	local ctr
	ctr=$(bah from --pull=never "$ref") || return 1
	CTRS+=("$ctr")
	bah_bg run --runtime "$RUNC" --network none -v "$dir/csi:/csi" -v "$dir/config:/etc/ceph-csi-config:ro" \
		-v "$dir/secret:/etc/ceph-csi-secret:ro" -v "$dir/tmp:/tmp" \
		"$ctr" -- "${ENTRYPOINT[$mod]}" "${args[@]}" >"$dir/log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do [ -S "$dir/csi/csi.sock" ] && break; sleep 0.2; done
	out=$(bin/csi-ping -endpoint "unix://$dir/csi/csi.sock" 2>&1) && grep -q "${DRIVER_NAME[$mod]}" <<<"$out" || ok=0
	check "$mod/serves-as-in-$kind" "args [${args[*]}]: $out; log: $(tail -5 "$dir/log" | tr '\n' '|')" test $ok = 1
	[ $ok = 1 ] && check_liveness "$mod-$kind" "$manifest" "$dir"
	stop_bg "$pid"
	rm -rf "$dir"
}

# check_liveness MOD MANIFEST DIR: the liveness-probe image, run with
# MANIFEST's liveness-probe args (but a free port), reports the driver MOD
# serving on DIR/csi/csi.sock healthy.
check_liveness() {
	local mod=$1 manifest=$2 dir=$3 ref args port pid code=000 ctr
	ref=$REGISTRY/liveness-probe:$(cat liveness-probe/VERSION)
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 19808)
	mapfile -t args < <(manifest_args "$manifest" liveness-probe | sed "s/^--http-address=.*/--http-address=127.0.0.1:$port/")
	ctr=$(bah from --pull=never "$ref") || return 1
	CTRS+=("$ctr")
	bah_bg run --runtime "$RUNC" --network host -v "$dir/csi:/csi" "$ctr" -- /liveness-probe "${args[@]}" >"$dir/probe.log" 2>&1 &
	pid=$!
	for _ in $(seq 50); do
		code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/healthz") && [ "$code" = 200 ] && break
		sleep 0.2
	done
	stop_bg "$pid"
	check "liveness-probe/healthz-of-$mod" \
		"args [${args[*]}]: /healthz $code; log: $(tail -3 "$dir/probe.log" | tr '\n' '|')" test "$code" = 200
}

# check_nothing_running: no driver or liveness-probe that the checks
# started in a container (their socket is /csi/csi.sock) is still running.
check_nothing_running() {
	local left
	left=$(pgrep -af -- '(endpoint|csi-address)=unix:///csi/csi.sock' || true)
	check images/nothing-left-running "still running: $(tr '\n' '|' <<<"$left")" test -z "$left"
}

check_size() {
	local mod=$1 ref=$2 bytes
	bytes=$(awk -v r="$ref" '$1 == r { print $2 }' bin/images.txt)
	check "$mod/size" "$bytes bytes, target ${TARGET[$mod]}" test "${bytes:-999999999999}" -le "${TARGET[$mod]}"
}

main() {
	COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
	export COMMIT
	if ! build/images.sh; then
		fail images/build "make images failed"
		echo "$passed passed, $failed failed"
		exit 1
	fi
	[ -x bin/csi-ping ] || make -s bin/csi-ping
	local mod ref ctr
	for mod in rbd-driver cephfs-driver liveness-probe; do
		ref=$REGISTRY/$mod:$(cat "$mod/VERSION")
		ctr=$(bah from --pull=never "$ref") || { fail "$mod/image" "no image $ref"; continue; }
		CTRS+=("$ctr")
		check_entrypoint "$mod" "$ref"
		check_version "$mod" "$ctr"
		check_size "$mod" "$ref"
		case $mod in
		rbd-driver)
			check_tools "$mod" "$ctr" "${RBD_TOOLS[@]}"
			check_serves "$mod" "$ref" manifests/rbd/node.yaml csi-rbdplugin
			check_serves "$mod" "$ref" manifests/rbd/controller.yaml csi-rbdplugin
			;;
		cephfs-driver)
			check_tools "$mod" "$ctr" "${CEPHFS_TOOLS[@]}"
			check_serves "$mod" "$ref" manifests/cephfs/node.yaml csi-cephfsplugin
			check_serves "$mod" "$ref" manifests/cephfs/controller.yaml csi-cephfsplugin
			;;
		liveness-probe) check_only_binary "$ref" "$ctr" ;;
		esac
		[ "$mod" = liveness-probe ] || check_no_toolchains "$mod" "$ctr"
	done
	check_nothing_running
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main "$@"
