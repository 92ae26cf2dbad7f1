package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/heraldhq/herald/outbox"
)

// precheck opens an existing file read-only and makes sure it is a whole
// bbolt database whose pages bbolt can walk: its pages are memory mapped,
// and touching a page past the end of a truncated file would crash the
// process instead of failing; and bbolt walks every page at Open to find
// the free ones, where a damaged page cannot be recovered from (see
// checkPages). With o.NoCreate it also refuses, before anything opens the
// file for writing, a path that is not a herald outbox already.
func precheck(path string, o *Options) error {
	ok, err := exists(path)
	if err != nil {
		return err
	}
	if !ok {
		if o.NoCreate {
			return absent(path)
		}
		return nil
	}
	db, err := openBolt(path, 0, &bolt.Options{ReadOnly: true, Timeout: o.LockTimeout})
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
	if err := guarded(func() error {
		return db.View(func(tx *bolt.Tx) error {
			want, root = tx.Size(), uint64(tx.Cursor().Bucket().Root())
			if !o.NoCreate {
				return nil
			}
			_, _, err := checkFormat(tx, o)
			return err
		})
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

// absent is the error of Open with Options.NoCreate for a path that holds
// no outbox: missing (wrapping fs.ErrNotExist) or empty.
func absent(path string) error {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return pathError(path, fmt.Errorf("no outbox here: %w", fs.ErrNotExist))
	}
	return pathError(path, fmt.Errorf("%w: the file is empty, not an outbox", outbox.ErrInvalid))
}

// openBolt opens the file with bbolt, turning its errors, and any panic
// over a damaged file, into errors that say what is wrong.
func openBolt(path string, mode fs.FileMode, o *bolt.Options) (*bolt.DB, error) {
	var db *bolt.DB
	err := guarded(func() (err error) {
		db, err = bolt.Open(path, mode, o)
		return err
	})
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
func (s *store) setup(path string, o *Options) error {
	if err := guarded(func() error { return s.load(o) }); err != nil {
		return pathError(path, err)
	}
	return nil
}

// load is setup, without the path in its errors, and unguarded.
func (s *store) load(o *Options) error {
	if o.ReadOnly {
		return s.db.View(func(tx *bolt.Tx) error {
			if _, _, err := checkFormat(tx, o); err != nil {
				return err
			}
			return s.verify(tx)
		})
	}
	var from []byte // the format to migrate from, if not this one
	err := s.db.Update(func(tx *bolt.Tx) error {
		f, fresh, err := checkFormat(tx, o)
		if err != nil || !fresh {
			from = f
			if err == nil {
				err = createLines(tx)
			}
			return err
		}
		for _, name := range [][]byte{bucketMeta, bucketDue, bucketDead, bucketIDs, bucketHistory, bucketHeld, bucketHeads} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyFormat, formatName)
	})
	if err == nil && bytes.Equal(from, formatName1) {
		err = s.migrate1()
	}
	if err == nil && from != nil {
		err = s.migrate2()
	}
	if err != nil {
		return err
	}
	return s.db.View(s.verify)
}

// checkFormat reads the format marker of the file in tx. It returns the
// older format to migrate from (nil for this one), or fresh when the file
// holds no bucket at all: a new file, for Open to set up. It refuses an
// unknown format and a bbolt file of someone else; with o.NoCreate a fresh
// file too, and with o.ReadOnly an older format, which only a write could
// migrate.
func checkFormat(tx *bolt.Tx, o *Options) (from []byte, fresh bool, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		switch {
		case !empty:
			return nil, false, fmt.Errorf("%w: a bbolt file, but not a herald outbox", outbox.ErrCorrupt)
		case o.NoCreate:
			return nil, false, fmt.Errorf("%w: an empty bbolt file, not a herald outbox", outbox.ErrCorrupt)
		}
		return nil, true, nil
	}
	switch f := meta.Get(keyFormat); {
	case bytes.Equal(f, formatName):
		return nil, false, nil
	case bytes.Equal(f, formatName1), bytes.Equal(f, formatName2):
		if o.ReadOnly {
			return nil, false, fmt.Errorf("%w: the outbox is in the older format %q, which a read-only Open cannot migrate: open it for writing once", outbox.ErrInvalid, f)
		}
		return bytes.Clone(f), false, nil
	default:
		return nil, false, fmt.Errorf("%w: unknown outbox format %q", outbox.ErrCorrupt, f)
	}
}

// verify checks every record, and the ids entry of each, and counts them.
func (s *store) verify(tx *bolt.Tx) error {
	b := buckets(tx)
	if b.err != nil {
		return b.err
	}
	b.loadLines()
	pending, keyed, err := verifyTree(&b, b.due.Bucket, wherePending)
	if err != nil {
		return err
	}
	dead, _, err := verifyTree(&b, b.dead.Bucket, whereDead)
	if err != nil {
		return err
	}
	held, err := verifyLines(&b, keyed)
	if err != nil {
		return err
	}
	pending += held
	// Every record has its ids entry; an entry more would be a stray,
	// which a Put of that id would take for a delivery held.
	if n := int64(b.ids.Stats().KeyN); n != pending+dead {
		return fmt.Errorf("%w: the id index has %d entries for %d deliveries", outbox.ErrCorrupt, n, pending+dead)
	}
	// Attempts are written and deleted after their delivery's entry
	// moved, in a transaction that commits: a bucket where an attempt
	// belongs would fail that write too late, and lose the delivery.
	if n := b.history.Stats().BucketN; n != 1 {
		return fmt.Errorf("%w: the attempt history holds %d buckets", outbox.ErrCorrupt, n-1)
	}
	s.pending.Store(pending)
	s.dead.Store(dead)
	return nil
}

// verifyTree checks the records in bk, the due bucket (tag wherePending)
// or the dead one (whereDead): each key matches its record, each record
// decodes and validates, the ids bucket points at it, and a pending one
// with a partition key is the head of its line. It returns how many there
// are, and how many of them are pending with a key.
func verifyTree(b *bucketSet, bk *bolt.Bucket, tag byte) (n, keyed int64, err error) {
	c := bk.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		dest, due, idb, err := parseKey(k, tag)
		if err != nil {
			return 0, 0, corruptIndex(err)
		}
		id := string(idb)
		r, body, err := decodeRecord(id, v)
		if err != nil {
			return 0, 0, err
		}
		if r.dest != string(dest) || r.dead != (tag == whereDead) || (tag == wherePending && r.due != due) {
			return 0, 0, corrupt("delivery", id, errors.New("its key disagrees with its record"))
		}
		d := r.delivery(id)
		d.Body = body
		if err := storable(&d); err != nil {
			return 0, 0, corrupt("delivery", id, err)
		}
		if !bytes.Equal(b.ids.get(idb), where(tag, k)) {
			return 0, 0, corrupt("id index entry of", id, errMissingRecord)
		}
		if tag == wherePending && r.key != "" {
			if b.heads.Bucket == nil || !bytes.Equal(b.heads.get(lineKey(r.dest, r.key)), idb) {
				return 0, 0, corrupt("delivery", id, errors.New("due, but not the head of its line"))
			}
			keyed++
		}
		n++
	}
	return n, keyed, nil
}

