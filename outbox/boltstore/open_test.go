package boltstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
)

// filled returns the path of a closed outbox file holding n deliveries.
func filled(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []outbox.Delivery
	for i := range n {
		ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("id%05d", i), Destination: "d", Body: []byte(strings.Repeat("b", 1000))})
	}
	if err := s.Put(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// tamper opens the file with bbolt directly and applies f.
func tamper(t *testing.T, path string, f func(tx *bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(f); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

// deleteFirst makes a filled outbox whose bucket has lost its first key.
func deleteFirst(bucket string) func(t *testing.T) string {
	return func(t *testing.T) string {
		p := filled(t, 10)
		tamper(t, p, func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte(bucket))
			k, _ := b.Cursor().First()
			return b.Delete(k)
		})
		return p
	}
}

// TestOpenDamaged opens damaged or unsuitable files: each must fail with a
// clear error matching the expected sentinel, and never panic.
func TestOpenDamaged(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T) string
		want error
		text string
	}{
		{"garbage", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "garbage.db")
			b := make([]byte, 64<<10)
			for i := range b {
				b[i] = byte(rand.N(256))
			}
			must(t, os.WriteFile(p, b, 0o600))
			return p
		}, outbox.ErrCorrupt, "not a valid bbolt file"},
		{"text file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "notes.txt")
			must(t, os.WriteFile(p, []byte("hello, not a database\n"), 0o600))
			return p
		}, nil, ""},
		{"truncated to half", func(t *testing.T) string {
			p := filled(t, 500)
			fi, err := os.Stat(p)
			must(t, err)
			must(t, os.Truncate(p, fi.Size()/2))
			return p
		}, outbox.ErrCorrupt, "truncated"},
		{"truncated to one page", func(t *testing.T) string {
			p := filled(t, 50)
			must(t, os.Truncate(p, 5000))
			return p
		}, outbox.ErrCorrupt, ""},
		{"a directory", func(t *testing.T) string { return t.TempDir() }, outbox.ErrInvalid, "directory"},
		{"under a regular file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "file")
			must(t, os.WriteFile(p, []byte("x"), 0o600))
			return filepath.Join(p, "outbox.db")
		}, nil, "not a directory"},
		{"another bbolt file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "other.db")
			tamper(t, p, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
			return p
		}, outbox.ErrCorrupt, "not a herald outbox"},
		{"unknown format", func(t *testing.T) string {
			p := filled(t, 1)
			tamper(t, p, func(tx *bolt.Tx) error {
				return tx.Bucket([]byte("meta")).Put([]byte("format"), []byte("herald-outbox/99"))
			})
			return p
		}, outbox.ErrCorrupt, "unknown outbox format"},
		{"damaged record", func(t *testing.T) string {
			p := filled(t, 10)
			tamper(t, p, func(tx *bolt.Tx) error {
				due := tx.Bucket([]byte("due"))
				c := due.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					if strings.HasSuffix(string(k), "id00003") {
						return due.Put(bytes.Clone(k), []byte{1, 0, 0xff})
					}
				}
				return errors.New("no due entry for id00003")
			})
			return p
		}, outbox.ErrCorrupt, "id00003"},
		{"missing id index entry", deleteFirst("ids"), outbox.ErrCorrupt, "id index"},
		{"missing record", deleteFirst("due"), outbox.ErrCorrupt, "id index"},
		{"missing bucket", func(t *testing.T) string {
			p := filled(t, 3)
			tamper(t, p, func(tx *bolt.Tx) error { return tx.DeleteBucket([]byte("history")) })
			return p
		}, outbox.ErrCorrupt, "bucket"},
		{"overwritten pages", func(t *testing.T) string {
			p := filled(t, 200)
			f, err := os.OpenFile(p, os.O_RDWR, 0)
			must(t, err)
			defer f.Close()
			junk := make([]byte, 4096)
			for i := range junk {
				junk[i] = 0xA5
			}
			fi, _ := f.Stat()
			for off := int64(4 * 4096); off < fi.Size(); off += 3 * 4096 {
				_, err := f.WriteAt(junk, off)
				must(t, err)
			}
			return p
		}, outbox.ErrCorrupt, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.make(t)
			s, err := boltstore.Open(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("error: %v", err)
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error does not match %v", tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error does not mention %q", tt.text)
			}
			if !strings.Contains(err.Error(), "boltstore") {
				t.Errorf("error does not say where it comes from")
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpenRandomDamage flips bytes at random in a file's pages, often
// near the start of a page where the header and the element table are:
// Open must refuse the file with outbox.ErrCorrupt or open it, and a store
// it opens must lease and acknowledge without crashing or hanging (damage
// Open cannot see, in the list of free pages for one, may still fail a
// commit with an error). A damaged length can send a read past the end of
// the memory-mapped file, a memory fault that ends the process unless the
// store turns it into an error.
func TestOpenRandomDamage(t *testing.T) {
	base := filled(t, 300)
	orig, err := os.ReadFile(base)
	must(t, err)
	seeds := 400
	if testing.Short() {
		seeds = 50
	}
	opened, refused := 0, 0
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		b := append([]byte(nil), orig...)
		for range 1 + r.IntN(6) {
			off := 2*4096 + r.IntN(len(b)-2*4096) // past the meta pages
			if r.IntN(2) == 0 {
				off = off&^4095 + r.IntN(64) // a page header and element table
			}
			if r.IntN(2) == 0 {
				b[off] ^= byte(1 << r.IntN(8))
			} else {
				b[off] = byte(r.IntN(256))
			}
		}
		p := filepath.Join(t.TempDir(), "damaged.db")
		must(t, os.WriteFile(p, b, 0o600))
		s, err := boltstore.Open(p, nil)
		if err != nil {
			if !errors.Is(err, outbox.ErrCorrupt) {
				t.Fatalf("seed %d: %v, want outbox.ErrCorrupt", seed, err)
			}
			refused++
			continue
		}
		opened++
		ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 1000, TTL: time.Minute, Now: time.Now()})
		if err == nil {
			acks := make([]outbox.Settlement, len(ls))
			for i, l := range ls {
				acks[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
			}
			s.Settle(ctx, acks) // errors allowed: the point is that it returns
		} else if !errors.Is(err, outbox.ErrCorrupt) {
			t.Fatalf("seed %d: Lease: %v", seed, err)
		}
		must(t, s.Close())
	}
	t.Logf("%d damaged files: %d refused, %d opened (damage inside bodies cannot be seen)", seeds, refused, opened)
	if refused == 0 {
		t.Error("no damaged file was refused")
	}
}

