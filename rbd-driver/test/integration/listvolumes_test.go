package integration

import (
	"os/exec"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/controller"
	"github.com/seed-6a310834/ceph-csi/shared/secretscan"
)

// TestListVolumesAndHealthOnTheCluster: ListVolumes pages through the
// journal of the test's pool as a user whose caps cover only that pool
// (the cluster's other pools, CephFS's among them, are skipped, not
// errors); the health RPCs report a volume whose image was removed behind
// the driver's back.
func TestListVolumesAndHealthOnTheCluster(t *testing.T) {
	r := newRig(t, 4, 8)
	id, key := secretscan.NewCephUser(t, r.cl, "mon", "profile rbd", "osd", "profile rbd pool="+r.pool)
	user := map[string]string{"userID": id, "userKey": key}
	ctrl := r.controller(4, 8, func(c *controller.Config) {
		c.DefaultSecrets = func() (map[string]string, error) { return user, nil }
	})
	want := map[string]bool{}
	var vols []*csi.Volume
	for _, name := range []string{"pvc-l1", "pvc-l2", "pvc-l3"} {
		v := r.create(r.ctrl, r.volReq(name, 8*mib))
		vols, want[v.GetVolumeId()] = append(vols, v), true
	}
	got, token := map[string]bool{}, ""
	for pages := 0; pages == 0 || token != ""; pages++ {
		resp, err := ctrl.ListVolumes(ctx(t), &csi.ListVolumesRequest{MaxEntries: 2, StartingToken: token})
		if err != nil || len(resp.GetEntries()) > 2 || pages > 3 {
			t.Fatalf("ListVolumes page %d: %v, %v", pages, resp, err)
		}
		for _, e := range resp.GetEntries() {
			got[e.GetVolume().GetVolumeId()] = true
		}
		token = resp.GetNextToken()
	}
	if len(got) != len(want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	for id := range want {
		if !got[id] {
			t.Fatalf("volume %s not listed (got %v)", id, got)
		}
	}
	if out, err := exec.Command("rbd", "--conf", r.cl.ConfPath, "--keyring", r.cl.Keyring, "--id", r.cl.AdminID,
		"rm", "--no-progress", r.pool+"/"+image(vols[0])).CombinedOutput(); err != nil {
		t.Fatalf("rbd rm: %v: %s", err, out)
	}
	h, err := ctrl.ControllerGetVolumeHealth(ctx(t), &csi.ControllerGetVolumeHealthRequest{VolumeId: vols[0].GetVolumeId()})
	if err != nil || len(h.GetVolumeHealth().GetHealthStatuses()) != 2 ||
		h.GetVolumeHealth().GetHealthStatuses()[0].GetReason() != "ImageNotFound" {
		t.Fatalf("health of a volume without image: %v, %v", h, err)
	}
	list, err := ctrl.ControllerListVolumeHealth(ctx(t), &csi.ControllerListVolumeHealthRequest{})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetVolumeId() != vols[0].GetVolumeId() {
		t.Fatalf("ControllerListVolumeHealth = %v, %v", list, err)
	}
	for _, v := range vols {
		r.deleteVolume(v.GetVolumeId())
	}
	_, err = ctrl.ControllerGetVolumeHealth(ctx(t), &csi.ControllerGetVolumeHealthRequest{VolumeId: vols[1].GetVolumeId()})
	wantCode(t, err, codes.NotFound)
}
