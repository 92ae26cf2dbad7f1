package outboxtest

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// testDestinationStates checks an [outbox.DestinationStore]: states are
// recorded, replaced, listed and removed by destination name, survive
// alongside deliveries without touching them, and bad names are refused.
// A store without the interface skips it.
func testDestinationStates(t *testing.T, ob outbox.Outbox) {
	ds, ok := ob.(outbox.DestinationStore)
	if !ok {
		t.Skip("the store does not implement outbox.DestinationStore")
	}
	list := func() map[string]outbox.DestinationState {
		t.Helper()
		l, err := ds.DestinationStates(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]outbox.DestinationState{}
		for _, s := range l {
			if _, dup := m[s.Destination]; dup {
				t.Fatalf("DestinationStates lists %q twice", s.Destination)
			}
			m[s.Destination] = s
		}
		return m
	}
	set := func(s outbox.DestinationState) {
		t.Helper()
		if err := ds.SetDestinationState(ctx, s); err != nil {
			t.Fatalf("SetDestinationState(%+v): %v", s, err)
		}
	}
	same := func(got, want outbox.DestinationState) bool {
		return got.Destination == want.Destination && got.Reason == want.Reason &&
			got.FailingSince.Equal(want.FailingSince) && got.Disabled.Equal(want.Disabled)
	}
	if m := list(); len(m) != 0 {
		t.Fatalf("a new store lists states %+v", m)
	}
	since := time.Now().Add(-time.Hour).Truncate(time.Millisecond) // a store may keep µs only
	a := outbox.DestinationState{Destination: "a", FailingSince: since}
	b := outbox.DestinationState{Destination: "b", FailingSince: since, Disabled: time.Now().Truncate(time.Millisecond), Reason: "gone (410)"}
	set(a)
	set(b)
	put(t, ob, mk("d1", "b"))
	if m := list(); len(m) != 2 || !same(m["a"], a) || !same(m["b"], b) {
		t.Fatalf("states %+v, want %+v and %+v", m, a, b)
	}
	a.Disabled, a.Reason = time.Now().Truncate(time.Millisecond), "failing without a success since then"
	set(a)
	if m := list(); !same(m["a"], a) {
		t.Fatalf("replaced state %+v, want %+v", m["a"], a)
	}
	set(outbox.DestinationState{Destination: "a"})
	set(outbox.DestinationState{Destination: "never-recorded"})
	if m := list(); len(m) != 1 || !same(m["b"], b) {
		t.Fatalf("states after removing a: %+v, want b only", m)
	}
	// The states are the Queue's business: the store leases and settles
	// deliveries of a disabled destination as any other.
	if ls := lease(t, ob, outbox.LeaseOptions{Max: 5}); len(ls) != 1 || ls[0].ID != "d1" {
		t.Fatalf("leased %v, want d1", ids(ls))
	} else if err := ack(ob, ls[0].ID, ls[0].Token); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "x\x00y", "x\ny"} {
		if err := ds.SetDestinationState(ctx, outbox.DestinationState{Destination: bad, Disabled: time.Now()}); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("SetDestinationState(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}