// parseKey splits a key of the due bucket (tag wherePending) or the dead
// one (whereDead); a dead key has no due time.
func parseKey(k []byte, tag byte) (dest []byte, due int64, id []byte, err error) {
	if tag == wherePending {
		return parseDueKey(k)
	}
	dest, id, ok := bytes.Cut(k, []byte{0})
	if !ok || len(dest) == 0 || len(id) == 0 {
		return nil, 0, nil, fmt.Errorf("malformed dead letter key %q", k)
	}
	return dest, 0, id, nil
}

// bucketSet holds the buckets of one transaction.
type bucketSet struct {
	due, dead, ids, history tree
	// held and heads are opened on first use (see loadLines): a
	// transaction that meets no partition key does not pay for them.
	held, heads tree
	tx          *bolt.Tx
	err         error
	// added holds, by destination, the least due index key the
	// transaction added, for store.dropSkips.
	added map[string][]byte
}

// putPending stores the pending delivery id, with record r and body, in
// the due bucket and the ids bucket, and notes its due key in added.
func (b *bucketSet) putPending(id string, r *record, body []byte) error {
	k := dueKey(r.dest, r.due, id)
	if old, ok := b.added[r.dest]; !ok || bytes.Compare(k, old) < 0 {
		if b.added == nil {
			b.added = make(map[string][]byte)
		}
		b.added[r.dest] = k
	}
	return putAll(kv{&b.due, k, appendRecord(nil, r, body)}, kv{&b.ids, []byte(id), where(wherePending, k)})
}

