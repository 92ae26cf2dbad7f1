package listener

import (
	"crypto/sha256"
	"sync"
	"time"
)

// dedupe remembers recently handled events in bounded memory: a map for
// lookups and a ring that evicts the oldest once size is reached. The ring
// grows as events come, up to size: size is a bound, which New must not
// allocate up front (a bound of millions would cost hundreds of MiB at
// once, one near MaxInt would panic).
type dedupe struct {
	mu     sync.Mutex
	window time.Duration
	now    func() time.Time
	size   int
	seenAt map[dedupeKey]int64 // event -> unix nanoseconds of the last success
	ring   []dedupeKey
	head   int
}

// dedupeKey names an event by its topic and id. Ids are unique per topic
// only where one publisher owns them all: on a source whose publishers are
// allowed different topics (NATS subjects), one could otherwise take the id
// of another's future event and have that event dropped as a duplicate.
// The CloudEvents source is part of it too, by its SHA-256 (a source is
// unbounded, the window must stay small): CloudEvents 1.0 makes source and
// id unique together.
type dedupeKey struct {
	topic, id string
	source    [sha256.Size]byte // zero: no source
}

// dedupeKeyOf returns the dedupe key of ev, whose topic is name.
func dedupeKeyOf(name string, ev *Event) dedupeKey {
	k := dedupeKey{topic: name, id: ev.ID}
	if src := ev.Context["source"]; src != "" {
		k.source = sha256.Sum256([]byte(src))
	}
	return k
}

func newDedupe(window time.Duration, size int, now func() time.Time) *dedupe {
	return &dedupe{
		window: window,
		now:    now,
		size:   size,
		seenAt: make(map[dedupeKey]int64, min(size, 4096)),
		ring:   make([]dedupeKey, 0, min(size, 4096)),
	}
}

// seen reports whether the event id was handled within the window.
func (d *dedupe) seen(id dedupeKey) bool {
	now := d.now().UnixNano()
	d.mu.Lock()
	t, ok := d.seenAt[id]
	d.mu.Unlock()
	return ok && now-t < int64(d.window)
}

// add records the event id as handled now.
func (d *dedupe) add(id dedupeKey) {
	now := d.now().UnixNano()
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seenAt[id]; ok {
		d.seenAt[id] = now
		return
	}
	if len(d.ring) < d.size {
		d.ring = append(d.ring, id)
	} else {
		delete(d.seenAt, d.ring[d.head])
		d.ring[d.head] = id
		d.head = (d.head + 1) % len(d.ring)
	}
	d.seenAt[id] = now
}
