package listener

import (
	"math"
	"runtime"
	"testing"
	"time"
)

// TestDedupeSizeIsABoundNotAnAllocation: WithDedupe's size bounds what the
// window may come to hold; New does not set it aside. A bound of 4 million
// ids cost 256 MiB before the first event, and one near MaxInt panicked in
// New (makeslice: cap out of range).
func TestDedupeSizeIsABoundNotAnAllocation(t *testing.T) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	l := New(WithDedupe(time.Minute, 1<<22))
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("New with a dedupe bound of %d ids allocated %d bytes", 1<<22, n)
	}
	runtime.KeepAlive(l)

	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("New with a dedupe bound of MaxInt panicked: %v", p)
			}
		}()
		New(WithDedupe(time.Minute, math.MaxInt))
	}()

	// The bound still holds once reached: the oldest id is forgotten.
	d := newDedupe(time.Hour, 3, time.Now)
	for _, id := range []string{"a", "b", "c", "d"} {
		d.add(dedupeKey{topic: "t:x", id: id})
	}
	if d.seen(dedupeKey{topic: "t:x", id: "a"}) || !d.seen(dedupeKey{topic: "t:x", id: "b"}) || len(d.seenAt) != 3 {
		t.Errorf("after 4 ids in a window of 3: a seen %v, b seen %v, %d held",
			d.seen(dedupeKey{topic: "t:x", id: "a"}), d.seen(dedupeKey{topic: "t:x", id: "b"}), len(d.seenAt))
	}
}
