package boltstore

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/sender/outbox"
)

// Format 1 kept bodies in a bucket of their own, apart from the records;
// format 2 stores each body after its record, so that a lease reads one
// value and an acknowledgement deletes one.
var (
	formatName1  = []byte("herald-outbox/1")
	bucketBodies = []byte("bodies") // format 1: id → body
)

// migrateBatch bounds the deliveries moved per transaction, so that a big
// file needs no more memory than a batch of bodies to migrate.
const migrateBatch = 1000

// migrate turns a format 1 file into a format 2 one, a batch of deliveries
// per transaction: each moves bodies next to their records (as version 2
// records) and deletes them from the bodies bucket. Once it is empty, the
// last transaction drops it and marks the file as format 2. A crash in
// between leaves a format 1 file, part migrated, which the next Open
// finishes; a body without its record, or a record left without a body, is
// reported as damage, never dropped.
func (s *Store) migrate() error {
	for {
		done := false
		err := s.db.Update(func(tx *bolt.Tx) error {
			deliveries, bodies := tx.Bucket(bucketDeliveries), tx.Bucket(bucketBodies)
			meta := tx.Bucket(bucketMeta)
			if deliveries == nil || bodies == nil || meta == nil {
				return fmt.Errorf("%w: a bucket is missing", outbox.ErrCorrupt)
			}
			var keys [][]byte
			c := bodies.Cursor()
			for k, _ := c.First(); k != nil && len(keys) < migrateBatch; k, _ = c.Next() {
				keys = append(keys, bytes.Clone(k))
			}
			if len(keys) == 0 {
				done = true
				if err := tx.DeleteBucket(bucketBodies); err != nil {
					return err
				}
				return meta.Put(keyFormat, formatName)
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
		if err != nil || done {
			return err
		}
	}
}
