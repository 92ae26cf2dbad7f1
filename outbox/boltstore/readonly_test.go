package boltstore_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/filesnap"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestOpenNoCreateRefuses: with NoCreate or ReadOnly, Open refuses every
// path that is not a herald outbox already, with an error matching the
// sentinel, and leaves the file as it was, byte for byte (or missing).
func TestOpenNoCreateRefuses(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, path string)
		want error
	}{
		{"missing", func(*testing.T, string) {}, fs.ErrNotExist},
		{"empty", func(t *testing.T, p string) { must(t, os.WriteFile(p, nil, 0o600)) }, outbox.ErrInvalid},
		{"text", func(t *testing.T, p string) {
			must(t, os.WriteFile(p, bytes.Repeat([]byte("not an outbox\n"), 1000), 0o600))
		}, outbox.ErrCorrupt},
		{"empty bbolt", func(t *testing.T, p string) { tamper(t, p, func(*bolt.Tx) error { return nil }) }, outbox.ErrCorrupt},
		{"another bbolt file", func(t *testing.T, p string) {
			tamper(t, p, func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("theirs")); return err })
		}, outbox.ErrCorrupt},
	}
	for _, tt := range tests {
		for _, o := range []boltstore.Options{{NoCreate: true}, {ReadOnly: true}} {
			name := tt.name + "/NoCreate"
			if o.ReadOnly {
				name = tt.name + "/ReadOnly"
			}
			t.Run(name, func(t *testing.T) {
				path := filepath.Join(t.TempDir(), "outbox.db")
				tt.make(t, path)
				before := filesnap.Take(t, path)
				s, err := boltstore.Open(path, &o)
				if err == nil {
					s.Close()
					t.Fatal("Open succeeded")
				}
				t.Logf("error: %v", err)
				if !errors.Is(err, tt.want) {
					t.Errorf("error does not match %v", tt.want)
				}
				if d := before.Changed(t); d != "" {
					t.Errorf("Open changed the file: %s", d)
				}
			})
		}
	}
}

// TestOpenReadOnly: a read-only store reads an outbox beside other
// read-only ones, never beside a writer, changes nothing, and refuses to.
func TestOpenReadOnly(t *testing.T) {
	path := filled(t, 5)
	w, err := boltstore.Open(path, nil)
	must(t, err)
	id, token := leaseOne(t, w)
	must(t, w.Settle(ctx, []outbox.Settlement{{ID: id, Token: token, Outcome: outbox.DeadLettered, Reason: "gone"}})[0])
	must(t, w.Close())
	before := filesnap.Take(t, path)

	ro := &boltstore.Options{ReadOnly: true, LockTimeout: 200 * time.Millisecond}
	a, err := boltstore.Open(path, ro)
	must(t, err)
	b, err := boltstore.Open(path, ro)
	if err != nil {
		t.Fatalf("a second read-only Open: %v", err)
	}
	st, err := a.Stats(ctx)
	if err != nil || st.Pending != 4 || st.Dead != 1 {
		t.Errorf("Stats: %+v, %v; want 4 pending, 1 dead", st, err)
	}
	if dl, err := b.DeadLetters(ctx, outbox.DeadLetterQuery{}); err != nil || len(dl) != 1 {
		t.Errorf("DeadLetters: %d, %v; want 1", len(dl), err)
	}
	if err := a.Put(ctx, outbox.Delivery{ID: "new", Destination: "d"}); err == nil {
		t.Error("Put on a read-only store succeeded")
	}
	if _, err := b.Replay(ctx, outbox.Selector{All: true}); err == nil {
		t.Error("Replay on a read-only store succeeded")
	}
	if _, err := boltstore.Open(path, &boltstore.Options{LockTimeout: 200 * time.Millisecond}); !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("a writer beside readers: %v, want ErrLocked", err)
	}
	must(t, a.Close())
	must(t, b.Close())
	if d := before.Changed(t); d != "" {
		t.Errorf("Open changed the file: %s", d)
	}

	w, err = boltstore.Open(path, nil)
	must(t, err)
	if _, err := boltstore.Open(path, ro); !errors.Is(err, boltstore.ErrLocked) {
		t.Errorf("a reader beside a writer: %v, want ErrLocked", err)
	}
	must(t, w.Close())

	// NoCreate with write access still opens an outbox and changes it.
	w, err = boltstore.Open(path, &boltstore.Options{NoCreate: true})
	must(t, err)
	if n, err := w.Purge(ctx, outbox.Selector{All: true}); err != nil || n != 1 {
		t.Errorf("Purge with NoCreate: %d, %v; want 1", n, err)
	}
	must(t, w.Close())
}

// leaseOne leases one delivery of s and returns its settlement handle.
func leaseOne(t *testing.T, s outbox.Store) (id, token string) {
	t.Helper()
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	return ls[0].ID, ls[0].Token
}

// TestReadOnlyStoreLeasesNothing: a read-only store refuses to lease, since
// it can never record what became of a lease. It leased, so a Queue given
// one by mistake sent every delivery, failed to record it delivered, and
// sent it again each time the lease ran out, for ever.
func TestReadOnlyStoreLeasesNothing(t *testing.T) {
	path := filled(t, 1)
	s, err := boltstore.Open(path, &boltstore.Options{ReadOnly: true})
	must(t, err)
	t.Cleanup(func() { s.Close() })
	rcv := sendertest.NewReceiver(t, nil)
	q := &outbox.Queue{
		Outbox: s, Sender: rcv.Sender(), Destinations: []sender.Destination{{Name: "d", URL: rcv.URL()}},
		LeaseTTL: 100 * time.Millisecond, Poll: 10 * time.Millisecond,
	}
	queuetest.Run(t, q)
	time.Sleep(time.Second)
	if n := len(rcv.Deliveries()); n > 0 {
		t.Errorf("a Queue over a read-only store sent its one delivery %d times in a second", n)
	}
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
	if len(ls) != 0 || !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Lease on a read-only store: %d leased, %v; want none and ErrInvalid", len(ls), err)
	}
}
