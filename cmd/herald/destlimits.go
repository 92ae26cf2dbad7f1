package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/sender"
)

// limits sets the queue limits of a configured destination on dest: its
// rate, burst and disable_after keys.
func (d *destConfig) limits(dest *sender.Destination) error {
	switch {
	case d.Rate < 0 || math.IsNaN(d.Rate) || math.IsInf(d.Rate, 0):
		return errors.New("rate must be a number of deliveries per second, 0 or more")
	case d.Burst < 0:
		return errors.New("burst must not be negative")
	case d.Burst > 0 && d.Rate == 0:
		return errors.New("burst applies to a rate, which is not given")
	}
	dest.Rate, dest.Burst = d.Rate, d.Burst
	if d.DisableAfter != "" {
		after, err := parseLongDuration(d.DisableAfter)
		if err != nil {
			return fmt.Errorf("disable_after: %v", err)
		}
		dest.DisableAfter = after
	}
	return nil
}

// maxLongDuration bounds parseLongDuration: ten years.
const maxLongDuration = 10 * 365 * 24 * time.Hour

// parseLongDuration parses a duration such as "5d", "36h" or "90m": a
// whole number of days with a "d" suffix, or anything time.ParseDuration
// takes. It must be positive and at most ten years. Errors quote the value
// as showArg does: never one that looks like a key.
func parseLongDuration(s string) (time.Duration, error) {
	bad := fmt.Errorf("%s is not a duration such as 5d, 36h or 90m", showArg(s))
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseUint(days, 10, 16)
		if err != nil || days == "" || days[0] == '+' {
			return 0, bad
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, bad
		}
	}
	if d <= 0 || d > maxLongDuration {
		return 0, fmt.Errorf("%s must be positive and at most ten years", showArg(s))
	}
	return d, nil
}
