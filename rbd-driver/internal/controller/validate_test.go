package controller

import (
	"context"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/csisource"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
)

// badInput is one invalid CreateVolume request: the change to a valid
// request, the code and the fragments the message must contain.
type badInput struct {
	name   string
	mod    func(*csi.CreateVolumeRequest)
	code   codes.Code
	inMsgs []string
}

func TestCreateVolumeBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range append(badCapabilities(), append(badParameters(), append(badCephCSIParameters(), badSizesAndSources()...)...)...) {
		t.Run(tc.name, func(t *testing.T) {
			req := volReq("pvc-bad", 0)
			tc.mod(req)
			_, err := e.s.CreateVolume(context.Background(), req)
			wantCode(t, err, tc.code, tc.inMsgs...)
		})
	}
	e.assertEmpty()
}

// badCapabilities are requests with unservable capabilities.
func badCapabilities() []badInput {
	mnmw := csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER
	return []badInput{
		{"no name", func(r *csi.CreateVolumeRequest) { r.Name = "" }, codes.InvalidArgument, []string{"name"}},
		{"no capabilities", func(r *csi.CreateVolumeRequest) { r.VolumeCapabilities = nil },
			codes.InvalidArgument, []string{"volume_capabilities"}},
		{"multi-node writer on a filesystem", func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(mnmw)}
		}, codes.InvalidArgument, []string{"volume_capabilities[0]", "MULTI_NODE_MULTI_WRITER", "block"}},
		{"read-only-many without source", func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY)}
		}, codes.InvalidArgument, []string{"MULTI_NODE_READER_ONLY", "volume_content_source"}},
		{"multi-node single writer", func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{blockCap(csi.VolumeCapability_AccessMode_MULTI_NODE_SINGLE_WRITER)}
		}, codes.InvalidArgument, []string{"MULTI_NODE_SINGLE_WRITER"}},
		{"unknown access mode", func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{mountCap(csi.VolumeCapability_AccessMode_UNKNOWN)}
		}, codes.InvalidArgument, []string{"UNKNOWN"}},
		{"no access type", func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities = []*csi.VolumeCapability{{AccessMode: &csi.VolumeCapability_AccessMode{Mode: snw}}}
		}, codes.InvalidArgument, []string{"access_type"}},
		{"unsupported fs", func(r *csi.CreateVolumeRequest) {
			r.VolumeCapabilities[0].GetMount().FsType = "zfs"
		}, codes.InvalidArgument, []string{"zfs"}},
	}
}

