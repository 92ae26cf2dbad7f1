package outbox

import (
	"errors"
	"fmt"
	"slices"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/wire"
)

// ErrInvalid: a delivery, selector or option is malformed (empty id,
// control characters in a name, oversized body, a destination the
// Queue was not given, ...).
var ErrInvalid = errors.New("outbox: invalid argument")

// validate reports whether the Queue stores d: an id by the module's id
// rule, a destination name and an event id of bounded length that show as
// themselves (wire.CheckText), a partition key by the module's one key
// rule, a topic and a content type (when set) of at most 1024 and 256
// bytes by the same text rule, a body of at most 32 MiB, and no negative
// attempt count. The error wraps [ErrInvalid] and never quotes the body.
// It is the one validation of a delivery: stores check only what their
// storage format needs.
func (d *Delivery) validate() error {
	// The id travels as the webhook-id header: refuse now what Send would
	// refuse at every attempt, by the module's one id rule.
	if err := wire.CheckID(d.ID); err != nil {
		return fmt.Errorf("%w: delivery %w", ErrInvalid, err)
	}
	if err := checkName("destination name", d.Destination, limits.Name); err != nil {
		return fmt.Errorf("%w (delivery %s)", err, d.ID)
	}
	if d.EventID != "" {
		if err := checkName("event id", d.EventID, limits.ID); err != nil {
			return fmt.Errorf("%w (delivery %s)", err, d.ID)
		}
	}
	if err := wire.CheckKey(d.PartitionKey); err != nil {
		return fmt.Errorf("%w: %w (delivery %s)", ErrInvalid, err, d.ID)
	}
	if len(d.TraceParent) > telemetry.MaxTraceparent || !printableASCII(d.TraceParent) {
		return fmt.Errorf("%w: trace parent longer than %d bytes or not printable ASCII (delivery %s)", ErrInvalid, telemetry.MaxTraceparent, d.ID)
	}
	// Optional, but when set as bounded as a name: a store may keep them
	// as text (the JetStream store in JSON, which would replace invalid
	// UTF-8 and escape control characters sixfold).
	// A content type is a header value: no longer than Send takes.
	for _, f := range [...]struct {
		what, s string
		max     int
	}{{"topic", d.Topic, limits.Topic}, {"content type", d.ContentType, wire.MaxIDLen}} {
		if f.s == "" {
			continue
		}
		if err := checkName(f.what, f.s, f.max); err != nil {
			return fmt.Errorf("%w (delivery %s)", err, d.ID)
		}
	}
	if len(d.Body) > limits.Body {
		return fmt.Errorf("%w: body of %d bytes exceeds %d (delivery %s)", ErrInvalid, len(d.Body), limits.Body, d.ID)
	}
	if d.Attempts < 0 {
		return fmt.Errorf("%w: negative attempt count (delivery %s)", ErrInvalid, d.ID)
	}
	return nil
}

// checkName reports whether s is acceptable as a name, id, topic or content
// type of at most max bytes: not empty, and text that shows as itself in a
// log, a listing or a metric label (wire.Displayable: valid UTF-8 without
// control characters, line separators or bidi controls).
func checkName(what, s string, max int) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > max:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, max)
	}
	if err := wire.CheckText(s); err != nil {
		return fmt.Errorf("%w: %s %w", ErrInvalid, what, err)
	}
	return nil
}

// Validate reports whether s selects one kind of dead letters: IDs, a
// Destination, or All, and only one of them, and whether its ids and
// destination are text that shows as itself (valid UTF-8 without control
// characters, line separators or bidi controls). The error wraps
// [ErrInvalid]. It also indexes many IDs, so that Matches over thousands
// of dead letters does not compare each with every id: a store calls it
// first, and again after changing IDs.
func (s *Selector) Validate() error {
	kinds := 0
	for _, set := range [...]bool{len(s.IDs) > 0, s.Destination != "", s.All} {
		if set {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return fmt.Errorf("%w: empty selector (set IDs, Destination or All)", ErrInvalid)
	case kinds > 1:
		// Each part would widen the others: Destination with All would
		// be every destination's, and IDs with a Destination any
		// destination's dead letters of those ids.
		return fmt.Errorf("%w: selector of several kinds (set one of IDs, Destination or All)", ErrInvalid)
	}
	// A selector shows in logs and listings as given: by the rule of
	// the names and ids it selects.
	if err := wire.CheckText(s.Destination); err != nil {
		return fmt.Errorf("%w: selector destination %w", ErrInvalid, err)
	}
	for i, id := range s.IDs {
		if err := wire.CheckText(id); err != nil {
			return fmt.Errorf("%w: selector id #%d %w", ErrInvalid, i+1, err)
		}
	}
	s.ids = nil
	if len(s.IDs) > indexIDs {
		s.ids = make(map[string]bool, len(s.IDs))
		for _, id := range s.IDs {
			s.ids[id] = true
		}
	}
	return nil
}

// indexIDs is how many IDs a Selector compares one by one; Validate
// indexes more.
const indexIDs = 8

// Matches reports whether s, which Validate accepted, selects the dead
// letter of destination dest with the given id.
func (s *Selector) Matches(dest, id string) bool {
	switch {
	case s.All || s.Destination != "" && s.Destination == dest:
		return true
	case s.ids != nil:
		return s.ids[id]
	}
	return slices.Contains(s.IDs, id)
}

// printableASCII reports whether s holds only printable ASCII.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
