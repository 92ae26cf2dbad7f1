package outbox

import (
	"testing"
	"time"
)

// A destination rate so low that its wait overflows a Duration makes the
// leasing loop wait its poll, not wake every millisecond (the overflowed
// wait fell in 1734).
func TestControlledTinyRate(t *testing.T) {
	for _, r := range []float64{1e-9, 1e-10, 1e-12, 1e-300} {
		q := &Queue{poll: time.Second}
		c := control{limit: newLimiter(r, 1)}
		now := time.Now()
		c.spend(now)
		q.mu.Lock()
		n := q.controlled(&c, now, 1)
		q.mu.Unlock()
		if d := q.idle(); n != 0 || d != time.Second {
			t.Errorf("rate %g: admitted %d, idle %v; want 0 and the 1s poll", r, n, d)
		}
	}
}
