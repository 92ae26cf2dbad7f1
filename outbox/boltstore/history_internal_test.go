package boltstore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// A record's count of attempts comes from the file. Damaged to 16 million
// (the decoder takes up to 2^30), it made History allocate a gigabyte up
// front and an acknowledgement delete 16 million keys one by one in the
// committer. Both now cost what the file holds.
func TestHistoryCountFromTheFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := s.Put(ctx, outbox.Delivery{ID: "victim", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: now})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %v, %v", ls, err)
	}
	if errs := s.Settle(ctx, []outbox.Settlement{{ID: "victim", Token: ls[0].Token, Outcome: outbox.Retrying, Due: now,
		Attempt: outbox.AttemptRecord{At: now, Status: 503}}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	s.Close()

	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		due := tx.Bucket(bucketDue)
		k, v := due.Cursor().First()
		r, body, err := decodeRecord("victim", v)
		if err != nil {
			return err
		}
		r.nhist = 1 << 24
		return due.Put(bytes.Clone(k), appendRecord(nil, &r, body))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = s.History(ctx, "victim")
	runtime.ReadMemStats(&after)
	if !errors.Is(err, outbox.ErrCorrupt) {
		t.Fatalf("History with a damaged count: %v, want ErrCorrupt", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("History allocated %d bytes for one attempt", n)
	}
	ls, err = s.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: now.Add(time.Hour)})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease: %v, %v", ls, err)
	}
	if errs := s.Settle(ctx, []outbox.Settlement{{ID: "victim", Token: ls[0].Token, Outcome: outbox.Delivered}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	err = s.(*store).db.View(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketHistory).Cursor().First(); k != nil {
			t.Errorf("history left after the acknowledgement: %q", k)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
