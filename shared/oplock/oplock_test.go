package oplock

import (
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

var (
	volA  = Key{Kind: KindVolumeID, ID: "a"}
	volB  = Key{Kind: KindVolumeID, ID: "b"}
	nameA = Key{Kind: KindVolumeName, ID: "a"}
	snapA = Key{Kind: KindSnapshotID, ID: "a"}
)

func TestTryAcquire(t *testing.T) {
	tests := []struct {
		name     string
		held     []Key
		try      []Key
		wantOK   bool
		wantHeld []Key
		wantFree []Key
	}{
		{"free key", nil, []Key{volA}, true, []Key{volA}, []Key{volB}},
		{"held key", []Key{volA}, []Key{volA}, false, []Key{volA}, nil},
		{"other ID", []Key{volA}, []Key{volB}, true, []Key{volA, volB}, nil},
		{"same ID, other kind", []Key{volA}, []Key{nameA, snapA}, true, []Key{volA, nameA, snapA}, nil},
		{"no keys", []Key{volA}, nil, true, []Key{volA}, []Key{volB}},
		{"duplicate keys", nil, []Key{volA, volA}, true, []Key{volA}, nil},
		{"all or none", []Key{volB}, []Key{volA, volB}, false, []Key{volB}, []Key{volA}},
		{"all or none, conflict first", []Key{volA}, []Key{volA, nameA}, false, []Key{volA}, []Key{nameA}},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Locks // the zero value is usable

			if _, ok := l.TryAcquire(tt.held...); !ok {
				t.Fatalf("setup: TryAcquire(%v) failed", tt.held)
			}

			release, ok := l.TryAcquire(tt.try...)
			if ok != tt.wantOK || (release != nil) != ok {
				t.Fatalf("TryAcquire(%v) = release %t, %t; want %t", tt.try, release != nil, ok, tt.wantOK)
			}

			checkHeld(t, &l, tt.wantHeld, true)
			checkHeld(t, &l, tt.wantFree, false)
		})
	}
}

func checkHeld(t *testing.T, l *Locks, keys []Key, want bool) {
	t.Helper()

	for _, k := range keys {
		if got := l.Held(k); got != want {
			t.Errorf("Held(%v) = %t; want %t", k, got, want)
		}
	}
}

func TestRelease(t *testing.T) {
	l := New()

	release, ok := l.TryAcquire(volA, volB)
	if !ok {
		t.Fatal("TryAcquire failed on an empty Locks")
	}

	release()
	checkHeld(t, l, []Key{volA, volB}, false)

	// A second holder takes the key; the first release must not free it.
	release2, ok := l.TryAcquire(volA)
	if !ok {
		t.Fatal("TryAcquire failed after release")
	}

	release()
	checkHeld(t, l, []Key{volA}, true)

	release2()
	release2()
	checkHeld(t, l, []Key{volA}, false)
}

func TestReleaseDuplicateKeys(t *testing.T) {
	l := New()

	release, ok := l.TryAcquire(volA, volA, volB)
	if !ok {
		t.Fatal("TryAcquire with duplicates failed")
	}

	release()
	checkHeld(t, l, []Key{volA, volB}, false)
}

func TestAcquire(t *testing.T) {
	tests := []struct {
		name    string
		held    []Key
		try     []Key
		wantErr string
	}{
		{"free", nil, []Key{volA}, ""},
		{"held", []Key{volA}, []Key{volA}, `an operation on volume-id "a" is already in progress`},
		{"second key held", []Key{volB}, []Key{nameA, volB}, `an operation on volume-id "b" is already in progress`},
		{"target path", []Key{{KindTargetPath, "/mnt/x"}}, []Key{{KindTargetPath, "/mnt/x"}},
			`an operation on target-path "/mnt/x" is already in progress`},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New()
			if _, err := l.Acquire(tt.held...); err != nil {
				t.Fatalf("setup: Acquire(%v) = %v", tt.held, err)
			}

			release, err := l.Acquire(tt.try...)
			if tt.wantErr == "" {
				if err != nil || release == nil {
					t.Fatalf("Acquire(%v) = %v", tt.try, err)
				}

				release()

				return
			}

			st, _ := status.FromError(err)
			if release != nil || st.Code() != codes.Aborted || st.Message() != tt.wantErr {
				t.Fatalf("Acquire(%v) = release %t, %v; want code Aborted, message %q",
					tt.try, release != nil, err, tt.wantErr)
			}
		})
	}
}

// TestMutualExclusion checks under -race that no two goroutines are ever
// inside a critical section for the same key, with overlapping key sets.
func TestMutualExclusion(t *testing.T) {
	const (
		workers    = 16
		iterations = 2000
	)

	keys := []Key{volA, volB, nameA}
	sets := [][]Key{{volA}, {volA, volB}, {volB, nameA}, {nameA, volA}}

	var (
		l  Locks
		c  exclusionCounters
		wg sync.WaitGroup
	)

	index := func(k Key) int {
		for i, kk := range keys {
			if kk == k {
				return i
			}
		}

		panic("unknown key")
	}

	for w := range workers {
		wg.Go(func() {
			exclusionWorker(&l, &c, sets[w%len(sets)], index, iterations)
		})
	}

	wg.Wait()

	if n := c.overlaps.Load(); n > 0 {
		t.Fatalf("%d times more than one goroutine was inside the critical section for a key", n)
	}

	if c.acquired.Load() == 0 {
		t.Fatal("no goroutine ever acquired its keys")
	}

	checkHeld(t, &l, keys, false)
}

// exclusionCounters is what TestMutualExclusion's workers count.
type exclusionCounters struct {
	inside   [3]atomic.Int32 // goroutines inside the critical section, per key index
	overlaps atomic.Int64    // times a goroutine entered a key's section already occupied
	acquired atomic.Int64    // successful TryAcquire calls
}

// exclusionWorker tries iterations times to take set on l; each time it
// gets it, it enters and leaves the critical section of every key in set,
// counting into c. index maps a key to its slot in c.inside.
func exclusionWorker(l *Locks, c *exclusionCounters, set []Key, index func(Key) int, iterations int) {
	for range iterations {
		release, ok := l.TryAcquire(set...)
		if !ok {
			continue
		}

		c.acquired.Add(1)

		for _, k := range set {
			if c.inside[index(k)].Add(1) > 1 {
				c.overlaps.Add(1)
			}
		}

		for _, k := range set {
			c.inside[index(k)].Add(-1)
		}

		release()
	}
}

// TestNoPartialAcquisition checks under contention that a failed multi-key
// TryAcquire never leaves one of its keys held.
func TestNoPartialAcquisition(t *testing.T) {
	var (
		l  Locks
		wg sync.WaitGroup
	)

	stop := make(chan struct{})

	// One goroutine flips volB between held and free.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}

			if release, ok := l.TryAcquire(volB); ok {
				release()
			}
		}
	})

	for range 5000 {
		release, ok := l.TryAcquire(volA, volB)
		if ok {
			release()

			continue
		}

		// volA is only ever taken together with volB, by this goroutine.
		if l.Held(volA) {
			close(stop)
			t.Fatal("failed TryAcquire left volA held")
		}
	}

	close(stop)
	wg.Wait()
}
