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

func TestReplayCacheSeen(t *testing.T) {
	c, clk := newReplayTestCache(10)
	until := mwTestNow.Add(time.Minute)
	if c.Seen("a", until) {
		t.Fatal("first Seen(a) = true")
	}
	if !c.Seen("a", until) {
		t.Fatal("second Seen(a) = false")
	}
	if c.Seen("b", until) {
		t.Fatal("Seen(b) = true: ids mixed up")
	}
	clk.add(59 * time.Second)
	if !c.Seen("a", until) {
		t.Fatal("a forgotten before it expired")
	}
	clk.add(time.Second)
	if c.Seen("a", mwTestNow.Add(2*time.Minute)) {
		t.Fatal("a still seen at its expiry")
	}
	if c.Len() != 1 {
		t.Fatalf("Len = %d after expiry sweep, want 1 (the new a)", c.Len())
	}
	// An id whose time has already passed is not recorded.
	if c.Seen("past", clk.now()) || c.Seen("past", clk.now()) {
		t.Fatal("an already expired id was recorded")
	}
}

func TestReplayCacheBound(t *testing.T) {
	c, _ := newReplayTestCache(3)
	// Expiries out of insertion order: the soonest to expire go first.
	for i, d := range []time.Duration{5, 1, 4, 2, 3} {
		c.Seen("id"+strconv.Itoa(i), mwTestNow.Add(d*time.Minute))
		if c.Len() > 3 {
			t.Fatalf("Len = %d after %d inserts, bound is 3", c.Len(), i+1)
		}
	}
	// Kept: the three latest expiries, id0 (5m), id2 (4m), id4 (3m).
	for id, want := range map[string]bool{"id0": true, "id2": true, "id4": true} {
		if got := c.Seen(id, mwTestNow.Add(time.Hour)); got != want {
			t.Errorf("Seen(%s) = %v, want %v", id, got, want)
		}
	}
	if c.Seen("id1", mwTestNow.Add(10*time.Minute)) {
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
		c.Seen(strconv.Itoa(i), clk.now().Add(time.Minute))
	}
	if c.Len() != 100 || len(c.exp) != 100 {
		t.Fatalf("Len = %d, heap %d, want 100", c.Len(), len(c.exp))
	}
	// The most recent ids survive.
	if !c.Seen("9999", clk.now().Add(time.Minute)) {
		t.Error("the latest id was evicted")
	}
}

func TestReplayCacheForget(t *testing.T) {
	c, _ := newReplayTestCache(10)
	until := mwTestNow.Add(time.Minute)
	for _, id := range []string{"a", "b", "c", "d"} {
		c.Seen(id, until)
	}
	c.Forget("b")
	c.Forget("missing")
	if c.Seen("b", until) {
		t.Fatal("b seen after Forget")
	}
	for _, id := range []string{"a", "c", "d"} {
		if !c.Seen(id, until) {
			t.Errorf("%s lost by Forget(b)", id)
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
	if c.Seen("a", time.Now().Add(time.Minute)) || !c.Seen("a", time.Now().Add(time.Minute)) {
		t.Fatal("zero MemoryReplayCache does not remember")
	}
	if got := NewReplayCache(-1).limit(); got != DefaultReplayCacheSize {
		t.Fatalf("NewReplayCache(-1) holds %d, want %d", got, DefaultReplayCacheSize)
	}
	var _ ReplayCache = (*MemoryReplayCache)(nil)
	var _ ReplayForgetter = (*MemoryReplayCache)(nil)
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
					if !c.Seen("shared", until) {
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
					c.Seen(strconv.Itoa(g*1000+i), until)
					if i%10 == 0 {
						c.Forget(strconv.Itoa(g*1000 + i - 1))
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
