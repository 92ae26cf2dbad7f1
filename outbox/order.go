package outbox

import (
	"fmt"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/sender"
)

// Ordering by partition key. The order is kept by the store, not by the
// Queue: a store that keeps key order leases a delivery with a
// [Delivery.PartitionKey] only once every delivery put before it with the
// same destination and key is delivered or dead, so the order holds across
// workers, restarts and a fleet sharing the store, and the Queue needs no
// bookkeeping of its own. A store says it keeps that order with a method
//
//	OrdersByKey() bool
//
// returning true; the store of [NewMemory], the bbolt and the PostgreSQL stores do. The Queue refuses an
// Ordered destination over a store that does not, rather than reorder
// silently.

// keyOrderer is the capability a store shows to keep key order.
type keyOrderer interface{ OrdersByKey() bool }

// ordersByKey reports whether ob keeps key order.
func ordersByKey(ob Outbox) bool {
	ko, ok := ob.(keyOrderer)
	return ok && ko.OrdersByKey()
}

// checkOrdered refuses an Ordered destination over a store that cannot
// keep key order.
func (q *Queue) checkOrdered(st *destState) error {
	if !st.dest.Ordered || ordersByKey(q.Outbox) {
		return nil
	}
	return fmt.Errorf("%w: destination %q is ordered, but the outbox (%T) cannot keep the order of a partition key: use a store that can (NewMemory, the bbolt or the PostgreSQL store), or turn ordering off",
		ErrInvalid, st.dest.Name, q.Outbox)
}

// partitionKey checks m's key by the module's one key rule, and returns
// the key a delivery of m to st is stored with: m's for an Ordered
// destination, none otherwise, so that a destination without ordering is
// never held back by one.
func partitionKey(st *destState, m *sender.Message) (string, error) {
	if err := wire.CheckKey(m.PartitionKey); err != nil {
		return "", fmt.Errorf("%w: %w (delivery %s)", ErrInvalid, err, m.ID)
	}
	if st.dest.Ordered {
		return m.PartitionKey, nil
	}
	return "", nil
}
