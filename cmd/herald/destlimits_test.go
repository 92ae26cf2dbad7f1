package main

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/sender"
)

func TestParseLongDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"5d": 5 * 24 * time.Hour, "36h": 36 * time.Hour, "90m": 90 * time.Minute, "1d12h": 0,
		"0d": 0, "-1h": 0, "d": 0, "+5d": 0, "5.5d": 0, "4000d": 0, "": 0, "1e3d": 0,
	} {
		got, err := parseLongDuration(in)
		if (err == nil) != (want > 0) || got != want {
			t.Errorf("parseLongDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestDestLimits(t *testing.T) {
	for _, tc := range []struct {
		c  destConfig
		ok bool
	}{
		{destConfig{Rate: 10, Burst: 5, DisableAfter: "5d"}, true},
		{destConfig{Rate: 0.5}, true},
		{destConfig{}, true},
		{destConfig{Rate: -1}, false},
		{destConfig{Burst: 3}, false},
		{destConfig{Rate: 1, Burst: -1}, false},
		{destConfig{DisableAfter: "soon"}, false},
	} {
		d := tc.c
		var dest sender.Destination
		err := d.limits(&dest)
		if (err == nil) != tc.ok {
			t.Errorf("%+v: %v, want ok %v", tc.c, err, tc.ok)
		}
		if err == nil && (dest.Rate != tc.c.Rate || dest.Burst != tc.c.Burst) {
			t.Errorf("%+v: destination rate %v burst %d", tc.c, dest.Rate, dest.Burst)
		}
	}
}

// FuzzParseLongDuration: any input gives a duration within its bounds or
// an error, never a panic.
func FuzzParseLongDuration(f *testing.F) {
	for _, s := range []string{"5d", "36h", "90m", "-1d", "99999999999999999999d", "1.5h", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseLongDuration(s)
		if err == nil && (d <= 0 || d > maxLongDuration) {
			t.Fatalf("parseLongDuration(%q) = %v without error", s, d)
		}
	})
}
