package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/outbox"
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

// enableDest implements herald outbox enable: it removes the state of
// dest from the store, and prints what it found.
func enableDest(ctx context.Context, st store, dest string, stdout io.Writer) error {
	ds, ok := st.(outbox.DestinationStore)
	if !ok {
		return errors.New("this store keeps no destination states")
	}
	states, err := ds.DestinationStates(ctx)
	if err != nil {
		return err
	}
	var was *outbox.DestinationState
	for i := range states {
		if states[i].Destination == dest {
			was = &states[i]
		}
	}
	if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: dest}); err != nil {
		return err
	}
	if was == nil || was.Disabled.IsZero() {
		fmt.Fprintf(stdout, "%s was not disabled\n", escapeText(dest))
		return nil
	}
	fmt.Fprintf(stdout, "enabled %s (disabled at %s: %s)\n", escapeText(dest),
		was.Disabled.UTC().Format(time.RFC3339), escapeText(was.Reason))
	return nil
}

// logDisabled logs a warning for each destination the store records as
// disabled, at start-up, so that a relay that sends nothing to one says
// why.
func logDisabled(ctx context.Context, logger *slog.Logger, st store) {
	ds, ok := st.(outbox.DestinationStore)
	if !ok {
		return
	}
	states, err := ds.DestinationStates(ctx)
	if err != nil {
		return
	}
	for _, s := range states {
		if !s.Disabled.IsZero() {
			logger.Warn("relay: destination disabled; its deliveries are held until herald outbox enable --dest NAME",
				"destination", s.Destination, "since", s.Disabled.UTC().Format(time.RFC3339), "reason", s.Reason)
		}
	}
}
