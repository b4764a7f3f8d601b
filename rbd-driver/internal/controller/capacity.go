package controller

import (
	"math"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

const (
	mib = int64(1) << 20
	// DefaultVolumeSize is the size of a volume created without a capacity
	// range.
	DefaultVolumeSize = int64(1) << 30
	// maxRequired is the largest required_bytes whose rounding up to whole
	// MiB still fits an int64.
	maxRequired = math.MaxInt64 / mib * mib
)

// sizeRequest is a validated capacity range.
type sizeRequest struct {
	// size is the size to create, rounded up to whole MiB.
	size int64
	// limit is limit_bytes, 0 when unset.
	limit int64
	// explicit is false when the request carried no capacity.
	explicit bool
}

// roundUpMiB rounds n up to a whole number of MiB.
func roundUpMiB(n int64) int64 { return (n + mib - 1) / mib * mib }

// parseCapacity validates cr (nil allowed) and picks the size: required
// bytes rounded up to whole MiB, or DefaultVolumeSize (capped by the limit)
// without a request. Rounding past limit_bytes is OutOfRange.
func parseCapacity(cr *csi.CapacityRange) (sizeRequest, error) {
	req, lim := cr.GetRequiredBytes(), cr.GetLimitBytes()
	switch {
	case req < 0:
		return sizeRequest{}, invalidArg("capacity_range.required_bytes", "%d is negative", req)
	case lim < 0:
		return sizeRequest{}, invalidArg("capacity_range.limit_bytes", "%d is negative", lim)
	case lim > 0 && req > lim:
		return sizeRequest{}, invalidArg("capacity_range", "required_bytes %d exceeds limit_bytes %d", req, lim)
	case req > maxRequired:
		return sizeRequest{}, outOfRange("capacity_range.required_bytes", "no whole number of MiB that large is representable")
	}
	r := sizeRequest{limit: lim, explicit: req > 0 || lim > 0}
	if req == 0 {
		r.size = DefaultVolumeSize
		if lim > 0 && lim < r.size {
			r.size = lim / mib * mib
		}
	} else {
		r.size = roundUpMiB(req)
	}
	if r.size == 0 || (lim > 0 && r.size > lim) {
		return sizeRequest{}, outOfRange("capacity_range", "volumes are allocated in whole MiB; no size fits within the limit")
	}
	return r, nil
}

// fits reports whether an existing size satisfies the range.
func (r sizeRequest) fits(size int64) bool {
	if r.limit > 0 && size > r.limit {
		return false
	}
	return !r.explicit || size >= r.size
}

// forSource adapts the range to a content source of srcSize bytes: the
// volume is at least as large as its source.
func (r sizeRequest) forSource(srcSize int64) (sizeRequest, error) {
	if !r.explicit || r.size < srcSize {
		r.size = srcSize
	}
	if r.limit > 0 && r.size > r.limit {
		return sizeRequest{}, outOfRange("capacity_range", "the content source is larger than limit_bytes")
	}
	return r, nil
}
