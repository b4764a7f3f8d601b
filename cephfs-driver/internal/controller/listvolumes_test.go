package controller

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
)

// listAll pages through ListVolumes max entries at a time.
func (f *fixture) listAll(max int32) []string {
	f.t.Helper()
	var ids []string
	token := ""
	for pages := 0; ; pages++ {
		resp, err := f.srv.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: max, StartingToken: token})
		if err != nil || pages > 50 || (max > 0 && len(resp.GetEntries()) > int(max)) {
			f.t.Fatalf("ListVolumes(token %q) = %v, %v after %d pages", token, resp, err, pages)
		}
		for _, e := range resp.GetEntries() {
			ids = append(ids, e.GetVolume().GetVolumeId())
		}
		if token = resp.GetNextToken(); token == "" {
			slices.Sort(ids)
			return ids
		}
	}
}

func TestListVolumesPages(t *testing.T) {
	f := newFixture(t)
	var want []string
	for _, name := range []string{"pvc-c", "pvc-a", "pvc-d", "pvc-b"} {
		want = append(want, f.create(createReq(name, gib)).GetVolumeId())
	}
	slices.Sort(want)
	for _, max := range []int32{0, 1, 3, 4, 9} {
		if got := f.listAll(max); !slices.Equal(got, want) {
			t.Fatalf("max %d: listed %v, want %v", max, got, want)
		}
	}
	first, err := f.srv.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: 2})
	if err != nil || len(first.GetEntries()) != 2 || first.GetNextToken() == "" {
		t.Fatalf("first page %v, %v", first, err)
	}
	f.deleteVolume(first.GetEntries()[1].GetVolume().GetVolumeId())
	rest, err := f.srv.ListVolumes(context.Background(), &csi.ListVolumesRequest{StartingToken: first.GetNextToken()})
	if err != nil || len(rest.GetEntries()) != 2 || rest.GetNextToken() != "" {
		t.Fatalf("page after deleting the token's volume: %v, %v", rest, err)
	}
	_, err = f.srv.ListVolumes(context.Background(), &csi.ListVolumesRequest{StartingToken: "invalid-token"})
	wantCode(t, err, codes.Aborted, "starting_token")
	_, err = f.srv.ListVolumes(context.Background(), &csi.ListVolumesRequest{MaxEntries: -1})
	wantCode(t, err, codes.InvalidArgument, "max_entries")
	f.conn.Err = errors.New("monitors do not answer")
	_, err = f.srv.ListVolumes(context.Background(), &csi.ListVolumesRequest{})
	wantCode(t, err, codes.Unavailable)
}

func healthReasons(h *csi.VolumeHealth) []string {
	var out []string
	for _, s := range h.GetHealthStatuses() {
		out = append(out, s.GetStatus().String()+"/"+s.GetReason())
	}
	return out
}

func TestVolumeHealth(t *testing.T) {
	f := newFixture(t)
	healthy, gone := f.create(createReq("pvc-ok", gib)), f.create(createReq("pvc-gone", gib))
	ref := backend.SubvolumeRef{FS: testFS, Group: testGroup, Name: gone.GetVolumeContext()["subvolumeName"]}
	if err := f.be.RemoveSubvolume(context.Background(), ref, true); err != nil {
		t.Fatal(err)
	}
	health := func(id string) (*csi.VolumeHealth, error) {
		resp, err := f.srv.ControllerGetVolumeHealth(context.Background(), &csi.ControllerGetVolumeHealthRequest{VolumeId: id})
		return resp.GetVolumeHealth(), err
	}
	if h, err := health(healthy.GetVolumeId()); err != nil || len(h.GetHealthStatuses()) != 0 {
		t.Fatalf("healthy volume: %v, %v", h, err)
	}
	h, err := health(gone.GetVolumeId())
	if err != nil || !slices.Equal(healthReasons(h), []string{"INACCESSIBLE/SubvolumeNotFound", "DATA_LOSS/SubvolumeNotFound"}) {
		t.Fatalf("volume without subvolume: %v, %v", h, err)
	}
	list, err := f.srv.ControllerListVolumeHealth(context.Background(), &csi.ControllerListVolumeHealthRequest{})
	if err != nil || len(list.GetEntries()) != 1 || list.GetEntries()[0].GetVolumeId() != gone.GetVolumeId() {
		t.Fatalf("ControllerListVolumeHealth = %v, %v", list, err)
	}
	get, err := f.srv.ControllerGetVolume(context.Background(), &csi.ControllerGetVolumeRequest{VolumeId: healthy.GetVolumeId()})
	if err != nil || get.GetVolume().GetCapacityBytes() != gib {
		t.Fatalf("ControllerGetVolume = %v, %v", get, err)
	}
	_, err = health("")
	wantCode(t, err, codes.InvalidArgument, "volume_id")
	f.deleteVolume(healthy.GetVolumeId())
	_, err = health(healthy.GetVolumeId())
	wantCode(t, err, codes.NotFound)
	f.conn.Err = errors.New("monitors do not answer")
	if h, err := health(gone.GetVolumeId()); err != nil || !slices.Equal(healthReasons(h), []string{"INACCESSIBLE/ClusterUnavailable"}) {
		t.Fatalf("unreachable cluster: %v, %v", h, err)
	}
}
