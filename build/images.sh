#!/usr/bin/env bash
# `make images`: builds the rbd-driver, cephfs-driver and liveness-probe
# images from build/*.Dockerfile without a Docker daemon or a registry, each
# tagged with its module's VERSION, then prints their uncompressed sizes
# against the targets and writes them to bin/images.txt ("<image> <bytes>").
#
# How (details in build/README.md):
#   - base: Debian bookworm made by `mmdebstrap --variant=minbase` from the
#     Debian mirror, cached as a tarball under $IMAGES_CACHE, keyed by a hash
#     of the recipe; imported as localhost/ceph-csi-base:bookworm-<key>;
#   - Go: that base plus the host's Go toolchain, as
#     localhost/ceph-csi-golang:<go version>-bookworm-<key> (the stand-in for
#     the golang image the Dockerfiles name by default);
#   - `buildah bud --layers --pull=never` with BASE_IMAGE/GO_IMAGE pointing at
#     those, runc (crun fails on this hybrid-cgroup machine), the host's Go
#     module cache as the module proxy, container storage under a private
#     root, and a lock so that parallel runs wait for each other.
#
# Environment: IMAGES (default all three), IMAGE_REGISTRY, CEPH_RELEASE,
# COMMIT, IMAGES_STATE (storage root), IMAGES_CACHE (base tarballs),
# IMAGES_ARCHIVE_DIR (also write each image there as a docker archive),
# IMAGES_PRUNE_DAYS (untagged images older than this are removed; 7).
set -euo pipefail
cd "$(dirname "$0")/.."

STATE=${IMAGES_STATE:-/var/lib/ceph-csi-images}
CACHE=${IMAGES_CACHE:-/var/cache/ceph-csi-images}
REGISTRY=${IMAGE_REGISTRY:-ghcr.io/seed-6a310834/ceph-csi}
CEPH_RELEASE=${CEPH_RELEASE:-pacific}
IMAGES=${IMAGES:-rbd-driver cephfs-driver liveness-probe}
SUITE=bookworm
LOG_DIR=$PWD/bin/images-logs

# Targets in bytes (MB = 10^6 bytes, as buildah and docker print sizes).
declare -A TARGET=([rbd-driver]=200000000 [cephfs-driver]=200000000 [liveness-probe]=20000000)

# Files dpkg leaves out of the base and every package installed on it.
DPKG_EXCLUDES=(/usr/share/man/'*' /usr/share/info/'*' /usr/share/groff/'*' /usr/share/lintian/'*'
	/usr/share/linda/'*' /usr/share/locale/'*' /usr/share/doc/'*')

export TMPDIR=$STATE/tmp # buildah's scratch space and RUN --mount=type=cache dirs
bah() { buildah --root "$STATE/storage" --runroot "$STATE/run" "$@"; }
log() { printf '== images: %s\n' "$*"; }

