package outbox

import (
	"time"

	"github.com/heraldhq/herald/internal/backoff"
)

// DefaultDelays is the schedule of a zero [Schedule], after the practice of
// the large webhook senders: the first attempt at once, then retries after
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h, about 28 hours in all.
var DefaultDelays = []time.Duration{
	0,
	5 * time.Second,
	5 * time.Minute,
	30 * time.Minute,
	2 * time.Hour,
	5 * time.Hour,
	10 * time.Hour,
	10 * time.Hour,
}

// defaultJitter is the jitter of a [Schedule] whose Jitter is zero: each
// delay is drawn within ±20 % of its nominal value, so that deliveries that
// failed together do not all come back together.
const defaultJitter = 0.2

// Schedule says when a Queue attempts a delivery again. Its zero value is
// [DefaultDelays], each retry delay varied by ±20 %.
type Schedule struct {
	// Delays[0] is the delay of the first attempt after Enqueue (normally
	// zero); Delays[i] is the delay of attempt i+1 after attempt i failed.
	// The number of delays is the number of attempts: a delivery whose
	// last one fails becomes a dead letter. Nil means [DefaultDelays];
	// negative delays count as zero.
	Delays []time.Duration
	// Jitter is the fraction by which each retry delay varies, uniformly,
	// either way: 0.2 means ±20 %. Zero means 0.2; a negative
	// value disables jitter. Values above 1 count as 1.
	Jitter float64
}

// delays returns the effective delays.
func (s Schedule) delays() []time.Duration {
	if s.Delays == nil {
		return DefaultDelays
	}
	return s.Delays
}

// Attempts is how many attempts a delivery gets before it is dead-lettered.
func (s Schedule) Attempts() int { return len(s.delays()) }

// First returns the delay of the first attempt after Enqueue, unjittered.
func (s Schedule) First() time.Duration {
	d := s.delays()
	if len(d) == 0 {
		return 0
	}
	return max(d[0], 0)
}

// Next returns the delay before the next attempt of a delivery that has
// failed the given number of attempts (1 after the first failure), jittered,
// and false when the schedule is exhausted.
func (s Schedule) Next(failed int) (time.Duration, bool) {
	d := s.delays()
	if failed < 1 {
		failed = 1
	}
	if failed >= len(d) {
		return 0, false
	}
	j := s.Jitter
	if j == 0 {
		j = defaultJitter
	}
	return backoff.Spread(d[failed], j), true
}
