// Command cephfs-demo is a small CSI client for test/demo-cephfs.sh: each
// subcommand makes one CSI call to the CephFS driver and prints a one-line
// result. Volumes and snapshots are passed between calls as JSON files
// (what CreateVolume and CreateSnapshot returned).
//
//	cephfs-demo [flags] create NAME SIZE_MIB OUT.json [--from-snapshot SNAP.json]
//	cephfs-demo [flags] stage VOL.json STAGING
//	cephfs-demo [flags] publish VOL.json STAGING TARGET
//	cephfs-demo [flags] snapshot NAME VOL.json OUT.json
//	cephfs-demo [flags] expand VOL.json SIZE_MIB
//	cephfs-demo [flags] stats VOL.json PATH
//	cephfs-demo [flags] unpublish VOL.json TARGET
//	cephfs-demo [flags] unstage VOL.json STAGING
//	cephfs-demo [flags] delete-volume VOL.json
//	cephfs-demo [flags] delete-snapshot SNAP.json
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cephfs-demo:", err)
		os.Exit(1)
	}
}

// client holds the connection and the settings every call uses.
type client struct {
	ctrl    csi.ControllerClient
	node    csi.NodeClient
	params  map[string]string
	secrets map[string]string
	out     io.Writer
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("cephfs-demo", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "unix:///tmp/cephfs-demo/csi.sock", "driver endpoint")
	clusterID := fs.String("cluster-id", os.Getenv("CEPH_CLUSTER_FSID"), "clusterID parameter")
	fsName := fs.String("fs-name", "cephfs", "fsName parameter")
	mounter := fs.String("mounter", "fuse", "mounter parameter")
	timeout := fs.Duration("timeout", 3*time.Minute, "deadline of the call")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("missing subcommand")
	}
	conn, err := grpc.NewClient(*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := &client{
		ctrl: csi.NewControllerClient(conn), node: csi.NewNodeClient(conn), out: out,
		params: map[string]string{"clusterID": *clusterID, "fsName": *fsName, "mounter": *mounter},
		secrets: map[string]string{"adminID": envOr("CEPH_ADMIN_ID", "admin"), "adminKey": os.Getenv("CEPH_ADMIN_KEY"),
			"userID": envOr("CEPH_ADMIN_ID", "admin"), "userKey": os.Getenv("CEPH_ADMIN_KEY")},
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return c.dispatch(ctx, fs.Arg(0), fs.Args()[1:])
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func (c *client) dispatch(ctx context.Context, cmd string, a []string) error {
	cmds := map[string]struct {
		n  int
		fn func(context.Context, []string) error
	}{
		"create": {3, c.create}, "stage": {2, c.stage}, "publish": {3, c.publish}, "snapshot": {3, c.snapshot},
		"expand": {2, c.expand}, "stats": {2, c.stats}, "unpublish": {2, c.unpublish}, "unstage": {2, c.unstage},
		"delete-volume": {1, c.deleteVolume}, "delete-snapshot": {1, c.deleteSnapshot},
	}
	sc, ok := cmds[cmd]
	if !ok {
		return fmt.Errorf("unknown subcommand %q", cmd)
	}
	if len(a) < sc.n {
		return fmt.Errorf("%s: want %d arguments, got %d", cmd, sc.n, len(a))
	}
	return sc.fn(ctx, a)
}

var rwx = &csi.VolumeCapability{
	AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
	AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER},
}

func mib(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	return n << 20, err
}

// create NAME SIZE_MIB OUT.json [--from-snapshot SNAP.json]
func (c *client) create(ctx context.Context, a []string) error {
	size, err := mib(a[1])
	if err != nil {
		return err
	}
	req := &csi.CreateVolumeRequest{Name: a[0], CapacityRange: &csi.CapacityRange{RequiredBytes: size},
		VolumeCapabilities: []*csi.VolumeCapability{rwx}, Parameters: c.params, Secrets: c.secrets}
	if len(a) == 5 && a[3] == "--from-snapshot" {
		snap := &csi.Snapshot{}
		if err := load(a[4], snap); err != nil {
			return err
		}
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: snap.GetSnapshotId()}}}
	}
	resp, err := c.ctrl.CreateVolume(ctx, req)
	if err != nil {
		return err
	}
	v := resp.GetVolume()
	fmt.Fprintf(c.out, "volume %s, %d MiB, subvolume %s\n", v.GetVolumeId(), v.GetCapacityBytes()>>20, v.GetVolumeContext()["subvolumePath"])
	return save(a[2], v)
}

func (c *client) volume(path string) (*csi.Volume, error) {
	v := &csi.Volume{}
	return v, load(path, v)
}

