package auth

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// replayClock is a settable clock for the replay cache.
type replayClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *replayClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *replayClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newReplayTestCache(max int) (*memoryReplayCache, *replayClock) {
	clk := &replayClock{t: mwTestNow}
	c := newMemoryReplayCache(max)
	c.now = clk.now
	return c, clk
}

// seen is Begin of a request handled at once, reduced to whether the id
// was recorded already.
func seen(c *memoryReplayCache, id string, until time.Time) bool {
	state, finish := c.Begin(id, until)
	if finish != nil {
		finish(true)
	}
	return state != ReplayNew
}

// begin is Begin reduced to its state, for tests that keep the id running.
func begin(c *memoryReplayCache, id string, until time.Time) ReplayState {
	state, _ := c.Begin(id, until)
	return state
}

func TestReplayCacheSeen(t *testing.T) {
	c, clk := newReplayTestCache(10)
	until := mwTestNow.Add(time.Minute)
	if seen(c, "a", until) {
		t.Fatal("first Seen(a) = true")
	}
	if !seen(c, "a", until) {
		t.Fatal("second Seen(a) = false")
	}
	if seen(c, "b", until) {
		t.Fatal("Seen(b) = true: ids mixed up")
	}
	clk.add(59 * time.Second)
	if !seen(c, "a", until) {
		t.Fatal("a forgotten before it expired")
	}
	clk.add(time.Second)
	if seen(c, "a", mwTestNow.Add(2*time.Minute)) {
		t.Fatal("a still seen at its expiry")
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d after expiry sweep, want 1 (the new a)", c.Len())
	}
	// An id whose time has already passed is not recorded.
	if seen(c, "past", clk.now()) || seen(c, "past", clk.now()) {
		t.Fatal("an already expired id was recorded")
	}
}

func TestReplayCacheBound(t *testing.T) {
	c, _ := newReplayTestCache(3)
	// Expiries out of insertion order: the soonest to expire go first.
	for i, d := range []time.Duration{5, 1, 4, 2, 3} {
		seen(c, "id"+strconv.Itoa(i), mwTestNow.Add(d*time.Minute))
		if c.Len() > 3 {
			t.Fatalf("Len = %d after %d inserts, bound is 3", c.Len(), i+1)
		}
	}
	// Kept: the three latest expiries, id0 (5m), id2 (4m), id4 (3m).
	for id, want := range map[string]bool{"id0": true, "id2": true, "id4": true} {
		if got := seen(c, id, mwTestNow.Add(time.Hour)); got != want {
			t.Errorf("Seen(%s) = %v, want %v", id, got, want)
		}
	}
	if seen(c, "id1", mwTestNow.Add(10*time.Minute)) {
		t.Error("id1, the first to expire, was not evicted")
	}
	if c.Len() != 3 {
		t.Errorf("Len = %d, want 3", c.Len())
	}
}

func TestReplayCacheBoundUnderFlood(t *testing.T) {
	c, clk := newReplayTestCache(100)
	for i := range 10_000 {
		clk.add(time.Millisecond)
		seen(c, strconv.Itoa(i), clk.now().Add(time.Minute))
	}
	if c.Len() != 100 || len(c.exp) != 100 {
		t.Fatalf("Len = %d, heap %d, want 100", c.Len(), len(c.exp))
	}
	// The most recent ids survive.
	if !seen(c, "9999", clk.now().Add(time.Minute)) {
		t.Error("the latest id was evicted")
	}
}

