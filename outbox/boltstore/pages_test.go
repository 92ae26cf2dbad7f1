package boltstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// pagesFile returns the path of a closed outbox file with n deliveries of
// size-byte bodies.
func pagesFile(t testing.TB, n, size int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ds []outbox.Delivery
	for i := range n {
		ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("id%05d", i), Destination: "d", Body: []byte(strings.Repeat("b", size))})
	}
	if err := s.Put(context.Background(), ds...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkFile runs checkPages on the file at path, as precheck does.
func checkFile(t *testing.T, path string) error {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var hwm, root uint64
	size := db.Info().PageSize
	if err := db.View(func(tx *bolt.Tx) error {
		hwm, root = uint64(tx.Size())/uint64(size), uint64(tx.Cursor().Bucket().Root())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return checkPages(f, size, hwm, root)
}

// TestCheckPagesAcceptsBbolt checks that files bbolt wrote pass the page
// check, whatever their shape: deep trees, nested and inline buckets,
// large values on overflow pages, empty buckets, and free pages left by
// deletes.
func TestCheckPagesAcceptsBbolt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "any.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoFreelistSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		err := db.Update(func(tx *bolt.Tx) error {
			top, err := tx.CreateBucketIfNotExists([]byte(fmt.Sprint("top", round%3)))
			if err != nil {
				return err
			}
			if _, err := tx.CreateBucketIfNotExists([]byte("empty")); err != nil {
				return err
			}
			small, err := top.CreateBucketIfNotExists([]byte("inline"))
			if err != nil {
				return err
			}
			if err := small.Put([]byte{byte(round)}, []byte("v")); err != nil {
				return err
			}
			nested, err := top.CreateBucketIfNotExists([]byte("nested"))
			if err != nil {
				return err
			}
			for i := range 300 {
				v := make([]byte, r.IntN(6000))
				if err := nested.Put(fmt.Appendf(nil, "k%06d", r.IntN(5000)), v); err != nil {
					return err
				}
				if i%3 == 0 {
					if err := nested.Delete(fmt.Appendf(nil, "k%06d", r.IntN(5000))); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("bbolt's own check: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := checkFile(t, path); err != nil {
		t.Fatalf("a file bbolt wrote fails the page check: %v", err)
	}
	if err := checkFile(t, pagesFile(t, 300, 5000)); err != nil {
		t.Fatalf("an outbox fails the page check: %v", err)
	}
}

// TestCheckPagesFindsDamage damages one page of a real outbox file in each
// of the ways bbolt's walk of the file at Open cannot survive, and checks
// that Open refuses the file with a clear error rather than crash.
func TestCheckPagesFindsDamage(t *testing.T) {
	type damage func(f *os.File, root uint64, pageSize int64) error
	at := func(f *os.File, off int64, v any) error {
		return binary.Write(io.NewOffsetWriter(f, off), binary.NativeEndian, v)
	}
	tests := []struct {
		name, text string
		damage     damage
	}{
		{"a branch that points at itself", "reached twice", func(f *os.File, root uint64, ps int64) error {
			return at(f, int64(root)*ps+pageHeaderSize+pageElementSize+8, root)
		}},
		{"a branch that points past the file", "outside the file", func(f *os.File, root uint64, ps int64) error {
			return at(f, int64(root)*ps+pageHeaderSize+8, uint64(1<<40))
		}},
		{"a page that calls itself another", "calls itself", func(f *os.File, root uint64, ps int64) error {
			return at(f, int64(root)*ps, root+1)
		}},
		{"a page of no known type", "not a branch or a leaf", func(f *os.File, root uint64, ps int64) error {
			return at(f, int64(root)*ps+8, uint16(0x10))
		}},
		{"an overflow past the file", "past the end", func(f *os.File, root uint64, ps int64) error {
			return at(f, int64(root)*ps+12, uint32(1<<30))
		}},
		{"more elements than the page holds", "more than it can hold", func(f *os.File, root uint64, ps int64) error {
			return at(f, int64(root)*ps+10, uint16(0xffff))
		}},
		{"a key outside its page", "outside its", func(f *os.File, root uint64, ps int64) error {
			return at(f, int64(root)*ps+pageHeaderSize, uint32(1<<31))
		}},
		{"keys out of order", "branch key", func(f *os.File, root uint64, ps int64) error {
			// The second element's key becomes the first's.
			var pos0 uint32
			if err := binary.Read(io.NewSectionReader(f, int64(root)*ps+pageHeaderSize, 4), binary.NativeEndian, &pos0); err != nil {
				return err
			}
			return at(f, int64(root)*ps+pageHeaderSize+pageElementSize, pos0-pageElementSize)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := pagesFile(t, 400, 1000)
			var root uint64
			db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			ps := int64(db.Info().PageSize)
			err = db.View(func(tx *bolt.Tx) error {
				root = uint64(tx.Bucket(bucketDue).Root())
				return nil
			})
			db.Close()
			if err != nil || root == 0 {
				t.Fatalf("no root page: %v", err)
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			var hdr [pageHeaderSize]byte
			if _, err := f.ReadAt(hdr[:], int64(root)*ps); err != nil || binary.NativeEndian.Uint16(hdr[8:]) != branchPage {
				t.Fatalf("the due bucket's root is not a branch page: %v", err)
			}
			if err := tt.damage(f, root, ps); err != nil {
				t.Fatal(err)
			}
			f.Close()
			s, err := Open(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, outbox.ErrCorrupt) || !strings.Contains(err.Error(), tt.text) {
				t.Fatalf("Open: %v, want outbox.ErrCorrupt saying %q", err, tt.text)
			}
		})
	}
}

// FuzzOpen opens damaged copies of a small outbox file. Open runs bbolt's
// walk of every page in a goroutine the store cannot recover, so a damaged
// page the page check lets through would crash the fuzzer: Open must
// return a store or an error wrapping outbox.ErrCorrupt.
func FuzzOpen(f *testing.F) {
	orig, err := os.ReadFile(pagesFile(f, 120, 60))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(uint32(9000), uint16(0x4141), uint32(0))
	f.Add(uint32(4*4096+16+8), uint16(3), uint32(2))
	f.Add(uint32(3*4096+10), uint16(0xffff), uint32(7))
	f.Fuzz(func(t *testing.T, off uint32, v uint16, more uint32) {
		b := append([]byte(nil), orig...)
		// Keep the meta pages: damage there is bbolt's to find, and it does.
		for _, o := range []uint32{off, more} {
			i := 2*4096 + int(o)%(len(b)-2*4096-1)
			binary.NativeEndian.PutUint16(b[i:], v)
		}
		path := filepath.Join(t.TempDir(), "outbox.db")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path, nil)
		if err != nil {
			if !errors.Is(err, outbox.ErrCorrupt) {
				t.Fatalf("Open: %v, want outbox.ErrCorrupt", err)
			}
			return
		}
		s.Close()
	})
}

// TestDuePagesStayFull: deliveries put one commit after another, each
// destination's falling due after those before it, leave the due bucket's
// pages mostly full. bbolt's default halving split left them half empty,
// and a drain then had twice the pages to free and rewrite.
func TestDuePagesStayFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("b", 1024))
	due := time.Now()
	for i := range 60 {
		var ds []outbox.Delivery
		for j := range 20 {
			due = due.Add(time.Millisecond)
			ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("id%02d-%02d", j, i), Destination: fmt.Sprint("d", j%2), Body: body, Due: due})
		}
		if err := s.Put(context.Background(), ds...); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var st bolt.BucketStats
	if err := db.View(func(tx *bolt.Tx) error {
		st = tx.Bucket(bucketDue).Stats()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if st.KeyN != 1200 {
		t.Fatalf("due bucket holds %d keys, want 1200", st.KeyN)
	}
	if used := float64(st.LeafInuse) / float64(st.LeafAlloc); used < 0.7 {
		t.Errorf("due bucket's %d leaf pages are %.0f%% in use, want 70%% or more", st.LeafPageN, 100*used)
	}
}
