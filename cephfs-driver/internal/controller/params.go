package controller

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/scparams"
)

// Parameter names, as in ceph-csi StorageClasses.
const (
	paramClusterID          = volctx.ClusterID
	paramFSName             = volctx.FSName
	paramPool               = volctx.Pool
	paramMounter            = volctx.Mounter
	paramKernelMountOptions = volctx.KernelMountOptions
	paramFuseMountOptions   = volctx.FuseMountOptions
	paramVolumeNamePrefix   = volctx.VolumeNamePrefix
	paramBackingSnapshot    = volctx.BackingSnapshot
	paramSnapshotNamePrefix = "snapshotNamePrefix"
)

// volumeParams are the parsed CreateVolume parameters.
type volumeParams struct {
	ClusterID       string
	FSName          string
	Pool            string
	Mounter         string
	KernelOptions   string
	FuseOptions     string
	NamePrefix      string
	BackingSnapshot bool
	// SubvolumeGroup is the group the StorageClass names ("" if none);
	// it must be the configured one.
	SubvolumeGroup string
}

// namePrefixRE limits name prefixes to what is safe in a subvolume or
// snapshot name.
var namePrefixRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// parseVolumeParams validates the CreateVolume parameters against
// StorageClassParams: unknown keys are rejected with the nearest known key
// (a misspelt key must not be ignored silently), and so are features not
// supported yet; keys without effect are skipped.
func parseVolumeParams(params map[string]string) (*volumeParams, error) {
	p := &volumeParams{Mounter: volctx.MounterKernel}
	if err := setImplemented(StorageClassParams, params, p.set); err != nil {
		return nil, err
	}
	switch {
	case p.ClusterID == "":
		return nil, status.Errorf(codes.InvalidArgument, "missing parameter %q", paramClusterID)
	case p.FSName == "":
		return nil, status.Errorf(codes.InvalidArgument, "missing parameter %q", paramFSName)
	}
	return p, nil
}

func (p *volumeParams) set(k, v string) error {
	switch k {
	case paramClusterID:
		p.ClusterID = v
	case paramFSName:
		p.FSName = v
	case paramPool:
		p.Pool = v
	case paramMounter:
		return p.setMounter(v)
	case paramKernelMountOptions:
		p.KernelOptions = v
	case paramFuseMountOptions:
		p.FuseOptions = v
	case paramVolumeNamePrefix:
		return setPrefix(&p.NamePrefix, k, v)
	case paramSubvolumeGroup:
		p.SubvolumeGroup = v
	case paramBackingSnapshot:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "parameter %q: %q is not a boolean", k, v)
		}
		p.BackingSnapshot = b
	default:
		return unknownParam(k)
	}
	return nil
}

func (p *volumeParams) setMounter(v string) error {
	switch v {
	case "":
	case volctx.MounterKernel, volctx.MounterFuse:
		p.Mounter = v
	default:
		return status.Errorf(codes.InvalidArgument, "parameter %q: unknown mounter %q (want %q or %q)",
			paramMounter, v, volctx.MounterKernel, volctx.MounterFuse)
	}
	return nil
}

func setPrefix(dst *string, k, v string) error {
	if v != "" && !namePrefixRE.MatchString(v) {
		return status.Errorf(codes.InvalidArgument,
			"parameter %q: %q must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit", k, v)
	}
	*dst = v
	return nil
}

func unknownParam(k string) error {
	if strings.HasPrefix(k, volctx.ProvisionerKeyPrefix) {
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "unknown parameter %q", k)
}

// snapshotParams are the parsed CreateSnapshot parameters.
type snapshotParams struct {
	ClusterID  string
	NamePrefix string
}

func parseSnapshotParams(params map[string]string) (*snapshotParams, error) {
	p := &snapshotParams{}
	err := setImplemented(SnapshotClassParams, params, func(k, v string) error {
		switch k {
		case paramClusterID:
			p.ClusterID = v
		case paramSnapshotNamePrefix:
			return setPrefix(&p.NamePrefix, k, v)
		default:
			return unknownParam(k)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// setImplemented checks params against table (InvalidArgument for what it
// refuses) and calls set for each key the table marks implemented; keys
// without effect are skipped.
func setImplemented(table *scparams.Table, params map[string]string, set func(k, v string) error) error {
	if err := table.Check(params); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	for k, v := range params {
		if key, _ := table.Lookup(k); key.Support != scparams.Implemented {
			continue
		}
		if err := set(k, v); err != nil {
			return err
		}
	}
	return nil
}

// validateCapabilities checks the capabilities of a CreateVolume or
// ValidateVolumeCapabilities request: mount access with a known mode.
// readOnly additionally requires a reader-only mode (shallow volumes).
func validateCapabilities(caps []*csi.VolumeCapability, readOnly bool) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities: missing")
	}
	for i, c := range caps {
		if err := capabilityError(c, readOnly); err != "" {
			return status.Errorf(codes.InvalidArgument, "volume_capabilities[%d]: %s", i, err)
		}
	}
	return nil
}

// capabilityError returns why c is not supported, or "".
func capabilityError(c *csi.VolumeCapability, readOnly bool) string {
	switch {
	case c == nil:
		return "missing"
	case c.GetBlock() != nil:
		return "block access type is not supported: CephFS volumes are file systems"
	case c.GetMount() == nil:
		return "access type: missing (want mount)"
	}
	mode := c.GetAccessMode().GetMode()
	switch mode {
	case csi.VolumeCapability_AccessMode_UNKNOWN:
		return "access mode: missing or unknown"
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		return ""
	}
	if _, ok := csi.VolumeCapability_AccessMode_Mode_name[int32(mode)]; !ok {
		return fmt.Sprintf("access mode %d is unknown", mode)
	}
	if readOnly {
		return fmt.Sprintf("access mode %s is not read-only, as a %s=true volume requires", mode, paramBackingSnapshot)
	}
	return ""
}

// Capacity rounding: sizes are whole MiB, at most maxRequired bytes.
const (
	mib         = 1 << 20
	maxRequired = math.MaxInt64 / mib * mib
)

// volumeSize picks the quota for a capacity range: the required bytes
// rounded up to a whole MiB, capped at the limit; the limit when only a
// limit is given; 0 (no quota) when neither is. Bad ranges are
// InvalidArgument or OutOfRange errors.
func volumeSize(r *csi.CapacityRange) (int64, error) {
	required, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	switch {
	case required < 0 || limit < 0:
		return 0, status.Errorf(codes.InvalidArgument, "capacity_range: negative bytes (required %d, limit %d)", required, limit)
	case limit > 0 && required > limit:
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: required_bytes %d exceeds limit_bytes %d", required, limit)
	case required > maxRequired:
		return 0, status.Errorf(codes.OutOfRange, "capacity_range: required_bytes %d cannot be rounded up to a whole MiB", required)
	case required == 0:
		return limit, nil
	}
	size := (required + mib - 1) / mib * mib
	if limit > 0 && size > limit {
		size = limit
	}
	return size, nil
}

// sizeFits reports whether an existing quota satisfies a capacity range
// (quota 0 means unlimited, which fits only a range without a limit).
func sizeFits(quota int64, r *csi.CapacityRange) bool {
	required, limit := r.GetRequiredBytes(), r.GetLimitBytes()
	if quota == 0 {
		return limit == 0
	}
	return quota >= required && (limit == 0 || quota <= limit)
}
