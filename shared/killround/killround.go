// Package killround is the random-kill tier both drivers' reliability tests
// share: a burst of mutating CSI requests is sent to a real driver process,
// which is killed with SIGKILL at an instant drawn from a seed (not at a
// named step: anywhere, inside librbd, libcephfs or a mgr command); then a
// fresh process receives every request of the burst again, each repeated
// while it answers a retryable code, and every one must succeed within a
// stated bound. The drivers' tests build the requests, restart the process
// and check that the cluster is back to its starting state.
//
// The environment chooses the size of a run:
//
//	KILL_ROUNDS    rounds (bursts, kills and replays); default per test
//	KILL_SEED      the seed of round 0 (round i uses seed+i); default the clock
//	KILL_AT        comma-separated kill instants (e.g. 400ms,1s,2s), cycled
//	               through the rounds instead of drawn from the seed
//	KILL_KINDS     comma-separated burst kinds (creates, deletes, mixed),
//	               cycled through the rounds; default all three
//
// Every round logs its seed, kind and kill instant: KILL_SEED=<seed>
// KILL_ROUNDS=1 KILL_KINDS=<kind> repeats its schedule.
package killround

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Burst kinds.
const (
	Creates = "creates"
	Deletes = "deletes"
	Mixed   = "mixed"
)

// Op is one request of a burst. Call returns the ID it answered ("" for a
// delete or an expansion).
type Op struct {
	Name string
	Call func(ctx context.Context, c csi.ControllerClient) (string, error)
}

// Round is one round's schedule.
type Round struct {
	Index int
	Seed  int64
	Kind  string
	// KillAfter is when, after the burst began, the driver is killed.
	KillAfter time.Duration
	Rand      *rand.Rand
}

func (r Round) String() string {
	return fmt.Sprintf("round %d: seed %d, %s burst, kill after %s", r.Index, r.Seed, r.Kind, r.KillAfter)
}

// Schedule is a run's rounds, from the environment.
type Schedule struct {
	Rounds []Round
}

// Plan reads the environment (see the package documentation); rounds is
// the default of KILL_ROUNDS, and kill instants are drawn from
// [minKill, maxKill).
func Plan(t testing.TB, rounds int, minKill, maxKill time.Duration) Schedule {
	t.Helper()
	if v := os.Getenv("KILL_ROUNDS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("KILL_ROUNDS=%q: want a positive number", v)
		}
		rounds = n
	}
	seed := time.Now().UnixNano() % 1_000_000_000
	if v := os.Getenv("KILL_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("KILL_SEED=%q: want a number", v)
		}
		seed = n
	}
	at := durations(t, os.Getenv("KILL_AT"))
	kinds := []string{Mixed, Creates, Deletes}
	if v := os.Getenv("KILL_KINDS"); v != "" {
		kinds = strings.Split(v, ",")
		for _, k := range kinds {
			if k != Creates && k != Deletes && k != Mixed {
				t.Fatalf("KILL_KINDS: unknown kind %q (creates, deletes, mixed)", k)
			}
		}
	}
	t.Logf("kill tier: %d rounds from seed %d (repeat with KILL_SEED=%d)", rounds, seed, seed)
	var s Schedule
	for i := 0; i < rounds; i++ {
		r := Round{Index: i, Seed: seed + int64(i), Kind: kinds[i%len(kinds)]}
		r.Rand = rand.New(rand.NewSource(r.Seed))
		r.KillAfter = minKill + time.Duration(r.Rand.Int63n(int64(maxKill-minKill)))
		if len(at) > 0 {
			r.KillAfter = at[(i/len(kinds))%len(at)]
		}
		s.Rounds = append(s.Rounds, r)
	}
	return s
}

func durations(t testing.TB, v string) []time.Duration {
	t.Helper()
	var out []time.Duration
	for _, f := range strings.Split(v, ",") {
		if f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil || d < 0 {
			t.Fatalf("KILL_AT: %q is not a duration", f)
		}
		out = append(out, d)
	}
	return out
}

// Shuffle puts s in the round's random order.
func Shuffle[T any](r Round, s []T) {
	r.Rand.Shuffle(len(s), func(i, k int) { s[i], s[k] = s[k], s[i] })
}

// BurstResult is what the killed burst did.
type BurstResult struct {
	// Succeeded counts the requests that succeeded before the kill.
	Succeeded int
	// InFlight counts the requests in flight when the driver was killed
	// (0: the burst had ended before the kill instant).
	InFlight int
	// Took is how long the burst ran, until its last request ended.
	Took time.Duration
}

// rpcTimeout bounds one call of a burst or a replay.
const rpcTimeout = 2 * time.Minute

