package controller

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

func TestQoSLimit(t *testing.T) {
	read := qosFamilies[1]
	for _, tc := range []struct {
		params map[string]string
		size   int64
		want   int64
	}{
		{map[string]string{"BaseReadIops": "100"}, 100 * gib, 100},
		{map[string]string{"BaseReadIops": "100", "ReadIopsPerGiB": "10"}, 100 * gib, 100},
		{map[string]string{"BaseReadIops": "100", "ReadIopsPerGiB": "10", "BaseVolSizeBytes": "1073741824"}, gib, 100},
		{map[string]string{"BaseReadIops": "100", "ReadIopsPerGiB": "10", "BaseVolSizeBytes": "1073741824"}, 11 * gib, 200},
		{map[string]string{"BaseReadIops": "100", "ReadIopsPerGiB": "10", "BaseVolSizeBytes": "1073741824"}, 11*gib + gib/2, 200},
		{map[string]string{"BaseReadIops": "1", "ReadIopsPerGiB": "9223372036854775807", "BaseVolSizeBytes": "0"}, 4 * gib, 9223372036854775807},
	} {
		q, err := parseQoS("mutable_parameters", tc.params)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.limit(read, tc.size); got != tc.want {
			t.Errorf("limit(%v, %d) = %d, want %d", tc.params, tc.size, got, tc.want)
		}
	}
}

func TestQoSBadParameters(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		field  string
	}{
		{map[string]string{"XXX_FakeKey": "XXX_FakeValue"}, "mutable_parameters.XXX_FakeKey"},
		{map[string]string{"BaseReadIops": "fast"}, "mutable_parameters.BaseReadIops"},
		{map[string]string{"BaseWriteIops": "-1"}, "mutable_parameters.BaseWriteIops"},
		{map[string]string{"BaseVolSizeBytes": "1e9"}, "mutable_parameters.BaseVolSizeBytes"},
	} {
		_, err := parseQoS("mutable_parameters", tc.params)
		if err == nil || !strings.Contains(err.Error(), tc.field) || codeOf(err) != codes.InvalidArgument {
			t.Errorf("parseQoS(%v) = %v, want InvalidArgument naming %s", tc.params, err, tc.field)
		}
	}
}

func (e *env) qosMetadata(vol *csi.Volume) map[string]string {
	ref := backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: vol.GetVolumeContext()["imageName"]}
	md := maps.Clone(e.be.ImageMetadata(testCluster, ref))
	maps.DeleteFunc(md, func(k, _ string) bool { return !strings.Contains(k, "qos") && !strings.Contains(k, "per_gib") })
	return md
}

func TestQoSCreateModifyExpand(t *testing.T) {
	e := newEnv(t)
	req := volReq("pvc-qos", 2*gib)
	req.MutableParameters = map[string]string{"BaseReadIops": "100", "ReadIopsPerGiB": "10",
		"BaseVolSizeBytes": "1073741824", "BaseWriteBytesPerSecond": "1048576"}
	vol := e.create(req)
	want := map[string]string{"conf_rbd_qos_read_iops_limit": "110", "rbd_base_qos_read_iops_limit": "100",
		"rbd_read_iops_per_gib_limit": "10", "rbd_base_qos_vol_size": "1073741824",
		"conf_rbd_qos_write_bps_limit": "1048576", "rbd_base_qos_write_bps_limit": "1048576"}
	if got := e.qosMetadata(vol); !maps.Equal(got, want) {
		t.Fatalf("after create: %v\nwant %v", got, want)
	}
	if _, err := e.s.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 5 * gib}, Secrets: secrets()}); err != nil {
		t.Fatal(err)
	}
	want["conf_rbd_qos_read_iops_limit"] = "140"
	if got := e.qosMetadata(vol); !maps.Equal(got, want) {
		t.Fatalf("after expand: %v\nwant %v", got, want)
	}
	modify := func(params map[string]string) error {
		_, err := e.s.ControllerModifyVolume(context.Background(), &csi.ControllerModifyVolumeRequest{
			VolumeId: vol.GetVolumeId(), MutableParameters: params, Secrets: secrets()})
		return err
	}
	if err := modify(map[string]string{"BaseWriteIops": "50"}); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"conf_rbd_qos_write_iops_limit": "50", "rbd_base_qos_write_iops_limit": "50"}
	if got := e.qosMetadata(vol); !maps.Equal(got, want) {
		t.Fatalf("after modify: %v\nwant %v", got, want)
	}
	wantCode(t, modify(map[string]string{"BaseWriteIops": "x"}), codes.InvalidArgument, "BaseWriteIops")
	if got := e.qosMetadata(vol); !maps.Equal(got, want) {
		t.Fatalf("a rejected modify changed the image: %v", got)
	}
	_, err := e.s.ControllerModifyVolume(context.Background(), &csi.ControllerModifyVolumeRequest{VolumeId: "nope",
		MutableParameters: map[string]string{"BaseWriteIops": "1"}, Secrets: secrets()})
	wantCode(t, err, codes.NotFound)
	bad := volReq("pvc-qos-bad", gib)
	bad.MutableParameters = map[string]string{"XXX_FakeKey": "XXX_FakeValue"}
	_, err = e.s.CreateVolume(context.Background(), bad)
	wantCode(t, err, codes.InvalidArgument, "XXX_FakeKey")
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}

func TestQoSStorageClassAndClassOverride(t *testing.T) {
	e := newEnv(t)
	req := volReq("pvc-qos-sc", gib)
	req.Parameters["BaseWriteIops"], req.Parameters["BaseReadIops"] = "10", "5"
	req.Parameters["ReadBpsPerGiB"] = "7" // without BaseReadBytesPerSecond: no effect, as in ceph-csi
	req.MutableParameters = map[string]string{"BaseWriteIops": "20"}
	vol := e.create(req)
	want := map[string]string{"conf_rbd_qos_write_iops_limit": "20", "rbd_base_qos_write_iops_limit": "20",
		"conf_rbd_qos_read_iops_limit": "5", "rbd_base_qos_read_iops_limit": "5"}
	if got := e.qosMetadata(vol); !maps.Equal(got, want) {
		t.Fatalf("QoS %v\nwant %v", got, want)
	}
	e.deleteVolume(vol.GetVolumeId())
	e.assertEmpty()
}
