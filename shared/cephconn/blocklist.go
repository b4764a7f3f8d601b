package cephconn

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/ceph/go-ceph/rados"
)

// Blocklisted reports whether err, an error of a go-ceph call (rados, rbd
// or cephfs, possibly wrapped, or a step of a compound operation), carries
// ESHUTDOWN: Ceph's EBLOCKLISTED, returned for every call of a client the
// cluster has blocklisted. The blocklist names the client's address and
// nonce, so the connection never recovers while a new one is not affected.
func Blocklisted(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrBlocklisted) {
		return true
	}
	var opErr rados.OperationError
	if errors.As(err, &opErr) {
		if opErr.OpError != nil && Blocklisted(opErr.OpError) {
			return true
		}
		for _, step := range opErr.StepErrors {
			if step != nil && Blocklisted(step) {
				return true
			}
		}
	}
	var coded interface{ ErrorCode() int }
	if !errors.As(err, &coded) {
		return false
	}
	code := coded.ErrorCode()
	return code == -int(syscall.ESHUTDOWN) || code == int(syscall.ESHUTDOWN)
}

// Check returns err, marked with ErrBlocklisted when it says that the
// cluster blocklisted the connection; the connection is then dropped from
// the pool (see ErrBlocklisted). Adapters pass every error of a call on c
// through it. It is safe to call on a released Conn and more than once.
func (c *Conn) Check(err error) error {
	if !Blocklisted(err) {
		return err
	}
	if c.drop != nil {
		c.drop()
	}
	if errors.Is(err, ErrBlocklisted) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrBlocklisted, err)
}

// ObjectStore opens pool (by name) in namespace on c, as NewObjectStore,
// with its errors passed through c.Check.
func (c *Conn) ObjectStore(pool, namespace string) (*ObjectStore, error) {
	st, err := NewObjectStore(c.Conn, pool, namespace)
	if err != nil {
		return nil, c.Check(err)
	}
	st.check = c.Check
	return st, nil
}
