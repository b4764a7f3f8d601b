package host

import (
	"context"
	"strings"
	"testing"

	"github.com/seed-6a310834/ceph-csi/shared/execx"
)

func TestMountsRunInTheNetNamespace(t *testing.T) {
	for _, tc := range []struct {
		name   string
		m      func(execx.Executor) Mounter
		prefix string
	}{
		{"kernel", func(e execx.Executor) Mounter { return &Kernel{Exec: e} },
			"nsenter --net=/var/run/netns/multus -- mount -t ceph 10.0.0.1:6789,10.0.0.2:6789:/volumes/csi/csi-vol-1/abc /staging/vol -o name=csi-user,secretfile="},
		{"fuse", func(e execx.Executor) Mounter { return &Fuse{Exec: e} },
			"nsenter --net=/var/run/netns/multus -- ceph-fuse /staging/vol -m 10.0.0.1:6789,10.0.0.2:6789 --id csi-user --keyring "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := execx.NewFake()
			r := request()
			r.NetNamespace = "/var/run/netns/multus"
			if err := tc.m(fake).Mount(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			lines := fake.CommandLines()
			if len(lines) != 1 || !strings.HasPrefix(lines[0], tc.prefix) {
				t.Fatalf("commands %q\nwant one starting %q", lines, tc.prefix)
			}
		})
	}
}
