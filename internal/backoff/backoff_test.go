package backoff

import (
	"testing"
	"time"
)

func TestExponential(t *testing.T) {
	const ms = time.Millisecond
	for _, tc := range []struct {
		name        string
		base, limit time.Duration
		n           int
		lo, hi      time.Duration
	}{
		{"first retry", 100 * ms, 5 * time.Second, 1, 100 * ms, 200 * ms},
		{"third retry", 100 * ms, 5 * time.Second, 3, 100 * ms, 800 * ms},
		{"capped", 100 * ms, 300 * ms, 10, 100 * ms, 300 * ms},
		{"n below one", 100 * ms, time.Second, 0, 100 * ms, 200 * ms},
		{"limit below base", time.Second, ms, 4, time.Second, time.Second},
		{"huge n does not overflow", time.Second, time.Hour, 1000, time.Second, time.Hour},
		{"shift overflow", time.Duration(1) << 61, time.Duration(1<<63 - 1), 5, time.Duration(1) << 61, time.Duration(1<<63 - 1)},
		{"zero base", 0, time.Second, 3, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[time.Duration]bool{}
			for range 500 {
				d := Exponential(tc.base, tc.limit, tc.n)
				if d < tc.lo || d > tc.hi {
					t.Fatalf("Exponential(%v, %v, %d) = %v, want in [%v, %v]", tc.base, tc.limit, tc.n, d, tc.lo, tc.hi)
				}
				seen[d] = true
			}
			if tc.hi > tc.lo && len(seen) < 2 {
				t.Fatalf("Exponential(%v, %v, %d) is not jittered", tc.base, tc.limit, tc.n)
			}
		})
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		name   string
		d      time.Duration
		frac   float64
		lo, hi time.Duration
	}{
		{"±20 %", time.Hour, 0.2, 48 * time.Minute, 72 * time.Minute},
		{"no jitter", time.Minute, 0, time.Minute, time.Minute},
		{"negative frac", time.Minute, -1, time.Minute, time.Minute},
		{"frac above one", time.Second, 5, 0, 2 * time.Second},
		{"negative d", -time.Second, 0.2, 0, 0},
		{"near the maximum", time.Duration(1<<63 - 1), 0.5, time.Duration(1<<63-1) / 2, time.Duration(1<<63 - 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 500 {
				if d := Spread(tc.d, tc.frac); d < tc.lo || d > tc.hi {
					t.Fatalf("Spread(%v, %v) = %v, want in [%v, %v]", tc.d, tc.frac, d, tc.lo, tc.hi)
				}
			}
		})
	}
}