need_tools() {
	local missing=() t
	for t in buildah mmdebstrap runc jq; do command -v "$t" >/dev/null || missing+=("$t"); done
	[ ${#missing[@]} -eq 0 ] && return
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# base_recipe is everything that decides the base tarball's content.
base_recipe() {
	# merged-usr hooks: /usr merged without the usrmerge package, which would
	# pull in perl (about 50 MB).
	local args=(--variant=minbase --format=tar --skip=output/dev
		--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr) e
	for e in "${DPKG_EXCLUDES[@]}"; do args+=("--dpkgopt=path-exclude=$e"); done
	args+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
	args+=(--aptopt='Acquire::Languages "none"')
	printf '%s\n' "${args[@]}" "$SUITE"
}

# base_image makes (or reuses) the base image and prints its name.
base_image() {
	local key tar name
	key=$(base_recipe | sha256sum | cut -c1-12)
	tar=$CACHE/base-$SUITE-$key.tar
	name=localhost/ceph-csi-base:$SUITE-$key
	if ! bah inspect --type image "$name" >/dev/null 2>&1; then
		if [ ! -s "$tar" ]; then
			log "mmdebstrap $SUITE minbase -> $tar (once; about 30 s)" >&2
			mkdir -p "$CACHE"
			local args
			mapfile -t args < <(base_recipe)
			mmdebstrap "${args[@]:0:${#args[@]}-1}" "$SUITE" "$tar.tmp" >"$tar.log" 2>&1 ||
				{ tail -20 "$tar.log" >&2; rm -f "$tar.tmp"; return 1; }
			mv "$tar.tmp" "$tar"
		fi
		log "importing $tar as $name" >&2
		local ctr
		ctr=$(bah from scratch)
		bah add --quiet "$ctr" "$tar" / >/dev/null
		bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash \
			--label org.opencontainers.image.description="Debian $SUITE minbase (mmdebstrap)" "$ctr"
		bah commit --quiet --rm "$ctr" "$name" >/dev/null
	fi
	echo "$name"
}

# go_image makes (or reuses) base + the host's Go toolchain, laid out as in
# the golang image, and prints its name.
go_image() {
	local base=$1 goroot gover name
	goroot=$(go env GOROOT)
	gover=$(go env GOVERSION)
	gover=${gover#go}
	name=localhost/ceph-csi-golang:$gover-$SUITE-${base##*-}
	if ! bah inspect --type image "$name" >/dev/null 2>&1; then
		log "making $name from the host's Go toolchain ($goroot)" >&2
		local ctr
		ctr=$(bah from --pull=never "$base")
		bah copy --quiet "$ctr" "$goroot" /usr/local/go >/dev/null
		bah config --env GOLANG_VERSION="$gover" --env GOPATH=/go --env GOTOOLCHAIN=local \
			--env PATH=/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			--workingdir /go "$ctr"
		bah commit --quiet --rm "$ctr" "$name" >/dev/null
	fi
	echo "$name"
}

# drop_stale removes base and Go images of other keys (an older recipe or
# Go version); their layers go once no image uses them.
drop_stale() {
	local keep=" $* " ref
	for ref in $(bah images --format '{{.Name}}:{{.Tag}}' | grep -E '^localhost/ceph-csi-(base|golang):'); do
		[[ $keep == *" $ref "* ]] || bah rmi "$ref" >/dev/null 2>&1 || true
	done
}

# drop_leftovers removes the working containers a killed build left behind
# (buildah build's per-step containers `<image ID>-working-container`, the
# base and Go images' `working-container` and `ceph-csi-(base|golang)-...`),
# with their overlay mounts. Only builds make them, and builds hold the lock;
# test/images/run.sh's containers are named after the images and stay.
drop_leftovers() {
	local name n=0
	for name in $(bah containers --format '{{.ContainerName}}'); do
		[[ $name =~ ^([0-9a-f]{12}-|ceph-csi-(base|golang)-)?working-container(-[0-9]+)?$ ]] || continue
		bah rm "$name" >/dev/null 2>&1 && n=$((n + 1))
	done
	[ "$n" -eq 0 ] || log "removed $n working containers an interrupted build left"
}

# prune_old removes untagged images (build-cache layers of earlier builds,
# earlier versions of the images) older than IMAGES_PRUNE_DAYS (7): storage
# stays bounded on a machine that builds every day, and a cache layer still
# wanted is simply made again once.
prune_old() {
	local cutoff id day time zone n=0
	cutoff=$(date -d "-${IMAGES_PRUNE_DAYS:-7} days" +%s)
	while read -r id day time zone _; do
		[ -n "$id" ] || continue
		if [ "$(date -d "$day $time $zone" +%s)" -lt "$cutoff" ] && bah rmi "$id" >/dev/null 2>&1; then n=$((n + 1)); fi
	done < <(bah images --filter dangling=true --format '{{.ID}} {{.CreatedAtRaw}}')
	[ "$n" -eq 0 ] || log "removed $n untagged images older than ${IMAGES_PRUNE_DAYS:-7} days"
}

# build_one builds build/$1.Dockerfile as $REGISTRY/$1:<its VERSION>.
build_one() {
	local mod=$1 base=$2 goimg=$3 version ref started
	version=$(cat "$mod/VERSION")
	ref=$REGISTRY/$mod:$version
	local args=(--layers --pull=never --network host --runtime "$(command -v runc)"
		--build-arg GO_IMAGE="$goimg" --build-arg VERSION="$version" --build-arg COMMIT="$COMMIT"
		--label org.opencontainers.image.version="$version" --label org.opencontainers.image.revision="$COMMIT"
		-f "build/$mod.Dockerfile" -t "$ref")
	# liveness-probe is FROM scratch and links no Ceph.
	[ "$mod" = liveness-probe ] || args+=(--build-arg BASE_IMAGE="$base" --build-arg CEPH_RELEASE="$CEPH_RELEASE")
	# The host's module cache serves as the module proxy (the public proxy
	# only for what it lacks).
	# The container builds the module alone (GOWORK=off), whose versions can
	# differ from the workspace's: fetch them on the host first (the
	# container cannot reach the proxy itself when the host's trust store
	# holds a private CA).
	(cd "$mod" && GOWORK=off GOFLAGS=-mod=mod go mod download) ||
		echo "images: go mod download for $mod failed; the build falls back to the proxy" >&2
	local modcache
	modcache=$(go env GOMODCACHE)/cache/download
	if [ -d "$modcache" ]; then
		args+=(-v "$modcache:/host-modcache:ro"
			--build-arg GOPROXY="file:///host-modcache,$(go env GOPROXY)")
	fi
	started=$(date +%s)
	if ! bah bud "${args[@]}" . >"$LOG_DIR/$mod.log" 2>&1; then
		tail -40 "$LOG_DIR/$mod.log" >&2
		echo "images: building $ref failed (log: $LOG_DIR/$mod.log)" >&2
		return 1
	fi
	log "built $ref in $(($(date +%s) - started)) s"
}

# image_bytes prints the uncompressed size of image $1: the sum of its
# layers' sizes, as container storage records them (what buildah and podman
# print as the image size).
image_bytes() {
	local top
	top=$(bah inspect --type image --format '{{.FromImageID}}' "$1")
	jq -r --arg id "$top" '
		(input | map({key: .id, value: .}) | from_entries) as $layers
		| (.[] | select(.id == $id) | .layer) as $top
		| [$top | recurse($layers[.].parent // empty)] | map($layers[.]["diff-size"]) | add' \
		"$STATE/storage/overlay-images/images.json" "$STATE/storage/overlay-layers/layers.json"
}

report_sizes() {
	local out=bin/images.txt mod ref bytes failed=0 verdict
	: >"$out.tmp"
	printf '%-55s %10s %10s  %s\n' IMAGE SIZE TARGET ""
	for mod in $IMAGES; do
		ref=$REGISTRY/$mod:$(cat "$mod/VERSION")
		bytes=$(image_bytes "$ref")
		echo "$ref $bytes" >>"$out.tmp"
		verdict=ok
		if [ "$bytes" -gt "${TARGET[$mod]}" ]; then verdict="OVER TARGET"; failed=1; fi
		awk -v r="$ref" -v b="$bytes" -v t="${TARGET[$mod]}" -v v="$verdict" \
			'BEGIN { printf "%-55s %7.1f MB %7.0f MB  %s\n", r, b / 1e6, t / 1e6, v }'
	done
	mv "$out.tmp" "$out"
	log "sizes written to $out"
	return $failed
}

# export_archives writes each image as a docker archive
# $IMAGES_ARCHIVE_DIR/<image>.tar (for `ctr images import`, `docker load`,
# `podman load`), when that variable is set; an archive whose image ID is
# unchanged is kept.
export_archives() {
	local dir=${IMAGES_ARCHIVE_DIR:-} mod ref id
	[ -n "$dir" ] || return 0
	mkdir -p "$dir"
	for mod in $IMAGES; do
		ref=$REGISTRY/$mod:$(cat "$mod/VERSION")
		id=$(bah inspect --type image --format '{{.FromImageID}}' "$ref")
		if [ -s "$dir/$mod.tar" ] && [ "$(cat "$dir/$mod.tar.id" 2>/dev/null)" = "$id" ]; then continue; fi
		rm -f "$dir/$mod.tar" "$dir/$mod.tar.id"
		bah push --quiet "$ref" "docker-archive:$dir/$mod.tar:$ref" >/dev/null
		echo "$id" >"$dir/$mod.tar.id"
		log "wrote $dir/$mod.tar"
	done
	# Which commit the archives hold: `make e2e` reuses them for it.
	echo "$COMMIT" >"$dir/commit"
}

main() {
	need_tools
	mkdir -p "$STATE/tmp" "$CACHE" "$LOG_DIR"
	COMMIT=${COMMIT:-$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}
	exec 9>"$STATE/lock"
	if ! flock -n 9; then
		log "waiting for another image build (lock $STATE/lock)"
		flock 9
	fi
	local started base goimg mod
	started=$(date +%s)
	drop_leftovers
	base=$(base_image)
	goimg=$(go_image "$base")
	drop_stale "$base" "$goimg"
	prune_old
	for mod in $IMAGES; do build_one "$mod" "$base" "$goimg"; done
	log "all built in $(($(date +%s) - started)) s (commit $COMMIT)"
	export_archives
	report_sizes
}

main "$@"
