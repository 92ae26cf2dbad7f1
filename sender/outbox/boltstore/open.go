package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/heraldhq/herald/sender/outbox"
)

// precheck opens an existing file read-only and makes sure it is a whole
// bbolt database whose pages bbolt can walk: its pages are memory mapped,
// and touching a page past the end of a truncated file would crash the
// process instead of failing; and bbolt walks every page at Open to find
// the free ones, where a damaged page cannot be recovered from (see
// checkPages).
func precheck(path string, timeout time.Duration) error {
	ok, err := exists(path)
	if err != nil || !ok {
		return err
	}
	db, err := openBolt(path, 0, &bolt.Options{ReadOnly: true, Timeout: timeout})
	if err != nil {
		return err
	}
	defer db.Close()
	f, err := os.Open(path)
	if err != nil {
		return pathError(path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return pathError(path, err)
	}
	var want int64
	var root uint64
	if err := db.View(func(tx *bolt.Tx) error {
		want, root = tx.Size(), uint64(tx.Cursor().Bucket().Root())
		return nil
	}); err != nil {
		return pathError(path, err)
	}
	if fi.Size() < want {
		return pathError(path, fmt.Errorf("%w: file is truncated: %d bytes, the database needs %d", outbox.ErrCorrupt, fi.Size(), want))
	}
	size := db.Info().PageSize
	if err := checkPages(f, size, uint64(want)/uint64(size), root); err != nil {
		return pathError(path, err)
	}
	return nil
}

// openBolt opens the file with bbolt, turning its errors, and any panic
// over a damaged file, into errors that say what is wrong.
func openBolt(path string, mode fs.FileMode, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see guarded
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, pathError(path, fmt.Errorf("%w: %v", outbox.ErrCorrupt, r))
		}
	}()
	db, err = bolt.Open(path, mode, o)
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, berrors.ErrTimeout):
		return nil, pathError(path, fmt.Errorf("%w (waited %s)", ErrLocked, o.Timeout))
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch),
		errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrInvalidMapping):
		return nil, pathError(path, fmt.Errorf("%w: not a valid bbolt file: %w", outbox.ErrCorrupt, err))
	case strings.Contains(err.Error(), "file size too small"): // bbolt has no sentinel for it
		return nil, pathError(path, fmt.Errorf("%w: truncated: %w", outbox.ErrCorrupt, err))
	default:
		return nil, pathError(path, err)
	}
}

// setup creates the buckets of a new file, or checks an existing one: its
// format marker, every record, and the body and index entry each one needs.
// It counts pending deliveries and dead letters on the way.
func (s *Store) setup(path string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true)) // see guarded
	defer func() {
		if r := recover(); r != nil {
			err = pathError(path, fmt.Errorf("%w: %v", outbox.ErrCorrupt, r))
		}
	}()
	migrating := false
	err = s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("%w: a bbolt file, but not a herald outbox", outbox.ErrCorrupt)
			}
			for _, name := range [][]byte{bucketMeta, bucketDeliveries, bucketDue, bucketDead, bucketHistory} {
				if _, err := tx.CreateBucket(name); err != nil {
					return err
				}
			}
			return tx.Bucket(bucketMeta).Put(keyFormat, formatName)
		}
		switch f := meta.Get(keyFormat); {
		case bytes.Equal(f, formatName):
		case bytes.Equal(f, formatName1):
			migrating = true
		default:
			return fmt.Errorf("%w: unknown outbox format %q", outbox.ErrCorrupt, f)
		}
		return nil
	})
	if err == nil && migrating {
		err = s.migrate()
	}
	if err != nil {
		return pathError(path, err)
	}
	err = s.db.View(s.verify)
	if err != nil {
		return pathError(path, err)
	}
	return nil
}

// verify checks every record, and its index entry, and counts them.
func (s *Store) verify(tx *bolt.Tx) error {
	b := buckets(tx)
	if b.err != nil {
		return b.err
	}
	var pending, dead int64
	c := b.deliveries.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		id := string(k)
		r, body, err := decodeRecord(id, v)
		if err != nil {
			return err
		}
		d := r.delivery(id)
		d.Body = body
		if err := d.Validate(); err != nil {
			return corrupt("delivery", id, err)
		}
		if r.dead {
			dead++
			if b.dead.Get(deadKey(r.dest, id)) == nil {
				return corrupt("dead letter index entry of", id, errMissingRecord)
			}
		} else {
			pending++
			if b.due.Get(dueKey(r.dest, r.due, id)) == nil {
				return corrupt("due index entry of", id, errMissingRecord)
			}
		}
	}
	// The due index may only name pending deliveries: a stray entry would
	// make Lease fail later, so report it now.
	var n int64
	dc := b.due.Cursor()
	for k, _ := dc.First(); k != nil; k, _ = dc.Next() {
		if _, _, _, err := parseDueKey(k); err != nil {
			return corruptIndex(err)
		}
		n++
	}
	if n != pending {
		return fmt.Errorf("%w: due index has %d entries for %d pending deliveries", outbox.ErrCorrupt, n, pending)
	}
	s.pending.Store(pending)
	s.dead.Store(dead)
	return nil
}

// bucketSet holds the buckets of one transaction.
type bucketSet struct {
	deliveries, due, dead, history tree
	err                            error
	// added holds, by destination, the least due index key the
	// transaction added, for Store.dropSkips.
	added map[string][]byte
}

// dueEntry returns the write of a due index entry, and notes it in added.
func (b *bucketSet) dueEntry(dest string, due int64, id string) kv {
	k := dueKey(dest, due, id)
	if old, ok := b.added[dest]; !ok || bytes.Compare(k, old) < 0 {
		if b.added == nil {
			b.added = make(map[string][]byte)
		}
		b.added[dest] = k
	}
	return kv{&b.due, k, nil}
}

// buckets returns the store's buckets in tx, or an error if one is missing.
func buckets(tx *bolt.Tx) bucketSet {
	b := bucketSet{
		deliveries: tree{Bucket: tx.Bucket(bucketDeliveries)},
		due:        tree{Bucket: tx.Bucket(bucketDue)},
		dead:       tree{Bucket: tx.Bucket(bucketDead)},
		history:    tree{Bucket: tx.Bucket(bucketHistory)},
	}
	if b.deliveries.Bucket == nil || b.due.Bucket == nil || b.dead.Bucket == nil || b.history.Bucket == nil {
		b.err = fmt.Errorf("%w: a bucket is missing", outbox.ErrCorrupt)
	}
	return b
}

// tree is a bucket with a cursor that its get and del reuse, made on first
// use. bbolt's Bucket.Get and Bucket.Delete make a new cursor per call, and
// on the hot paths (each Lease, and each commit of settled deliveries)
// those cursors were a large share of what the store allocated.
type tree struct {
	*bolt.Bucket
	c *bolt.Cursor
}

// get returns the value of key, or nil if there is none, like Bucket.Get.
func (t *tree) get(key []byte) []byte {
	if t.c == nil {
		t.c = t.Cursor()
	}
	k, v := t.c.Seek(key)
	if !bytes.Equal(k, key) {
		return nil
	}
	return v
}

// del deletes key if it is there, like Bucket.Delete.
func (t *tree) del(key []byte) error {
	if t.c == nil {
		t.c = t.Cursor()
	}
	if k, _ := t.c.Seek(key); !bytes.Equal(k, key) {
		return nil
	}
	return t.c.Delete()
}
