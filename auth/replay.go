package auth

import (
	"container/heap"
	"sync"
	"time"
)

// DefaultReplayCacheSize is the capacity of a [MemoryReplayCache] built with
// a size of zero or less.
const DefaultReplayCacheSize = 100_000

// A ReplayCache remembers the delivery ids that [Middleware] has accepted, so
// that a captured request cannot be played again while its signature is
// still fresh.
//
// Seen reports whether id was already recorded and has not expired; if it
// was not, Seen records it until the time until, in the same step. Two
// concurrent calls with the same id must not both return false.
// Implementations are safe for concurrent use.
//
// It is an interface so that a fleet of receivers can share one cache (Redis
// SET NX with an expiry, for instance); [MemoryReplayCache] serves a single
// process.
type ReplayCache interface {
	Seen(id string, until time.Time) bool
}

// A ReplayForgetter is a [ReplayCache] that can drop an id again. When the
// cache given to [Middleware] implements it, an id is released if the
// handler answers with an error status (400 or more) or panics, so that the
// sender's retry of that delivery, which carries the same id, is accepted.
type ReplayForgetter interface {
	Forget(id string)
}

// MemoryReplayCache is an in-process [ReplayCache] holding at most a fixed
// number of ids. When it is full, the ids that expire first are dropped to
// make room, so its memory stays bounded even under a flood of valid
// requests; size it for the request rate times the replay window. It also
// implements [ReplayForgetter]. The zero value is an empty cache of
// [DefaultReplayCacheSize] ids. It is safe for concurrent use.
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

// Seen reports whether id was recorded before and has not expired. If not,
// it records id until the time until, unless until has already passed.
func (c *MemoryReplayCache) Seen(id string, until time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.clock()
	c.expire(now)
	if _, ok := c.ids[id]; ok {
		return true
	}
	if !until.After(now) {
		return false
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
	return false
}

// Forget removes id, if it is recorded, so that the next Seen of it returns
// false.
func (c *MemoryReplayCache) Forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.ids[id]; ok {
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