// burst is a running burst.
type burst struct {
	mu       sync.Mutex
	res      BurstResult
	inFlight int
	killed   bool
}

// Burst sends ops at the given concurrency, repeating a request answered
// Aborted (as a CO would; per-ID locks answer it while another request on
// the same volume runs) until the kill, and calls kill after r.KillAfter.
// Requests cut off by the kill fail with Unavailable, which is expected.
// It returns once every request has ended.
func Burst(c csi.ControllerClient, ops []Op, concurrency int, r Round, kill func()) BurstResult {
	b := &burst{}
	began := time.Now()
	work := make(chan Op)
	var wg sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for op := range work {
				b.send(c, op)
			}
		}()
	}
	timer := time.AfterFunc(r.KillAfter, func() {
		b.mu.Lock()
		b.killed, b.res.InFlight = true, b.inFlight
		b.mu.Unlock()
		kill()
	})
	for _, op := range ops {
		work <- op
	}
	close(work)
	wg.Wait()
	b.res.Took = time.Since(began)
	if timer.Stop() {
		kill() // the burst ended before the instant: kill the idle driver now
	}
	return b.res
}

func (b *burst) send(c csi.ControllerClient, op Op) {
	b.mu.Lock()
	b.inFlight++
	b.mu.Unlock()
	defer func() { b.mu.Lock(); b.inFlight--; b.mu.Unlock() }()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		_, err := op.Call(ctx, c)
		cancel()
		b.mu.Lock()
		killed := b.killed
		if err == nil && !killed {
			b.res.Succeeded++
		}
		b.mu.Unlock()
		if status.Code(err) != codes.Aborted || killed {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Retryable are the codes a replayed request is always repeated on: work
// still in progress (Aborted), a driver or cluster not ready
// (Unavailable), a call that ran out of time (DeadlineExceeded).
var Retryable = []codes.Code{codes.Aborted, codes.Unavailable, codes.DeadlineExceeded}

// ReplayStats describe a replay.
type ReplayStats struct {
	// Slowest is the longest time one op took to succeed, SlowestOp its
	// name and SlowestErr the last error it was retried on.
	Slowest    time.Duration
	SlowestOp  string
	SlowestErr error
}

func (s ReplayStats) String() string {
	if s.SlowestErr == nil {
		return fmt.Sprintf("slowest %s", s.Slowest.Round(time.Millisecond))
	}
	return fmt.Sprintf("slowest %s: %s, retried on %v", s.Slowest.Round(time.Millisecond), s.SlowestOp, s.SlowestErr)
}

// Replay sends every op again at the given concurrency, repeating each
// while it answers a retryable code, and returns the IDs answered (by op
// index). An op that answers another error, or still a retryable one after
// bound, fails the test. Codes in also are repeated too (a driver's test
// names them with the reason).
func Replay(t testing.TB, c csi.ControllerClient, ops []Op, concurrency int, bound time.Duration, also ...codes.Code) ([]string, ReplayStats) {
	t.Helper()
	ids := make([]string, len(ops))
	var mu sync.Mutex
	var st ReplayStats
	var wg sync.WaitGroup
	sem := make(chan struct{}, concurrency)
	for i, op := range ops {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res, err := converge(c, op, bound, also...)
			mu.Lock()
			defer mu.Unlock()
			ids[i] = res.id
			if res.took > st.Slowest {
				st = ReplayStats{Slowest: res.took, SlowestOp: op.Name, SlowestErr: res.last}
			}
			if err != nil {
				t.Errorf("replay of %s: %v", op.Name, err)
			}
		}()
	}
	wg.Wait()
	return ids, st
}

// converged is how one op's replay went.
type converged struct {
	id   string
	took time.Duration
	// last is the last error the op was repeated on.
	last error
}

// converge repeats op while it answers a code of Retryable or also, up to
// bound.
func converge(c csi.ControllerClient, op Op, bound time.Duration, also ...codes.Code) (converged, error) {
	retry := append(slices.Clone(Retryable), also...)
	began := time.Now()
	var res converged
	for tries := 1; ; tries++ {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		id, err := op.Call(ctx, c)
		cancel()
		res.took = time.Since(began)
		switch {
		case err == nil:
			res.id = id
			return res, nil
		case !slices.Contains(retry, status.Code(err)):
			return res, fmt.Errorf("answered %v", err)
		case res.took > bound:
			return res, fmt.Errorf("still answered %v after %d tries in %s (bound %s)", err, tries,
				res.took.Round(time.Millisecond), bound)
		}
		res.last = err
		time.Sleep(250 * time.Millisecond)
	}
}
