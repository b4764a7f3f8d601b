package node

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/credentials"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// Filesystems NodeStageVolume formats and mounts.
const (
	fsExt3 = "ext3"
	fsExt4 = "ext4"
	fsXFS  = "xfs"
)

// supportedFs reports whether fsType is a filesystem NodeStageVolume makes.
func supportedFs(fsType string) bool {
	return fsType == fsExt3 || fsType == fsExt4 || fsType == fsXFS
}

// isExt reports whether fsType is ext3 or ext4.
func isExt(fsType string) bool { return fsType == fsExt3 || fsType == fsExt4 }

// required returns an InvalidArgument error naming field if value is empty.
func required(field, value string) error {
	if value == "" {
		return status.Errorf(codes.InvalidArgument, "%s is required", field)
	}
	return nil
}

// Linux's PATH_MAX (with its NUL) and NAME_MAX.
const (
	maxPathLen = 4095
	maxNameLen = 255
)

// requiredPath returns an InvalidArgument error naming field unless path is
// an absolute path the kernel accepts: no NUL byte, at most PATH_MAX bytes,
// no element longer than NAME_MAX. Such a path is the caller's mistake, not
// a failure of the node.
func requiredPath(field, path string) error {
	if err := required(field, path); err != nil {
		return err
	}
	var problem string
	switch {
	case !filepath.IsAbs(path):
		problem = "is not an absolute path"
	case strings.ContainsRune(path, 0):
		problem = "contains a NUL byte"
	case len(path) > maxPathLen:
		problem = fmt.Sprintf("is longer than %d bytes", maxPathLen)
	case slices.ContainsFunc(strings.Split(path, "/"), func(e string) bool { return len(e) > maxNameLen }):
		problem = fmt.Sprintf("has an element longer than %d bytes", maxNameLen)
	default:
		return nil
	}
	return status.Errorf(codes.InvalidArgument, "%s %s", field, problem)
}

// firstError returns the first non-nil error.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// capability is a checked volume capability.
type capability struct {
	block      bool
	fsType     string // "" when not given
	mountFlags []string
	mode       csi.VolumeCapability_AccessMode_Mode
}

// readOnly reports whether the access mode only allows reading.
func (c capability) readOnly() bool {
	return c.mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY ||
		c.mode == csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
}

// singleWriter reports whether the access mode allows only one publication
// on the node.
func (c capability) singleWriter() bool {
	return c.mode == csi.VolumeCapability_AccessMode_SINGLE_NODE_SINGLE_WRITER
}

// checkCapability validates the volume_capability of a request.
func checkCapability(vc *csi.VolumeCapability) (capability, error) {
	if vc == nil {
		return capability{}, status.Error(codes.InvalidArgument, "volume_capability is required")
	}
	c := capability{mode: vc.GetAccessMode().GetMode()}
	if c.mode == csi.VolumeCapability_AccessMode_UNKNOWN {
		return c, status.Error(codes.InvalidArgument, "volume_capability.access_mode is required")
	}
	switch {
	case vc.GetBlock() != nil:
		c.block = true
	case vc.GetMount() != nil:
		c.fsType, c.mountFlags = vc.GetMount().GetFsType(), vc.GetMount().GetMountFlags()
	default:
		return c, status.Error(codes.InvalidArgument, "volume_capability.access_type must be block or mount")
	}
	return c, checkFilesystemCapability(c)
}

// checkFilesystemCapability refuses what a filesystem on an RBD image
// cannot do.
func checkFilesystemCapability(c capability) error {
	if c.block {
		return nil
	}
	if c.fsType != "" && !supportedFs(c.fsType) {
		return status.Errorf(codes.InvalidArgument,
			"volume_capability.mount.fs_type %q is not supported (want %s, %s or %s)", c.fsType, fsExt4, fsExt3, fsXFS)
	}
	if c.mode == csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER ||
		c.mode == csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER {
		return status.Errorf(codes.InvalidArgument,
			"volume_capability.access_mode %s is only supported for block volumes", c.mode)
	}
	return nil
}

