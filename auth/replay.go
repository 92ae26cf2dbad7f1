package auth

import (
	"container/heap"
	"strconv"
	"sync"
	"time"
)

// DefaultReplayCacheSize is the capacity of a [MemoryReplayCache] built with
// a size of zero or less.
const DefaultReplayCacheSize = 100_000

// A ReplayCache remembers the delivery ids that [Middleware] has accepted,
// and whether the request that carried each one was handled, so that a
// captured request cannot make the handler run twice while its signature is
// still fresh, and a sender's retry of a delivery that succeeded (its
// answer lost on the way back, or its process killed before it recorded
// the success) is acknowledged rather than refused.
//
// Begin records id as running until the time until, if it is not recorded
// yet, and reports in the same step what it found: [ReplayNew] (recorded
// now), [ReplayRunning] or [ReplayDone]. Two concurrent calls with the same
// id must not both return ReplayNew. Finish ends the run that Begin
// started: with handled, the id stays recorded, as done, until its expiry;
// without, it is dropped, so that the sender's retry is handled afresh.
// Implementations are safe for concurrent use.
//
// It is an interface so that a fleet of receivers can share one cache. In
// Redis, for instance, Begin is SET NX with an expiry, then a GET of the
// state when the id was there (if the GET finds nothing, the first run has
// just failed: answering ReplayRunning makes the sender try again), and
// Finish is a SET XX KEEPTTL or a DEL. [MemoryReplayCache] serves a single
// process.
type ReplayCache interface {
	Begin(id string, until time.Time) ReplayState
	Finish(id string, handled bool)
}

// ReplayState is what a [ReplayCache] knew of a delivery id when Begin was
// called.
type ReplayState int

const (
	// ReplayNew: the id was not recorded; Begin recorded it as running.
	ReplayNew ReplayState = iota
	// ReplayRunning: a request with this id is being handled.
	ReplayRunning
	// ReplayDone: a request with this id was handled.
	ReplayDone
)

// String returns "new", "running" or "done".
func (s ReplayState) String() string {
	switch s {
	case ReplayNew:
		return "new"
	case ReplayRunning:
		return "running"
	case ReplayDone:
		return "done"
	}
	return "ReplayState(" + strconv.Itoa(int(s)) + ")"
}

// MemoryReplayCache is an in-process [ReplayCache] holding at most a fixed
// number of ids. When it is full, the ids that expire first are dropped to
// make room, so its memory stays bounded even under a flood of valid
// requests; size it for the request rate times the replay window. The zero
// value is an empty cache of [DefaultReplayCacheSize] ids. It is safe for
// concurrent use.
type MemoryReplayCache struct {
	mu  sync.Mutex
	max int
	ids map[string]*replayEntry
	exp replayHeap       // min-heap on until: the next to expire on top
	now func() time.Time // test hook
}

type replayEntry struct {
	id    string
	until time.Time
	done  bool
	index int // position in the heap
}

// NewReplayCache returns an empty [MemoryReplayCache] that holds at most max
// ids; max <= 0 selects [DefaultReplayCacheSize].
func NewReplayCache(max int) *MemoryReplayCache {
	if max <= 0 {
		max = DefaultReplayCacheSize
	}
	return &MemoryReplayCache{max: max, now: time.Now}
}

// Begin reports what the cache holds for id, unexpired: [ReplayRunning]
// or [ReplayDone]. If it holds nothing, Begin records id as running until
// the time until, unless until has already passed, and returns
// [ReplayNew].
func (c *MemoryReplayCache) Begin(id string, until time.Time) ReplayState {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	c.expire(now)
	if e, ok := c.ids[id]; ok {
		if e.done {
			return ReplayDone
		}
		return ReplayRunning
	}
	if !until.After(now) {
		return ReplayNew
	}
	if c.ids == nil {
		c.ids = make(map[string]*replayEntry)
	}
	for len(c.exp) >= c.limit() {
		e := heap.Pop(&c.exp).(*replayEntry)
		delete(c.ids, e.id)
	}
	e := &replayEntry{id: id, until: until}
	heap.Push(&c.exp, e)
	c.ids[id] = e
	return ReplayNew
}

// Finish marks id as done if handled, keeping its expiry; otherwise it
// drops id, so that the next Begin of it returns [ReplayNew]. An id the
// cache does not hold (expired, or dropped to make room) is left alone.
func (c *MemoryReplayCache) Finish(id string, handled bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ids[id]
	switch {
	case !ok:
	case handled:
		e.done = true
	default:
		heap.Remove(&c.exp, e.index)
		delete(c.ids, id)
	}
}

// Len reports how many ids the cache holds, expired ones not yet swept
// included.
func (c *MemoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// expire drops every entry whose time has come. Each entry is pushed and
// popped once, so the sweep costs O(log n) per recorded id, amortised.
func (c *MemoryReplayCache) expire(now time.Time) {
	for len(c.exp) > 0 && !c.exp[0].until.After(now) {
		e := heap.Pop(&c.exp).(*replayEntry)
		delete(c.ids, e.id)
	}
}

// clock and limit let the zero MemoryReplayCache work, with the defaults.
func (c *MemoryReplayCache) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

func (c *MemoryReplayCache) limit() int {
	if c.max <= 0 {
		return DefaultReplayCacheSize
	}
	return c.max
}

// replayHeap implements heap.Interface over entries ordered by expiry.
type replayHeap []*replayEntry

func (h replayHeap) Len() int           { return len(h) }
func (h replayHeap) Less(i, j int) bool { return h[i].until.Before(h[j].until) }
func (h replayHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}

func (h *replayHeap) Push(x any) {
	e := x.(*replayEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *replayHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}
