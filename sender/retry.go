package sender

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/backoff"
)

// RetryPolicy bounds the in-process retries of one delivery. The zero value
// selects the defaults documented on each field; negative values count as
// zero.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, default
	// 5; 1 disables retries.
	MaxAttempts int
	// MinWait is the shortest wait between attempts and the base of the
	// exponential backoff, default 500ms.
	MinWait time.Duration
	// MaxWait caps one wait, a server's Retry-After included, default
	// 30s.
	MaxWait time.Duration
	// MaxElapsed is the time after which no new attempt starts: a retry
	// whose wait would end later is not made. Default 2m.
	MaxElapsed time.Duration
}

// withDefaults returns p with its zero (or negative) fields set to the
// defaults its fields document, and MaxWait raised to MinWait if below.
func (p RetryPolicy) withDefaults() RetryPolicy {
	p.MaxAttempts = positiveOr(p.MaxAttempts, 5)
	p.MinWait = positiveOr(p.MinWait, 500*time.Millisecond)
	p.MaxWait = max(positiveOr(p.MaxWait, 30*time.Second), p.MinWait)
	p.MaxElapsed = positiveOr(p.MaxElapsed, 2*time.Minute)
	return p
}

// positiveOr returns v when it is positive, else def.
func positiveOr[T int | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// wait returns how long to wait after the given attempt (1 for the first)
// before the next one, on a policy with defaults applied. When resp carries
// a Retry-After header (delay in seconds or an HTTP date), wait honours it,
// capped at MaxWait. Otherwise it draws uniformly between MinWait and
// min(MaxWait, MinWait·2^attempt): full jitter over an exponential ceiling
// (internal/backoff), so that many senders retrying at once spread out.
func (p RetryPolicy) wait(attempt int, resp *http.Response, now time.Time) time.Duration {
	if resp != nil {
		if d, ok := retryAfter(resp.Header, now); ok {
			return min(d, p.MaxWait)
		}
	}
	return backoff.Exponential(p.MinWait, p.MaxWait, attempt)
}

// maxRetryAfter bounds the Retry-After header value we are willing to parse.
const maxRetryAfter = 64

// retryAfter parses a Retry-After header: a delay in seconds or an HTTP
// date. A date in the past means no wait. Unparsable values are ignored.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	vs := h["Retry-After"]
	if len(vs) == 0 {
		return 0, false
	}
	v := strings.TrimSpace(vs[0])
	if v == "" || len(v) > maxRetryAfter {
		return 0, false
	}
	// Digits only (RFC 9110's delay-seconds): ParseUint reports a range
	// error as soon as the number overflows, before it sees a bad byte
	// further on, so "99999999999999999999x" would pass for a huge delay.
	if strings.Trim(v, "0123456789") == "" {
		const maxSecs = uint64(1<<63-1) / uint64(time.Second)
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil || secs > maxSecs { // digits only: a range error
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	return max(t.Sub(now), 0), true
}
