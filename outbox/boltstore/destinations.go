package boltstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// bucketDests holds the destination states of outbox.DestinationStore,
// destination name → JSON. It is created by the first state recorded, so
// that files without one keep their layout and format.
var bucketDests = []byte("destinations")

// reasonUnreadable is the Reason of the state DestinationStates returns
// for a record it cannot read.
const reasonUnreadable = "its recorded state is unreadable (damaged): held until enabled or disabled again"

// DestinationStates returns the recorded destination states; see
// [outbox.DestinationStore]. A record it cannot read (a damaged or foreign
// value) reads as its destination disabled now, for [reasonUnreadable]; one
// whose key is no destination name is skipped, as no destination has it.
func (s *store) DestinationStates(ctx context.Context) ([]outbox.DestinationState, error) {
	var out []outbox.DestinationState
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDests)
		if b == nil {
			return nil
		}
		now := time.Now()
		return b.ForEach(func(k, v []byte) error {
			if st, ok := readState(k, v, now); ok {
				out = append(out, st)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: destination states: %w", err)
	}
	return out, nil
}

// readState reads the record v of the destination named k. A record that
// does not decode, names another destination or is no state a store may
// record (a reason over 1024 bytes: something else wrote it) reads as k
// disabled at now for reasonUnreadable; ok is false when k is no
// destination name, and the record is to be skipped.
func readState(k, v []byte, now time.Time) (st outbox.DestinationState, ok bool) {
	if err := json.Unmarshal(v, &st); err == nil && st.Destination == string(k) && st.Validate() == nil {
		return st, true
	}
	st = outbox.DestinationState{Destination: string(k), Disabled: now, Reason: reasonUnreadable}
	return st, st.Validate() == nil
}

// SetDestinationState records a destination state, durably; see
// [outbox.DestinationStore].
func (s *store) SetDestinationState(ctx context.Context, st outbox.DestinationState) error {
	if err := st.Validate(); err != nil {
		return err
	}
	remove := st.FailingSince.IsZero() && st.Disabled.IsZero()
	v, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("boltstore: destination state: %w", err)
	}
	return s.commit(ctx, func(tx *bolt.Tx, _ *bucketSet) error {
		if remove {
			if b := tx.Bucket(bucketDests); b != nil {
				return b.Delete([]byte(st.Destination))
			}
			return nil
		}
		b, err := tx.CreateBucketIfNotExists(bucketDests)
		if err != nil {
			return err
		}
		return b.Put([]byte(st.Destination), v)
	}, nil)
}
