package csiabuse

import (
	"context"
	"net"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/seed-6a310834/ceph-csi/shared/volid"
)

// Reencode returns the volume or snapshot ID id changed by change.
func Reencode(t testing.TB, id string, change func(*volid.ID)) string {
	t.Helper()
	v, err := volid.Decode(id)
	if err != nil {
		t.Fatal(err)
	}
	change(&v)
	s, err := v.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func snapshotSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: id}}}
}

func volumeSource(id string) *csi.VolumeContentSource {
	return &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: id}}}
}

// Serve serves srv over gRPC on an in-memory listener until the test ends
// and returns a client of it, so that requests are marshalled as a real
// client's are.
func Serve(t testing.TB, srv csi.ControllerServer) csi.ControllerClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	s := grpc.NewServer()
	csi.RegisterControllerServer(s, srv)
	done := make(chan error, 1)
	go func() { done <- s.Serve(lis) }()
	conn, err := grpc.NewClient("passthrough:///csiabuse", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		s.Stop()
		if err := <-done; err != nil {
			t.Errorf("csiabuse: serve: %v", err)
		}
	})
	return csi.NewControllerClient(conn)
}
