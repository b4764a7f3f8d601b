package node

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/volctx"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Static volume keys, as ceph-csi's static PVs write them.
const (
	staticVolume = "staticVolume"
	rootPath     = "rootPath"
)

// volume is what the node needs to mount a volume, from its context.
type volume struct {
	clusterID string
	// fsName is "" for a static volume on the default file system.
	fsName string
	// static marks a volume made by hand (staticVolume: "true"), mounted
	// with the user's credentials as ceph-csi does.
	static bool
	// path is the directory to mount.
	path string
	// backingDir, for a shallow volume, is the snapshot directory under
	// path that is bound onto the staging path.
	backingDir string
	mounter    string
	// options are the StorageClass's kernelMountOptions or
	// fuseMountOptions, flags the capability's mount flags.
	options []string
	flags   []string
	// lookupName (in group lookupGroup, "" for the configured one) is the
	// subvolume whose path the context of a ceph-csi PV from before v3.3
	// leaves out; lookupBacking marks a shallow volume of ceph-csi, whose
	// context does not locate the snapshot. Both are found on the cluster
	// (Config.Lookup) before mounting.
	lookupName    string
	lookupGroup   string
	lookupBacking bool
}

// parseVolume reads the volume context (and the capability's mount flags).
// Errors are InvalidArgument and name the key.
func (s *Server) parseVolume(volumeID string, vc map[string]string, c *csi.VolumeCapability) (*volume, error) {
	v := &volume{clusterID: vc[volctx.ClusterID], fsName: vc[volctx.FSName], mounter: vc[volctx.Mounter],
		static: vc[staticVolume] == "true"}
	if v.clusterID == "" {
		id, err := volid.Decode(volumeID)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "volume_context: missing %q, and volume_id is not a CSI volume ID: %v", volctx.ClusterID, err)
		}
		v.clusterID = id.ClusterID
	}
	if v.fsName == "" && !v.static {
		return nil, status.Errorf(codes.InvalidArgument, "volume_context: missing %q", volctx.FSName)
	}
	if err := v.setPath(vc); err != nil {
		return nil, err
	}
	if err := s.setMounter(v, vc); err != nil {
		return nil, err
	}
	v.flags = c.GetMount().GetMountFlags()
	return v, nil
}

func (v *volume) setPath(vc map[string]string) error {
	switch {
	case vc[volctx.BackingSnapshot] == "true" && vc[volctx.BackingSnapshotRoot] == "" && vc[volctx.BackingSnapshotDir] == "":
		v.lookupBacking = true
		return nil
	case vc[volctx.BackingSnapshot] == "true":
		v.path, v.backingDir = vc[volctx.BackingSnapshotRoot], path.Clean(vc[volctx.BackingSnapshotDir])
		if v.path == "" || vc[volctx.BackingSnapshotDir] == "" {
			return status.Errorf(codes.InvalidArgument, "volume_context: a shallow volume needs %q and %q",
				volctx.BackingSnapshotRoot, volctx.BackingSnapshotDir)
		}
		if path.IsAbs(v.backingDir) || strings.HasPrefix(v.backingDir, "..") {
			return status.Errorf(codes.InvalidArgument, "volume_context: %q must be relative and inside the root", volctx.BackingSnapshotDir)
		}
	case v.static:
		v.path = vc[rootPath]
		if !path.IsAbs(v.path) {
			return status.Errorf(codes.InvalidArgument, "volume_context: missing or relative %q of a static volume", rootPath)
		}
	case vc[volctx.SubvolumePath] == "" && vc[volctx.SubvolumeName] != "":
		v.lookupName, v.lookupGroup = vc[volctx.SubvolumeName], vc[volctx.SubvolumeGroup]
		return nil
	default:
		v.path = vc[volctx.SubvolumePath]
	}
	if !path.IsAbs(v.path) {
		return status.Errorf(codes.InvalidArgument, "volume_context: missing or relative %q", volctx.SubvolumePath)
	}
	return nil
}

