package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/idclash"
	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Put stores deliveries and returns once they are committed with fsync;
// see [outbox.Outbox.Put]. Concurrent Puts share commits. Deliveries come
// validated and with their defaults from the Queue; Put refuses, with
// [outbox.ErrInvalid], what the file's format cannot hold (see storable)
// and an id the file holds, or ds gives, for another destination, before
// it writes anything.
func (s *store) Put(ctx context.Context, ds ...outbox.Delivery) error {
	for i := range ds {
		if err := storable(&ds[i]); err != nil {
			return err
		}
	}
	repeats, err := idclash.Batch(ctx, outbox.ErrInvalid, len(ds), func(i int) (string, string) { return ds[i].ID, ds[i].Destination })
	if err != nil || len(ds) == 0 {
		return err
	}
	var added int64
	return s.commit(ctx, func(tx *bolt.Tx, b *bucketSet) error {
		added = 0
		skip, err := b.skipped(ds, repeats)
		if err != nil {
			return err
		}
		for i := range ds {
			if skip != nil && skip[i] {
				continue // idempotent on the id and destination
			}
			d := &ds[i]
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

// skipped returns which deliveries of ds Put skips: those whose id the file
// holds for their destination, and repeats (see idclash.InBatch), or nil
// when none. It fails, before Put writes anything, on an id the file holds
// for another destination.
func (b *bucketSet) skipped(ds []outbox.Delivery, repeats []bool) ([]bool, error) {
	skip := slices.Clone(repeats)
	for i := range ds {
		if repeats != nil && repeats[i] {
			continue
		}
		w := b.ids.get([]byte(ds[i].ID))
		if w == nil {
			continue
		}
		// Every key an ids entry points to starts with the destination
		// and 0x00 (see keys.go).
		var dest []byte
		ok := len(w) > 0
		if ok {
			dest, _, ok = bytes.Cut(w[1:], []byte{0})
		}
		if !ok {
			return nil, fmt.Errorf("%w: boltstore: the ids entry of delivery %s is malformed", outbox.ErrCorrupt, ds[i].ID)
		}
		if string(dest) != ds[i].Destination {
			return nil, idclash.Err(outbox.ErrInvalid, ds[i].ID, string(dest), ds[i].Destination)
		}
		if skip == nil {
			skip = make([]bool, len(ds))
		}
		skip[i] = true
	}
	return skip, nil
}

// storable reports whether the file's format holds d: an id and a
// destination name that are not empty and hold no byte below 0x02 (keys end
// a name with 0x00 and bound a destination with 0x01), and fields no longer
// than the record decoder accepts, an attempt count too (one it refused
// made every Lease fail). The error wraps [outbox.ErrInvalid].
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
		len(d.Body) > limits.Body, d.Attempts < 0, d.Attempts > maxCount:
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
