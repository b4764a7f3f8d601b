package controller

import (
	"context"
	"errors"
	"sort"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/backend"
)

// listAll pages through ListVolumes max entries at a time.
func (e *env) listAll(max int32) []string {
	e.t.Helper()
	var ids []string
	token := ""
	for pages := 0; ; pages++ {
		resp, err := e.s.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: max, StartingToken: token})
		if err != nil || pages > 50 {
			e.t.Fatalf("ListVolumes(token %q): %v after %d pages", token, err, pages)
		}
		if max > 0 && len(resp.GetEntries()) > int(max) {
			e.t.Fatalf("page of %d entries, max %d", len(resp.GetEntries()), max)
		}
		for _, en := range resp.GetEntries() {
			ids = append(ids, en.GetVolume().GetVolumeId())
		}
		if token = resp.GetNextToken(); token == "" {
			sort.Strings(ids)
			return ids
		}
	}
}

func TestListVolumesPagesThroughEveryPool(t *testing.T) {
	e := newEnv(t)
	var want []string
	for i, name := range []string{"pvc-a", "pvc-b", "pvc-c", "pvc-d", "pvc-e"} {
		req := volReq(name, 1<<20)
		if i%2 == 1 {
			req.Parameters["pool"] = otherPool
		}
		if i == 4 {
			req.Parameters["journalPool"] = jPool
		}
		want = append(want, e.create(req).GetVolumeId())
	}
	sort.Strings(want)
	for _, max := range []int32{0, 1, 2, 5, 6} {
		if got := e.listAll(max); !equal(got, want) {
			t.Fatalf("max %d: listed %v, want %v", max, got, want)
		}
	}
	first, err := e.s.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: 2})
	if err != nil || len(first.GetEntries()) != 2 || first.GetNextToken() == "" {
		t.Fatalf("first page %v, %v", first, err)
	}
	e.deleteVolume(first.GetEntries()[1].GetVolume().GetVolumeId())
	rest, err := e.s.ListVolumes(context.Background(), &csi.ListVolumesRequest{StartingToken: first.GetNextToken()})
	if err != nil || len(rest.GetEntries()) != 3 || rest.GetNextToken() != "" {
		t.Fatalf("page after deleting the token's volume: %v, %v", rest, err)
	}
}

func TestListVolumesBadInput(t *testing.T) {
	e := newEnv(t)
	e.create(volReq("pvc-a", 1<<20))
	_, err := e.s.ListVolumes(context.Background(), &csi.ListVolumesRequest{StartingToken: "10"})
	wantCode(t, err, codes.Aborted, "starting_token")
	_, err = e.s.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: -1})
	wantCode(t, err, codes.InvalidArgument, "max_entries")
	e.be.SetHook(func(op string) error {
		if op == "Connect" {
			return backend.ErrUnavailable
		}
		return nil
	})
	_, err = e.s.ListVolumes(context.Background(), &csi.ListVolumesRequest{})
	wantCode(t, err, codes.Unavailable)
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// reasons returns the status/reason pairs of a health report.
func reasons(h *csi.VolumeHealth) []string {
	var out []string
	for _, s := range h.GetHealthStatuses() {
		out = append(out, s.GetStatus().String()+"/"+s.GetReason())
	}
	return out
}

func (e *env) trashImage(vol *csi.Volume) {
	e.t.Helper()
	sess, err := e.be.Connect(context.Background(), backend.Target{ClusterID: testCluster})
	if err != nil {
		e.t.Fatal(err)
	}
	defer sess.Release()
	ref := backend.ImageRef{PoolRef: backend.PoolRef{Pool: testPool}, Name: vol.GetVolumeContext()["imageName"]}
	if err := sess.Trash(context.Background(), ref); err != nil {
		e.t.Fatal(err)
	}
}

func TestVolumeHealth(t *testing.T) {
	e := newEnv(t)
	healthy, gone := e.create(volReq("pvc-ok", 1<<20)), e.create(volReq("pvc-gone", 1<<20))
	e.trashImage(gone)
	health := func(id string) (*csi.VolumeHealth, error) {
		resp, err := e.s.ControllerGetVolumeHealth(context.Background(),
			&csi.ControllerGetVolumeHealthRequest{VolumeId: id, Secrets: secrets()})
		return resp.GetVolumeHealth(), err
	}
	if h, err := health(healthy.GetVolumeId()); err != nil || len(h.GetHealthStatuses()) != 0 || h.GetVolumeId() != healthy.GetVolumeId() {
		t.Fatalf("healthy volume: %v, %v", h, err)
	}
	h, err := health(gone.GetVolumeId())
	if err != nil || !equal(reasons(h), []string{"INACCESSIBLE/ImageNotFound", "DATA_LOSS/ImageNotFound"}) {
		t.Fatalf("volume without image: %v, %v", h, err)
	}
	list, err := e.s.ControllerListVolumeHealth(context.Background(), &csi.ControllerListVolumeHealthRequest{})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetVolumeId() != gone.GetVolumeId() {
		t.Fatalf("ControllerListVolumeHealth = %v, %v; want only the volume without image", list, err)
	}
	get, err := e.s.ControllerGetVolume(context.Background(), &csi.ControllerGetVolumeRequest{VolumeId: healthy.GetVolumeId()})
	if err != nil || get.GetVolume().GetCapacityBytes() != healthy.GetCapacityBytes() {
		t.Fatalf("ControllerGetVolume = %v, %v", get, err)
	}
	_, err = health("")
	wantCode(t, err, codes.InvalidArgument, "volume_id")
	e.deleteVolume(healthy.GetVolumeId())
	_, err = health(healthy.GetVolumeId())
	wantCode(t, err, codes.NotFound)
	_, err = e.s.ControllerGetVolume(context.Background(), &csi.ControllerGetVolumeRequest{VolumeId: healthy.GetVolumeId()})
	wantCode(t, err, codes.NotFound)
	e.be.SetHook(func(op string) error {
		if op == "Connect" {
			return errors.Join(backend.ErrUnavailable, errors.New("monitors do not answer"))
		}
		return nil
	})
	if h, err := health(gone.GetVolumeId()); err != nil || !equal(reasons(h), []string{"INACCESSIBLE/ClusterUnavailable"}) {
		t.Fatalf("unreachable cluster: %v, %v", h, err)
	}
}
