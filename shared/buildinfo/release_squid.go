//go:build squid

package buildinfo

// cephRelease is go-ceph's build tag: the Ceph release whose client
// libraries the binary was built against.
const cephRelease = "squid"
