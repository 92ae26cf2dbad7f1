package outbox

import "time"

// Breaker defaults, used for the zero fields of a [Breaker].
const (
	defaultBreakerFailures    = 20
	defaultBreakerCooldown    = 30 * time.Second
	defaultBreakerMaxCooldown = 10 * time.Minute
)

// Breaker configures the circuit breaker a Queue keeps for each
// destination. After Failures consecutive retryable failures (network
// errors, timeouts, 408, 425, 429, 500, 502, 503, 504) the breaker opens:
// the destination's deliveries stay pending, untouched, and keep their
// attempt count. After Cooldown one delivery is let through as a probe
// (half-open); if it succeeds the breaker closes, if it fails the breaker
// opens again for twice as long, up to MaxCooldown. An answer that
// retrying cannot change (2xx, 410, other 4xx and 5xx) proves the
// destination alive and closes the breaker.
// The zero value uses the defaults.
type Breaker struct {
	// Failures opens the breaker; zero means 20 (so that a receiver
	// failing even half of its requests seldom trips it, while one that
	// is down trips it within seconds); a negative value disables the
	// breaker.
	Failures int
	// Cooldown is the first open period; zero means
	// 30 seconds.
	Cooldown time.Duration
	// MaxCooldown caps the open period; zero means
	// 10 minutes.
	MaxCooldown time.Duration
}

// withDefaults returns b with its zero fields set.
func (b Breaker) withDefaults() Breaker {
	if b.Failures == 0 {
		b.Failures = defaultBreakerFailures
	}
	if b.Cooldown <= 0 {
		b.Cooldown = defaultBreakerCooldown
	}
	if b.MaxCooldown <= 0 {
		b.MaxCooldown = defaultBreakerMaxCooldown
	}
	if b.MaxCooldown < b.Cooldown {
		b.MaxCooldown = b.Cooldown
	}
	return b
}

// breakerState is the state of a destination's circuit breaker.
type breakerState int

// Breaker states.
const (
	breakerClosed   breakerState = iota // deliveries flow
	breakerOpen                         // deliveries wait for the cooldown
	breakerHalfOpen                     // one probe delivery is in flight
)

// String returns "closed", "open" or "half-open".
func (s breakerState) String() string {
	switch s {
	case breakerClosed:
		return "closed"
	case breakerOpen:
		return "open"
	case breakerHalfOpen:
		return "half-open"
	}
	return "unknown"
}

// circuit is the breaker state of one destination. The Queue guards it
// with its mutex.
type circuit struct {
	state    breakerState
	fails    int
	until    time.Time // end of the open period
	cooldown time.Duration
	probing  bool   // a half-open probe is in flight
	probe    string // the probe's lease token, while probing
}

// admits reports how many deliveries may start now, at most limit.
func (c *circuit) admits(b *Breaker, now time.Time, limit int) int {
	switch c.state {
	case breakerOpen:
		if now.Before(c.until) {
			return 0
		}
		c.state, c.probing = breakerHalfOpen, false
		fallthrough
	case breakerHalfOpen:
		if c.probing {
			return 0
		}
		return min(1, limit)
	}
	return limit
}

// holds reports whether the breaker holds the destination's deliveries
// back at now: open for its cool-down, or half-open with its probe in
// flight. An open breaker whose cool-down is over turns half-open only
// when a delivery is leased, so a destination left without deliveries
// keeps it open; it holds nothing back, as the next delivery is sent at
// once, as the probe.
func (c *circuit) holds(now time.Time) bool {
	return c.state == breakerHalfOpen && c.probing || c.state == breakerOpen && now.Before(c.until)
}

// started notes that the delivery leased under token was leased for the
// destination: when half-open, it is the probe.
func (c *circuit) started(token string) {
	if c.state == breakerHalfOpen {
		c.probing, c.probe = true, token
	}
}

// abandoned notes that the delivery leased under token was given back
// unattempted (it went stale in the buffer, or a pause, a disable or a
// halt emptied the buffer): if it was the probe, none is in flight any
// more, and the next lease may take another. Only an attempt's result
// ends a probe otherwise, so a probe given back kept the destination
// half-open, leasing nothing, for the life of the process.
func (c *circuit) abandoned(token string) {
	if c.state == breakerHalfOpen && c.probing && c.probe == token {
		c.probing, c.probe = false, ""
	}
}

// succeeded closes the breaker.
func (c *circuit) succeeded() {
	c.state, c.fails, c.cooldown, c.probing = breakerClosed, 0, 0, false
}

// failed counts a retryable failure and opens the breaker when due. It
// reports whether the breaker opened.
func (c *circuit) failed(b *Breaker, now time.Time) bool {
	if b.Failures < 0 {
		return false
	}
	c.fails++
	switch {
	case c.state == breakerHalfOpen:
		c.cooldown = min(2*c.cooldown, b.MaxCooldown)
	case c.state == breakerClosed && c.fails >= b.Failures:
		c.cooldown = b.Cooldown
	default:
		return false
	}
	c.state, c.until, c.probing = breakerOpen, now.Add(c.cooldown), false
	return true
}
