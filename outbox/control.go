package outbox

import (
	"log/slog"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// The Queue's control of a destination as a whole, beside its breaker: a
// pause that a 429 or 503 asked for with Retry-After, a rate limit
// ([sender.Destination.Rate]) and the disabled state (disable.go). All of
// them act through the Lease Allow function (admits): a destination that
// may not send now has its deliveries left in the outbox, so it holds no
// worker and never slows the other destinations. The leasing loop wakes
// when the first of them may send again (idle).

// control is the state of one destination kept by the Queue under q.mu.
type control struct {
	// paused is the end of a pause asked for with Retry-After; zero when
	// the destination never asked.
	paused time.Time
	// limit spaces the destination's deliveries; nil without a Rate.
	limit *rate.Limiter
	// disabled holds every delivery of the destination in the outbox.
	disabled bool
	// failing is the start of the current run of failures without a
	// success; zero after a success. stored says the outbox has it; it is
	// written under q.mu and read without it, by a worker's success.
	failing time.Time
	stored  atomic.Bool
}

// newLimiter returns the limiter of a destination's Rate and Burst, or nil
// when it has no Rate.
func newLimiter(r float64, burst int) *rate.Limiter {
	if r <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(r), max(burst, 1))
}

// controlled returns how many of n deliveries the destination's control
// lets be leased now, and notes in q.wakeAt when a refused destination may
// send again. q.mu must be held.
func (q *Queue) controlled(c *control, now time.Time, n int) int {
	switch {
	case n <= 0:
		return 0
	case c.disabled:
		return 0
	case now.Before(c.paused):
		q.wakeBy(c.paused)
		return 0
	case c.limit == nil:
		return n
	}
	tokens := c.limit.TokensAt(now)
	if tokens < 1 {
		// A rate of one delivery in centuries overflows a Duration, and
		// an overflowed wait woke the loop every millisecond: wait an
		// hour at most, then look again.
		wait := time.Hour
		if secs := (1 - tokens) / float64(c.limit.Limit()); secs < wait.Seconds() {
			wait = time.Duration(secs * float64(time.Second))
		}
		q.wakeBy(now.Add(wait + time.Millisecond))
		return 0
	}
	if tokens >= float64(n) {
		// Not int(tokens): a Burst near MaxInt holds 2^63 tokens, which
		// int() makes negative, and the destination would get none.
		return n
	}
	return int(tokens)
}

// wakeBy makes the leasing loop look again at t at the latest. q.mu must
// be held.
func (q *Queue) wakeBy(t time.Time) {
	if q.wakeAt.IsZero() || t.Before(q.wakeAt) {
		q.wakeAt = t
	}
}

// idle returns how long the leasing loop may sleep when nothing was due:
// the poll interval, or less when a paused or rate-limited destination may
// send sooner, or a lease whose outcome was not recorded ends sooner. It
// clears the wake time for the next round of admits.
func (q *Queue) idle() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.poll
	if !q.wakeAt.IsZero() {
		d = min(d, max(time.Until(q.wakeAt), time.Millisecond))
		q.wakeAt = time.Time{}
	}
	if !q.retryAt.IsZero() {
		// Kept until it passed: other wake-ups may come first.
		left := time.Until(q.retryAt)
		d = min(d, max(left, time.Millisecond))
		if left <= 0 {
			q.retryAt = time.Time{}
		}
	}
	return d
}

// spend takes a token of the destination's rate limit for a delivery just
// leased. q.mu must be held.
func (c *control) spend(now time.Time) {
	if c.limit != nil {
		c.limit.AllowN(now, 1)
	}
}

// pause stops leasing for st until d from now, as a 429 or 503 asked with
// Retry-After (capped by the breaker's MaxCooldown), and gives back its
// buffered deliveries unattempted. It returns the end of the pause.
func (q *Queue) pause(st *destState, d time.Duration) time.Time {
	d = min(d, q.breaker.MaxCooldown)
	until := time.Now().Add(d)
	q.mu.Lock()
	longer := until.After(st.ctl.paused)
	if longer {
		st.ctl.paused = until
	} else {
		until = st.ctl.paused
	}
	rest := q.unbuffer(st)
	q.mu.Unlock()
	ctx := q.store
	q.release(ctx, rest)
	if longer && q.log != nil {
		q.log.LogAttrs(ctx, slog.LevelInfo, "destination paused as it asked (Retry-After)",
			slog.String("destination", st.dest.Name), slog.Duration("for", d))
	}
	return until
}