// TestOpenRefusesBucketInHistory: Open refuses a file whose history
// bucket holds a bucket where an attempt belongs. It took it, and the next
// attempt's outcome, which writes there, failed only after it had taken
// the delivery out of the due bucket, in a transaction that commits: the
// delivery was gone, still counted as pending, and the next Open refused
// the file.
func TestOpenRefusesBucketInHistory(t *testing.T) {
	path := filled(t, 1)
	s, err := boltstore.Open(path, nil)
	must(t, err)
	id, token := leaseOne(t, s)
	must(t, s.Settle(ctx, []outbox.Settlement{{ID: id, Token: token, Outcome: outbox.Retrying, Due: time.Now()}})[0])
	must(t, s.Close())
	tamper(t, path, func(tx *bolt.Tx) error {
		_, err := tx.Bucket([]byte("history")).CreateBucket([]byte(id + "\x00\x00\x00\x00\x01"))
		return err
	})
	s, err = boltstore.Open(path, nil)
	if errors.Is(err, outbox.ErrCorrupt) {
		return
	}
	must(t, err)
	id, token = leaseOne(t, s)
	serr := s.Settle(ctx, []outbox.Settlement{{ID: id, Token: token, Outcome: outbox.DeadLettered, Reason: "r"}})[0]
	st, _ := s.Stats(ctx)
	ls, _ := s.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now().Add(time.Hour)})
	must(t, s.Close())
	_, rerr := boltstore.Open(path, nil)
	t.Fatalf("Open took the file; then Settle: %v; Stats %+v; leasable an hour later: %d; and Open again: %v", serr, st, len(ls), rerr)
}
