package outbox

import (
	"time"

	"github.com/heraldhq/herald/internal/backoff"
)

// defaultDelays is the schedule of a zero [Schedule]: the first attempt at
// once, then eleven quick retries within about 90 seconds (1 s, 1 s, 1 s,
// 2 s, 2 s, 3 s, 5 s, 8 s, 13 s, 21 s, 34 s), so that a receiver that
// fails even 40 % of its requests gets every delivery within about a
// minute, then the long tail of the large webhook senders (1 min, 5 min,
// 30 min, 2 h, 5 h, 10 h and 10 h), about 28 hours in all. A retry holds
// no worker (it waits in the outbox), and a receiver that is down opens
// the breaker, which stops the quick retries from being spent on it.
var defaultDelays = []time.Duration{
	0,
	// Quick retries: 1+1+1+2+2+3+5+8+13+21+34 s, about 91 s in all.
	1 * time.Second, 1 * time.Second, 1 * time.Second,
	2 * time.Second, 2 * time.Second, 3 * time.Second,
	5 * time.Second, 8 * time.Second, 13 * time.Second,
	21 * time.Second, 34 * time.Second,
	// The long tail, for receivers that are down.
	time.Minute, 5 * time.Minute, 30 * time.Minute,
	2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour,
}

// defaultJitter is the jitter of a [Schedule] whose Jitter is zero: each
// delay is drawn within ±20 % of its nominal value, so that deliveries that
// failed together do not all come back together.
const defaultJitter = 0.2

// Schedule says when a Queue attempts a delivery again. Its zero value
// makes 19 attempts in about 28 hours: the first at once, eleven quick
// retries within about 90 seconds (1 s, 1 s, 1 s, 2 s, 2 s, 3 s, 5 s, 8 s,
// 13 s, 21 s, 34 s) for receivers that fail some of their requests, then
// 1 min, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h for receivers that are
// down; each retry delay jittered by ±20 % so that deliveries that failed
// together do not all come back together. A delivery waiting for a retry
// holds no worker.
type Schedule struct {
	// Delays[0] is the delay of the first attempt after Enqueue (normally
	// zero); Delays[i] is the delay of attempt i+1 after attempt i failed.
	// The number of delays is the number of attempts: a delivery whose
	// last one fails becomes a dead letter. Nil means the default above;
	// negative delays count as zero.
	Delays []time.Duration
	// Jitter is the fraction by which each retry delay varies, uniformly,
	// either way: 0.2 means ±20 %. A negative
	// value disables jitter; values above 1 count as 1; zero means 0.2.
	// A Queue refuses NaN with [ErrInvalid].
	Jitter float64
}

// delays returns the effective delays.
func (s Schedule) delays() []time.Duration {
	if s.Delays == nil {
		return defaultDelays
	}
	return s.Delays
}

// attempts is how many attempts a delivery gets before it is dead-lettered.
func (s Schedule) attempts() int { return len(s.delays()) }

// first returns the delay of the first attempt after Enqueue, unjittered.
func (s Schedule) first() time.Duration {
	d := s.delays()
	if len(d) == 0 {
		return 0
	}
	return max(d[0], 0)
}

// next returns the delay before the next attempt of a delivery that has
// failed the given number of attempts (1 after the first failure), jittered,
// and false when the schedule is exhausted.
func (s Schedule) next(failed int) (time.Duration, bool) {
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
