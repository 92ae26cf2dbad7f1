package pgstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestDestinationStatesOddRows: boltstore failed every destination state
// over one unreadable record, and natsstore read one as enabled. The rows
// of pgstore's table always scan (each column is a NOT NULL number or
// text), but rows written behind the store's back may hold values it never
// writes: they hide no other state, one whose disabled time is out of
// place still reads as disabled, one whose reason is over 1024 bytes reads
// as held (it was returned whole, and the Queue logged it), and one whose
// name no destination can have (empty, a control character) is skipped
// (it was returned, failing Validate).
func TestDestinationStatesOddRows(t *testing.T) {
	pool := newPool(t)
	ds := open(t, pool, nil).(outbox.DestinationStore)
	held := outbox.DestinationState{Destination: "held", Disabled: time.Now().Truncate(time.Millisecond), Reason: "receiver compromised"}
	if err := ds.SetDestinationState(ctx, held); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, `INSERT INTO herald_outbox_destinations (destination, failing_since_ns, disabled_ns, reason) VALUES
		('broken', -5, -1, '\xff00'::bytea), ('', 0, 9223372036854775807, ''), ('odd'||chr(1), 0, 0, ''), ('long', 5, 0, $1)`,
		[]byte(strings.Repeat("\xff", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	states, err := ds.DestinationStates(ctx)
	if err != nil || len(states) != 3 {
		t.Fatalf("DestinationStates = %.300v, %v; want held's, broken's and long's", states, err)
	}
	for _, s := range states {
		if err := s.Validate(); err != nil {
			t.Errorf("a state that fails Validate: %v", err)
		}
		switch s.Destination {
		case "held":
			if !s.Disabled.Equal(held.Disabled) || s.Reason != held.Reason {
				t.Errorf("held's state %+v, want %+v", s, held)
			}
		case "broken":
			if s.Disabled.IsZero() {
				t.Errorf("broken's state %+v: want disabled", s)
			}
		case "long":
			if s.Disabled.IsZero() || !strings.Contains(s.Reason, "unreadable") {
				t.Errorf("long's state %.200v: want held as unreadable", s)
			}
		default:
			t.Errorf("a state of %q, whose name no destination can have", s.Destination)
		}
	}
	// herald outbox enable (and Queue.Enable) removes the held row.
	for _, dest := range []string{"broken", "long"} {
		if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: dest}); err != nil {
			t.Fatal(err)
		}
	}
	if states, err := ds.DestinationStates(ctx); err != nil || len(states) != 1 || states[0].Destination != "held" {
		t.Errorf("after enabling broken and long: %.300v, %v; want held's state alone", states, err)
	}
}
