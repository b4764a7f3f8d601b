package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"

	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/execx"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels"
	"github.com/seed-6a310834/ceph-csi/shared/nodelabels/nodelabelstest"

	"github.com/seed-6a310834/ceph-csi/rbd-driver/internal/volctx"
)

// withConfig rewrites the rig's config.json with the given entry settings
// and restarts the server with the node's labels.
func (r *rig) withConfig(extra string, labels map[string]string, crushLabels ...string) {
	r.t.Helper()
	conf := filepath.Join(r.dir, "config.json")
	entry := `{"clusterID":"` + testCluster + `","monitors":["10.0.0.1:6789"]` + extra + `}`
	if err := os.WriteFile(conf, []byte("["+entry+"]"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	srv, err := New(Config{
		NodeID: "node-1", StateDir: r.stateDir, ClusterConfig: clusterconfig.NewStore(conf), Executor: r.exec, Mounter: r.mounter,
		DeviceSize: r.deviceSize, NodeLabels: labels, CrushLocationLabels: crushLabels,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	srv.mappings, srv.holders, srv.holderWait = r.srv.mappings, r.srv.holders, r.srv.holderWait
	r.srv = srv
}

// mapLine stages a krbd/rbd-nbd block volume and returns the map command
// line, with the keyring path replaced by KEYRING.
func (r *rig) mapLine(mounter string, vc map[string]string) string {
	r.t.Helper()
	req := r.stageRequest(blockCap(rwo))
	req.VolumeContext[volctx.Mounter] = mounter
	for k, v := range vc {
		req.VolumeContext[k] = v
	}
	r.exec.OnFunc("", func(c execx.Call) execx.Result {
		if strings.Contains(c.String(), " map ") {
			return execx.Result{Stdout: "/dev/rbd9\n"}
		}
		return execx.Result{}
	})
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err != nil {
		r.t.Fatalf("NodeStageVolume() = %v", err)
	}
	for _, c := range r.exec.Calls() {
		if strings.Contains(c.String(), " map ") {
			line := c.String()
			for _, a := range c.Args {
				if k, ok := strings.CutPrefix(a, "--keyring="); ok {
					line = strings.ReplaceAll(line, k, "KEYRING")
				}
			}
			return line
		}
	}
	r.t.Fatalf("no map command in %q", r.exec.CommandLines())
	return ""
}

func TestReadAffinityAndNetNamespaceReachTheMap(t *testing.T) {
	r := newRig(t)
	r.withConfig(`,"rbd":{"netNamespaceFilePath":"/var/run/netns/multus"},
		"readAffinity":{"enabled":true,"crushLocationLabels":["topology.kubernetes.io/zone","kubernetes.io/hostname","absent"]}`,
		map[string]string{"topology.kubernetes.io/zone": "eu.1", "kubernetes.io/hostname": "node-1", "other": "x"})
	got := r.mapLine(volctx.MounterKRBD, map[string]string{volctx.MapOptions: "krbd:queue_depth=128;nbd:io-timeout=5"})
	want := "nsenter --net=/var/run/netns/multus -- rbd --id csi-user -m 10.0.0.1:6789 --keyring=KEYRING map pool/csi-vol-1 " +
		"--device-type krbd --options noudev --options queue_depth=128,read_from_replica=localize,crush_location=host:node-1|zone:eu-1"
	if got != want {
		t.Fatalf("map command:\n%s\nwant:\n%s", got, want)
	}
}

func TestReadAffinityFallsBackToTheFlagLabelsAndSkipsNbd(t *testing.T) {
	r := newRig(t)
	r.withConfig(`,"readAffinity":{"enabled":true}`, map[string]string{"topology.kubernetes.io/region": "r1"}, "topology.kubernetes.io/region")
	got := r.mapLine(volctx.MounterNBD, nil)
	want := "rbd-nbd --id csi-user -m 10.0.0.1:6789 --keyring=KEYRING map pool/csi-vol-1 --try-netlink --reattach-timeout=300 " +
		"--io-timeout=0 --cookie=" + testVolume
	if got != want {
		t.Fatalf("map command:\n%s\nwant:\n%s", got, want)
	}
	r2 := newRig(t)
	r2.withConfig(`,"readAffinity":{"enabled":true}`, map[string]string{"topology.kubernetes.io/region": "r1"}, "topology.kubernetes.io/region")
	if got := r2.mapLine(volctx.MounterKRBD, nil); !strings.HasSuffix(got, "--options noudev --options read_from_replica=localize,crush_location=region:r1") {
		t.Fatalf("map command: %s", got)
	}
}

// TestReadAffinityFromTheNodeAPI: without --node-labels, the labels the
// node plugin reads from its Node (config.json enables read affinity)
// give the krbd map its crush_location.
func TestReadAffinityFromTheNodeAPI(t *testing.T) {
	r := newRig(t)
	extra := `,"readAffinity":{"enabled":true,"crushLocationLabels":["topology.kubernetes.io/zone"]}`
	r.withConfig(extra, nil)
	a := &nodelabels.Affinity{NodeName: "node-1", Clusters: clusterconfig.NewStore(filepath.Join(r.dir, "config.json")),
		API: nodelabelstest.Client(t, "node-1", map[string]string{"topology.kubernetes.io/zone": "eu.2", "kubernetes.io/hostname": "node-1"})}
	r.withConfig(extra, a.Labels(context.Background()))
	if got := r.mapLine(volctx.MounterKRBD, nil); !strings.HasSuffix(got, "--options noudev --options read_from_replica=localize,crush_location=zone:eu-2") {
		t.Fatalf("map command: %s", got)
	}
}

func TestTryOtherMountersFallsBackToNbd(t *testing.T) {
	r := newRig(t)
	r.withConfig("", nil)
	r.exec.OnFunc("", func(c execx.Call) execx.Result {
		switch {
		case c.Name == "rbd" && strings.Contains(c.String(), " map "):
			return execx.Result{ExitCode: 6, Stderr: "rbd: sysfs write failed\nRBD image feature set mismatch."}
		case c.Name == "rbd-nbd" && strings.Contains(c.String(), " map "):
			return execx.Result{Stdout: "/dev/nbd0\n"}
		}
		return execx.Result{}
	})
	req := r.stageRequest(blockCap(rwo))
	req.VolumeContext[volctx.Mounter] = volctx.MounterKRBD
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err == nil {
		t.Fatal("NodeStageVolume() without tryOtherMounters succeeded")
	}
	req.VolumeContext[volctx.TryOtherMounters] = "true"
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatalf("NodeStageVolume() with tryOtherMounters = %v", err)
	}
	if rec := r.record(); rec.Attachment.Mounter != volctx.MounterNBD || rec.Attachment.Device != "/dev/nbd0" {
		t.Fatalf("record = %+v", rec.Attachment)
	}
}

func TestNbdReattachedOnStageAndAtStart(t *testing.T) {
	r := newRig(t)
	r.withConfig("", nil)
	r.withRealAttachers("/dev/nbd0")
	r.srv.healSecrets = func() (map[string]string, error) {
		return map[string]string{"userID": "healer", "userKey": testKey}, nil
	}
	served := false
	r.exec.OnFunc("", func(c execx.Call) execx.Result {
		switch {
		case strings.Contains(c.String(), " map "):
			served = true
			return execx.Result{Stdout: "/dev/nbd0\n"}
		case strings.HasPrefix(c.String(), "rbd-nbd list-mapped") && served:
			return execx.Result{Stdout: `[{"pool":"pool","image":"csi-vol-1","device":"/dev/nbd0"}]`}
		case strings.Contains(c.String(), " attach "):
			served = true
		}
		return execx.Result{}
	})
	req := r.stageRequest(blockCap(rwo))
	req.VolumeContext[volctx.Mounter] = volctx.MounterNBD
	req.VolumeContext[volctx.MapOptions] = "nbd:io-timeout=30"
	if _, err := r.srv.NodeStageVolume(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	for _, heal := range []bool{false, true} {
		served = false // the node plugin restarted: its rbd-nbd died, the device stays
		r.exec.Reset()
		var err error
		if heal {
			var n int
			n, err = r.srv.Heal(context.Background())
			if n != 1 {
				t.Fatalf("Heal() re-attached %d devices", n)
			}
		} else {
			_, err = r.srv.NodeStageVolume(context.Background(), req)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !served || !containsLine(r.exec.CommandLines(), " attach pool/csi-vol-1 --device /dev/nbd0 --try-netlink --reattach-timeout=300 --cookie="+testVolume+" --io-timeout=30") {
			t.Fatalf("heal %v: commands %q", heal, r.exec.CommandLines())
		}
		if containsLine(r.exec.CommandLines(), " unmap ") {
			t.Fatalf("the device was unmapped: %q", r.exec.CommandLines())
		}
	}
}

func containsLine(lines []string, part string) bool {
	for _, l := range lines {
		if strings.Contains(l, part) {
			return true
		}
	}
	return false
}

var _ = csi.VolumeCapability_AccessMode_SINGLE_NODE_WRITER

func TestCephLogDirReachesRbdNbd(t *testing.T) {
	r := newRig(t)
	r.withConfig("", nil)
	got := r.mapLine(volctx.MounterNBD, map[string]string{volctx.CephLogDir: "/var/log/ceph", volctx.CephLogStrategy: "compress"})
	if !strings.Contains(got, " --log-file /var/log/ceph/rbd-nbd-"+testVolume+".log map ") {
		t.Fatalf("map command: %s", got)
	}
	if a := r.record().Attachment; a.LogFile != "/var/log/ceph/rbd-nbd-"+testVolume+".log" || a.LogStrategy != "compress" {
		t.Fatalf("attachment = %+v", a)
	}
}
