package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/shared/logging"
	"github.com/seed-6a310834/ceph-csi/shared/volid"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// ceph-csi's RBD node plugin stages a volume at STAGING/VOLUME-ID (a
// directory holding the filesystem mount, or a file bind-mounted from the
// device for a block volume) and writes what it mapped into
// STAGING/image-meta.json. A volume staged that way is taken over: its
// record is made from that file and the mounts, and from then on it is
// published, expanded, reported and unstaged like one of ours.
const (
	cephCSIMetaName = "image-meta.json"
	originCephCSI   = "ceph-csi"
)

// cephCSIMeta is ceph-csi's image-meta.json (its rbdImageMetadataStash,
// version 3).
type cephCSIMeta struct {
	Version        int    `json:"Version"`
	Pool           string `json:"pool"`
	RadosNamespace string `json:"radosNamespace"`
	Image          string `json:"image"`
	UnmapOptions   string `json:"unmapOptions"`
	NbdAccess      bool   `json:"accessType"`
	Encrypted      bool   `json:"encrypted"`
	Device         string `json:"device"`
	LogDir         string `json:"logDir"`
	LogStrategy    string `json:"logFileStrategy"`
}

// loadRecord returns the stage record of a volume. Without one, a staging
// ceph-csi left at one of stagingPaths is taken over (and recorded); nil
// when there is neither.
func (s *Server) loadRecord(ctx context.Context, volumeID string, stagingPaths ...string) (*stageRecord, error) {
	rec, err := s.records.load(volumeID)
	if err != nil || rec != nil {
		return rec, internalErr(err)
	}
	for _, p := range stagingPaths {
		if p == "" {
			continue
		}
		rec, err := s.adopt(ctx, volumeID, p)
		if err != nil || rec != nil {
			return rec, err
		}
	}
	return nil, nil
}

// noSuchFile reports a read error that means no such file can be read
// there: missing, a path that cannot name a file (too long, a NUL byte, a
// loop, a non-directory component) or a directory by that name.
func noSuchFile(err error) bool {
	for _, e := range []error{fs.ErrNotExist, syscall.ENOTDIR, syscall.ENAMETOOLONG, syscall.ELOOP, syscall.EINVAL, syscall.EISDIR} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// readCephCSIMeta reads STAGING/image-meta.json; nil when there is none.
func readCephCSIMeta(stagingPath string) (*cephCSIMeta, error) {
	b, err := os.ReadFile(filepath.Join(stagingPath, cephCSIMetaName))
	if noSuchFile(err) {
		return nil, nil // nothing ceph-csi staged
	}
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading ceph-csi's %s: %v", cephCSIMetaName, err)
	}
	var m cephCSIMeta
	if err := json.Unmarshal(b, &m); err != nil || m.Pool == "" || m.Image == "" {
		return nil, status.Errorf(codes.FailedPrecondition, "ceph-csi's %s in %s is not valid (%v)", cephCSIMetaName, stagingPath, err)
	}
	return &m, nil
}

// adopt takes over the staging ceph-csi left at stagingPath, if any.
func (s *Server) adopt(ctx context.Context, volumeID, stagingPath string) (*stageRecord, error) {
	meta, err := readCephCSIMeta(stagingPath)
	if err != nil || meta == nil {
		return nil, err
	}
	if meta.Encrypted {
		return nil, status.Errorf(codes.FailedPrecondition, "volume %q was staged encrypted by ceph-csi at %s: "+
			"encrypted volumes cannot be taken over; drain the node and let ceph-csi unstage it", volumeID, stagingPath)
	}
	rec := &stageRecord{
		VolumeID: volumeID, StagingPath: stagingPath, MountPath: filepath.Join(stagingPath, volumeID), Origin: originCephCSI,
		Pool: meta.Pool, Namespace: meta.RadosNamespace, Image: meta.Image,
		Attachment: host.Attachment{Mounter: volctx.MounterKRBD, UnmapOptions: meta.UnmapOptions},
	}
	if meta.NbdAccess {
		rec.Attachment.Mounter = volctx.MounterNBD
	}
	if id, err := volid.Decode(volumeID); err == nil {
		rec.ClusterID = id.ClusterID
	}
	if err := s.inspectCephCSIStaging(ctx, rec, meta); err != nil {
		return nil, err
	}
	if err := s.records.save(rec); err != nil {
		return nil, internalErr(err)
	}
	logging.FromContext(ctx).Info("took over a volume staged by ceph-csi", zap.String("volumeID", volumeID),
		zap.String("mountPath", rec.MountPath), zap.String("device", rec.Attachment.Device),
		zap.String("mounter", rec.Attachment.Mounter), zap.Bool("complete", rec.Complete))
	return rec, nil
}

