package boltstore_test

import (
	"context"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
)

// TestQueueDamagedStateHoldsOnlyIt: one unreadable destination state in
// the file (here "broken"'s) made DestinationStates fail whole, and the
// Queue, which then applied no state at all, started every destination
// enabled: after a restart it sent to "held", which an operator had
// disabled, and to "broken". The damaged record now reads as "broken"
// held, with a reason the Queue logs and the states list, and hides no
// other state; Enable clears it.
func TestQueueDamagedStateHoldsOnlyIt(t *testing.T) {
	s, path := open(t)
	damage := func() {
		tamper(t, path, func(tx *bolt.Tx) error {
			return tx.Bucket([]byte("destinations")).Put([]byte("broken"), []byte(`{"destination":"broken","disabled":"not a time"}`))
		})
	}
	queuetest.DamagedStateHeld(t, s, damage, func() outbox.Store { return openAt(t, path) })
}

// TestInvalidStateReadsAsUnreadable: a record that decodes but is no
// state a store may record (written by something else: a reason over
// 1024 bytes, a name with a line break) was returned as it was, and the
// Queue logged its reason or name whole. It now reads as any unreadable
// record does: its destination held for reasonUnreadable, or skipped when
// the name is no destination's.
func TestInvalidStateReadsAsUnreadable(t *testing.T) {
	s, path := open(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, path, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("destinations"))
		if err != nil {
			return err
		}
		long := `{"destination":"long","disabled":"2026-01-02T03:04:05Z","reason":"` + strings.Repeat("x", 2000) + `"}`
		if err := b.Put([]byte("long"), []byte(long)); err != nil {
			return err
		}
		return b.Put([]byte("bad\nname"), []byte(`{"destination":"bad\nname","disabled":"2026-01-02T03:04:05Z"}`))
	})
	list, err := openAt(t, path).(outbox.DestinationStore).DestinationStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Destination != "long" || list[0].Disabled.IsZero() || !strings.Contains(list[0].Reason, "unreadable") {
		t.Fatalf("states %.200v, want long's alone, held as unreadable", list)
	}
	for _, st := range list {
		if err := st.Validate(); err != nil {
			t.Errorf("state of %q: %v", st.Destination, err)
		}
	}
}
