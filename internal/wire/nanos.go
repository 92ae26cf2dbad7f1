package wire

import (
	"math"
	"time"
)

// Nanos returns t as the stores keep times: Unix nanoseconds, 0 for the
// zero time (for a due time: at once). A time an int64 of nanoseconds
// cannot hold, before 1678 or after 2262, becomes the nearest one it can,
// so that it keeps its place in time: UnixNano wraps it around, and a
// delivery due in 2300 fell due in 1715, at once, while one due in 1500
// waited until 2075.
func Nanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(minNanos):
		return math.MinInt64
	case t.After(maxNanos):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Time is the inverse of [Nanos]: the zero time for 0.
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// minNanos and maxNanos are the first and last times Nanos keeps as they
// are.
var minNanos, maxNanos = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

// Kept returns t as a store keeps it: through [Nanos] and back, so cut to
// the nanosecond and to the years 1678 to 2262, which JSON can always
// encode, even in UTC.
func Kept(t time.Time) time.Time { return Time(Nanos(t)) }
