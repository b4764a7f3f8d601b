package compat

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/scparams"
)

// The parameter sets of ceph-csi's examples/rbd/storageclass.yaml (v3.12):
// the active lines, then each commented option with its example value
// filled in, plus keys of older (imageFormat, thickProvision) and newer
// (QoS) releases. <...> placeholders are replaced by the rig's values.
var exampleStorageClass = map[string]string{
	"clusterID":     "<cluster-id>",
	"pool":          "<rbd-pool-name>",
	"imageFeatures": "layering",
	"csi.storage.k8s.io/provisioner-secret-name":            "csi-rbd-secret",
	"csi.storage.k8s.io/provisioner-secret-namespace":       "default",
	"csi.storage.k8s.io/controller-expand-secret-name":      "csi-rbd-secret",
	"csi.storage.k8s.io/controller-expand-secret-namespace": "default",
	"csi.storage.k8s.io/node-stage-secret-name":             "csi-rbd-secret",
	"csi.storage.k8s.io/node-stage-secret-namespace":        "default",
	"csi.storage.k8s.io/fstype":                             "ext4",
}

var exampleOptions = []map[string]string{
	{"dataPool": "<ec-data-pool>"},
	{"imageFeatures": "layering,journaling,exclusive-lock,object-map,fast-diff"},
	{"imageFeatures": ""}, // the cluster's rbd_default_features, as in ceph-csi
	{"mkfsOptions": "-m0 -Ediscard -i1024"},
	{"tryOtherMounters": "false"},
	{"tryOtherMounters": "true"},
	{"mapOptions": "krbd:lock_on_read,queue_depth=1024;nbd:try-netlink"},
	{"unmapOptions": "krbd:force;nbd:force"},
	{"mounter": "rbd-nbd"},
	{"mounter": "rbd"},
	{"cephLogDir": "/var/log/ceph"},
	{"cephLogStrategy": "remove"},
	{"cephLogStrategy": "compress"},
	{"cephLogStrategy": "preserve"},
	{"volumeNamePrefix": "foo-bar-"},
	{"encrypted": "false"},
	{"encrypted": "false", "encryptionType": "block", "encryptionKMSID": "<kms-config-id>"},
	{"encrypted": "true"},
	{"encrypted": "true", "encryptionType": "file", "encryptionKMSID": "<kms-config-id>"},
	{"topologyConstrainedPools": `[{"poolName":"pool0","domainSegments":[{"domainLabel":"region","value":"east"}]}]`},
	{"stripeUnit": "65536", "stripeCount": "16"},
	{"objectSize": "8388608"},
	{"stripeUnit": "1048576", "stripeCount": "4", "objectSize": "8388608"},
	{"journalPool": "<rbd-pool-name>"},
	{"radosNamespace": "<cluster-namespace>"},
	{"imageFormat": "2"},
	{"thickProvision": "true"},
	{"thickProvision": "false"},
	{"BaseReadIops": "100", "BaseWriteIops": "100", "BaseVolSizeBytes": "21474836480"},
	{"ReadIopsPerGiB": "10", "WriteIopsPerGiB": "10", "ReadBpsPerGiB": "10485760", "WriteBpsPerGiB": "10485760",
		"BaseReadBytesPerSecond": "104857600", "BaseWriteBytesPerSecond": "104857600"},
	{"csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "default",
		"csi.storage.k8s.io/pv/name": "pvc-0001"},
}

// TestCephCSIStorageClasses: every documented ceph-csi RBD StorageClass
// provisions, or fails with InvalidArgument naming a key that
// docs/storageclass-parameters.md lists as not supported yet.
func TestCephCSIStorageClasses(t *testing.T) {
	r := newRig(t)
	dataPool := poolName(t, "-data")
	r.addPool(dataPool)
	fill := strings.NewReplacer("<cluster-id>", r.cl.FSID, "<rbd-pool-name>", r.pool, "<ec-data-pool>", dataPool,
		"<kms-config-id>", "vault-test", "<cluster-namespace>", "")
	for i, opt := range exampleOptions {
		params := map[string]string{}
		for k, v := range exampleStorageClass {
			params[k] = fill.Replace(v)
		}
		for k, v := range opt {
			params[k] = fill.Replace(v)
		}
		if params["radosNamespace"] == "" && opt["radosNamespace"] != "" {
			delete(params, "radosNamespace") // the cluster config names no namespace
		}
		name := fmt.Sprintf("sc-%d-%s", i, strings.Join(keysOf(opt), "-"))
		resp, err := r.ctrl.CreateVolume(ctx(t), csiCreate{r: r, name: name, params: params}.req())
		if err != nil {
			checkNotSupported(t, i, opt, err)
			continue
		}
		if unsupported(opt) != "" {
			t.Errorf("option %d %v: provisioned, but the table says %s is not supported yet", i, opt, unsupported(opt))
		}
		r.checkImage(opt, resp.GetVolume().GetVolumeContext()["imageName"])
		r.deleteVolume(resp.GetVolume().GetVolumeId())
	}
}

