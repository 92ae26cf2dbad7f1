package auth

import (
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

func newReplayTestCache(max int) (*MemoryReplayCache, *replayClock) {
	clk := &replayClock{t: mwTestNow}
	c := NewReplayCache(max)
	c.now = clk.now
	return c, clk
}

// seen is Begin reduced to whether the id was recorded already.
func seen(c *MemoryReplayCache, id string, until time.Time) bool {
	return c.Begin(id, until) != ReplayNew
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
	step("first Begin", c.Begin("a", until), ReplayNew)
	step("Begin while running", c.Begin("a", until), ReplayRunning)
	c.Finish("a", true)
	step("Begin once handled", c.Begin("a", until), ReplayDone)
	c.Finish("a", true) // a second Finish changes nothing
	step("Begin after a second Finish", c.Begin("a", until), ReplayDone)

	step("first Begin of b", c.Begin("b", until), ReplayNew)
	c.Finish("b", false)
	step("Begin after a failure", c.Begin("b", until), ReplayNew)
	step("Begin while b runs again", c.Begin("b", until), ReplayRunning)

	c.Finish("missing", true) // not recorded: nothing to do
	step("Begin of an id finished but never begun", c.Begin("missing", until), ReplayNew)

	// Done keeps the expiry that Begin set.
	clk.add(time.Minute)
	step("Begin of a once expired", c.Begin("a", until.Add(time.Minute)), ReplayNew)
	for s, want := range map[ReplayState]string{ReplayNew: "new", ReplayRunning: "running", ReplayDone: "done", 7: "ReplayState(7)"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}

func TestReplayCacheFinishFailed(t *testing.T) {
	c, _ := newReplayTestCache(10)
	until := mwTestNow.Add(time.Minute)
	for _, id := range []string{"a", "b", "c", "d"} {
		seen(c, id, until)
	}
	c.Finish("b", false)
	c.Finish("missing", false)
	if seen(c, "b", until) {
		t.Fatal("b seen after a failed Finish")
	}
	for _, id := range []string{"a", "c", "d"} {
		if !seen(c, id, until) {
			t.Errorf("%s lost by Finish(b, false)", id)
		}
	}
	// The heap indexes stay consistent: every entry is where it says.
	for i, e := range c.exp {
		if e.index != i || c.ids[e.id] != e {
			t.Fatalf("heap entry %d inconsistent: %+v", i, e)
		}
	}
}

func TestReplayCacheZeroValueAndDefaults(t *testing.T) {
	var c MemoryReplayCache
	if seen(&c, "a", time.Now().Add(time.Minute)) || !seen(&c, "a", time.Now().Add(time.Minute)) {
		t.Fatal("zero MemoryReplayCache does not remember")
	}
	if got := NewReplayCache(-1).limit(); got != DefaultReplayCacheSize {
		t.Fatalf("NewReplayCache(-1) holds %d, want %d", got, DefaultReplayCacheSize)
	}
	var _ ReplayCache = (*MemoryReplayCache)(nil)
}

func TestReplayCacheConcurrent(t *testing.T) {
	until := time.Now().Add(time.Minute)
	t.Run("one winner per id", func(t *testing.T) {
		c := NewReplayCache(0)
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
		c := NewReplayCache(50)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				for i := range 500 {
					seen(c, strconv.Itoa(g*1000+i), until)
					if i%10 == 0 {
						c.Finish(strconv.Itoa(g*1000+i-1), i%20 == 0)
					}
				}
			})
		}
		wg.Wait()
		if c.Len() > 50 {
			t.Fatalf("Len = %d over the bound", c.Len())
		}
	})
}
