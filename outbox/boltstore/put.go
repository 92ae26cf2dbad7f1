package boltstore

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// Put stores deliveries and returns once they are committed with fsync;
// see [outbox.Outbox.Put]. Concurrent Puts share commits.
func (s *Store) Put(ctx context.Context, ds ...outbox.Delivery) error {
	for i := range ds {
		if err := ds[i].Validate(); err != nil {
			return err
		}
	}
	if len(ds) == 0 {
		return ctx.Err()
	}
	now := time.Now().UnixNano()
	var added int64
	return s.commit(ctx, false, func(tx *bolt.Tx, b *bucketSet) error {
		added = 0
		for i := range ds {
			d := &ds[i]
			if b.ids.get([]byte(d.ID)) != nil {
				continue // idempotent on the id
			}
			r := record{
				dest: d.Destination, topic: d.Topic, ctype: d.ContentType,
				created: now, due: now, attempts: d.Attempts,
			}
			if !d.Created.IsZero() {
				r.created = d.Created.UnixNano()
			}
			if !d.Due.IsZero() {
				r.due = d.Due.UnixNano()
			}
			if err := b.putPending(d.ID, &r, d.Body); err != nil {
				return err
			}
			added++
		}
		return nil
	}, func() { s.pending.Add(added) })
}

// kv is one write.
type kv struct {
	b    *tree
	k, v []byte
}

// putAll writes each kv. bbolt keeps the key and value slices until the
// transaction commits, so they must not be reused before.
func putAll(kvs ...kv) error {
	for _, w := range kvs {
		v := w.v
		if v == nil {
			v = []byte{}
		}
		if err := w.b.Put(w.k, v); err != nil {
			return err
		}
	}
	return nil
}
