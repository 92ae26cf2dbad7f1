package pgstore_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestDestinationStatesOddRows: boltstore failed every destination state
// over one unreadable record, and natsstore read one as enabled. The rows
// of pgstore's table have no such record: each column is a NOT NULL
// number or text, so every row reads, whatever was written in it. Rows
// written behind the store's back, with values it never writes, hide no
// other state, and one whose disabled time is out of place still reads as
// disabled.
func TestDestinationStatesOddRows(t *testing.T) {
	pool := newPool(t)
	ds := open(t, pool, nil).(outbox.DestinationStore)
	held := outbox.DestinationState{Destination: "held", Disabled: time.Now().Truncate(time.Millisecond), Reason: "receiver compromised"}
	if err := ds.SetDestinationState(ctx, held); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(ctx, `INSERT INTO herald_outbox_destinations (destination, failing_since_ns, disabled_ns, reason) VALUES
		('broken', -5, -1, '\xff00'::bytea), ('', 0, 9223372036854775807, $1), ('odd'||chr(1), 0, 0, '')`,
		[]byte(strings.Repeat("\xff", 5000)))
	if err != nil {
		t.Fatal(err)
	}
	states, err := ds.DestinationStates(ctx)
	if err != nil || len(states) != 4 {
		t.Fatalf("DestinationStates = %+v, %v; want the four rows", states, err)
	}
	for _, s := range states {
		switch s.Destination {
		case "held":
			if !s.Disabled.Equal(held.Disabled) || s.Reason != held.Reason {
				t.Errorf("held's state %+v, want %+v", s, held)
			}
		case "broken":
			if s.Disabled.IsZero() {
				t.Errorf("broken's state %+v: want disabled", s)
			}
		}
	}
}
