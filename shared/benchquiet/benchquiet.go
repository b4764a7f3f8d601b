// Package benchquiet lets a benchmark on the local single-node cluster wait
// until the Ceph daemons are idle before a measured phase. After a pool
// deletion or a burst of removals the OSD keeps deleting objects and
// compacting its key-value store for a minute or more; whichever phase runs
// then is slowed, and a driver/floor ratio measured across such a phase says
// more about the cluster's backlog than about the driver.
package benchquiet

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Daemons are the process names whose CPU use is watched.
var Daemons = []string{"ceph-osd", "ceph-mon", "ceph-mgr", "ceph-mds"}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's CPU times (100 on
// every Linux architecture Ceph runs on).
const clockTicks = 100

// Options tune Wait. Zero values take the defaults.
type Options struct {
	// Threshold is the CPU share of one core, summed over the daemons,
	// under which a second counts as quiet (default 0.10).
	Threshold float64
	// Seconds is how many quiet seconds in a row are needed (default 3).
	Seconds int
	// Timeout bounds the wait (default 3 minutes).
	Timeout time.Duration
	// Proc is the proc file system (default /proc).
	Proc string
}

func (o Options) withDefaults() Options {
	if o.Threshold <= 0 {
		o.Threshold = 0.10
	}
	if o.Seconds <= 0 {
		o.Seconds = 3
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Minute
	}
	if o.Proc == "" {
		o.Proc = "/proc"
	}
	return o
}

// Wait returns once the daemons used less than Threshold of a core for
// Seconds seconds in a row, with how long it waited. Without any daemon
// process (a remote cluster) it returns at once. After Timeout it returns
// an error naming the last second's CPU use.
func Wait(o Options) (time.Duration, error) {
	o = o.withDefaults()
	start := time.Now()
	quiet := 0
	prev, ok := cpuTicks(o.Proc)
	if !ok {
		return 0, nil
	}
	for quiet < o.Seconds {
		time.Sleep(time.Second)
		cur, _ := cpuTicks(o.Proc)
		share := float64(cur-prev) / clockTicks
		prev = cur
		if share < o.Threshold {
			quiet++
		} else {
			quiet = 0
		}
		if quiet < o.Seconds && time.Since(start) > o.Timeout {
			return time.Since(start), fmt.Errorf("the Ceph daemons stayed busy (%.0f%% of a core) for %s", 100*share, o.Timeout)
		}
	}
	return time.Since(start), nil
}

// cpuTicks sums user and system CPU ticks of the daemon processes; ok is
// false when there is none.
func cpuTicks(proc string) (total int64, ok bool) {
	dirs, _ := filepath.Glob(filepath.Join(proc, "[0-9]*"))
	for _, dir := range dirs {
		comm, err := os.ReadFile(filepath.Join(dir, "comm"))
		if err != nil || !isDaemon(strings.TrimSpace(string(comm))) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		if t, good := statTicks(string(stat)); good {
			total += t
			ok = true
		}
	}
	return total, ok
}

func isDaemon(name string) bool {
	for _, d := range Daemons {
		if name == d {
			return true
		}
	}
	return false
}

// statTicks parses utime+stime out of a /proc/PID/stat line; the fields
// are counted after the command name's closing parenthesis.
func statTicks(stat string) (int64, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is the state (field 3); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return u + s, true
}
