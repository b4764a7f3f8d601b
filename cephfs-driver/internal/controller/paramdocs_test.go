package controller

import (
	"context"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/storageclass-parameters.md from the parameter tables")

const paramDocsPath = "../../docs/storageclass-parameters.md"

// TestParamDocs: the docs table lists every key of the three tables, as the
// driver handles it (regenerate with -update-docs).
func TestParamDocs(t *testing.T) {
	want := paramDocs()
	if *updateDocs {
		if err := os.WriteFile(paramDocsPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(paramDocsPath)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s is out of date: run go test -tags pacific ./internal/controller -run TestParamDocs -update-docs", paramDocsPath)
	}
}

func paramDocs() string {
	var b strings.Builder
	b.WriteString(`# CephFS StorageClass, VolumeSnapshotClass and VolumeGroupSnapshotClass parameters

Every key ceph-csi's CephFS driver documents (examples/cephfs/storageclass.yaml,
snapshotclass.yaml, groupsnapshotclass.yaml) or reads, and what cephfs-driver does with it. The driver
checks parameters against exactly these tables
(internal/controller/paramtable.go; this file is generated from them and a
test keeps it in step):

- **implemented**: used as described.
- **accepted, no effect**: ceph-csi ignores it too (or it only matters with
  a feature that is off).
- **accepted when off**: the value meaning "off" is accepted; any other
  value is InvalidArgument naming the key and saying it is not supported yet.
- **not supported yet**: any value is InvalidArgument naming the key and
  saying it is not supported yet.

A key in neither table is InvalidArgument too, and the message suggests the
nearest known key (` + "`fsname` → did you mean `fsName`?" + `).

## StorageClass (CreateVolume)

`)
	b.WriteString(StorageClassParams.Markdown())
	b.WriteString("\n## VolumeSnapshotClass (CreateSnapshot)\n\n")
	b.WriteString(SnapshotClassParams.Markdown())
	b.WriteString("\n## VolumeGroupSnapshotClass (CreateVolumeGroupSnapshot)\n\n")
	b.WriteString(GroupSnapshotClassParams.Markdown())
	return b.String()
}

// TestCephCSIExampleClasses: ceph-csi's example StorageClass (every
// optional key filled in, encrypted "false") and VolumeSnapshotClass
// provision; each key the table lists as not supported yet fails naming
// it; subvolumeGroup is accepted only for the configured group.
func TestCephCSIExampleClasses(t *testing.T) {
	f := newFixture(t)
	req := createReq("pvc-example", gib)
	for k, v := range map[string]string{"pool": "", "fuseMountOptions": "debug", "kernelMountOptions": "readdir_max_bytes=1048576,norbytes",
		"mounter": "kernel", "volumeNamePrefix": "foo-bar-", "backingSnapshot": "false", "encrypted": "false",
		"encryptionKMSID": "kms-1", "subvolumeGroup": testGroup,
		"csi.storage.k8s.io/provisioner-secret-name": "csi-cephfs-secret", "csi.storage.k8s.io/pvc/name": "data"} {
		req.Parameters[k] = v
	}
	vol := f.create(req)
	snap, err := f.srv.CreateSnapshot(context.Background(), snapshotReq("snap-example", vol.GetVolumeId(),
		map[string]string{"clusterID": testCluster, "snapshotNamePrefix": "foo-bar-",
			"csi.storage.k8s.io/snapshotter-secret-name": "csi-cephfs-secret"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range StorageClassParams.Keys() {
		if k.Support.String() != "not supported yet" {
			continue
		}
		r := createReq("pvc-unsupported", gib)
		r.Parameters[k.Name] = "x"
		_, err := f.srv.CreateVolume(context.Background(), r)
		wantCode(t, err, codes.InvalidArgument, k.Name, "not supported yet")
	}
	r := createReq("pvc-group", gib)
	r.Parameters["subvolumeGroup"] = "other"
	_, err = f.srv.CreateVolume(context.Background(), r)
	wantCode(t, err, codes.InvalidArgument, "subvolumeGroup", "other")
	if err := f.deleteSnapshot(snap.GetSnapshot().GetSnapshotId()); err != nil {
		t.Fatal(err)
	}
	f.deleteVolume(vol.GetVolumeId())
	f.wantClean()
}

func snapshotReq(name, volID string, params map[string]string) *csi.CreateSnapshotRequest {
	return &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: volID, Parameters: params, Secrets: secrets()}
}
