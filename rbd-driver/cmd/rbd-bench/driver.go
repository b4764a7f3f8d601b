package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// driverProc is the driver under test.
type driverProc struct {
	pid      int
	endpoint string
	cmd      *exec.Cmd
	dir      string
}

// spawnDriver starts the driver in controller mode on a socket of a fresh
// directory and waits for the socket.
func spawnDriver(ctx context.Context, o *options, env *clusterEnv) (*driverProc, error) {
	dir, err := os.MkdirTemp("", "rbd-bench-")
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "csi.sock")
	args := []string{"--mode=controller", "--endpoint=unix://" + sock, "--cluster-config=" + env.csiConfig,
		"--instance-id=bench", "--log-level=warn", "--log-format=console"}
	if o.memoryLimit != "" {
		args = append(args, "--memory-limit="+o.memoryLimit)
	}
	cmd := exec.CommandContext(ctx, o.driver, args...)
	logFile, err := os.Create(filepath.Join(dir, "driver.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.driver, err)
	}
	d := &driverProc{pid: cmd.Process.Pid, endpoint: "unix://" + sock, cmd: cmd, dir: dir}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			time.Sleep(200 * time.Millisecond) // let the runtime settle for the idle figure
			return d, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.stop()
	return nil, fmt.Errorf("the driver did not create %s; see %s/driver.log", sock, dir)
}

// stop terminates a spawned driver.
func (d *driverProc) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = d.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = d.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(d.dir)
	d.cmd = nil
}

// status reads a kB field of /proc/<pid>/status, in bytes.
func (d *driverProc) status(field string) int64 {
	if d.pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (d *driverProc) rss() int64 { return d.status("VmRSS") }

// cpu returns the CPU time (user + system) process pid has used.
func cpu(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime and stime are fields 14 and 15, in clock ticks (100 Hz).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	k, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+k) * 10 * time.Millisecond
}

// sampler records the peak RSS while it runs.
type sampler struct {
	d     *driverProc
	stopc chan struct{}
	wg    sync.WaitGroup
	peak  int64
}

func (d *driverProc) sample(every time.Duration) *sampler {
	s := &sampler{d: d, stopc: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if r := d.rss(); r > s.peak {
				s.peak = r
			}
			select {
			case <-s.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// stop ends sampling and returns the sampled peak RSS and VmHWM.
func (s *sampler) stop() (peak, hwm int64) {
	close(s.stopc)
	s.wg.Wait()
	return s.peak, s.d.status("VmHWM")
}