func TestReplayCacheStates(t *testing.T) {
	c, clk := newReplayTestCache(10)
	until := mwTestNow.Add(time.Minute)
	step := func(what string, got, want ReplayState) {
		t.Helper()
		if got != want {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
	}
	state, finishA := c.Begin("a", until)
	step("first Begin", state, ReplayNew)
	if state, finish := c.Begin("a", until); state != ReplayRunning || finish != nil {
		t.Fatalf("Begin while running: %v with finish %v, want running and no finish", state, finish != nil)
	}
	finishA(true)
	step("Begin once handled", begin(c, "a", until), ReplayDone)
	finishA(false) // a second finish changes nothing
	step("Begin after a second finish", begin(c, "a", until), ReplayDone)

	state, finishB := c.Begin("b", until)
	step("first Begin of b", state, ReplayNew)
	finishB(false)
	step("Begin after a failure", begin(c, "b", until), ReplayNew)
	step("Begin while b runs again", begin(c, "b", until), ReplayRunning)

	// Done keeps the expiry that Begin set.
	clk.add(time.Minute)
	step("Begin of a once expired", begin(c, "a", until.Add(time.Minute)), ReplayNew)
	for s, want := range map[ReplayState]string{ReplayNew: "new", ReplayRunning: "running", ReplayDone: "done", 7: "ReplayState(7)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestReplayCacheFinishFailed(t *testing.T) {
	c, _ := newReplayTestCache(10)
	until := mwTestNow.Add(time.Minute)
	for _, id := range []string{"a", "c", "d"} {
		seen(c, id, until)
	}
	_, finishB := c.Begin("b", until)
	finishB(false)
	if seen(c, "b", until) {
		t.Fatal("b seen after a failed finish")
	}
	for _, id := range []string{"a", "c", "d"} {
		if !seen(c, id, until) {
			t.Errorf("%s lost by b's failed finish", id)
		}
	}
	// The heap indexes stay consistent: every entry is where it says.
	for i, e := range c.exp {
		if e.index != i || c.ids[e.id] != e {
			t.Fatalf("heap entry %d inconsistent: %+v", i, e)
		}
	}
}

// A finish touches only the entry its own Begin made: a request that
// failed and finishes again, late, must not drop the entry of the retry
// that is running now, or a third copy would run alongside it.
func TestReplayCacheStaleFinish(t *testing.T) {
	c, _ := newReplayTestCache(10)
	until := mwTestNow.Add(time.Minute)
	_, finishFirst := c.Begin("x", until)
	finishFirst(false)
	state, finishRetry := c.Begin("x", until)
	if state != ReplayNew {
		t.Fatalf("retry after a failure: %v, want new", state)
	}
	finishFirst(false) // stale: its entry is gone
	if got := begin(c, "x", until); got != ReplayRunning {
		t.Fatalf("after a stale finish: %v, want running (the retry's entry kept)", got)
	}
	finishRetry(true)
	if got := begin(c, "x", until); got != ReplayDone {
		t.Fatalf("after the retry's finish: %v, want done", got)
	}
}

// Ids still running are never dropped: not to make room, not at their
// expiry. A cache full of running ids answers ReplayRunning, recording
// nothing, until one finishes.
func TestReplayCacheKeepsRunning(t *testing.T) {
	c, clk := newReplayTestCache(2)
	until := mwTestNow.Add(time.Minute)
	_, finishA := c.Begin("a", until)
	_, finishB := c.Begin("b", until)
	if state, finish := c.Begin("c", until); state != ReplayRunning || finish != nil {
		t.Fatalf("Begin(c) on a cache full of running ids: %v, want running with no finish", state)
	}
	if got := begin(c, "a", until); got != ReplayRunning {
		t.Fatalf("Begin(a) after the refused c: %v, want running (a kept)", got)
	}
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	// Past its expiry, a running id stays; finishing then drops it, as
	// a done entry would have expired already.
	clk.add(2 * time.Minute)
	if got := begin(c, "b", until); got != ReplayRunning {
		t.Fatalf("Begin(b) past its expiry while running: %v, want running", got)
	}
	finishB(true)
	if got := begin(c, "b", clk.now().Add(time.Minute)); got != ReplayNew {
		t.Fatalf("Begin(b) after a late finish: %v, want new", got)
	}
	finishA(true) // past its expiry too: dropped
	if c.Len() != 1 {
		t.Fatalf("Len = %d, want 1 (b running again)", c.Len())
	}
}

// To make room, a full cache drops the done id that expires first, never
// a running one, even one that expires sooner.
func TestReplayCacheEvictsDoneOnly(t *testing.T) {
	c, _ := newReplayTestCache(2)
	begin(c, "running", mwTestNow.Add(time.Minute))
	seen(c, "done", mwTestNow.Add(time.Hour))
	if got := begin(c, "new", mwTestNow.Add(time.Minute)); got != ReplayNew {
		t.Fatalf("Begin(new): %v, want new, the done id dropped for it", got)
	}
	if got := begin(c, "running", mwTestNow.Add(time.Minute)); got != ReplayRunning {
		t.Fatalf("Begin(running): %v, want running", got)
	}
	if got := begin(c, "done", mwTestNow.Add(time.Hour)); got != ReplayRunning {
		t.Fatalf("Begin(done) on a cache full of running ids: %v, want running (refused)", got)
	}
}

// Under real concurrency and a cache too small for the load, no id ever
// runs twice at once: many goroutines race on a few ids, each run holding
// its id a moment before finishing, some failing.
func TestReplayCacheConcurrentRunsNeverOverlap(t *testing.T) {
	c := newMemoryReplayCache(3)
	until := time.Now().Add(time.Hour)
	var running [6]atomic.Int32
	var runs, overlaps, busy atomic.Int32
	var wg sync.WaitGroup
	for g := range 12 {
		wg.Go(func() {
			for i := range 300 {
				n := (g + i) % len(running)
				state, finish := c.Begin("id"+strconv.Itoa(n), until)
				if state != ReplayNew {
					busy.Add(1)
					continue
				}
				runs.Add(1)
				if running[n].Add(1) != 1 {
					overlaps.Add(1)
				}
				runtime.Gosched()
				running[n].Add(-1)
				finish(i%3 != 0) // a third fail: their id may run again
			}
		})
	}
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("%d runs overlapped another run of the same id", overlaps.Load())
	}
	if runs.Load() == 0 || busy.Load() == 0 || c.Len() > 3 {
		t.Fatalf("runs %d, refused %d, Len %d: the test did not exercise the cache", runs.Load(), busy.Load(), c.Len())
	}
}

func TestReplayCacheZeroValueAndDefaults(t *testing.T) {
	var c memoryReplayCache
	if seen(&c, "a", time.Now().Add(time.Minute)) || !seen(&c, "a", time.Now().Add(time.Minute)) {
		t.Fatal("zero memoryReplayCache does not remember")
	}
	if got := newMemoryReplayCache(-1).limit(); got != defaultReplayCacheSize {
		t.Fatalf("NewReplayCache(-1) holds %d, want %d", got, defaultReplayCacheSize)
	}
	var _ ReplayCache = (*memoryReplayCache)(nil)
}

func TestReplayCacheConcurrent(t *testing.T) {
	until := time.Now().Add(time.Minute)
	t.Run("one winner per id", func(t *testing.T) {
		c := newMemoryReplayCache(0)
		var firsts atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 100 {
					if !seen(c, "shared", until) {
						firsts.Add(1)
					}
				}
			})
		}
		wg.Wait()
		if firsts.Load() != 1 {
			t.Fatalf("%d callers saw the shared id first, want 1", firsts.Load())
		}
	})
	t.Run("bounded under concurrent flood", func(t *testing.T) {
		c := newMemoryReplayCache(50)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				var pending []func(bool)
				for i := range 500 {
					if _, finish := c.Begin(strconv.Itoa(g*1000+i), until); finish != nil {
						pending = append(pending, finish)
					}
					if i%10 == 0 {
						for j, finish := range pending {
							finish(j%2 == 0)
						}
						pending = pending[:0]
					}
				}
				for _, finish := range pending {
					finish(true)
				}
			})
		}
		wg.Wait()
		if c.Len() > 50 {
			t.Fatalf("Len = %d over the bound", c.Len())
		}
	})
}
