package boltstore

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/outbox"
)

// History returns the attempts of a pending or dead delivery, oldest
// first; see [outbox.Admin.History].
func (s *store) History(ctx context.Context, id string) ([]outbox.AttemptRecord, error) {
	var out []outbox.AttemptRecord
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := buckets(tx)
		if b.err != nil {
			return b.err
		}
		v, err := b.locate([]byte(id))
		if err != nil {
			return err
		}
		if v == nil {
			return outbox.ErrNotFound
		}
		r, _, err := decodeRecord(id, v)
		if err != nil {
			return err
		}
		// The newest limits.History: a file of an earlier version may
		// hold more, which the next attempt deletes.
		first := max(0, r.nhist-limits.History)
		out = make([]outbox.AttemptRecord, 0, r.nhist-first)
		for seq := first; seq < r.nhist; seq++ {
			hv := b.history.Get(historyKey(id, seq))
			if hv == nil {
				return corrupt("attempt of", id, errMissingRecord)
			}
			a, err := decodeAttempt(id, hv)
			if err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Stats counts deliveries from counters kept in memory; it reads nothing
// from disk. See [outbox.Admin.Stats].
func (s *store) Stats(ctx context.Context) (outbox.Stats, error) {
	if s.closedNow() {
		return outbox.Stats{}, outbox.ErrClosed
	}
	st := outbox.Stats{Pending: int(s.pending.Load()), Dead: int(s.dead.Load())}
	now := time.Now()
	s.mu.Lock()
	for _, l := range s.leases {
		if l.busy || l.until.After(now) {
			st.Leased++
		}
	}
	s.mu.Unlock()
	return st, nil
}