func (c *client) stage(ctx context.Context, a []string) error {
	v, err := c.volume(a[0])
	if err != nil {
		return err
	}
	_, err = c.node.NodeStageVolume(ctx, &csi.NodeStageVolumeRequest{VolumeId: v.GetVolumeId(), StagingTargetPath: a[1],
		VolumeCapability: rwx, VolumeContext: v.GetVolumeContext(), Secrets: c.secrets})
	return c.done(err, "staged at %s with %s", a[1], v.GetVolumeContext()["mounter"])
}

func (c *client) publish(ctx context.Context, a []string) error {
	v, err := c.volume(a[0])
	if err != nil {
		return err
	}
	_, err = c.node.NodePublishVolume(ctx, &csi.NodePublishVolumeRequest{VolumeId: v.GetVolumeId(), StagingTargetPath: a[1],
		TargetPath: a[2], VolumeCapability: rwx, VolumeContext: v.GetVolumeContext()})
	return c.done(err, "published at %s", a[2])
}

func (c *client) snapshot(ctx context.Context, a []string) error {
	v, err := c.volume(a[1])
	if err != nil {
		return err
	}
	resp, err := c.ctrl.CreateSnapshot(ctx, &csi.CreateSnapshotRequest{Name: a[0], SourceVolumeId: v.GetVolumeId(), Secrets: c.secrets})
	if err != nil {
		return err
	}
	s := resp.GetSnapshot()
	fmt.Fprintf(c.out, "snapshot %s, restore size %d MiB, ready %t\n", s.GetSnapshotId(), s.GetSizeBytes()>>20, s.GetReadyToUse())
	return save(a[2], s)
}

func (c *client) expand(ctx context.Context, a []string) error {
	v, err := c.volume(a[0])
	if err != nil {
		return err
	}
	size, err := mib(a[1])
	if err != nil {
		return err
	}
	resp, err := c.ctrl.ControllerExpandVolume(ctx, &csi.ControllerExpandVolumeRequest{VolumeId: v.GetVolumeId(),
		CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Secrets: c.secrets})
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, "quota now %d MiB, node expansion required: %t\n", resp.GetCapacityBytes()>>20, resp.GetNodeExpansionRequired())
	return nil
}

func (c *client) stats(ctx context.Context, a []string) error {
	v, err := c.volume(a[0])
	if err != nil {
		return err
	}
	resp, err := c.node.NodeGetVolumeStats(ctx, &csi.NodeGetVolumeStatsRequest{VolumeId: v.GetVolumeId(), VolumePath: a[1]})
	if err != nil {
		return err
	}
	var parts []string
	for _, u := range resp.GetUsage() {
		parts = append(parts, fmt.Sprintf("%s total %d used %d", u.GetUnit(), u.GetTotal(), u.GetUsed()))
	}
	fmt.Fprintln(c.out, strings.Join(parts, "; "))
	return nil
}

func (c *client) unpublish(ctx context.Context, a []string) error {
	v, err := c.volume(a[0])
	if err != nil {
		return err
	}
	_, err = c.node.NodeUnpublishVolume(ctx, &csi.NodeUnpublishVolumeRequest{VolumeId: v.GetVolumeId(), TargetPath: a[1]})
	return c.done(err, "unpublished %s", a[1])
}

func (c *client) unstage(ctx context.Context, a []string) error {
	v, err := c.volume(a[0])
	if err != nil {
		return err
	}
	_, err = c.node.NodeUnstageVolume(ctx, &csi.NodeUnstageVolumeRequest{VolumeId: v.GetVolumeId(), StagingTargetPath: a[1]})
	return c.done(err, "unstaged %s", a[1])
}

func (c *client) deleteVolume(ctx context.Context, a []string) error {
	v, err := c.volume(a[0])
	if err != nil {
		return err
	}
	_, err = c.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: v.GetVolumeId(), Secrets: c.secrets})
	return c.done(err, "deleted volume %s", v.GetVolumeId())
}

func (c *client) deleteSnapshot(ctx context.Context, a []string) error {
	s := &csi.Snapshot{}
	if err := load(a[0], s); err != nil {
		return err
	}
	_, err := c.ctrl.DeleteSnapshot(ctx, &csi.DeleteSnapshotRequest{SnapshotId: s.GetSnapshotId(), Secrets: c.secrets})
	return c.done(err, "deleted snapshot %s", s.GetSnapshotId())
}

func (c *client) done(err error, format string, args ...any) error {
	if err != nil {
		return err
	}
	fmt.Fprintf(c.out, format+"\n", args...)
	return nil
}

func save(path string, m proto.Message) error {
	data, err := protojson.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

func load(path string, m proto.Message) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return protojson.Unmarshal(data, m)
}
