package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// errNoStates refuses states and enable on a store that records no
// destination states.
var errNoStates = errors.New("this store keeps no destination states")

// enableDest implements herald outbox enable: it removes the state of
// dest from the store when that says disabled, and prints what it found.
// A destination only failing keeps its state (its run of failures goes on
// counting towards disable_after), and one never recorded gets none. A
// store whose states cannot be read (one of them damaged) still has
// dest's removed, so that the command clears the very state the error
// names.
func enableDest(ctx context.Context, st store, dest string, stdout io.Writer) error {
	ds, ok := st.(outbox.DestinationStore)
	if !ok {
		return errNoStates
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
	if readErr == nil && (was == nil || was.Disabled.IsZero()) {
		fmt.Fprintf(stdout, "%s was not disabled\n", escapeText(dest))
		return nil
	}
	if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: dest}); err != nil {
		return err
	}
	if readErr != nil {
		fmt.Fprintf(stdout, "enabled %s (the recorded states could not be read: %s)\n", escapeText(dest), escapeText(readErr.Error()))
		return nil
	}
	fmt.Fprintf(stdout, "enabled %s (disabled at %s: %s)\n", escapeText(dest),
		was.Disabled.UTC().Format(time.RFC3339), escapeText(was.Reason))
	return nil
}

// printStates implements herald outbox states: one JSON line for each
// destination the store records as failing or disabled, by name, so that
// an operator can see which destinations hold their deliveries without
// trying to enable each.
func printStates(ctx context.Context, st store, stdout io.Writer) error {
	ds, ok := st.(outbox.DestinationStore)
	if !ok {
		return errNoStates
	}
	states, err := ds.DestinationStates(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(states, func(a, b outbox.DestinationState) int { return strings.Compare(a.Destination, b.Destination) })
	for _, s := range states {
		// As the stores keep times (between 1678 and 2262), in UTC: a
		// state written by hand may hold one whose offset takes it past
		// year 9999 in UTC, which JSON cannot encode.
		s.FailingSince, s.Disabled = wire.Kept(s.FailingSince).UTC(), wire.Kept(s.Disabled).UTC()
		b, err := wire.EscapedJSON(s)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return nil
}

// enableHint is the relay's handler of its Queue's log: the Queue's lines
// saying that a destination is disabled (the outbox records it so at start,
// or the Queue disabled it) are said in the relay's words, with the ways
// out that only herald's user has: herald outbox enable, or, while the
// relay holds a bbolt file that the command cannot open, the admin port's
// POST /outbox/destinations/enable. One line per
// destination, with its name and reason. A dead letter's line gets its way
// out too, herald outbox replay; the other lines pass unchanged.
type enableHint struct{ slog.Handler }

// Handle rewrites a line of a disabled destination or a dead letter and
// passes it on.
func (h enableHint) Handle(ctx context.Context, r slog.Record) error {
	switch {
	case strings.HasPrefix(r.Message, "destination disabled"):
		r.Message = "relay: destination disabled; its deliveries are held until herald outbox enable --store STORE --dest NAME" +
			" (or, while the relay runs, POST /outbox/destinations/enable on a loopback --admin-listen)"
	case r.Message == "webhook dead-lettered":
		r.Message = "webhook dead-lettered; once its cause is fixed: herald outbox replay --store STORE --id ID"
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the rewriting on a handler with attrs.
func (h enableHint) WithAttrs(attrs []slog.Attr) slog.Handler {
	return enableHint{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the rewriting on a handler with a group.
func (h enableHint) WithGroup(name string) slog.Handler {
	return enableHint{h.Handler.WithGroup(name)}
}