// badParameters are requests with bad StorageClass parameters.
func badParameters() []badInput {
	return []badInput{
		{"missing clusterID", func(r *csi.CreateVolumeRequest) { delete(r.Parameters, "clusterID") },
			codes.InvalidArgument, []string{"parameters.clusterID"}},
		{"unknown clusterID", func(r *csi.CreateVolumeRequest) { r.Parameters["clusterID"] = "nope" },
			codes.InvalidArgument, []string{"parameters.clusterID", "nope"}},
		{"missing pool", func(r *csi.CreateVolumeRequest) { delete(r.Parameters, "pool") },
			codes.InvalidArgument, []string{"parameters.pool"}},
		{"unknown pool", func(r *csi.CreateVolumeRequest) { r.Parameters["pool"] = "nopool" },
			codes.InvalidArgument, []string{"parameters.pool", "nopool"}},
		{"unknown data pool", func(r *csi.CreateVolumeRequest) { r.Parameters["dataPool"] = "nodata" },
			codes.InvalidArgument, []string{"parameters.dataPool", "nodata"}},
		{"unknown parameter", func(r *csi.CreateVolumeRequest) { r.Parameters["zeta"] = "1" },
			codes.InvalidArgument, []string{"parameters.zeta", "not a known parameter"}},
		{"unknown feature", func(r *csi.CreateVolumeRequest) { r.Parameters["imageFeatures"] = "layering,turbo" },
			codes.InvalidArgument, []string{"imageFeatures", "turbo"}},
		{"object-map without exclusive-lock", func(r *csi.CreateVolumeRequest) { r.Parameters["imageFeatures"] = "layering,object-map" },
			codes.InvalidArgument, []string{"object-map", "exclusive-lock"}},
		{"fast-diff without object-map", func(r *csi.CreateVolumeRequest) { r.Parameters["imageFeatures"] = "exclusive-lock,fast-diff" },
			codes.InvalidArgument, []string{"fast-diff", "object-map"}},
		{"journaling without exclusive-lock", func(r *csi.CreateVolumeRequest) { r.Parameters["imageFeatures"] = "journaling" },
			codes.InvalidArgument, []string{"journaling", "exclusive-lock"}},
		{"bad mounter", func(r *csi.CreateVolumeRequest) { r.Parameters["mounter"] = "nfs" },
			codes.InvalidArgument, []string{"parameters.mounter", "nfs"}},
		{"bad fstype parameter", func(r *csi.CreateVolumeRequest) { r.Parameters["csi.storage.k8s.io/fstype"] = "vfat" },
			codes.InvalidArgument, []string{"fstype", "vfat"}},
		{"image format 1", func(r *csi.CreateVolumeRequest) { r.Parameters["imageFormat"] = "1" },
			codes.InvalidArgument, []string{"imageFormat"}},
		{"encryption", func(r *csi.CreateVolumeRequest) { r.Parameters["encrypted"] = "true" },
			codes.InvalidArgument, []string{"encrypted"}},
		{"bad name prefix", func(r *csi.CreateVolumeRequest) { r.Parameters["volumeNamePrefix"] = "a/b" },
			codes.InvalidArgument, []string{"volumeNamePrefix"}},
	}
}

// badCephCSIParameters are requests with ceph-csi keys we refuse: typos
// of known keys, features not supported yet, bad values.
func badCephCSIParameters() []badInput {
	return []badInput{
		{"typo suggests the nearest key", func(r *csi.CreateVolumeRequest) { r.Parameters["imageFeature"] = "layering" },
			codes.InvalidArgument, []string{"parameters.imageFeature", `did you mean "imageFeatures"`}},
		{"typo in case", func(r *csi.CreateVolumeRequest) { r.Parameters["clusterId"] = "x" },
			codes.InvalidArgument, []string{"parameters.clusterId", `did you mean "clusterID"`}},
		{"topology pools empty", func(r *csi.CreateVolumeRequest) { r.Parameters["topologyConstrainedPools"] = "[]" },
			codes.InvalidArgument, []string{"parameters.topologyConstrainedPools", "lists no pool"}},
		{"QoS not a number", func(r *csi.CreateVolumeRequest) { r.Parameters["BaseReadIops"] = "fast" },
			codes.InvalidArgument, []string{"parameters.BaseReadIops", "not a non-negative integer"}},
		{"stripeUnit alone", func(r *csi.CreateVolumeRequest) { r.Parameters["stripeUnit"] = "65536" },
			codes.InvalidArgument, []string{"parameters.stripeUnit", "together"}},
		{"stripeUnit not dividing", func(r *csi.CreateVolumeRequest) {
			r.Parameters["stripeUnit"] = "3000"
			r.Parameters["stripeCount"] = "2"
		}, codes.InvalidArgument, []string{"parameters.stripeUnit", "divide"}},
		{"objectSize not a power of 2", func(r *csi.CreateVolumeRequest) { r.Parameters["objectSize"] = "5000000" },
			codes.InvalidArgument, []string{"parameters.objectSize", "power of 2"}},
		{"objectSize not a number", func(r *csi.CreateVolumeRequest) { r.Parameters["objectSize"] = "4M" },
			codes.InvalidArgument, []string{"parameters.objectSize", "4M"}},
		{"bad tryOtherMounters", func(r *csi.CreateVolumeRequest) { r.Parameters["tryOtherMounters"] = "maybe" },
			codes.InvalidArgument, []string{"parameters.tryOtherMounters", "maybe"}},
		{"bad cephLogStrategy", func(r *csi.CreateVolumeRequest) { r.Parameters["cephLogStrategy"] = "shred" },
			codes.InvalidArgument, []string{"parameters.cephLogStrategy", "shred"}},
		{"relative cephLogDir", func(r *csi.CreateVolumeRequest) { r.Parameters["cephLogDir"] = "log/ceph" },
			codes.InvalidArgument, []string{"parameters.cephLogDir"}},
		{"empty radosNamespace", func(r *csi.CreateVolumeRequest) { r.Parameters["radosNamespace"] = "" },
			codes.InvalidArgument, []string{"parameters.radosNamespace", "empty"}},
		{"radosNamespace not the cluster's", func(r *csi.CreateVolumeRequest) { r.Parameters["radosNamespace"] = "other" },
			codes.InvalidArgument, []string{"parameters.radosNamespace", "other", "rbd.radosNamespace"}},
	}
}

