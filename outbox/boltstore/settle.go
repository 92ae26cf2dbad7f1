package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Settle records the outcomes of attempts; see [outbox.Outbox.Settle]. The
// changes of every settlement go to the committer as one change, committed
// at once: the caller (a Queue) gathered the batch already. The texts of
// an attempt and a reason are cut to 1024 bytes, as the record
// format holds no more.
func (s *store) Settle(ctx context.Context, ss []outbox.Settlement) []error {
	errs := make([]error, len(ss))
	err := ctx.Err()
	if err == nil && s.closedNow() { // before mu: closeMu comes first (see Lease)
		err = outbox.ErrClosed
	}
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	ends := s.takeLeases(ss, errs)
	if len(ends) == 0 {
		return errs
	}

	var acked, died int64
	o := &op{ends: ends, fn: func(tx *bolt.Tx, b *bucketSet) error {
		acked, died = 0, 0
		for i := range ends {
			e := &ends[i]
			st := &ss[e.i]
			r := e.lease.rec // a copy: a failed commit leaves the lease's intact
			switch st.Outcome {
			case outbox.Delivered:
				if e.err = deleteDelivery(b, st.ID, &r); e.err == nil {
					e.err = b.leave(st.ID, &r)
				}
				if e.err == nil {
					acked++
				}
			case outbox.Retrying:
				e.err = reschedule(b, st.ID, &r, st.Due, clip(st.Attempt))
			case outbox.DeadLettered:
				if e.err = deadLetter(b, st.ID, &r, limits.Clip(st.Reason), clip(st.Attempt)); e.err == nil {
					e.err = b.leave(st.ID, &r)
				}
				if e.err == nil {
					died++
				}
			}
		}
		return nil
	}, after: func() {
		s.pending.Add(-acked - died)
		s.dead.Add(died)
	}}
	submitted, err := s.submit(ctx, o)
	if !submitted {
		// The committer never saw it: free the leases here.
		s.mu.Lock()
		for _, e := range ends {
			e.lease.busy = false
		}
		s.mu.Unlock()
	}
	for _, e := range ends {
		errs[e.i] = err
		if err == nil {
			errs[e.i] = e.err
		}
	}
	return errs
}

// ending is the lease a settlement ends, and how its change went.
type ending struct {
	i     int // the settlement's index
	id    string
	lease *lease
	err   error
}

// reschedule records attempt a of the delivery id and makes it due at due:
// its entry moves in the due bucket.
func reschedule(b *bucketSet, id string, r *record, due time.Time, a outbox.AttemptRecord) error {
	body, err := takeBody(b, id, r)
	if err != nil {
		return err
	}
	r.due = wire.Nanos(due)
	r.attempts = limits.CountOn(r.attempts, maxCount)
	if err := addAttempt(b, id, r, a); err != nil {
		return err
	}
	return b.putPending(id, r, body)
}

// deadLetter records the final attempt a of the delivery id and moves it
// from the due bucket to the dead one.
func deadLetter(b *bucketSet, id string, r *record, reason string, a outbox.AttemptRecord) error {
	body, err := takeBody(b, id, r)
	if err != nil {
		return err
	}
	r.attempts = limits.CountOn(r.attempts, maxCount)
	r.dead, r.reason, r.deadAt = true, reason, time.Now().UnixNano()
	if err := addAttempt(b, id, r, a); err != nil {
		return err
	}
	return b.putDead(id, r, body)
}

// addAttempt records a as the next attempt of the delivery id, whose
// record is r, and deletes those before the newest limits.History: the one
// that falls out, or, in a file of an earlier version that kept every
// attempt, all the surplus at once. A delivery replayed again and again
// would otherwise grow the file, and its History, without bound.
func addAttempt(b *bucketSet, id string, r *record, a outbox.AttemptRecord) error {
	hk := historyKey(id, r.nhist)
	r.nhist++
	if err := putAll(kv{&b.history, hk, appendAttempt(nil, &a)}); err != nil {
		return err
	}
	if r.nhist <= limits.History {
		return nil
	}
	return b.history.delBefore(hk[:len(id)+1], historyKey(id, r.nhist-limits.History))
}

// takeBody deletes the entry of the delivery id, whose record is r, from
// the due or dead bucket, and returns a copy of its body.
func takeBody(b *bucketSet, id string, r *record) ([]byte, error) {
	var kb [keyRoom]byte
	t, k := b.home(kb[:0], id, r)
	v := t.get(k)
	if v == nil {
		return nil, corrupt("delivery", id, errMissingRecord)
	}
	_, body, err := decodeRecord(id, v)
	if err != nil {
		return nil, err
	}
	body = bytes.Clone(body) // bbolt's memory is valid only until the transaction writes
	return body, t.del(k)
}

// keyRoom is the room for a key on the stack: a longer one is allocated.
const keyRoom = 128

// deleteDelivery deletes a delivery's record and body, its ids entry and
// its history.
func deleteDelivery(b *bucketSet, id string, r *record) error {
	var kb [keyRoom]byte
	t, k := b.home(kb[:0], id, r)
	if err := t.del(k); err != nil {
		return err
	}
	// Due and dead keys end with the id: its ids entry needs no key of
	// its own.
	if err := b.ids.del(k[len(k)-len(id):]); err != nil {
		return err
	}
	if r.nhist == 0 {
		return nil
	}
	// By prefix, not one key per count: the count comes from the file,
	// and a damaged one could hold a billion.
	return b.history.delPrefix(historyKey(id, 0)[:len(id)+1])
}

// errUnknownOutcome reports a settlement whose Outcome is none of the four.
func errUnknownOutcome(o outbox.Outcome) error {
	return fmt.Errorf("%w: unknown outcome %d", outbox.ErrInvalid, o)
}

// clip returns a with its Error cut to the record format's
// 1024 bytes.
func clip(a outbox.AttemptRecord) outbox.AttemptRecord {
	a.Error = limits.Clip(a.Error)
	return a
}

// takeLeases takes the lease of each settlement, so that it can be neither
// leased again nor settled twice while its change waits for the committer,
// and returns what the committer must write, in one slice rather than an
// allocation per settlement. A release writes nothing: leases live in
// memory. The errors of settlements it refuses go to errs.
func (s *store) takeLeases(ss []outbox.Settlement, errs []error) (ends []ending) {
	s.mu.Lock()
	for i, st := range ss {
		l, ok := s.leases[st.ID]
		if !ok || st.Token == "" || l.token != st.Token || l.busy {
			errs[i] = outbox.ErrLeaseLost
			continue
		}
		switch st.Outcome {
		case outbox.Released:
			delete(s.leases, st.ID)
			delete(s.skips, l.rec.dest) // due again, maybe before the skip
		case outbox.Delivered, outbox.Retrying, outbox.DeadLettered:
			l.busy = true
			if ends == nil {
				ends = make([]ending, 0, len(ss)-i)
			}
			ends = append(ends, ending{i: i, id: st.ID, lease: l})
		default:
			errs[i] = errUnknownOutcome(st.Outcome)
		}
	}
	s.mu.Unlock()
	return ends
}
