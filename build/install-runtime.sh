#!/bin/sh
# Run by the drivers' Dockerfiles in their final stage: installs exactly the
# runtime tools of the node mounters, without Python.
#
#   install-runtime.sh --install "PKG..." --extract "PKG:FILE[,FILE...] ..." --require "PROGRAM..."
#
# --install  Debian packages installed with apt (no recommends).
# --extract  programs taken out of a package's .deb (same version apt would
#            install) instead of installing it, for packages whose
#            dependencies pull in Python although the programs needed are
#            plain ELF binaries or shell scripts: ceph-common (rbd,
#            mount.ceph), ceph-fuse (its mount.fuse.ceph helper is Python),
#            xfsprogs (xfs_scrub_all is Python). Their shared libraries must
#            come from --install: the check below fails the build otherwise.
#            Each extracted file is listed, with its package and version, in
#            /usr/share/ceph-csi/extracted-files.
# --require  programs that must then be on PATH, with every shared library
#            they link resolvable (ldd), and for an extracted program no
#            Python interpreter in the image.
set -eu

install='' extract='' require=''
while [ $# -gt 0 ]; do
	case $1 in
	--install) install=$2 ;;
	--extract) extract=$2 ;;
	--require) require=$2 ;;
	*) echo "install-runtime.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift 2
done

export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # word splitting wanted: package lists
apt-get install -y -qq --no-install-recommends $install >/dev/null

tmp=$(mktemp -d)
chmod 755 "$tmp" # apt-get download runs as _apt
manifest=/usr/share/ceph-csi/extracted-files
mkdir -p "$(dirname "$manifest")"
for spec in $extract; do
	pkg=${spec%%:*}
	(cd "$tmp" && apt-get download -qq "$pkg")
	deb=$(echo "$tmp/${pkg}"_*.deb)
	version=$(dpkg-deb -f "$deb" Version)
	mkdir "$tmp/$pkg"
	dpkg-deb -x "$deb" "$tmp/$pkg"
	for f in $(echo "${spec#*:}" | tr , ' '); do
		[ -f "$tmp/$pkg$f" ] || { echo "install-runtime.sh: $pkg $version has no $f" >&2; exit 1; }
		# cp, not tar: follows the merged-/usr symlinks (/sbin -> usr/sbin).
		cp -p "$tmp/$pkg$f" "$f"
		echo "$f $pkg $version" >>"$manifest"
	done
done
rm -rf "$tmp"
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log

# Directories the Ceph tools expect (ceph-common would create them), and an
# empty ceph.conf: the drivers pass monitors and credentials on the command
# line (or in a private ceph.conf), and the tools then stop warning about a
# missing one.
mkdir -p /etc/ceph /var/lib/ceph /var/log/ceph /run/ceph
: >/etc/ceph/ceph.conf

failed=0
for prog in $require; do
	path=$(command -v "$prog") || { echo "install-runtime.sh: $prog: not on PATH" >&2; failed=1; continue; }
	if [ "$(head -c 4 "$path" | od -An -c | tr -d ' ')" = '177ELF' ]; then
		missing=$(ldd "$path" | grep 'not found' || true)
		if [ -n "$missing" ]; then
			echo "install-runtime.sh: $path: missing libraries:" >&2
			echo "$missing" >&2
			failed=1
		fi
	fi
done
if ls /usr/bin/python* >/dev/null 2>&1; then
	echo "install-runtime.sh: a Python interpreter got installed: $(ls /usr/bin/python*)" >&2
	failed=1
fi
exit $failed
