// Package cephconn is the shared module's one go-ceph adapter: a pool of
// RADOS connections keyed by (cluster, user) and the RADOS implementation of
// journal.ObjectStore. It needs cgo and the Ceph client libraries, and the
// build tag of the Ceph release (for example -tags pacific). Nothing else in
// shared imports go-ceph.
//
// A connection the cluster has blocklisted fails every call with ESHUTDOWN
// for good. The adapters pass the errors of calls on a borrowed Conn
// through Conn.Check, which drops such a connection from the pool (the
// requests still holding it keep it until they release it; the last
// release shuts it down) and marks the error ErrBlocklisted; the next Get
// opens a fresh connection, which the blocklist does not cover.
package cephconn
