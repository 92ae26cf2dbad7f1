package boltstore

import (
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Put stores deliveries and returns once they are committed with fsync;
// see [outbox.Outbox.Put]. Concurrent Puts share commits. Deliveries come
// validated and with their defaults from the Queue; Put refuses, with
// [outbox.ErrInvalid], only what the file's format cannot hold (see
// storable), before it writes anything.
func (s *store) Put(ctx context.Context, ds ...outbox.Delivery) error {
	for i := range ds {
		if err := storable(&ds[i]); err != nil {
			return err
		}
	}
	if len(ds) == 0 {
		return ctx.Err()
	}
	var added int64
	return s.commit(ctx, func(tx *bolt.Tx, b *bucketSet) error {
		added = 0
		for i := range ds {
			d := &ds[i]
			if b.ids.get([]byte(d.ID)) != nil {
				continue // idempotent on the id
			}
			r := record{
				dest: d.Destination, event: d.EventID, trace: d.TraceParent, topic: d.Topic, ctype: d.ContentType, key: d.PartitionKey,
				created: wire.Nanos(d.Created), due: wire.Nanos(d.Due), attempts: d.Attempts,
			}
			if err := b.enter(d.ID, &r, d.Body); err != nil {
				return err
			}
			added++
		}
		return nil
	}, func() { s.pending.Add(added) })
}

// storable reports whether the file's format holds d: an id and a
// destination name that are not empty and hold no byte below 0x02 (keys end
// a name with 0x00 and bound a destination with 0x01), and fields no longer
// than the record decoder accepts. The error wraps [outbox.ErrInvalid].
func storable(d *outbox.Delivery) error {
	bad := func(s string, max int) bool {
		return s == "" || len(s) > max || strings.ContainsAny(s, "\x00\x01")
	}
	switch {
	case bad(d.ID, limits.ID):
		return fmt.Errorf("%w: boltstore cannot store the delivery id %q", outbox.ErrInvalid, d.ID)
	case bad(d.Destination, limits.Name):
		return fmt.Errorf("%w: boltstore cannot store the destination name %q (delivery %s)", outbox.ErrInvalid, d.Destination, d.ID)
	case len(d.PartitionKey) > wire.MaxKeyLen || strings.ContainsAny(d.PartitionKey, "\x00\x01"):
		return fmt.Errorf("%w: boltstore cannot store the partition key of delivery %s", outbox.ErrInvalid, d.ID)
	case len(d.EventID) > limits.ID, len(d.TraceParent) > telemetry.MaxTraceparent, len(d.Topic) > limits.Topic, len(d.ContentType) > limits.Topic,
		len(d.Body) > limits.Body, d.Attempts < 0:
		return fmt.Errorf("%w: boltstore cannot store delivery %s: a field is out of range", outbox.ErrInvalid, d.ID)
	}
	return nil
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
