package cephrbd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/ceph/go-ceph/rados"
	"github.com/ceph/go-ceph/rbd"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

func TestTranslate(t *testing.T) {
	tests := []struct {
		in   error
		want error
	}{
		{rbd.ErrNotFound, backend.ErrNotFound},
		{rados.ErrNotFound, backend.ErrNotFound},
		{rbd.ErrExist, backend.ErrExists},
		{rados.ErrPermissionDenied, backend.ErrPermission},
		{rbd.ErrNotImplemented, backend.ErrInvalid},
		{rados.ErrNotConnected, backend.ErrUnavailable},
		{fmt.Errorf("wrapped: %w", rbd.ErrNotFound), backend.ErrNotFound},
	}
	for _, tc := range tests {
		got := translate("op", tc.in)
		if !errors.Is(got, tc.want) || !errors.Is(got, tc.in) {
			t.Errorf("translate(%v) = %v, want it to wrap %v and the original", tc.in, got, tc.want)
		}
	}
	if translate("op", nil) != nil {
		t.Error("translate(nil) != nil")
	}
	plain := errors.New("plain")
	if got := translate("op", plain); !errors.Is(got, plain) || errors.Is(got, backend.ErrNotFound) {
		t.Errorf("translate(plain) = %v", got)
	}
}

func TestDecodeString(t *testing.T) {
	enc := func(s string) []byte {
		b := binary.LittleEndian.AppendUint32(nil, uint32(len(s)))
		return append(b, s...)
	}
	if got, err := decodeString(enc("1110259f49b4")); err != nil || got != "1110259f49b4" {
		t.Fatalf("decodeString = %q, %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1, 0}, {5, 0, 0, 0, 'a'}} {
		if _, err := decodeString(bad); err == nil {
			t.Errorf("decodeString(%v) accepted", bad)
		}
	}
}

func TestSpecs(t *testing.T) {
	p := backend.PoolRef{Pool: "rbd"}
	if got := idSpec(p, "abc"); got != "rbd/abc" {
		t.Errorf("idSpec = %q", got)
	}
	p.Namespace = "ns"
	if got := spec(backend.ImageRef{PoolRef: p, Name: "img"}); got != "rbd/ns/img" {
		t.Errorf("spec = %q", got)
	}
}
