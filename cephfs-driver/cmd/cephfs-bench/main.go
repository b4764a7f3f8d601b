// Command cephfs-bench measures the CephFS driver's CreateVolume and
// DeleteVolume against the local cluster (the environment of
// test/cluster.sh), next to the bare floor: go-ceph subvolume create and
// remove at the same concurrency. It spawns the driver binary in
// controller mode with its own subvolume group and journal instance,
// reports ops/s and latency percentiles, the driver's resident memory
// (idle, and peak from /proc/<pid>/status), and removes everything it made.
//
//	cephfs-bench --driver bin/cephfs-driver [-n 100] [-c 1,8]
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/backend"
	"github.com/seed-6a310834/ceph-csi/cephfs-driver/internal/cephfs"
	"github.com/seed-6a310834/ceph-csi/shared/benchstat"
	"github.com/seed-6a310834/ceph-csi/shared/cephconn"
	"github.com/seed-6a310834/ceph-csi/shared/clusterconfig"
	"github.com/seed-6a310834/ceph-csi/shared/credentials"
	"github.com/seed-6a310834/ceph-csi/shared/journal"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cephfs-bench:", err)
		os.Exit(1)
	}
}

// settings are the command line and the cluster environment.
type settings struct {
	driver      string
	n           int
	rounds      int
	concurrency []int
	fsName      string
	size        int64
	fsid        string
	monitors    []string
	creds       *credentials.Credentials
	group       string
	instance    string
	work        string
}

