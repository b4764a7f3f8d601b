package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/host"
)

// recordVersion is the version of the stage record format.
const recordVersion = 1

// Names in a volume's state directory.
const (
	recordName = "stage.json"
	fuseDir    = "fuse"
)

// stageRecord is what NodeStageVolume did for a volume, kept on disk.
type stageRecord struct {
	Version     int    `json:"version"`
	VolumeID    string `json:"volumeID"`
	StagingPath string `json:"stagingPath"`
	// MountPath is where the volume is mounted (filesystem) or bind-mounted
	// (block) when that is not StagingPath: ceph-csi stages at
	// StagingPath/VOLUME-ID. Empty for volumes this plugin staged.
	MountPath string `json:"mountPath,omitempty"`
	// Origin is originCephCSI for a staging taken over from ceph-csi.
	Origin string `json:"origin,omitempty"`
	// Block is true for a raw block volume (no filesystem, nothing mounted
	// at the staging path).
	Block bool `json:"block"`
	// FsType is the filesystem of a mounted volume.
	FsType string `json:"fsType,omitempty"`
	// ReadOnly is true when the volume was staged for a read-only access
	// mode.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Mode is the CSI access mode staged with (for a re-staging).
	Mode      int32  `json:"mode,omitempty"`
	ClusterID string `json:"clusterID"`
	Pool      string `json:"pool"`
	Namespace string `json:"namespace,omitempty"`
	Image     string `json:"image"`
	// MapOptions are the map options used (for an rbd-nbd re-attach).
	MapOptions string `json:"mapOptions,omitempty"`
	// Attachment is the attached device and, for fuse, its helper.
	Attachment host.Attachment `json:"attachment"`
	// Complete is false while NodeStageVolume is still at work (or was
	// interrupted).
	Complete bool `json:"complete"`
	// Targets are the paths the volume is published at.
	Targets []publishTarget `json:"targets,omitempty"`
}

// publishTarget is one NodePublishVolume target.
type publishTarget struct {
	Path     string `json:"path"`
	ReadOnly bool   `json:"readOnly,omitempty"`
	// SingleWriter is true when published with SINGLE_NODE_SINGLE_WRITER,
	// which allows no other publication on the node.
	SingleWriter bool `json:"singleWriter,omitempty"`
}

// mountPath returns where the volume's filesystem is mounted.
func (r *stageRecord) mountPath() string {
	if r.MountPath != "" {
		return r.MountPath
	}
	return r.StagingPath
}

// target returns the publication at path, or nil.
func (r *stageRecord) target(path string) *publishTarget {
	for i := range r.Targets {
		if r.Targets[i].Path == path {
			return &r.Targets[i]
		}
	}
	return nil
}

// removeTarget forgets the publication at path.
func (r *stageRecord) removeTarget(path string) {
	r.Targets = slices.DeleteFunc(r.Targets, func(t publishTarget) bool { return t.Path == path })
}

// recordStore keeps the stage records in dir, one directory per volume,
// named by a hash of the volume ID (IDs may hold any character).
type recordStore struct {
	dir string
}

// volumeDir returns the state directory of a volume.
func (s recordStore) volumeDir(volumeID string) string {
	sum := sha256.Sum256([]byte(volumeID))
	return filepath.Join(s.dir, "volumes", hex.EncodeToString(sum[:16]))
}

// fuseWorkDir returns the directory the fuse attacher may use for a volume.
func (s recordStore) fuseWorkDir(volumeID string) string {
	return filepath.Join(s.volumeDir(volumeID), fuseDir)
}

// load returns the record of a volume, or nil if there is none.
func (s recordStore) load(volumeID string) (*stageRecord, error) {
	rec, err := s.loadFile(filepath.Join(s.volumeDir(volumeID), recordName))
	if err != nil || rec == nil {
		return nil, err
	}
	if rec.VolumeID != volumeID {
		return nil, fmt.Errorf("stage record of volume %q is for volume %q", volumeID, rec.VolumeID)
	}
	return rec, nil
}

// list returns the directories of the volumes that have a state directory.
func (s recordStore) list() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(s.dir, "volumes"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing stage records: %w", err)
	}
	out := make([]string, 0, len(entries))
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, filepath.Join(s.dir, "volumes", e.Name()))
		}
	}
	return out, nil
}

// loadFile reads one record file; nil if there is none.
func (s recordStore) loadFile(path string) (*stageRecord, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading stage record: %w", err)
	}
	var rec stageRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("decoding stage record %s: %w", path, err)
	}
	if rec.Version != recordVersion {
		return nil, fmt.Errorf("stage record %s is of version %d", path, rec.Version)
	}
	return &rec, nil
}

// save writes the record atomically (temporary file, fsync, rename).
func (s recordStore) save(rec *stageRecord) error {
	rec.Version = recordVersion
	dir := s.volumeDir(rec.VolumeID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating state directory: %w", err)
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, recordName+".*")
	if err != nil {
		return fmt.Errorf("writing stage record: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing stage record: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("writing stage record: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, recordName)); err != nil {
		return fmt.Errorf("writing stage record: %w", err)
	}
	return nil
}

// remove deletes the record and the volume's (then empty) directory. It
// never removes recursively: the fuse attacher's directory may hold a live
// rbd-fuse mount, and unlinking its file would delete the image.
func (s recordStore) remove(volumeID string) error {
	dir := s.volumeDir(volumeID)
	for _, p := range []string{filepath.Join(dir, recordName), dir} {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing stage record: %w", err)
		}
	}
	return nil
}
