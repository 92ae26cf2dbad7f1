package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// Key order. The pending deliveries that share a destination and a
// partition key form a line. Only the line's head is in the due bucket,
// where Lease finds it; the heads bucket names it. The others wait in the
// held bucket, keyed by their line and a sequence number taken from the
// bucket's own sequence in the commit that stored them, so they sort in
// the order they were put; Lease never reads them. When the head is
// delivered or dead-lettered, the same commit moves the first held one of
// its line to the due bucket and names it the head. A failed or released
// head stays the head, so the line waits through its retries. Deliveries
// without a key never enter a line, and cost nothing more.
//
// The two buckets appeared after format 3: Open adds them to a file
// without them (a read-only Open reads such a file as having no lines). A
// file with a keyed delivery is refused by a build that predates them
// (the record's flags say so), rather than misread.
var (
	bucketHeld  = []byte("held")  // dest 0x00 key 0x00 seq(8) id → record and body, behind their line's head
	bucketHeads = []byte("heads") // dest 0x00 key → the id of the line's head, pending in the due bucket
)

// whereHeld tags, in the ids bucket, a delivery in the held bucket.
const whereHeld = 'h'

// OrdersByKey reports that the store keeps the order of a partition key:
// it leases a delivery with an [outbox.Delivery.PartitionKey] only once
// every one put before it with the same destination and key is delivered
// or dead, across restarts. An [outbox.Queue] requires it of the store of
// an Ordered destination.
func (s *store) OrdersByKey() bool { return true }

// lineKey returns the heads bucket key of the line of dest and key, which
// is also the prefix of the line's held keys but for their 0x00.
func lineKey(dest, key string) []byte {
	k := make([]byte, 0, len(dest)+1+len(key))
	k = append(k, dest...)
	k = append(k, 0)
	return append(k, key...)
}

// heldKey returns the held bucket key of the delivery id, seq-th put.
func heldKey(dest, key string, seq uint64, id string) []byte {
	k := lineKey(dest, key)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, seq)
	return append(k, id...)
}

// parseHeldKey splits a held bucket key into its line key and id.
func parseHeldKey(k []byte) (line, id []byte, err error) {
	i := bytes.IndexByte(k, 0)
	j := -1
	if i > 0 {
		j = bytes.IndexByte(k[i+1:], 0)
	}
	if j < 0 || len(k) < i+1+j+1+8+1 {
		return nil, nil, fmt.Errorf("malformed held key %q", k)
	}
	end := i + 1 + j
	return k[:end], k[end+1+8:], nil
}

// loadLines opens the line buckets, if not yet, and reports whether the
// file has them.
func (b *bucketSet) loadLines() bool {
	if b.held.Bucket == nil {
		b.held.Bucket = b.tx.Bucket(bucketHeld)
	}
	if b.heads.Bucket == nil {
		b.heads.Bucket = b.tx.Bucket(bucketHeads)
	}
	return b.held.Bucket != nil && b.heads.Bucket != nil
}

// lines opens the line buckets, which every writable store's file has, or
// fails.
func (b *bucketSet) lines() error {
	if !b.loadLines() {
		return fmt.Errorf("%w: the buckets of ordered deliveries are missing", outbox.ErrCorrupt)
	}
	return nil
}

// enter stores the pending delivery id, with record r and body: in the
// due bucket if it has no key or its line is empty, and then as the line's
// head; at the back of its line in the held bucket otherwise.
func (b *bucketSet) enter(id string, r *record, body []byte) error {
	if r.key == "" {
		return b.putPending(id, r, body)
	}
	if err := b.lines(); err != nil {
		return err
	}
	lk := lineKey(r.dest, r.key)
	if b.heads.get(lk) == nil {
		if err := putAll(kv{&b.heads, lk, []byte(id)}); err != nil {
			return err
		}
		return b.putPending(id, r, body)
	}
	seq, err := b.held.NextSequence()
	if err != nil {
		return err
	}
	k := heldKey(r.dest, r.key, seq, id)
	return putAll(kv{&b.held, k, appendRecord(nil, r, body)}, kv{&b.ids, []byte(id), where(whereHeld, k)})
}

// leave ends the turn of the delivery id, whose record is r, at the head
// of its line, now that it is delivered or dead: the first held delivery
// of the line moves to the due bucket and becomes the head, or the line
// ends.
func (b *bucketSet) leave(id string, r *record) error {
	if r.key == "" {
		return nil
	}
	if err := b.lines(); err != nil {
		return err
	}
	lk := lineKey(r.dest, r.key)
	if !bytes.Equal(b.heads.get(lk), []byte(id)) {
		return corrupt("line of", id, errors.New("the delivery is not the head of its line"))
	}
	prefix := append(bytes.Clone(lk), 0)
	k, v := b.held.Cursor().Seek(prefix)
	if k == nil || !bytes.HasPrefix(k, prefix) {
		return b.heads.del(lk)
	}
	_, idb, err := parseHeldKey(k)
	if err != nil {
		return corruptIndex(err)
	}
	next := string(idb)
	nr, body, err := decodeRecord(next, v)
	if err != nil {
		return err
	}
	body = bytes.Clone(body) // bbolt's memory is valid only until the transaction writes
	if err := b.held.del(bytes.Clone(k)); err != nil {
		return err
	}
	if err := putAll(kv{&b.heads, lk, []byte(next)}); err != nil {
		return err
	}
	return b.putPending(next, &nr, body)
}

// verifyLines checks the held deliveries and the heads of the lines, and
// returns how many are held. keyed is the number of keyed deliveries in
// the due bucket, each of which verifyTree found named as its line's head:
// there must be as many heads, so that none names something else.
func verifyLines(b *bucketSet, keyed int64) (int64, error) {
	if b.held.Bucket == nil || b.heads.Bucket == nil {
		if keyed > 0 {
			return 0, b.lines()
		}
		return 0, nil
	}
	if n := int64(b.heads.Stats().KeyN); n != keyed {
		return 0, fmt.Errorf("%w: %d lines of ordered deliveries for %d heads", outbox.ErrCorrupt, n, keyed)
	}
	var n int64
	c := b.held.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		line, idb, err := parseHeldKey(k)
		if err != nil {
			return 0, corruptIndex(err)
		}
		id := string(idb)
		r, body, err := decodeRecord(id, v)
		if err != nil {
			return 0, err
		}
		if r.dead || r.key == "" || !bytes.Equal(lineKey(r.dest, r.key), line) {
			return 0, corrupt("held delivery", id, errors.New("its key disagrees with its record"))
		}
		if b.heads.get(line) == nil {
			return 0, corrupt("held delivery", id, errors.New("its line has no head"))
		}
		d := r.delivery(id)
		d.Body = body
		if err := storable(&d); err != nil {
			return 0, corrupt("delivery", id, err)
		}
		if !bytes.Equal(b.ids.get(idb), where(whereHeld, k)) {
			return 0, corrupt("id index entry of", id, errMissingRecord)
		}
		n++
	}
	return n, nil
}

// createLines adds the line buckets to a file that lacks them.
func createLines(tx *bolt.Tx) error {
	for _, name := range [][]byte{bucketHeld, bucketHeads} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}