func parse(args []string) (*settings, error) {
	fs := flag.NewFlagSet("cephfs-bench", flag.ContinueOnError)
	s := &settings{}
	fs.StringVar(&s.driver, "driver", "bin/cephfs-driver", "cephfs-driver binary to spawn")
	fs.IntVar(&s.n, "n", 100, "volumes per round")
	fs.IntVar(&s.rounds, "rounds", 3, "rounds per concurrency level; the ratios reported are the rounds' medians")
	conc := fs.String("c", "1,8", "comma-separated concurrency levels")
	fs.StringVar(&s.fsName, "fs-name", "cephfs", "CephFS file system")
	fs.Int64Var(&s.size, "size", 1<<30, "volume size in bytes")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if s.n < 1 || s.rounds < 1 {
		return nil, errors.New("-n and -rounds must be positive")
	}
	for _, c := range strings.Split(*conc, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || v < 1 {
			return nil, fmt.Errorf("-c: bad concurrency %q", c)
		}
		s.concurrency = append(s.concurrency, v)
	}
	s.fsid, s.monitors = os.Getenv("CEPH_CLUSTER_FSID"), strings.Split(os.Getenv("CEPH_MONITORS"), ",")
	s.creds = &credentials.Credentials{ID: os.Getenv("CEPH_ADMIN_ID"), Key: os.Getenv("CEPH_ADMIN_KEY")}
	if s.fsid == "" || s.creds.Key == "" || s.monitors[0] == "" {
		return nil, errors.New("no cluster environment: source the env file of test/cluster.sh")
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	s.group, s.instance = "csi-bench-"+hex.EncodeToString(suffix), "bench-"+hex.EncodeToString(suffix)
	return s, nil
}

func run(args []string, out io.Writer) error {
	s, err := parse(args)
	if err != nil {
		return err
	}
	if s.work, err = os.MkdirTemp("", "cephfs-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(s.work)
	floor, err := openFloor(s)
	if err != nil {
		return err
	}
	defer floor.close()
	drv, err := startDriver(s)
	if err != nil {
		return err
	}
	benchErr := bench(s, floor, drv, out)
	peak, _ := drv.memory("VmHWM")
	drv.stop()
	fmt.Fprintf(out, "driver RSS: idle %.1f MiB, peak %.1f MiB\n", mibOf(drv.idleRSS), mibOf(peak))
	return errors.Join(benchErr, floor.clean(s))
}

func bench(s *settings, floor *floor, drv *driver, out io.Writer) error {
	fmt.Fprintf(out, "cephfs-bench: N=%d per round, %d round(s) per concurrency, volume size %d MiB, group %s, instance %s\n",
		s.n, s.rounds, s.size>>20, s.group, s.instance)
	fmt.Fprintf(out, "%-7s %-3s %-5s %-7s %9s %9s %9s %9s\n", "target", "C", "round", "op", "ops/s", "p50 ms", "p95 ms", "p99 ms")
	for _, c := range s.concurrency {
		var creates, deletes []float64
		for r := 1; r <= s.rounds; r++ {
			// Even rounds measure the driver first, so that whatever the
			// previous phases leave behind weighs on both sides alike.
			res, err := benchRound(s, floor, drv, c, r, r%2 == 0)
			if err != nil {
				return err
			}
			res.print(out, c, r)
			creates = append(creates, res.driverCreate.rate/res.floorCreate.rate)
			deletes = append(deletes, res.driverDelete.rate/res.floorRemove.rate)
		}
		fmt.Fprintf(out, "C=%d driver/floor: create %.2f, delete %.2f (medians of create %s; delete %s)\n",
			c, benchstat.Median(creates), benchstat.Median(deletes), benchstat.List(creates), benchstat.List(deletes))
	}
	return nil
}

// roundResult is one round's four phases.
type roundResult struct {
	floorCreate, floorRemove, driverCreate, driverDelete stats
}

func (r *roundResult) print(out io.Writer, c, round int) {
	for _, p := range []struct {
		target, op string
		st         stats
	}{{"floor", "create", r.floorCreate}, {"floor", "remove", r.floorRemove}, {"driver", "create", r.driverCreate}, {"driver", "delete", r.driverDelete}} {
		fmt.Fprintf(out, "%-7s %-3d %-5d %-7s %9.1f %9.1f %9.1f %9.1f\n", p.target, c, round, p.op, p.st.rate, p.st.p(50), p.st.p(95), p.st.p(99))
	}
}

// benchRound measures the floor's and the driver's create and delete
// phases at concurrency c, each after the cluster has gone quiet.
func benchRound(s *settings, floor *floor, drv *driver, c, r int, driverFirst bool) (*roundResult, error) {
	res := &roundResult{}
	floorSide := func() (err error) {
		floor.waitQuiet(s)
		name := func(i int) string { return fmt.Sprintf("floor-%d-%d-%d", c, r, i) }
		if res.floorCreate, err = round(c, s.n, func(i int) error { return floor.create(s, name(i)) }); err != nil {
			return err
		}
		res.floorRemove, err = round(c, s.n, func(i int) error { return floor.remove(s, name(i)) })
		return err
	}
	driverSide := func() (err error) {
		floor.waitQuiet(s)
		ids := make([]string, s.n)
		res.driverCreate, err = round(c, s.n, func(i int) (err error) {
			ids[i], err = drv.create(s, fmt.Sprintf("bench-%d-%d-%d", c, r, i))
			return err
		})
		if err != nil {
			return err
		}
		res.driverDelete, err = round(c, s.n, func(i int) error { return drv.delete(s, ids[i]) })
		return err
	}
	first, second := floorSide, driverSide
	if driverFirst {
		first, second = driverSide, floorSide
	}
	if err := first(); err != nil {
		return nil, err
	}
	return res, second()
}

// stats of one round.
type stats struct {
	rate float64
	lat  []time.Duration
}

func (s stats) p(q int) float64 {
	if len(s.lat) == 0 {
		return 0
	}
	i := (len(s.lat)*q + 99) / 100
	return float64(s.lat[min(max(i-1, 0), len(s.lat)-1)]) / float64(time.Millisecond)
}

// round runs op(0..n-1) on c workers and measures it.
func round(c, n int, op func(int) error) (stats, error) {
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				errs[i] = op(i)
				lat[i] = time.Since(t)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return stats{rate: float64(n) / elapsed.Seconds(), lat: lat}, errors.Join(errs...)
}

// floor is the bare go-ceph baseline.
type floor struct {
	pool  *cephconn.Pool
	conn  *cephconn.Conn
	admin *cephfs.Admin
	store *cephconn.ObjectStore
}

func openFloor(s *settings) (*floor, error) {
	pool := cephconn.NewPool(cephconn.Options{CommandTimeout: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pool.Get(ctx, cephconn.Target{ClusterID: s.fsid, Monitors: s.monitors, Creds: s.creds})
	if err != nil {
		pool.Close()
		return nil, err
	}
	f := &floor{pool: pool, conn: conn, admin: cephfs.New(conn.Conn)}
	fss, err := f.admin.FileSystems(ctx)
	if err != nil {
		f.close()
		return nil, err
	}
	for _, fs := range fss {
		if fs.Name == s.fsName {
			f.store, err = cephconn.NewObjectStore(conn.Conn, fs.MetadataPool, clusterconfig.DefaultCephFSRadosNamespace)
		}
	}
	if f.store == nil || err != nil {
		f.close()
		return nil, fmt.Errorf("file system %q: %v", s.fsName, err)
	}
	// Both sides find the group in place.
	return f, f.admin.CreateGroup(ctx, s.fsName, s.group)
}

func (f *floor) ref(s *settings, name string) backend.SubvolumeRef {
	return backend.SubvolumeRef{FS: s.fsName, Group: s.group, Name: name}
}

func (f *floor) create(s *settings, name string) error {
	return f.admin.CreateSubvolume(context.Background(), f.ref(s, name), backend.CreateOptions{Size: s.size})
}

func (f *floor) remove(s *settings, name string) error {
	return f.admin.RemoveSubvolume(context.Background(), f.ref(s, name), false)
}

// waitQuiet waits until the mgr's volumes module answers a cheap command
// fast three times in a row: the trash of removed subvolumes is purged in
// the background and competes with the next round for the module's lock.
func (f *floor) waitQuiet(s *settings) {
	deadline := time.Now().Add(2 * time.Minute)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); {
		t := time.Now()
		if _, err := f.admin.ListSubvolumes(context.Background(), s.fsName, s.group); err != nil {
			return
		}
		if time.Since(t) < 10*time.Millisecond {
			quiet++
		} else {
			quiet = 0
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// clean checks that the group and the journal are empty, then removes
// them.
func (f *floor) clean(s *settings) error {
	ctx := context.Background()
	subs, err := f.admin.ListSubvolumes(ctx, s.fsName, s.group)
	if err != nil || len(subs) > 0 {
		return fmt.Errorf("group %s not empty: %v %v", s.group, subs, err)
	}
	for _, d := range []string{"csi.volumes." + s.instance, "csi.snaps." + s.instance} {
		keys, err := f.store.ListOmap(ctx, d, "")
		if err != nil && !errors.Is(err, journal.ErrObjectNotFound) {
			return err
		}
		if len(keys) > 0 {
			return fmt.Errorf("journal %s not empty: %d keys", d, len(keys))
		}
		if err := f.store.Remove(ctx, d); err != nil {
			return err
		}
	}
	return f.admin.RemoveGroup(ctx, s.fsName, s.group)
}

func (f *floor) close() {
	if f.store != nil {
		f.store.Destroy()
	}
	f.conn.Release()
	f.pool.Close()
}

// driver is the spawned cephfs-driver.
type driver struct {
	cmd     *exec.Cmd
	conn    *grpc.ClientConn
	ctrl    csi.ControllerClient
	idleRSS int64
}

func startDriver(s *settings) (*driver, error) {
	config := filepath.Join(s.work, "config.json")
	data, _ := json.Marshal([]clusterconfig.Cluster{{ClusterID: s.fsid, Monitors: s.monitors,
		CephFS: clusterconfig.CephFSConfig{SubvolumeGroup: s.group, RadosNamespace: clusterconfig.DefaultCephFSRadosNamespace}}})
	if err := os.WriteFile(config, data, 0o600); err != nil {
		return nil, err
	}
	socket := filepath.Join(s.work, "csi.sock")
	cmd := exec.Command(s.driver, "--mode=controller", "--endpoint=unix://"+socket, "--cluster-config="+config,
		"--instance-id="+s.instance, "--log-level=warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &driver{cmd: cmd}
	if err := waitSocket(socket); err != nil {
		d.stop()
		return nil, err
	}
	time.Sleep(500 * time.Millisecond) // settle before measuring idle memory
	d.idleRSS, _ = d.memory("VmRSS")
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		d.stop()
		return nil, err
	}
	d.conn, d.ctrl = conn, csi.NewControllerClient(conn)
	return d, nil
}

func waitSocket(path string) error {
	for range 200 {
		if fi, err := os.Stat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("driver socket %s did not appear", path)
}

func (d *driver) secrets(s *settings) map[string]string {
	return map[string]string{"adminID": s.creds.ID, "adminKey": s.creds.Key}
}

func (d *driver) create(s *settings, name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := d.ctrl.CreateVolume(ctx, &csi.CreateVolumeRequest{Name: name, CapacityRange: &csi.CapacityRange{RequiredBytes: s.size},
		VolumeCapabilities: []*csi.VolumeCapability{{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
			AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}},
		Parameters: map[string]string{"clusterID": s.fsid, "fsName": s.fsName}, Secrets: d.secrets(s)})
	return resp.GetVolume().GetVolumeId(), err
}

func (d *driver) delete(s *settings, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := d.ctrl.DeleteVolume(ctx, &csi.DeleteVolumeRequest{VolumeId: id, Secrets: d.secrets(s)})
	return err
}

// memory reads a field of /proc/<pid>/status, in bytes.
func (d *driver) memory(field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, d.cmd.Process.Pid)
}

func (d *driver) stop() {
	if d.conn != nil {
		d.conn.Close()
	}
	_ = d.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
}

func mibOf(b int64) float64 { return float64(b) / (1 << 20) }
