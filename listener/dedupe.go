package listener

import (
	"sync"
	"time"
)

// dedupe remembers recently handled event ids in bounded memory: a map for
// lookups and a ring that evicts the oldest id once size is reached.
type dedupe struct {
	mu     sync.Mutex
	window time.Duration
	now    func() time.Time
	seenAt map[string]int64 // id -> unix nanoseconds of the last success
	ring   []string
	head   int
}

func newDedupe(window time.Duration, size int, now func() time.Time) *dedupe {
	return &dedupe{
		window: window,
		now:    now,
		seenAt: make(map[string]int64, min(size, 4096)),
		ring:   make([]string, 0, size),
	}
}

// seen reports whether id was handled within the window.
func (d *dedupe) seen(id string) bool {
	now := d.now().UnixNano()
	d.mu.Lock()
	t, ok := d.seenAt[id]
	d.mu.Unlock()
	return ok && now-t < int64(d.window)
}

// add records id as handled now.
func (d *dedupe) add(id string) {
	now := d.now().UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seenAt[id]; ok {
		d.seenAt[id] = now
		return
	}
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, id)
	} else {
		delete(d.seenAt, d.ring[d.head])
		d.ring[d.head] = id
		d.head = (d.head + 1) % len(d.ring)
	}
	d.seenAt[id] = now
}
