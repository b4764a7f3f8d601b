// Package cephconn is the shared module's one go-ceph adapter: a pool of
// RADOS connections keyed by (cluster, user) and the RADOS implementation of
// journal.ObjectStore. It needs cgo and the Ceph client libraries, and the
// build tag of the Ceph release (for example -tags pacific). Nothing else in
// shared imports go-ceph.
package cephconn
