// Command cephcsicheck drives a CSI controller (a real ceph-csi or one of
// our drivers) through one step of the manual ceph-csi compatibility check
// and records or compares the IDs it got in a JSON state file. See
// README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

const mib = 1 << 20

type env struct {
	c       csi.ControllerClient
	state   map[string]string
	path    string
	params  map[string]string
	secrets map[string]string
	fs      bool
	failed  bool
}

func main() {
	endpoint := flag.String("endpoint", "", "unix:///path of the controller socket")
	statePath := flag.String("state", "state.json", "state file")
	step := flag.String("step", "", "step to run")
	cluster := flag.String("cluster-id", "", "clusterID")
	pool := flag.String("pool", "rbd", "RBD pool")
	fsName := flag.String("fs", "cephfs", "CephFS name")
	id := flag.String("id", "admin", "Ceph user")
	key := flag.String("key", os.Getenv("CEPH_ADMIN_KEY"), "Ceph key")
	flag.Parse()
	conn, err := grpc.NewClient("unix://"+trimUnix(*endpoint), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fatal(err)
	}
	e := &env{c: csi.NewControllerClient(conn), path: *statePath, state: map[string]string{}}
	if b, err := os.ReadFile(*statePath); err == nil {
		_ = json.Unmarshal(b, &e.state)
	}
	e.fs = len(*step) > 3 && (*step)[:3] == "fs-"
	if e.fs {
		e.params = map[string]string{"clusterID": *cluster, "fsName": *fsName}
		e.secrets = map[string]string{"adminID": *id, "adminKey": *key, "userID": *id, "userKey": *key}
	} else {
		e.params = map[string]string{"clusterID": *cluster, "pool": *pool, "imageFeatures": "layering"}
		e.secrets = map[string]string{"userID": *id, "userKey": *key}
	}
	fn, ok := steps[*step]
	if !ok {
		fatal(fmt.Errorf("unknown step %q", *step))
	}
	fn(e)
	b, _ := json.MarshalIndent(e.state, "", "  ")
	if err := os.WriteFile(*statePath, b, 0o644); err != nil {
		fatal(err)
	}
	if e.failed {
		fmt.Println("STEP", *step, "FAILED")
		os.Exit(1)
	}
	fmt.Println("STEP", *step, "OK")
}

func trimUnix(s string) string {
	if len(s) > 7 && s[:7] == "unix://" {
		return s[7:]
	}
	return s
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "cephcsicheck:", err)
	os.Exit(2)
}

// ctx bounds one call; the short-lived program lets the timer expire.
func ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	time.AfterFunc(3*time.Minute, cancel)
	return c
}

func (e *env) errorf(format string, a ...any) {
	e.failed = true
	fmt.Printf("  MISMATCH: "+format+"\n", a...)
}

func (e *env) okf(format string, a ...any) { fmt.Printf("  ok: "+format+"\n", a...) }

func (e *env) caps(shallow bool) []*csi.VolumeCapability {
	mode := csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER
	if shallow {
		mode = csi.VolumeCapability_AccessMode_MULTI_NODE_READER_ONLY
	}
	return []*csi.VolumeCapability{{
		AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: mode},
	}}
}

// volume creates (or, with retry, repeats) volume name; src is
// "snap:<key>" or "vol:<key>" naming a state key. A repeat must answer the
// recorded ID.
func (e *env) volume(name, src string, shallow, retry bool) {
	params := map[string]string{}
	for k, v := range e.params {
		params[k] = v
	}
	if shallow {
		params["backingSnapshot"] = "true"
	}
	req := &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: 64 * mib},
		VolumeCapabilities: e.caps(shallow), Parameters: params, Secrets: e.secrets}
	switch {
	case len(src) > 5 && src[:5] == "snap:":
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Snapshot{
			Snapshot: &csi.VolumeContentSource_SnapshotSource{SnapshotId: e.state[src[5:]]}}}
	case len(src) > 4 && src[:4] == "vol:":
		req.VolumeContentSource = &csi.VolumeContentSource{Type: &csi.VolumeContentSource_Volume{
			Volume: &csi.VolumeContentSource_VolumeSource{VolumeId: e.state[src[4:]]}}}
	}
	resp, err := e.c.CreateVolume(ctx(), req)
	for i := 0; i < 90 && status.Code(err) == codes.Aborted; i++ {
		time.Sleep(2 * time.Second) // a clone in progress: the CO retries
		resp, err = e.c.CreateVolume(ctx(), req)
	}
	if err != nil {
		e.errorf("CreateVolume %s (%s): %v", name, src, err)
		return
	}
	id := resp.GetVolume().GetVolumeId()
	if retry {
		if id != e.state[name] {
			e.errorf("CreateVolume retry %s: ID %s, first made as %s", name, id, e.state[name])
			return
		}
		e.okf("CreateVolume retry %s (%s): same ID %s, context %v", name, src, id, resp.GetVolume().GetVolumeContext())
		return
	}
	e.state[name] = id
	e.okf("CreateVolume %s (%s): %s, context %v", name, src, id, resp.GetVolume().GetVolumeContext())
}