func (s *Server) setMounter(v *volume, vc map[string]string) error {
	if v.mounter == "" {
		v.mounter = s.cfg.DefaultMounter
	}
	if _, ok := s.cfg.Mounters[v.mounter]; !ok {
		return status.Errorf(codes.InvalidArgument, "volume_context: unknown %q %q (want %q or %q)",
			volctx.Mounter, v.mounter, volctx.MounterKernel, volctx.MounterFuse)
	}
	key := volctx.KernelMountOptions
	if v.mounter == volctx.MounterFuse {
		key = volctx.FuseMountOptions
	}
	v.options = host.SplitOptions(vc[key])
	return nil
}

// nodeCredentials reads the stage secrets as ceph-csi chooses from them
// (its getCredentialsForVolume): a dynamically provisioned volume is
// mounted as adminID/adminKey, a static one as userID/userKey. Where
// ceph-csi would fail because the chosen pair is missing, the other pair
// is used.
func nodeCredentials(secrets map[string]string, static bool) (*credentials.Credentials, error) {
	pairs := [][2]string{{credentials.AdminIDField, credentials.AdminKeyField}, {credentials.UserIDField, credentials.UserKeyField}}
	if static {
		pairs[0], pairs[1] = pairs[1], pairs[0]
	}
	for _, p := range pairs {
		if _, ok := secrets[p[0]]; ok {
			return credentials.FromSecrets(secrets, p[0], p[1])
		}
	}
	return nil, status.Errorf(codes.InvalidArgument, "secrets: missing %q and %q (or %q and %q)",
		credentials.UserIDField, credentials.UserKeyField, credentials.AdminIDField, credentials.AdminKeyField)
}

// checkCapability accepts mount capabilities only.
func checkCapability(c *csi.VolumeCapability) error {
	switch {
	case c == nil:
		return status.Error(codes.InvalidArgument, "volume_capability: missing")
	case c.GetBlock() != nil:
		return status.Error(codes.InvalidArgument, "volume_capability: block access type is not supported: CephFS volumes are file systems")
	case c.GetMount() == nil:
		return status.Error(codes.InvalidArgument, "volume_capability: access type: missing (want mount)")
	case c.GetAccessMode() == nil || c.GetAccessMode().GetMode() == csi.VolumeCapability_AccessMode_UNKNOWN:
		return status.Error(codes.InvalidArgument, "volume_capability: access mode: missing or unknown")
	}
	return nil
}

// readOnlyMode reports the reader-only access modes.
func readOnlyMode(c *csi.VolumeCapability) bool {
	switch c.GetAccessMode().GetMode() {
	case csi.VolumeCapability_AccessMode_SINGLE_NODE_READER_ONLY, csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY:
		return true
	}
	return false
}

// Linux's PATH_MAX (with its NUL) and NAME_MAX.
const (
	maxPathLen = 4095
	maxNameLen = 255
)

// pathProblem says why the kernel cannot take p (a NUL byte, longer than
// PATH_MAX, an element longer than NAME_MAX), or "".
func pathProblem(p string) string {
	switch {
	case strings.ContainsRune(p, 0):
		return "contains a NUL byte"
	case len(p) > maxPathLen:
		return fmt.Sprintf("is longer than %d bytes", maxPathLen)
	case slices.ContainsFunc(strings.Split(p, "/"), func(e string) bool { return len(e) > maxNameLen }):
		return fmt.Sprintf("has an element longer than %d bytes", maxNameLen)
	}
	return ""
}

// checkPath returns an InvalidArgument error naming field unless p is an
// absolute path the kernel can take: such a path is the caller's mistake,
// not a failure of the node. Callers check for an empty p first.
func checkPath(field, p string) error {
	problem := pathProblem(p)
	if problem == "" && !path.IsAbs(p) {
		problem = "is not an absolute path"
	}
	if problem != "" {
		return status.Errorf(codes.InvalidArgument, "%s %s", field, problem)
	}
	return nil
}