// stageParams is a validated NodeStageVolumeRequest.
type stageParams struct {
	volumeID    string
	stagingPath string
	cap         capability
	fsType      string // the filesystem to use; "" for block volumes
	creds       *credentials.Credentials
	clusterID   string
	pool        string
	namespace   string
	image       string
	mounter     string
	mkfsOptions []string
	mapOptions  string
	unmapOpts   string
	// tryOtherMounters lets a krbd staging fall back to rbd-nbd when the
	// kernel lacks one of the image's features.
	tryOtherMounters bool
	logDir           string
	logStrategy      string
}

// stageParamsFrom validates a NodeStageVolumeRequest.
func stageParamsFrom(req *csi.NodeStageVolumeRequest) (*stageParams, error) {
	if err := firstError(required("volume_id", req.GetVolumeId()),
		requiredPath("staging_target_path", req.GetStagingTargetPath())); err != nil {
		return nil, err
	}
	c, err := checkCapability(req.GetVolumeCapability())
	if err != nil {
		return nil, err
	}
	creds, err := credentials.ForRBD(req.GetSecrets())
	if err != nil {
		return nil, err
	}
	p := &stageParams{volumeID: req.GetVolumeId(), stagingPath: req.GetStagingTargetPath(), cap: c, creds: creds}
	return p, p.fromContext(req.GetVolumeContext())
}

// fromContext reads the volume context the controller returned.
func (p *stageParams) fromContext(vc map[string]string) error {
	p.clusterID, p.pool, p.image = vc[volctx.ClusterID], vc[volctx.Pool], vc[volctx.ImageName]
	for _, k := range []string{volctx.ClusterID, volctx.Pool, volctx.ImageName} {
		if vc[k] == "" {
			return status.Errorf(codes.InvalidArgument, "volume_context[%q] is required", k)
		}
	}
	if on, _ := strconv.ParseBool(vc[volctx.Encrypted]); on {
		return status.Errorf(codes.InvalidArgument, "volume_context[%q] = %q: encrypted volumes (ceph-csi's LUKS) are "+
			"not supported yet; stage this volume with ceph-csi", volctx.Encrypted, vc[volctx.Encrypted])
	}
	if !volctx.ValidMounter(vc[volctx.Mounter]) {
		return status.Errorf(codes.InvalidArgument, "volume_context[%q] = %q is not one of %s",
			volctx.Mounter, vc[volctx.Mounter], strings.Join(volctx.Mounters(), ", "))
	}
	p.mounter = volctx.MounterOf(vc)
	p.namespace = vc[volctx.RadosNamespace]
	p.mapOptions, p.unmapOpts = vc[volctx.MapOptions], vc[volctx.UnmapOptions]
	p.tryOtherMounters = strings.EqualFold(strings.TrimSpace(vc[volctx.TryOtherMounters]), "true")
	p.logDir, p.logStrategy = vc[volctx.CephLogDir], vc[volctx.CephLogStrategy]
	p.mkfsOptions = strings.Fields(vc[volctx.MkfsOptions])
	return p.chooseFsType(vc[volctx.FsType])
}

// chooseFsType picks the filesystem: the capability's, else the volume
// context's, else ext4.
func (p *stageParams) chooseFsType(fromContext string) error {
	if p.cap.block {
		return nil
	}
	p.fsType = p.cap.fsType
	if p.fsType == "" {
		p.fsType = fromContext
	}
	if p.fsType == "" {
		p.fsType = volctx.DefaultFsType
	}
	if !supportedFs(p.fsType) {
		return status.Errorf(codes.InvalidArgument, "volume_context[%q] = %q is not supported (want %s, %s or %s)",
			volctx.FsType, p.fsType, fsExt4, fsExt3, fsXFS)
	}
	return nil
}
