package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// enableDest implements herald outbox enable: it removes the state of
// dest from the store, and prints what it found. A store whose states
// cannot be read (one of them damaged) still has dest's removed, so that
// the command clears the very state the error names.
func enableDest(ctx context.Context, st store, dest string, stdout io.Writer) error {
	ds, ok := st.(outbox.DestinationStore)
	if !ok {
		return errors.New("this store keeps no destination states")
	}
	states, readErr := ds.DestinationStates(ctx)
	if readErr != nil && !errors.Is(readErr, outbox.ErrCorrupt) {
		return readErr
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
	switch {
	case readErr != nil:
		fmt.Fprintf(stdout, "enabled %s (the recorded states could not be read: %s)\n", escapeText(dest), escapeText(readErr.Error()))
	case was == nil || was.Disabled.IsZero():
		fmt.Fprintf(stdout, "%s was not disabled\n", escapeText(dest))
	default:
		fmt.Fprintf(stdout, "enabled %s (disabled at %s: %s)\n", escapeText(dest),
			was.Disabled.UTC().Format(time.RFC3339), escapeText(was.Reason))
	}
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
