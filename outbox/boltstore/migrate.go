package boltstore

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// Format 1 kept bodies in a bucket of their own, apart from the records;
// format 2 stored each body after its record, in a bucket keyed by id, with
// a due index beside it; format 3 keeps record and body under the due key
// itself (see bucketDue), so that leasing and acknowledging walk the file
// in due order whatever the ids.
var (
	formatName1      = []byte("herald-outbox/1")
	formatName2      = []byte("herald-outbox/2")
	bucketBodies     = []byte("bodies")     // format 1: id → body
	bucketDeliveries = []byte("deliveries") // formats 1 and 2: id → record (and body, in 2)
)

// migrateBatch bounds the deliveries moved per transaction, so that a big
// file needs no more memory than a batch of bodies to migrate.
const migrateBatch = 1000

// migrate1 turns a format 1 file into a format 2 one, a batch of
// deliveries per transaction: each moves bodies next to their records (as
// version 2 records) and deletes them from the bodies bucket. A crash in
// between leaves a format 1 file, part migrated, which the next Open
// finishes; a body without its record, or a record left without a body, is
// reported as damage, never dropped.
func (s *store) migrate1() error {
	return s.drain(bucketBodies, formatName2, func(tx *bolt.Tx, keys [][]byte) error {
		deliveries, bodies := tx.Bucket(bucketDeliveries), tx.Bucket(bucketBodies)
		if deliveries == nil {
			return fmt.Errorf("%w: a bucket is missing", outbox.ErrCorrupt)
		}
		for _, k := range keys {
			id := string(k)
			v := deliveries.Get(k)
			if v == nil {
				return corrupt("record of body", id, errMissingRecord)
			}
			r, _, err := decodeVersion(id, v, recordV1)
			if err != nil {
				return err
			}
			if err := deliveries.Put(k, appendRecord(nil, &r, bodies.Get(k))); err != nil {
				return err
			}
			if err := bodies.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// migrate2 turns a format 2 file into a format 3 one, a batch of deliveries
// per transaction: each moves records, with their bodies, from the
// deliveries bucket to the entries of the due or dead index that named
// them, adds their ids entries, and deletes them from the deliveries
// bucket. A crash in between leaves a format 2 file, part migrated, which
// the next Open finishes; a record whose index entry is missing is
// reported as damage, never dropped.
func (s *store) migrate2() error {
	return s.drain(bucketDeliveries, formatName, func(tx *bolt.Tx, keys [][]byte) error {
		if _, err := tx.CreateBucketIfNotExists(bucketIDs); err != nil {
			return err
		}
		deliveries, b := tx.Bucket(bucketDeliveries), buckets(tx)
		if b.err != nil {
			return b.err
		}
		for _, k := range keys {
			id := string(k)
			r, body, err := decodeRecord(id, deliveries.Get(k))
			if err != nil {
				return err
			}
			if r.dead {
				if b.dead.get(deadKey(r.dest, id)) == nil {
					return corrupt("dead letter index entry of", id, errMissingRecord)
				}
				err = b.putDead(id, &r, body)
			} else {
				if b.due.get(dueKey(r.dest, r.due, id)) == nil {
					return corrupt("due index entry of", id, errMissingRecord)
				}
				err = b.putPending(id, &r, body)
			}
			if err != nil {
				return err
			}
			if err := deliveries.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// drain runs move on the keys of the bucket from, a batch of at most
// migrateBatch per transaction, until move has emptied it; then it drops
// the bucket and marks the file as format to, in the last transaction.
func (s *store) drain(from, to []byte, move func(tx *bolt.Tx, keys [][]byte) error) error {
	for {
		done := false
		err := s.db.Update(func(tx *bolt.Tx) error {
			meta, src := tx.Bucket(bucketMeta), tx.Bucket(from)
			if meta == nil || src == nil {
				return fmt.Errorf("%w: a bucket is missing", outbox.ErrCorrupt)
			}
			var keys [][]byte
			c := src.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < migrateBatch; k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			if len(keys) == 0 {
				done = true
				if err := tx.DeleteBucket(from); err != nil {
					return err
				}
				return meta.Put(keyFormat, to)
			}
			return move(tx, keys)
		})
		if err != nil || done {
			return err
		}
	}
}
