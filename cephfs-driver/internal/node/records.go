package node

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// stageRecord is what the node remembers about a staged volume: enough to
// find its staging path from its ID. It holds no secret.
type stageRecord struct {
	VolumeID    string `json:"volumeID"`
	StagingPath string `json:"stagingPath"`
	ClusterID   string `json:"clusterID"`
	FSName      string `json:"fsName"`
	Path        string `json:"path"`
	Mounter     string `json:"mounter"`
}

// records stores stage records as JSON files named by a hash of the
// volume ID.
type records struct {
	dir string
}

func (r *records) file(volumeID string) string {
	sum := sha256.Sum256([]byte(volumeID))
	return filepath.Join(r.dir, hex.EncodeToString(sum[:16])+".json")
}

// save writes rec atomically.
func (r *records) save(rec *stageRecord) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.dir, ".record-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), r.file(rec.VolumeID))
}

// load returns the record of volumeID; fs.ErrNotExist if there is none.
func (r *records) load(volumeID string) (*stageRecord, error) {
	data, err := os.ReadFile(r.file(volumeID))
	if err != nil {
		return nil, err
	}
	rec := &stageRecord{}
	if err := json.Unmarshal(data, rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// remove deletes the record of volumeID; a missing one is not an error.
func (r *records) remove(volumeID string) error {
	err := os.Remove(r.file(volumeID))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// atStaging returns the record of the volume staged at staging, or nil when
// no record names that path.
func (r *records) atStaging(staging string) (*stageRecord, error) {
	ents, err := os.ReadDir(r.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.IsDir() || filepath.Ext(e.Name()) != ".json" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(r.dir, e.Name()))
		if err != nil {
			continue // removed meanwhile
		}
		rec := &stageRecord{}
		if json.Unmarshal(data, rec) == nil && rec.StagingPath == staging {
			return rec, nil
		}
	}
	return nil, nil
}
