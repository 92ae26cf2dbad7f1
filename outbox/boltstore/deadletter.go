package boltstore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/deadlist"
	"github.com/heraldhq/herald/outbox"
)

// DeadLetters lists dead letters in destination and id order; see
// [outbox.Admin.DeadLetters].
func (s *store) DeadLetters(ctx context.Context, q outbox.DeadLetterQuery) ([]outbox.DeadLetter, error) {
	limit := deadlist.Limit(q.Limit)
	var out []outbox.DeadLetter
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := buckets(tx)
		if b.err != nil {
			return b.err
		}
		var prefix []byte
		if q.Destination != "" {
			prefix = deadKey(q.Destination, "")
		}
		c := b.dead.Cursor()
		k, v := c.Seek(prefix)
		if q.After != nil {
			after := deadKey(q.After.Destination, q.After.ID)
			if bytes.Compare(after, prefix) >= 0 {
				k, v = c.Seek(after)
				if bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
		}
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			dest, _, id, err := parseKey(k, whereDead)
			if err != nil {
				return corruptIndex(err)
			}
			r, _, err := decodeRecord(string(id), v)
			if err != nil {
				return err
			}
			if !r.dead || r.dest != string(dest) {
				return corrupt("dead letter", string(id), errors.New("index disagrees with record"))
			}
			out = append(out, outbox.DeadLetter{Delivery: r.delivery(string(id)), Reason: r.reason, At: time.Unix(0, r.deadAt)})
		}
		return nil
	})
	return out, err
}

// Replay moves the selected dead letters back to pending, due now, with no
// attempts counted; see [outbox.Admin.Replay].
func (s *store) Replay(ctx context.Context, sel outbox.Selector) (int, error) {
	now := time.Now().UnixNano()
	return s.eachDead(ctx, sel, func(b *bucketSet, id string, r *record) error {
		body, err := takeBody(b, id, r)
		if err != nil {
			return err
		}
		r.dead, r.reason, r.deadAt = false, "", 0
		r.attempts, r.due = 0, now
		return b.enter(id, r, body) // at the back of its line, if it has a key
	}, func(n int) { s.dead.Add(-int64(n)); s.pending.Add(int64(n)) })
}

// Purge deletes the selected dead letters and their history;
// see [outbox.Admin.Purge].
func (s *store) Purge(ctx context.Context, sel outbox.Selector) (int, error) {
	return s.eachDead(ctx, sel, deleteDelivery, func(n int) { s.dead.Add(-int64(n)) })
}

// eachDead commits fn on every dead letter sel selects, then after(count).
func (s *store) eachDead(ctx context.Context, sel outbox.Selector, fn func(b *bucketSet, id string, r *record) error, after func(int)) (int, error) {
	if err := sel.Validate(); err != nil {
		return 0, err
	}
	n := 0
	err := s.commit(ctx, func(tx *bolt.Tx, b *bucketSet) error {
		n = 0
		// Collect first: fn changes the index being walked, and every
		// record is decoded before anything is written.
		type target struct {
			id string
			r  record
		}
		var targets []target
		seen := map[string]bool{}
		// add selects the delivery id, whose value is v (nil: none).
		add := func(id, v []byte) error {
			if v == nil || seen[string(id)] {
				return nil
			}
			r, _, err := decodeRecord(string(id), v)
			if err != nil {
				return err
			}
			if r.dead {
				s := string(id)
				seen[s] = true
				targets = append(targets, target{s, r})
			}
			return nil
		}
		if sel.All || sel.Destination != "" {
			var prefix []byte
			if !sel.All {
				prefix = deadKey(sel.Destination, "")
			}
			c := b.dead.Cursor()
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				_, _, id, err := parseKey(k, whereDead)
				if err != nil {
					return corruptIndex(err)
				}
				if err := add(id, v); err != nil {
					return err
				}
			}
		}
		for _, id := range sel.IDs {
			v, err := b.locate([]byte(id))
			if err != nil {
				return err
			}
			if err := add([]byte(id), v); err != nil {
				return err
			}
		}
		// In the order they died, which for the dead letters of one line
		// is the order they held in it: a Replay puts them back in that
		// order. (Only a wall clock stepped back between two deaths of one
		// line, a lease and an attempt apart, could swap them.)
		slices.SortFunc(targets, func(x, y target) int {
			return cmp.Or(cmp.Compare(x.r.deadAt, y.r.deadAt), strings.Compare(x.id, y.id))
		})
		for i := range targets {
			if err := fn(b, targets[i].id, &targets[i].r); err != nil {
				return err
			}
		}
		n = len(targets)
		return nil
	}, func() { after(n) })
	if err != nil {
		return 0, err
	}
	return n, nil
}
