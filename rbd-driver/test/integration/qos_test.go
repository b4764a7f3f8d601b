package integration

import (
	"encoding/json"
	"maps"
	"os/exec"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
)

// imageConfig returns the image-level overrides `rbd config image ls`
// lists for a volume's image: the QoS limits, as an operator sees them.
func (r *rig) imageConfig(v *csi.Volume) map[string]string {
	r.t.Helper()
	out, err := exec.Command("rbd", "--conf", r.cl.ConfPath, "--keyring", r.cl.Keyring, "--id", r.cl.AdminID,
		"config", "image", "ls", "--format", "json", r.pool+"/"+image(v)).Output()
	if err != nil {
		r.t.Fatalf("rbd config image ls: %v", err)
	}
	var entries []struct {
		Name   string `json:"name"`
		Value  string `json:"value"`
		Source string `json:"source"`
	}
	if err := json.Unmarshal(out, &entries); err != nil {
		r.t.Fatalf("rbd config image ls output %q: %v", out, err)
	}
	got := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name, "rbd_qos_") && strings.Contains(e.Source, "image") {
			got[e.Name] = e.Value
		}
	}
	return got
}

// TestQoS checks the image's rbd_qos settings after CreateVolume with
// mutable parameters, after ControllerExpandVolume (size-dependent limits
// follow) and after ControllerModifyVolume (replaced, stale ones removed).
func TestQoS(t *testing.T) {
	r := newRig(t, 4, 8)
	req := r.volReq("pvc-qos", 2<<30)
	req.MutableParameters = map[string]string{"BaseReadIops": "100", "ReadIopsPerGiB": "10",
		"BaseVolSizeBytes": "1073741824", "BaseWriteBytesPerSecond": "1048576"}
	vol := r.create(r.ctrl, req)
	want := map[string]string{"rbd_qos_read_iops_limit": "110", "rbd_qos_write_bps_limit": "1048576"}
	if got := r.imageConfig(vol); !maps.Equal(got, want) {
		t.Fatalf("after create: rbd config image ls = %v, want %v", got, want)
	}
	if _, err := r.ctrl.ControllerExpandVolume(ctx(t), &csi.ControllerExpandVolumeRequest{VolumeId: vol.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: 4 << 30}, Secrets: r.secrets}); err != nil {
		t.Fatal(err)
	}
	want["rbd_qos_read_iops_limit"] = "130"
	if got := r.imageConfig(vol); !maps.Equal(got, want) {
		t.Fatalf("after expand: rbd config image ls = %v, want %v", got, want)
	}
	if _, err := r.ctrl.ControllerModifyVolume(ctx(t), &csi.ControllerModifyVolumeRequest{VolumeId: vol.GetVolumeId(),
		MutableParameters: map[string]string{"BaseWriteIops": "50", "BaseReadBytesPerSecond": "2097152"},
		Secrets:           r.secrets}); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"rbd_qos_write_iops_limit": "50", "rbd_qos_read_bps_limit": "2097152"}
	if got := r.imageConfig(vol); !maps.Equal(got, want) {
		t.Fatalf("after modify: rbd config image ls = %v, want %v", got, want)
	}
	r.deleteVolume(vol.GetVolumeId())
}
