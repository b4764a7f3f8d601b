//go:build !pacific && !quincy && !reef && !squid

package buildinfo

// cephRelease without a release tag: go-ceph then targets the newest Ceph
// release it supports.
const cephRelease = "newest (no release build tag)"
