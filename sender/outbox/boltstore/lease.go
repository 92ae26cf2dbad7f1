package boltstore

import (
	"bytes"
	"context"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/sender/outbox"
)

// Lease leases due deliveries; see [outbox.Outbox.Lease]. It seeks the due
// index of each destination in turn, starting after the one it served last,
// skips those o.Allow refuses without reading them, and reads records and
// bodies only of the deliveries it leases.
func (s *Store) Lease(ctx context.Context, o outbox.LeaseOptions) ([]outbox.Leased, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o = o.WithDefaults()
	now := o.Now.UnixNano()
	var out []outbox.Leased
	err := s.view(func(tx *bolt.Tx) (err error) {
		// Lock order: closeMu (taken by view) before mu, as in submit and
		// the committer; the other order can deadlock against Close.
		s.mu.Lock()
		defer s.mu.Unlock()
		defer func() {
			if err != nil { // undo the leases of a failed call
				for _, l := range out {
					delete(s.leases, l.ID)
				}
			}
		}()
		b := buckets(tx)
		if b.err != nil {
			return b.err
		}
		c := b.due.Cursor()
		// Visit destinations after lastDest, then wrap around to those up
		// to it.
		var k []byte
		if s.lastDest == "" {
			k, _ = c.First()
		} else {
			k, _ = c.Seek(destEnd([]byte(s.lastDest)))
		}
		start := s.lastDest
		wrapped := start == ""
		stop := []byte(start)
		for len(out) < o.Max {
			if k == nil {
				if wrapped {
					break
				}
				wrapped = true
				if k, _ = c.First(); k == nil {
					break
				}
			}
			dest, _, _, err := parseDueKey(k)
			if err != nil {
				return corruptIndex(err)
			}
			if wrapped && start != "" && bytes.Compare(dest, stop) > 0 {
				break
			}
			dest = bytes.Clone(dest)
			n := o.Max - len(out)
			if o.Allow != nil {
				n = min(n, o.Allow(string(dest)))
			}
			if n > 0 {
				got, err := s.leaseDest(c, &b, k, dest, now, n, o)
				if err != nil {
					return err
				}
				if len(got) > 0 {
					out = append(out, got...)
					s.lastDest = string(dest)
				}
			}
			k, _ = c.Seek(destEnd(dest))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// leaseDest leases up to n due deliveries of dest, whose first index key
// is k, the cursor's position.
func (s *Store) leaseDest(c *bolt.Cursor, b *bucketSet, k, dest []byte, now int64, n int, o outbox.LeaseOptions) ([]outbox.Leased, error) {
	var out []outbox.Leased
	prefixLen := len(dest) + 1
	for ; k != nil && len(out) < n; k, _ = c.Next() {
		if len(k) < prefixLen || !bytes.Equal(k[:len(dest)], dest) || k[len(dest)] != 0 {
			break
		}
		_, due, idb, err := parseDueKey(k)
		if err != nil {
			return out, corruptIndex(err)
		}
		if due > now {
			break
		}
		if l, ok := s.leases[string(idb)]; ok && (l.busy || l.until.After(o.Now)) {
			continue
		}
		id := string(idb)
		v := b.deliveries.Get(idb)
		if v == nil {
			return out, corrupt("due index entry of", id, errMissingRecord)
		}
		r, err := decodeRecord(id, v)
		if err != nil {
			return out, err
		}
		body := b.bodies.Get(idb)
		if body == nil {
			return out, corrupt("body of", id, errMissingRecord)
		}
		d := r.delivery(id)
		d.Body = bytes.Clone(body) // bbolt's memory is valid only within the transaction
		s.tokens++
		l := &lease{token: "b" + strconv.FormatUint(s.tokens, 36), until: o.Now.Add(o.TTL)}
		s.leases[id] = l
		out = append(out, outbox.Leased{Delivery: d, Token: l.token, Until: l.until})
	}
	return out, nil
}

// settle ends the lease (id, token) by committing fn on the delivery's
// record; after runs once committed. A lease being settled cannot be taken
// by Lease nor settled twice.
func (s *Store) settle(ctx context.Context, id, token string, fn func(b *bucketSet, key []byte, r *record) error, after func()) error {
	s.mu.Lock()
	l, ok := s.leases[id]
	if !ok || token == "" || l.token != token || l.busy {
		s.mu.Unlock()
		return outbox.ErrLeaseLost
	}
	l.busy = true
	s.mu.Unlock()

	o := &op{lazy: true, lease: l, leaseID: id, after: after, fn: func(tx *bolt.Tx, b *bucketSet) error {
		key := []byte(id)
		v := b.deliveries.Get(key)
		if v == nil {
			return outbox.ErrNotFound
		}
		r, err := decodeRecord(id, v)
		if err != nil {
			return err
		}
		if r.dead {
			return outbox.ErrLeaseLost
		}
		return fn(b, key, &r)
	}}
	submitted, err := s.submit(ctx, o)
	if !submitted {
		// The committer never saw it: free the lease here.
		s.mu.Lock()
		l.busy = false
		s.mu.Unlock()
	}
	return err
}

// Ack deletes a delivered delivery with its body and history; see
// [outbox.Outbox.Ack].
func (s *Store) Ack(ctx context.Context, id, token string) error {
	return s.settle(ctx, id, token, func(b *bucketSet, key []byte, r *record) error {
		return deleteDelivery(b, key, r)
	}, func() { s.pending.Add(-1) })
}

// Reschedule records a failed attempt and moves the delivery in the due
// index; see [outbox.Outbox.Reschedule].
func (s *Store) Reschedule(ctx context.Context, id, token string, due time.Time, a outbox.Attempt) error {
	a = a.Clip()
	return s.settle(ctx, id, token, func(b *bucketSet, key []byte, r *record) error {
		old := dueKey(r.dest, r.due, id)
		r.due = due.UnixNano()
		hk := historyKey(id, r.nhist)
		r.attempts++
		r.nhist++
		if err := b.due.Delete(old); err != nil {
			return err
		}
		return putAll(
			kv{b.history, hk, appendAttempt(nil, &a)},
			kv{b.deliveries, key, appendRecord(nil, r)},
			kv{b.due, dueKey(r.dest, r.due, id), nil},
		)
	}, nil)
}

// Release gives a leased delivery back, due as before; see
// [outbox.Outbox.Release]. Leases live in memory, so it writes nothing.
func (s *Store) Release(ctx context.Context, id, token string) error {
	if s.closedNow() { // before mu: closeMu comes first (see Lease)
		return outbox.ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.leases[id]
	if !ok || token == "" || l.token != token || l.busy {
		return outbox.ErrLeaseLost
	}
	delete(s.leases, id)
	return nil
}

// DeadLetter records a final attempt and moves the delivery from the due
// index to the dead letter index; see [outbox.Outbox.DeadLetter].
func (s *Store) DeadLetter(ctx context.Context, id, token, reason string, a outbox.Attempt) error {
	a = a.Clip()
	reason = outbox.ClipText(reason)
	return s.settle(ctx, id, token, func(b *bucketSet, key []byte, r *record) error {
		old := dueKey(r.dest, r.due, id)
		hk := historyKey(id, r.nhist)
		r.attempts++
		r.nhist++
		r.dead, r.reason, r.deadAt = true, reason, time.Now().UnixNano()
		if err := b.due.Delete(old); err != nil {
			return err
		}
		return putAll(
			kv{b.history, hk, appendAttempt(nil, &a)},
			kv{b.deliveries, key, appendRecord(nil, r)},
			kv{b.dead, deadKey(r.dest, id), nil},
		)
	}, func() { s.pending.Add(-1); s.dead.Add(1) })
}

// deleteDelivery deletes a delivery's record, body, index entry and history.
func deleteDelivery(b *bucketSet, key []byte, r *record) error {
	id := string(key)
	idx, k := b.due, dueKey(r.dest, r.due, id)
	if r.dead {
		idx, k = b.dead, deadKey(r.dest, id)
	}
	for _, del := range []struct {
		b *bolt.Bucket
		k []byte
	}{{idx, k}, {b.deliveries, key}, {b.bodies, key}} {
		if err := del.b.Delete(del.k); err != nil {
			return err
		}
	}
	for seq := range r.nhist {
		if err := b.history.Delete(historyKey(id, seq)); err != nil {
			return err
		}
	}
	return nil
}

// closedNow reports whether Close was called.
func (s *Store) closedNow() bool {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	return s.closed
}