// badSizesAndSources are requests with bad secrets, sizes or content sources.
func badSizesAndSources() []badInput {
	return []badInput{
		{"missing userID", func(r *csi.CreateVolumeRequest) { delete(r.Secrets, "userID") },
			codes.InvalidArgument, []string{"userID"}},
		{"missing userKey", func(r *csi.CreateVolumeRequest) { delete(r.Secrets, "userKey") },
			codes.InvalidArgument, []string{"userKey"}},
		{"negative size", func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{RequiredBytes: -1} },
			codes.InvalidArgument, []string{"required_bytes"}},
		{"negative limit", func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{LimitBytes: -1} },
			codes.InvalidArgument, []string{"limit_bytes"}},
		{"required over limit", func(r *csi.CreateVolumeRequest) {
			r.CapacityRange = &csi.CapacityRange{RequiredBytes: 10 << 20, LimitBytes: 5 << 20}
		}, codes.InvalidArgument, []string{"capacity_range"}},
		{"rounding over limit", func(r *csi.CreateVolumeRequest) {
			r.CapacityRange = &csi.CapacityRange{RequiredBytes: mib + 1, LimitBytes: mib + 2}
		}, codes.OutOfRange, []string{"capacity_range"}},
		{"limit under one MiB", func(r *csi.CreateVolumeRequest) { r.CapacityRange = &csi.CapacityRange{LimitBytes: mib - 1} },
			codes.OutOfRange, []string{"capacity_range"}},
		{"malformed snapshot source", func(r *csi.CreateVolumeRequest) { r.VolumeContentSource = csisource.Snapshot("bogus") },
			codes.NotFound, []string{"volume_content_source.snapshot.snapshot_id"}},
		{"malformed volume source", func(r *csi.CreateVolumeRequest) { r.VolumeContentSource = csisource.Volume("bogus") },
			codes.NotFound, []string{"volume_content_source.volume.volume_id"}},
		{"empty source", func(r *csi.CreateVolumeRequest) { r.VolumeContentSource = &csi.VolumeContentSource{} },
			codes.InvalidArgument, []string{"volume_content_source"}},
	}
}

func TestCapacityRounding(t *testing.T) {
	tests := []struct {
		name        string
		cr          *csi.CapacityRange
		size, limit int64
	}{
		{"no range: default", nil, DefaultVolumeSize, 0},
		{"zero: default", &csi.CapacityRange{}, DefaultVolumeSize, 0},
		{"one byte", &csi.CapacityRange{RequiredBytes: 1}, mib, 0},
		{"one and a half MiB", &csi.CapacityRange{RequiredBytes: mib + mib/2}, 2 * mib, 0},
		{"exact", &csi.CapacityRange{RequiredBytes: 5 * mib, LimitBytes: 5 * mib}, 5 * mib, 5 * mib},
		{"limit only, small", &csi.CapacityRange{LimitBytes: 100*mib + 7}, 100 * mib, 100*mib + 7},
		{"limit only, large", &csi.CapacityRange{LimitBytes: 4 << 30}, DefaultVolumeSize, 4 << 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseCapacity(tc.cr)
			if err != nil {
				t.Fatal(err)
			}
			if got.size != tc.size || got.limit != tc.limit {
				t.Fatalf("got size %d limit %d, want %d %d", got.size, got.limit, tc.size, tc.limit)
			}
		})
	}
}