// inspectCephCSIStaging fills in the record from what is on the host: the
// mount at the mount path (filesystem type, read-only) and the device the
// image is mapped at. A staging without mount or device is recorded
// incomplete, so that it is torn down and staged again.
func (s *Server) inspectCephCSIStaging(ctx context.Context, rec *stageRecord, meta *cephCSIMeta) error {
	fi, err := os.Lstat(rec.MountPath)
	rec.Block = err == nil && fi.Mode().IsRegular()
	mps, err := s.mounter.List()
	if err != nil {
		return status.Errorf(codes.Internal, "listing mounts: %v", err)
	}
	mounted := false
	for _, mp := range mps {
		if mp.Path == rec.MountPath {
			mounted = true
			rec.ReadOnly = slices.Contains(mp.Opts, "ro")
			if !rec.Block {
				rec.FsType, rec.Attachment.Device = mp.Type, mp.Device
			}
		}
	}
	dev, err := s.mappedDevice(ctx, rec)
	if err != nil {
		return err
	}
	if dev == "" {
		dev = meta.Device
	}
	if dev != "" {
		rec.Attachment.Device = dev
	}
	rec.Complete = mounted && rec.Attachment.Device != ""
	return nil
}

// mappedDevice returns the device rec's image is mapped at with rec's
// mounter, as ceph-csi finds it (`rbd device list`, `rbd-nbd list-mapped`),
// or "".
func (s *Server) mappedDevice(ctx context.Context, rec *stageRecord) (string, error) {
	ms, err := s.mappings(ctx, rec.Pool, rec.Namespace, rec.Image)
	if err != nil {
		return "", status.Errorf(codes.Internal, "looking for the device of %s: %v", imageSpec(rec), err)
	}
	for _, m := range ms {
		if m.Mounter == rec.Attachment.Mounter {
			return m.Device, nil
		}
	}
	return "", nil
}

// imageSpec returns POOL/[NAMESPACE/]IMAGE of a record.
func imageSpec(rec *stageRecord) string {
	r := host.Request{Pool: rec.Pool, Namespace: rec.Namespace, Image: rec.Image}
	return r.Spec()
}

// teardownCephCSI undoes a staging taken over from ceph-csi, as ceph-csi's
// NodeUnstageVolume does: unmount and remove STAGING/VOLUME-ID, unmap the
// device, remove image-meta.json; then the record.
func (s *Server) teardownCephCSI(ctx context.Context, rec *stageRecord) error {
	if mounted, err := s.isMounted(rec.MountPath); err != nil || mounted {
		if err := s.mounter.Unmount(rec.MountPath); err != nil {
			return fmt.Errorf("unmounting %s: %w", rec.MountPath, err)
		}
	}
	if err := os.Remove(rec.MountPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", rec.MountPath, err)
	}
	if err := s.detach(ctx, rec); err != nil {
		return err
	}
	meta := filepath.Join(rec.StagingPath, cephCSIMetaName)
	if err := os.Remove(meta); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", meta, err)
	}
	return s.records.remove(rec.VolumeID)
}

// stagingPathsOf returns where a volume may be staged, for requests that
// carry the staging path only optionally: the given staging path and the
// parents of the mounts the volume path shares its source with (ceph-csi's
// way of finding STAGING from a target path). The volume path itself is
// not one: it is the workload's filesystem, whose files must never be
// taken for ceph-csi's metadata.
func (s *Server) stagingPathsOf(stagingPath, volumePath string) []string {
	paths := []string{stagingPath}
	if volumePath == "" {
		return paths
	}
	refs, err := s.mounter.GetMountRefs(volumePath)
	if err != nil {
		return paths
	}
	for _, r := range refs {
		paths = append(paths, filepath.Dir(r))
	}
	return paths
}
