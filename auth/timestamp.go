package auth

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// maxTimestampLen bounds a Unix-seconds timestamp header before parsing. 19
// digits hold every positive int64.
const maxTimestampLen = 19

// maxUnix is the latest Unix time a time.Time holds: time.Unix wraps a
// later one around to a date in the far past.
const maxUnix = math.MaxInt64 - 62135596800 // seconds from year 1 to 1970

// parseUnix parses a Unix-seconds timestamp as sent in webhook-timestamp and
// in Stripe's t= field: ASCII digits only (no sign, space or fraction), at
// most maxTimestampLen of them. The error wraps [ErrMalformed] and names
// scheme; it does not echo the value.
func parseUnix(scheme, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("auth: %s: %w: empty timestamp", scheme, ErrMalformed)
	}
	if len(s) > maxTimestampLen {
		return time.Time{}, fmt.Errorf("auth: %s: %w: timestamp longer than %d digits", scheme, ErrMalformed, maxTimestampLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return time.Time{}, fmt.Errorf("auth: %s: %w: timestamp is not Unix seconds", scheme, ErrMalformed)
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxUnix {
		return time.Time{}, fmt.Errorf("auth: %s: %w: timestamp out of range", scheme, ErrMalformed)
	}
	return time.Unix(n, 0), nil
}

// checkTimestamp reports whether ts lies within tolerance of now, in either
// direction: [ErrExpired] when it is older, errNotYetValid (an [ErrExpired]) when it is
// further in the future. The error names scheme and both durations, or the
// timestamp itself when it is too far from now for a Duration.
func checkTimestamp(now, ts time.Time, tolerance time.Duration, scheme string) error {
	if age := now.Sub(ts); age > tolerance {
		return fmt.Errorf("auth: %s: %w: signed %s, tolerance %v", scheme, ErrExpired, offset(age, ts, "ago"), tolerance)
	}
	if ahead := ts.Sub(now); ahead > tolerance {
		return fmt.Errorf("auth: %s: %w: signed %s, tolerance %v", scheme, errNotYetValid, offset(ahead, ts, "ahead of this clock"), tolerance)
	}
	return nil
}

// offset describes d, the distance from now to the timestamp ts, as "d
// where". time.Time.Sub saturates at the largest Duration (about 292
// years), which would read as an exact distance: then it gives ts instead.
func offset(d time.Duration, ts time.Time, where string) string {
	if d == math.MaxInt64 || d == math.MinInt64 {
		return fmt.Sprintf("at %s, more than 292 years %s", ts.UTC().Format(time.RFC3339), where)
	}
	return fmt.Sprintf("%v %s", d.Truncate(time.Second), where)
}

// signingUnix checks m before a timed scheme (Standard v1 and v1a, Stripe)
// signs it, and returns its signing time (see signingTime) in Unix seconds,
// the form those schemes sign. checkID is the scheme's id rule
// ([checkMessageID]), or nil for a scheme that signs no id (Stripe, whose
// headerMAC.set checks the id it sends as a hint). A time before
// 1970 is refused: its negative timestamp would fail every verifier as
// malformed. Errors name scheme.
func signingUnix(scheme string, m Message, now func() time.Time, checkID func(scheme, id string) error) (int64, error) {
	if checkID != nil {
		if err := checkID(scheme, m.ID); err != nil {
			return 0, err
		}
	}
	unix := signingTime(m, now).Unix()
	if unix < 0 {
		return 0, fmt.Errorf("auth: %s: signing time is before 1970", scheme)
	}
	return unix, nil
}

// signingTime returns m.Timestamp, or now() when it is zero.
func signingTime(m Message, now func() time.Time) time.Time {
	t := m.Timestamp
	if t.IsZero() {
		t = now()
	}
	return t
}