func TestAcceptedParameters(t *testing.T) {
	e := newEnv(t)
	req := volReq("pvc-params", 0)
	for k, v := range map[string]string{
		"dataPool": otherPool, "imageFeatures": "layering,exclusive-lock,object-map,fast-diff,deep-flatten,journaling",
		"volumeNamePrefix": "k8s-", "mounter": "fuse", "mkfsOptions": "-m0", "mapOptions": "lock_on_read",
		"unmapOptions": "force", "imageFormat": "2", "encrypted": "false", "thickProvision": "true",
		"encryptionKMSID": "vault", "encryptionType": "block", "tryOtherMounters": "true",
		"cephLogDir": "/var/log/ceph", "cephLogStrategy": "compress",
		"stripeUnit": "65536", "stripeCount": "16", "objectSize": "8388608",
		"csi.storage.k8s.io/fstype": "xfs", "csi.storage.k8s.io/pvc/name": "data",
		"csi.storage.k8s.io/pvc/namespace": "ns1", "csi.storage.k8s.io/pv/name": "pvc-params",
		"csi.storage.k8s.io/some-future-key": "x",
	} {
		req.Parameters[k] = v
	}
	vol := e.create(req)
	ctx := vol.GetVolumeContext()
	want := map[string]string{
		"clusterID": testCluster, "pool": testPool, "dataPool": otherPool, "mounter": "fuse",
		"mkfsOptions": "-m0", "mapOptions": "lock_on_read", "unmapOptions": "force",
		"csi.storage.k8s.io/fstype": "xfs",
		"imageFeatures":             "layering,exclusive-lock,object-map,fast-diff,deep-flatten,journaling",
		"tryOtherMounters":          "true", "cephLogDir": "/var/log/ceph", "cephLogStrategy": "compress",
	}
	for k, v := range want {
		if ctx[k] != v {
			t.Errorf("volume context %s = %q, want %q", k, ctx[k], v)
		}
	}
	if name := ctx["imageName"]; len(name) != len("k8s-")+36 || name[:4] != "k8s-" {
		t.Errorf("imageName %q does not use the prefix", name)
	}
	if _, ok := ctx["radosNamespace"]; ok {
		t.Errorf("radosNamespace set for the default namespace")
	}
	img, _ := e.be.Image(testCluster, testImage(ctx["imageName"]))
	if img.ObjectSize != 8<<20 || img.StripeUnit != 65536 || img.StripeCount != 16 {
		t.Errorf("image layout %+v, want object size 8 MiB, stripes 65536 x 16", img)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

// TestCephCSIDefaults: ceph-csi's "rbd" mounter is krbd; no imageFeatures
// passes no features, so that librbd applies the cluster's
// rbd_default_features (as ceph-csi does), and the context has none.
func TestCephCSIDefaults(t *testing.T) {
	e := newEnv(t)
	req := volReq("pvc-defaults", 0)
	delete(req.Parameters, "imageFeatures")
	req.Parameters["mounter"] = "rbd"
	vol := e.create(req)
	ctx := vol.GetVolumeContext()
	if ctx["mounter"] != "krbd" {
		t.Errorf("mounter %q, want krbd", ctx["mounter"])
	}
	if f, ok := ctx["imageFeatures"]; ok {
		t.Errorf("imageFeatures %q in the context, want none", f)
	}
	if img, _ := e.be.Image(testCluster, testImage(ctx["imageName"])); len(img.Features) != 0 {
		t.Errorf("image created with features %v, want none (the cluster's default)", img.Features)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}
