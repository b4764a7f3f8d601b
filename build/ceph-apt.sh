#!/bin/sh
# Run by the drivers' Dockerfiles in their ceph-base stage.
# Makes the Ceph release CEPH_RELEASE installable with apt on Debian bookworm:
# pacific is Debian's own (16.2.x); any other release (quincy, reef, squid)
# comes from download.ceph.com.
set -eu
release=${1:?usage: ceph-apt.sh CEPH_RELEASE}
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
if [ "$release" = pacific ] && [ "$codename" = bookworm ]; then
	exit 0
fi
apt-get update
apt-get install -y --no-install-recommends ca-certificates curl
install -d -m 0755 /etc/apt/keyrings
curl -fsSL https://download.ceph.com/keys/release.asc -o /etc/apt/keyrings/ceph.asc
echo "deb [signed-by=/etc/apt/keyrings/ceph.asc] https://download.ceph.com/debian-$release/ $codename main" \
	>/etc/apt/sources.list.d/ceph.list
rm -rf /var/lib/apt/lists/*