// putDead stores the dead letter id, with record r and body, in the dead
// bucket and the ids bucket.
func (b *bucketSet) putDead(id string, r *record, body []byte) error {
	k := deadKey(r.dest, id)
	return putAll(kv{&b.dead, k, appendRecord(nil, r, body)}, kv{&b.ids, []byte(id), where(whereDead, k)})
}

// home returns the bucket where the delivery id, whose record is r, is
// stored, and its key there, appended to k: a caller that only looks the
// key up can keep it on its stack.
func (b *bucketSet) home(k []byte, id string, r *record) (*tree, []byte) {
	if r.dead {
		return &b.dead, appendDeadKey(k, r.dest, id)
	}
	return &b.due, appendDueKey(k, r.dest, r.due, id)
}

// locate returns the value (record and body) of the delivery id, found
// through the ids bucket, or nil when there is none.
func (b *bucketSet) locate(id []byte) ([]byte, error) {
	w := b.ids.get(id)
	if w == nil {
		return nil, nil
	}
	t := &b.due
	switch {
	case len(w) > 1 && w[0] == wherePending:
	case len(w) > 1 && w[0] == whereDead:
		t = &b.dead
	case len(w) > 1 && w[0] == whereHeld && b.loadLines():
		t = &b.held
	default:
		return nil, corrupt("id index entry of", string(id), errors.New("malformed"))
	}
	v := t.get(w[1:])
	if v == nil {
		return nil, corrupt("delivery", string(id), errMissingRecord)
	}
	return v, nil
}

// buckets returns the store's buckets in tx, or an error if one is missing.
func buckets(tx *bolt.Tx) bucketSet {
	b := bucketSet{
		due:     tree{Bucket: tx.Bucket(bucketDue)},
		dead:    tree{Bucket: tx.Bucket(bucketDead)},
		ids:     tree{Bucket: tx.Bucket(bucketIDs)},
		history: tree{Bucket: tx.Bucket(bucketHistory)},
		tx:      tx,
	}
	if b.due.Bucket == nil || b.dead.Bucket == nil || b.ids.Bucket == nil || b.history.Bucket == nil {
		b.err = fmt.Errorf("%w: a bucket is missing", outbox.ErrCorrupt)
		return b
	}
	// A destination's new deliveries fall due after those it has, so the
	// due bucket grows at the end of each destination's keys. bbolt splits
	// a full page in halves by default, and a page left behind by such a
	// split is never filled again: with 1 KiB bodies the pages held one or
	// two records each. Split pages 90% full, and a drain frees, rebalances
	// and rewrites a third fewer pages per delivery. The other buckets are
	// keyed by id, in no such order, and keep bbolt's default.
	b.due.FillPercent = dueFill
	return b
}

// dueFill is the due bucket's bbolt FillPercent (see buckets).
const dueFill = 0.9

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

// delPrefix deletes every key that starts with prefix, and so costs what
// is there, whatever a record says should be.
func (t *tree) delPrefix(prefix []byte) error { return t.delBefore(prefix, nil) }

// delBefore deletes every key that starts with prefix and sorts before
// end (every one when end is nil), and so costs what is there, like
// delPrefix.
func (t *tree) delBefore(prefix, end []byte) error {
	if t.c == nil {
		t.c = t.Cursor()
	}
	for k, _ := t.c.Seek(prefix); bytes.HasPrefix(k, prefix) && (end == nil || bytes.Compare(k, end) < 0); k, _ = t.c.Seek(prefix) {
		if err := t.c.Delete(); err != nil {
			return err
		}
	}
	return nil
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