func (e *env) snapshot(name, vol string, retry bool) {
	resp, err := e.c.CreateSnapshot(ctx(), &csi.CreateSnapshotRequest{Name: name, SourceVolumeId: e.state[vol],
		Secrets: e.secrets, Parameters: map[string]string{"clusterID": e.params["clusterID"]}})
	if err != nil {
		e.errorf("CreateSnapshot %s of %s: %v", name, vol, err)
		return
	}
	s := resp.GetSnapshot()
	if s.GetSourceVolumeId() != e.state[vol] {
		fmt.Printf("  note: CreateSnapshot %s answered source_volume_id %q (want %s)\n", name, s.GetSourceVolumeId(), e.state[vol])
	}
	if retry {
		if s.GetSnapshotId() != e.state[name] {
			e.errorf("CreateSnapshot retry %s: ID %s, first made as %s", name, s.GetSnapshotId(), e.state[name])
			return
		}
		e.okf("CreateSnapshot retry %s: same ID, size %d, created %s", name, s.GetSizeBytes(), s.GetCreationTime().AsTime())
		return
	}
	e.state[name] = s.GetSnapshotId()
	e.state[name+".size"] = fmt.Sprint(s.GetSizeBytes())
	e.state[name+".created"] = s.GetCreationTime().AsTime().Format(time.RFC3339)
	e.okf("CreateSnapshot %s: %s size %d created %s", name, s.GetSnapshotId(), s.GetSizeBytes(), s.GetCreationTime().AsTime())
}

// listed checks ListSnapshots (by ID and in the full list) for snapshot
// name of volume vol.
func (e *env) listed(name, vol string) {
	byID, err := e.c.ListSnapshots(ctx(), &csi.ListSnapshotsRequest{SnapshotId: e.state[name], Secrets: e.secrets})
	if err != nil || len(byID.GetEntries()) != 1 {
		e.errorf("ListSnapshots(id %s): %v %v", name, byID, err)
		return
	}
	e.checkSnap("ListSnapshots(snapshot_id)", name, vol, byID.GetEntries()[0].GetSnapshot())
	all, err := e.c.ListSnapshots(ctx(), &csi.ListSnapshotsRequest{Secrets: e.secrets})
	if err != nil {
		e.errorf("ListSnapshots: %v", err)
		return
	}
	for _, en := range all.GetEntries() {
		if en.GetSnapshot().GetSnapshotId() == e.state[name] {
			e.checkSnap("ListSnapshots()", name, vol, en.GetSnapshot())
			return
		}
	}
	e.errorf("ListSnapshots(): %s missing", name)
}

func (e *env) checkSnap(how, name, vol string, s *csi.Snapshot) {
	created := s.GetCreationTime().AsTime().Format(time.RFC3339)
	size := fmt.Sprint(s.GetSizeBytes())
	if s.GetSourceVolumeId() != e.state[vol] || size != e.state[name+".size"] || !s.GetReadyToUse() ||
		(e.state[name+".created"] != "" && created != e.state[name+".created"]) {
		e.errorf("%s %s: source %s size %s created %s ready %v, want %s %s %s true", how, name,
			s.GetSourceVolumeId(), size, created, s.GetReadyToUse(), e.state[vol], e.state[name+".size"], e.state[name+".created"])
		return
	}
	e.okf("%s %s: source, size %s, creation time %s, ready as made", how, name, size, created)
}

// deleteVolume deletes a volume, retrying a failure a few times as the CO
// does (the mgr briefly watches a parent while it removes a clone).
func (e *env) deleteVolume(name string) {
	req := &csi.DeleteVolumeRequest{VolumeId: e.state[name], Secrets: e.secrets}
	_, err := e.c.DeleteVolume(ctx(), req)
	for i := 0; i < 10 && err != nil; i++ {
		fmt.Printf("  note: DeleteVolume %s: %v (retrying as the CO would)\n", name, err)
		time.Sleep(3 * time.Second)
		_, err = e.c.DeleteVolume(ctx(), req)
	}
	if err != nil {
		e.errorf("DeleteVolume %s: %v", name, err)
		return
	}
	e.okf("DeleteVolume %s", name)
}

func (e *env) deleteSnapshot(name string) {
	if _, err := e.c.DeleteSnapshot(ctx(), &csi.DeleteSnapshotRequest{SnapshotId: e.state[name], Secrets: e.secrets}); err != nil {
		e.errorf("DeleteSnapshot %s: %v", name, err)
		return
	}
	e.okf("DeleteSnapshot %s", name)
}

func (e *env) expand(name string, size int64) {
	resp, err := e.c.ControllerExpandVolume(ctx(), &csi.ControllerExpandVolumeRequest{VolumeId: e.state[name],
		CapacityRange: &csi.CapacityRange{RequiredBytes: size}, Secrets: e.secrets,
		VolumeCapability: e.caps(false)[0]})
	if err != nil || resp.GetCapacityBytes() < size {
		e.errorf("ControllerExpandVolume %s: %v %v", name, resp, err)
		return
	}
	e.okf("ControllerExpandVolume %s to %d", name, resp.GetCapacityBytes())
}

// deleteSnapshotCode expects DeleteSnapshot to fail with code.
func (e *env) deleteSnapshotCode(name string, code codes.Code) {
	_, err := e.c.DeleteSnapshot(ctx(), &csi.DeleteSnapshotRequest{SnapshotId: e.state[name], Secrets: e.secrets})
	if status.Code(err) != code {
		e.errorf("DeleteSnapshot %s: %v, want %s", name, err, code)
		return
	}
	e.okf("DeleteSnapshot %s: %s as expected (%v)", name, code, err)
}
