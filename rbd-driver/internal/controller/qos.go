package controller

import (
	"context"
	"maps"
	"math"
	"sort"
	"strconv"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// QoS through VolumeAttributesClass mutable parameters, with ceph-csi's
// keys and on-image layout: each limit is stored as the image's
// conf_rbd_qos_* metadata (what `rbd config image set` writes, listed by
// `rbd config image ls`), and the parameters themselves as the
// rbd_base_qos_* / rbd_*_per_gib_limit / rbd_base_qos_vol_size metadata,
// so that an expansion recomputes the limits. librbd enforces them for
// rbd-nbd and rbd-fuse clients; krbd ignores them.

// qosFamily is one limit: its base key, its per-GiB key, the librbd
// option it sets and the metadata keys ceph-csi saves the parameters in.
type qosFamily struct {
	base, perGiB, option, savedBase, savedPerGiB string
}

var qosFamilies = []qosFamily{
	{"BaseIops", "IopsPerGiB", "rbd_qos_iops_limit", "rbd_base_qos_iops_limit", "rbd_iops_per_gib_limit"},
	{"BaseReadIops", "ReadIopsPerGiB", "rbd_qos_read_iops_limit", "rbd_base_qos_read_iops_limit", "rbd_read_iops_per_gib_limit"},
	{"BaseWriteIops", "WriteIopsPerGiB", "rbd_qos_write_iops_limit", "rbd_base_qos_write_iops_limit", "rbd_write_iops_per_gib_limit"},
	{"BaseBytesPerSecond", "BpsPerGiB", "rbd_qos_bps_limit", "rbd_base_qos_bps_limit", "rbd_bps_per_gib_limit"},
	{"BaseReadBytesPerSecond", "ReadBpsPerGiB", "rbd_qos_read_bps_limit", "rbd_base_qos_read_bps_limit", "rbd_read_bps_per_gib_limit"},
	{"BaseWriteBytesPerSecond", "WriteBpsPerGiB", "rbd_qos_write_bps_limit", "rbd_base_qos_write_bps_limit", "rbd_write_bps_per_gib_limit"},
}

const (
	qosBaseVolSize      = "BaseVolSizeBytes"
	qosSavedBaseVolSize = "rbd_base_qos_vol_size"
	qosConfPrefix       = "conf_"
	gib                 = int64(1) << 30
)

// qosParams are validated QoS parameters by key (BaseReadIops, ...).
type qosParams map[string]int64

// qosKeys returns every QoS parameter key.
func qosKeys() map[string]bool {
	known := map[string]bool{qosBaseVolSize: true}
	for _, f := range qosFamilies {
		known[f.base], known[f.perGiB] = true, true
	}
	return known
}

// pickQoS returns the QoS keys of StorageClass parameters (ceph-csi reads
// them there too).
func pickQoS(params map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range params {
		if qosKeys()[k] {
			out[k] = v
		}
	}
	return out
}

// mergeQoS returns a with b's keys on top (nil when both are empty).
func mergeQoS(a, b qosParams) qosParams {
	if len(a)+len(b) == 0 {
		return nil
	}
	out := qosParams{}
	maps.Copy(out, a)
	maps.Copy(out, b)
	return out
}

// parseQoS validates QoS parameters: every key must be a QoS key and every
// value a non-negative integer. A per-GiB key without its base has no
// effect, as in ceph-csi. field names the request field in errors. No
// parameters: nil.
func parseQoS(field string, params map[string]string) (qosParams, error) {
	if len(params) == 0 {
		return nil, nil
	}
	known := qosKeys()
	q := qosParams{}
	for k, v := range params {
		if !known[k] {
			return nil, invalidArg(field+"."+k, "is not a QoS parameter (want one of %s)", keyList(known))
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, invalidArg(field+"."+k, "%q is not a non-negative integer", v)
		}
		q[k] = n
	}
	return q, nil
}

func keyList(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += k
	}
	return s
}

// limit computes one family's limit for an image of size bytes, as
// ceph-csi does: the base, plus perGiB for every whole GiB above
// BaseVolSizeBytes when both are set (saturating, never wrapping).
func (q qosParams) limit(f qosFamily, size int64) int64 {
	base := q[f.base]
	perGiB, hasPer := q[f.perGiB]
	bvs, hasBVS := q[qosBaseVolSize]
	if !hasPer || !hasBVS || size <= bvs {
		return base
	}
	extra := (size - bvs) / gib
	if perGiB != 0 && extra > (math.MaxInt64-base)/perGiB {
		return math.MaxInt64
	}
	return base + extra*perGiB
}

// metadata returns the image metadata q stands for at size bytes.
func (q qosParams) metadata(size int64) map[string]string {
	md := map[string]string{}
	for _, f := range qosFamilies {
		if _, ok := q[f.base]; !ok {
			continue
		}
		md[qosConfPrefix+f.option] = strconv.FormatInt(q.limit(f, size), 10)
		md[f.savedBase] = strconv.FormatInt(q[f.base], 10)
		if v, ok := q[f.perGiB]; ok {
			md[f.savedPerGiB] = strconv.FormatInt(v, 10)
		}
	}
	if v, ok := q[qosBaseVolSize]; ok {
		md[qosSavedBaseVolSize] = strconv.FormatInt(v, 10)
	}
	return md
}

// qosMetadataKeys are every metadata key the QoS owns.
func qosMetadataKeys() []string {
	keys := []string{qosSavedBaseVolSize}
	for _, f := range qosFamilies {
		keys = append(keys, qosConfPrefix+f.option, f.savedBase, f.savedPerGiB)
	}
	return keys
}

// qosFromMetadata reads the saved parameters back (nil: none saved).
func qosFromMetadata(md map[string]string) qosParams {
	q := qosParams{}
	read := func(mdKey, key string) {
		if n, err := strconv.ParseInt(md[mdKey], 10, 64); err == nil && n >= 0 {
			q[key] = n
		}
	}
	for _, f := range qosFamilies {
		read(f.savedBase, f.base)
		if _, ok := q[f.base]; ok {
			read(f.savedPerGiB, f.perGiB)
		}
	}
	if len(q) == 0 {
		return nil
	}
	read(qosSavedBaseVolSize, qosBaseVolSize)
	return q
}

// applyQoS makes the image's QoS metadata exactly what q stands for at
// size bytes: sets what differs, removes QoS keys q does not have. One
// read, then writes only for changes; idempotent.
func applyQoS(ctx context.Context, sess backend.Session, img backend.ImageRef, q qosParams, size int64) error {
	have, err := sess.Metadata(ctx, img)
	if err != nil {
		return err
	}
	want := q.metadata(size)
	set := map[string]string{}
	for k, v := range want {
		if have[k] != v {
			set[k] = v
		}
	}
	var remove []string
	for _, k := range qosMetadataKeys() {
		if _, ok := have[k]; ok && want[k] == "" {
			remove = append(remove, k)
		}
	}
	if len(set) > 0 {
		if err := sess.SetMetadata(ctx, img, set); err != nil {
			return err
		}
	}
	if len(remove) > 0 {
		return sess.RemoveMetadata(ctx, img, remove)
	}
	return nil
}
