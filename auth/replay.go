package auth

import (
	"container/heap"
	"strconv"
	"sync"
	"time"
)

// defaultReplayCacheSize is the capacity of a memoryReplayCache built with
// a size of zero or less.
const defaultReplayCacheSize = 100_000

// A ReplayCache remembers the delivery ids that [Middleware] has accepted,
// and whether the request that carried each one was handled, so that a
// captured request cannot make the handler run twice while its signature is
// still fresh, and a sender's retry of a delivery that succeeded (its
// answer lost on the way back, or its process killed before it recorded
// the success) is acknowledged rather than refused.
//
// Begin reports in one step what the cache holds for id and, when it holds
// nothing, records id as running:
//
//   - [ReplayNew]: id was not recorded; Begin recorded it as running and
//     returns finish, the only way to end that run. finish(true) keeps id
//     recorded, as done, until the time until (a later Begin returns
//     [ReplayDone]); finish(false) drops it, so that the sender's retry is
//     handled afresh. finish touches only the entry its own Begin made:
//     called again, or after that entry is gone, it does nothing. It is
//     never nil with ReplayNew.
//   - [ReplayRunning]: id is being handled, or the cache cannot record id
//     without dropping an id that is still running (it is full of running
//     ones); finish is nil. The caller answers 503 and the sender retries.
//   - [ReplayDone]: id was handled; finish is nil.
//
// [Middleware] answers any other state 500, without running its handler
// (and calls finish(false), if finish is not nil).
//
// Two concurrent calls with the same id must not both return ReplayNew. A
// running id must stay recorded until its finish is called, whatever until
// says and however full the cache is: dropping it would let a copy of the
// request run next a second time, concurrently. (A cache shared by several
// processes may still expire running ids after a time longer than any
// handler runs, so that a receiver dying mid-run does not block its ids
// for ever.) Implementations are safe for concurrent use.
//
// It is an interface so that a fleet of receivers can share one cache. In
// Redis, for instance, Begin is SET id "running:<random token>" NX with an
// expiry longer than any handler runs, then a GET of the state when id was
// there (if the GET finds nothing, the first run has just failed: answering
// ReplayRunning makes the sender try again); finish is a script that, only
// while the value is still "running:<that token>", sets it to "done" with
// the expiry until, or deletes it. [NewReplayCache] serves a single
// process.
type ReplayCache interface {
	Begin(id string, until time.Time) (state ReplayState, finish func(handled bool))
}

// ReplayState is what a [ReplayCache] knew of a delivery id when Begin was
// called.
type ReplayState int

const (
	// ReplayNew: the id was not recorded; Begin recorded it as running.
	ReplayNew ReplayState = iota
	// ReplayRunning: a request with this id is being handled, or the
	// cache is full of ids being handled; try again later.
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

// memoryReplayCache is the in-process [ReplayCache] of [NewReplayCache].
// The zero value is an empty cache of defaultReplayCacheSize ids.
type memoryReplayCache struct {
	mu  sync.Mutex
	max int
	ids map[string]*replayEntry // running and done entries
	exp replayHeap              // done entries only, min-heap on until
	now func() time.Time        // test hook
}

type replayEntry struct {
	c     *memoryReplayCache
	id    string
	until time.Time
	done  bool
	index int // position in the heap, once done
}

// NewReplayCache returns an empty in-process [ReplayCache] that holds at
// most max ids; max <= 0 selects 100,000, the size of the cache each
// [Middleware] gets by default. When it is full, the handled ids that
// expire first are dropped to make room, so its memory stays bounded even
// under a flood of valid requests; ids still running are never dropped,
// and when every entry is running Begin answers [ReplayRunning] until one
// finishes. Size it for the request rate times the replay window. It is
// safe for concurrent use.
func NewReplayCache(max int) ReplayCache {
	return newMemoryReplayCache(max)
}

// newMemoryReplayCache is NewReplayCache with its concrete type.
func newMemoryReplayCache(max int) *memoryReplayCache {
	if max <= 0 {
		max = defaultReplayCacheSize
	}
	return &memoryReplayCache{max: max, now: time.Now}
}

// Begin reports what the cache holds for id, unexpired: [ReplayRunning] or
// [ReplayDone]. If it holds nothing, Begin records id as running and
// returns [ReplayNew] with the function that ends this run (see
// [ReplayCache]); when the cache is full of running ids, it records nothing
// and returns ReplayRunning.
func (c *memoryReplayCache) Begin(id string, until time.Time) (ReplayState, func(handled bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(c.clock())
	if e, ok := c.ids[id]; ok {
		if e.done {
			return ReplayDone, nil
		}
		return ReplayRunning, nil
	}
	if c.ids == nil {
		c.ids = make(map[string]*replayEntry)
	}
	for len(c.ids) >= c.limit() {
		if len(c.exp) == 0 {
			return ReplayRunning, nil // every entry is running
		}
		e := heap.Pop(&c.exp).(*replayEntry)
		delete(c.ids, e.id)
	}
	e := &replayEntry{c: c, id: id, until: until}
	c.ids[id] = e
	return ReplayNew, e.finish
}

// finish ends the run of e, the entry one Begin made: done until its
// expiry if handled (dropped at once if that has passed), else dropped.
// A second call finds e done or gone and does nothing.
func (e *replayEntry) finish(handled bool) {
	c := e.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.done || c.ids[e.id] != e {
		return
	}
	if !handled || !e.until.After(c.clock()) {
		delete(c.ids, e.id)
		return
	}
	e.done = true
	heap.Push(&c.exp, e)
}

// Len reports how many ids the cache holds: running ones, and done ones
// including those expired but not yet swept.
func (c *memoryReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// expire drops every done entry whose time has come. Each entry is pushed
// and popped once, so the sweep costs O(log n) per recorded id, amortised.
func (c *memoryReplayCache) expire(now time.Time) {
	for len(c.exp) > 0 && !c.exp[0].until.After(now) {
		e := heap.Pop(&c.exp).(*replayEntry)
		delete(c.ids, e.id)
	}
}

// clock and limit let the zero memoryReplayCache work, with the defaults.
func (c *memoryReplayCache) clock() time.Time {
	if c.now == nil {
		return time.Now()
	}
	return c.now()
}

func (c *memoryReplayCache) limit() int {
	if c.max <= 0 {
		return defaultReplayCacheSize
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
