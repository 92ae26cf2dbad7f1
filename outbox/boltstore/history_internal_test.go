package boltstore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/limits"
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

	s = rewrite(t, path, func(tx *bolt.Tx) error {
		due := tx.Bucket(bucketDue)
		k, v := due.Cursor().First()
		r, body, err := decodeRecord("victim", v)
		if err != nil {
			return err
		}
		r.nhist = 1 << 24
		return due.Put(bytes.Clone(k), appendRecord(nil, &r, body))
	})
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

// rewrite runs fn in one transaction on the bbolt file at path, closed,
// as damage or an older version would have left it, and opens the store
// on it again, closed when t ends.
func rewrite(t *testing.T, path string, fn func(*bolt.Tx) error) outbox.Store {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// historyKeys counts the history entries of the delivery id in the file of
// s.
func historyKeys(t *testing.T, s outbox.Store, id string) int {
	t.Helper()
	n := 0
	prefix := historyKey(id, 0)[:len(id)+1]
	err := s.(*store).db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHistory).Cursor()
		for k, _ := c.Seek(prefix); bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The file keeps the newest limits.History attempts of a delivery, not
// one more per attempt: a dead letter replayed again and again grew the
// file and its History without bound.
func TestHistoryBoundedInTheFile(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	if err := s.Put(ctx, outbox.Delivery{ID: "h", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
		if err != nil || len(ls) != 1 {
			t.Fatalf("Lease %d: %v, %v", i, ls, err)
		}
		st := outbox.Settlement{ID: "h", Token: ls[0].Token, Outcome: outbox.Retrying, Due: now,
			Attempt: outbox.AttemptRecord{At: now, Status: 503, Tries: i, Error: strings.Repeat("x", 1024)}}
		if i%10 == 9 {
			st.Outcome, st.Reason = outbox.DeadLettered, "gave up"
		}
		if errs := s.Settle(ctx, []outbox.Settlement{st}); errs[0] != nil {
			t.Fatal(errs[0])
		}
		if i%10 == 9 && i < 199 {
			if n, err := s.Replay(ctx, outbox.Selector{IDs: []string{"h"}}); err != nil || n != 1 {
				t.Fatalf("Replay = %d, %v", n, err)
			}
		}
	}
	if n := historyKeys(t, s, "h"); n != limits.History {
		t.Fatalf("the file holds %d attempts of h after 200, want %d", n, limits.History)
	}
	h, err := s.History(ctx, "h")
	if err != nil || len(h) != limits.History || h[0].Tries != 200-limits.History || h[len(h)-1].Tries != 199 {
		t.Fatalf("History: %d attempts, %v; want the newest %d", len(h), err, limits.History)
	}
}

// A file written before the bound may hold more attempts of a delivery:
// History returns the newest limits.History, the next attempt deletes the
// surplus, and acknowledging or purging still deletes every one.
func TestHistoryOverTheBoundFromAnOlderFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "outbox.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ids := []string{"settled", "acked", "purged"}
	for _, id := range ids {
		if err := s.Put(ctx, outbox.Delivery{ID: id, Destination: id, Body: []byte("{}"), Due: now, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	const old = 100 // attempts of each, as an earlier version kept them
	s = rewrite(t, path, func(tx *bolt.Tx) error {
		due, hist := tx.Bucket(bucketDue), tx.Bucket(bucketHistory)
		var keys, vals [][]byte
		c := due.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			keys, vals = append(keys, bytes.Clone(k)), append(vals, bytes.Clone(v))
		}
		for i, k := range keys {
			_, _, id, err := parseKey(k, wherePending)
			if err != nil {
				return err
			}
			r, body, err := decodeRecord(string(id), vals[i])
			if err != nil {
				return err
			}
			for seq := range old {
				a := outbox.AttemptRecord{At: now, Status: 503, Tries: seq}
				if err := hist.Put(historyKey(string(id), seq), appendAttempt(nil, &a)); err != nil {
					return err
				}
			}
			r.nhist, r.attempts = old, old
			if err := due.Put(k, appendRecord(nil, &r, body)); err != nil {
				return err
			}
		}
		return nil
	})
	for _, id := range ids {
		h, err := s.History(ctx, id)
		if err != nil || len(h) != limits.History || h[0].Tries != old-limits.History || h[len(h)-1].Tries != old-1 {
			t.Fatalf("History of %s: %d attempts, %v; want the newest %d", id, len(h), err, limits.History)
		}
	}
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 3, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 3 {
		t.Fatalf("Lease: %v, %v", ls, err)
	}
	var ss []outbox.Settlement
	for _, l := range ls {
		st := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
		switch l.ID {
		case "settled":
			st.Outcome, st.Due, st.Attempt = outbox.Retrying, now.Add(time.Hour), outbox.AttemptRecord{At: now, Status: 500, Tries: old}
		case "purged":
			st.Outcome, st.Reason, st.Attempt = outbox.DeadLettered, "gave up", outbox.AttemptRecord{At: now, Status: 500, Tries: old}
		}
		ss = append(ss, st)
	}
	for i, err := range s.Settle(ctx, ss) {
		if err != nil {
			t.Fatalf("Settle %s: %v", ss[i].ID, err)
		}
	}
	for _, id := range []string{"settled", "purged"} {
		if n := historyKeys(t, s, id); n != limits.History {
			t.Errorf("the file holds %d attempts of %s after one more, want %d", n, id, limits.History)
		}
		h, err := s.History(ctx, id)
		if err != nil || len(h) != limits.History || h[0].Tries != old+1-limits.History || h[len(h)-1].Tries != old {
			t.Errorf("History of %s: %d attempts, %v; want the newest %d", id, len(h), err, limits.History)
		}
	}
	if n := historyKeys(t, s, "acked"); n != 0 {
		t.Errorf("the file holds %d attempts of the acknowledged delivery", n)
	}
	if n, err := s.Purge(ctx, outbox.Selector{IDs: []string{"purged"}}); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if n := historyKeys(t, s, "purged"); n != 0 {
		t.Errorf("the file holds %d attempts of the purged delivery", n)
	}
}
