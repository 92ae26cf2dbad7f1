package wire

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestNanos(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		t    time.Time
		want int64
	}{
		{"zero time", time.Time{}, 0},
		{"now", now, now.UnixNano()},
		{"after 2262", time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{"before 1678", time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC), math.MinInt64},
		{"last time held", time.Unix(0, math.MaxInt64), math.MaxInt64},
		{"first time held", time.Unix(0, math.MinInt64), math.MinInt64},
	} {
		if got := Nanos(tc.t); got != tc.want {
			t.Errorf("%s: Nanos = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := Time(0); !got.IsZero() {
		t.Errorf("Time(0) = %v, want the zero time", got)
	}
	if got := Time(now.UnixNano()); !got.Equal(now) {
		t.Errorf("Time(Nanos(now)) = %v, want %v", got, now)
	}
}

// TestCheckHeaderConnection: the headers of the connection are refused
// whatever their case, by name, with no value in the error.
func TestCheckHeaderConnection(t *testing.T) {
	for _, name := range []string{"Connection", "upgrade", "TRANSFER-ENCODING", "te", "Te"} {
		err := CheckHeader(name, "secret-value")
		if err == nil || strings.Contains(err.Error(), "secret-value") {
			t.Errorf("CheckHeader(%q) = %v; want a refusal that does not quote the value", name, err)
		}
	}
	for _, name := range []string{"X-Upgrade", "Tenant", "Connection-Id"} {
		if err := CheckHeader(name, "v"); err != nil {
			t.Errorf("CheckHeader(%q) = %v; want nil", name, err)
		}
	}
}
