package controller

import (
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// imageLayout is the striping and object size a StorageClass asks for (0:
// librbd's default).
type imageLayout struct {
	objectSize, stripeUnit, stripeCount uint64
}

const (
	minObjectSize     = 4 << 10  // librbd's smallest order, 12
	maxObjectSize     = 32 << 20 // librbd's largest order, 25
	defaultObjectSize = 4 << 20
)

// parseLayout validates stripeUnit, stripeCount and objectSize as ceph-csi
// does (stripeUnit and stripeCount together; objectSize a power of 2) and
// as librbd will (the stripe unit divides the object size).
func parseLayout(in map[string]string) (imageLayout, error) {
	var l imageLayout
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{paramObjectSize, &l.objectSize}, {paramStripeUnit, &l.stripeUnit}, {paramStripeCount, &l.stripeCount}} {
		v, ok := in[f.name]
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		if err != nil || n == 0 {
			return l, invalidArg("parameters."+f.name, "%q is not a positive number of bytes", v)
		}
		*f.dst = n
	}
	if (l.stripeUnit == 0) != (l.stripeCount == 0) {
		return l, invalidArg("parameters."+paramStripeUnit, "stripeUnit and stripeCount must be given together")
	}
	if l.objectSize != 0 && (l.objectSize&(l.objectSize-1) != 0 || l.objectSize < minObjectSize || l.objectSize > maxObjectSize) {
		return l, invalidArg("parameters."+paramObjectSize, "%d is not a power of 2 from %d to %d",
			l.objectSize, minObjectSize, maxObjectSize)
	}
	obj := l.objectSize
	if obj == 0 {
		obj = defaultObjectSize
	}
	if l.stripeUnit != 0 && (l.stripeUnit > obj || obj%l.stripeUnit != 0) {
		return l, invalidArg("parameters."+paramStripeUnit, "%d does not divide the object size %d", l.stripeUnit, obj)
	}
	return l, nil
}

// validateNode checks the values the controller passes to the node.
func (p *volumeParams) validateNode() error {
	if v := p.TryOtherMounters; v != "" {
		if _, err := strconv.ParseBool(v); err != nil {
			return invalidArg("parameters."+paramTryOtherMounters, "%q is not true or false", v)
		}
	}
	if v := p.CephLogStrategy; v != "" && !slices.Contains(volctx.CephLogStrategies(), v) {
		return invalidArg("parameters."+paramCephLogStrategy, "%q is not one of %s", v,
			strings.Join(volctx.CephLogStrategies(), ", "))
	}
	if v := p.CephLogDir; v != "" && (!path.IsAbs(v) || path.Clean(v) != v || strings.ContainsAny(v, "\n\x00")) {
		return invalidArg("parameters."+paramCephLogDir, "%q is not a clean absolute path", v)
	}
	return nil
}
