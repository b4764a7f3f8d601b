package controller

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/storageclass-parameters.md from the parameter tables")

const paramDocsPath = "../../docs/storageclass-parameters.md"

// TestParamDocs: the docs table lists every key of both tables, as the
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
	b.WriteString(`# RBD StorageClass, VolumeSnapshotClass and VolumeGroupSnapshotClass parameters

Every key ceph-csi's RBD driver documents (examples/rbd/storageclass.yaml,
snapshotclass.yaml, groupsnapshotclass.yaml) or reads, and what rbd-driver does with it. The driver
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
nearest known key (` + "`imageFeature` → did you mean `imageFeatures`?" + `).

## StorageClass (CreateVolume)

`)
	b.WriteString(StorageClassParams.Markdown())
	b.WriteString("\n## VolumeSnapshotClass (CreateSnapshot)\n\n")
	b.WriteString(SnapshotClassParams.Markdown())
	b.WriteString("\n## VolumeGroupSnapshotClass (CreateVolumeGroupSnapshot)\n\n")
	b.WriteString(GroupSnapshotClassParams.Markdown())
	return b.String()
}