// unsupported returns the key of opt whose value the parameter table does
// not support yet ("" when all are supported).
func unsupported(opt map[string]string) string {
	for _, k := range keysOf(opt) {
		key, ok := controller.StorageClassParams.Lookup(k)
		if !ok {
			return k
		}
		switch {
		case key.Support == scparams.NotSupported:
			return k
		case key.Support == scparams.OffOnly && !containsFold(key.Off, opt[k]):
			return k
		}
	}
	return ""
}

func checkNotSupported(t *testing.T, i int, opt map[string]string, err error) {
	t.Helper()
	key := unsupported(opt)
	msg := status.Convert(err).Message()
	if key == "" || status.Code(err) != codes.InvalidArgument || !strings.Contains(msg, "parameters."+key) ||
		!strings.Contains(msg, "not supported yet") {
		t.Errorf("option %d %v: %v; want success, or InvalidArgument naming a key the table lists as not supported yet", i, opt, err)
	}
}

// exampleSnapshotClasses are ceph-csi's examples/rbd/snapshotclass.yaml,
// without and with its commented snapshotNamePrefix.
var exampleSnapshotClasses = []map[string]string{
	{"clusterID": "<cluster-id>", "csi.storage.k8s.io/snapshotter-secret-name": "csi-rbd-secret",
		"csi.storage.k8s.io/snapshotter-secret-namespace": "default"},
	{"clusterID": "<cluster-id>", "snapshotNamePrefix": "foo-bar-",
		"csi.storage.k8s.io/snapshotter-secret-name":      "csi-rbd-secret",
		"csi.storage.k8s.io/snapshotter-secret-namespace": "default"},
}

// TestCephCSISnapshotClasses: both documented VolumeSnapshotClasses take
// snapshots; the prefix names the RBD snapshot.
func TestCephCSISnapshotClasses(t *testing.T) {
	r := newRig(t)
	vol := r.create(r.volReq("pvc-snapclass", fixtureSize, nil))
	for i, sc := range exampleSnapshotClasses {
		params := map[string]string{}
		for k, v := range sc {
			params[k] = strings.ReplaceAll(v, "<cluster-id>", r.cl.FSID)
		}
		snap := r.snapshot("snapclass-"+string(rune('a'+i)), vol.GetVolumeId(), params)
		img, err := r.admin.Describe(r.pool, "", vol.GetVolumeContext()["imageName"])
		must(t, err)
		prefix := "csi-snap-"
		if p := sc["snapshotNamePrefix"]; p != "" {
			prefix = p
		}
		if !hasPrefixed(img.Snapshots, prefix) {
			t.Errorf("snapshot class %d: image snapshots %v, want one named %s<uuid>", i, img.Snapshots, prefix)
		}
		r.deleteSnapshot(snap.GetSnapshotId())
	}
	r.deleteVolume(vol.GetVolumeId())
}

// checkImage checks that the image has the layout and features opt asks
// for.
func (r *rig) checkImage(opt map[string]string, name string) {
	r.t.Helper()
	img, err := r.admin.Describe(r.pool, "", name)
	must(r.t, err)
	want := map[string]uint64{"objectSize": 4 << 20, "stripeUnit": img.ObjectSize, "stripeCount": 1}
	for _, k := range []string{"objectSize", "stripeUnit", "stripeCount"} {
		if v, ok := opt[k]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			must(r.t, err)
			want[k] = n
		}
	}
	got := map[string]uint64{"objectSize": img.ObjectSize, "stripeUnit": img.StripeUnit, "stripeCount": img.StripeCount}
	for k, w := range want {
		if got[k] != w {
			r.t.Errorf("%v: image %s has %s %d, want %d", opt, name, k, got[k], w)
		}
	}
	features, set := opt["imageFeatures"]
	switch {
	case !set:
		features = "layering" // the example's own value
	case features == "":
		def, err := r.admin.DefaultFeatures() // the cluster's, as in ceph-csi
		must(r.t, err)
		features = strings.Join(def, ",")
	}
	for _, f := range strings.Split(features, ",") {
		if !containsFold(img.Features, f) {
			r.t.Errorf("%v: image %s has features %v, want %s", opt, name, img.Features, features)
		}
	}
}
