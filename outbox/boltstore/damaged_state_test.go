package boltstore_test

import (
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
