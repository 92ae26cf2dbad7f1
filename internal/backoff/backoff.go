// Package backoff is herald's one backoff: a wait drawn at random (full
// jitter) between a floor and a ceiling, so that many clients that failed
// together do not come back together. The sender's retries, the listener's
// Retry middleware and Poller, and the outbox schedule all draw their waits
// here.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Exponential returns the wait before retry n (1 for the first retry):
// drawn uniformly between base and min(limit, base·2^n). The ceiling
// doubles with each retry; the floor stays at base, so a wait is never
// shorter than base and never longer than limit. A limit below base counts
// as base; n below 1 counts as 1; a base of zero or less gives zero.
func Exponential(base, limit time.Duration, n int) time.Duration {
	base = max(base, 0)
	limit = max(limit, base)
	n = max(n, 1)
	if base == 0 {
		return 0
	}
	ceiling := limit
	if n < 62 {
		if c := base << n; c > 0 && c>>n == base && c < ceiling {
			ceiling = c
		}
	}
	return between(base, ceiling)
}

// Spread returns d varied uniformly by up to frac of itself either way:
// Spread(d, 0.2) is drawn within ±20 % of d. A frac of zero or less returns
// d; a frac above 1 counts as 1; a negative d counts as zero.
func Spread(d time.Duration, frac float64) time.Duration {
	d = max(d, 0)
	if frac <= 0 || d == 0 {
		return d
	}
	frac = min(frac, 1)
	delta := time.Duration(float64(d) * frac)
	return between(d-delta, d+min(delta, maxDuration-d))
}

const maxDuration = time.Duration(1<<63 - 1)

// between returns a duration drawn uniformly in [lo, hi], lo when hi <= lo.
func between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	span := hi - lo
	if span == maxDuration {
		return lo + rand.N(span)
	}
	return lo + rand.N(span+1)
}
