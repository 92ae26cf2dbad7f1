package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// v1Delivery is a delivery as a format 1 file holds it.
type v1Delivery struct {
	id      string
	r       record
	body    []byte
	history []outbox.AttemptRecord
}

// writeOld writes a file of format 1 or 2, as earlier releases of the
// store did: in format 1, bodies in their own bucket; in format 2, each
// record with its body, keyed by id, and empty index entries. migrated
// names the ids already moved on, as a migration cut short by a crash
// leaves them: in format 1, records already version 2 with their body; in
// format 2, deliveries already in the format 3 layout.
func writeOld(t *testing.T, path string, format int, ds []v1Delivery, migrated map[string]bool) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		bk := map[string]*bolt.Bucket{}
		extra := map[int]string{1: "bodies", 2: "ids"}[format]
		for _, name := range []string{"meta", "deliveries", "due", "dead", "history", extra} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			bk[name] = b
		}
		if err := bk["meta"].Put(keyFormat, map[int][]byte{1: formatName1, 2: formatName2}[format]); err != nil {
			return err
		}
		for _, d := range ds {
			idx, k, tag := bk["due"], dueKey(d.r.dest, d.r.due, d.id), byte(wherePending)
			if d.r.dead {
				idx, k, tag = bk["dead"], deadKey(d.r.dest, d.id), whereDead
			}
			rec, v := appendRecord(nil, &d.r, d.body), []byte{}
			var err error
			switch {
			case format == 1 && !migrated[d.id]:
				rec = appendHeader(nil, recordV1, &d.r)
				err = bk["bodies"].Put([]byte(d.id), append([]byte{}, d.body...))
			case format == 2 && migrated[d.id]:
				rec, v = nil, rec
				err = bk["ids"].Put([]byte(d.id), where(tag, k))
			}
			if err != nil {
				return err
			}
			if rec != nil {
				if err := bk["deliveries"].Put([]byte(d.id), rec); err != nil {
					return err
				}
			}
			if err := idx.Put(k, v); err != nil {
				return err
			}
			for i, a := range d.history {
				if err := bk["history"].Put(historyKey(d.id, i), appendAttempt(nil, &a)); err != nil {
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

// v1Deliveries makes n deliveries: every tenth dead, every seventh with an
// attempt in its history.
func v1Deliveries(n int) []v1Delivery {
	now := time.Now().Add(-time.Minute).UnixNano()
	var ds []v1Delivery
	for i := range n {
		d := v1Delivery{
			id:   fmt.Sprintf("m%05d", i),
			r:    record{dest: fmt.Sprint("dest", i%3), topic: "t", created: now, due: now},
			body: []byte(fmt.Sprintf(`{"n":%d}`, i)),
		}
		if i%7 == 0 {
			d.history = []outbox.AttemptRecord{{At: time.Unix(0, now), Status: 503, Tries: 1, Error: "busy"}}
			d.r.attempts, d.r.nhist = 1, 1
		}
		if i%10 == 0 {
			d.r.dead, d.r.reason, d.r.deadAt = true, "gone (410)", now
		}
		ds = append(ds, d)
	}
	return ds
}

// TestMigrate opens files of formats 1 and 2, whole and part migrated:
// every delivery must come through with its body, history and state, and
// the file must be of the current format afterwards.
func TestMigrate(t *testing.T) {
	const n = 2*migrateBatch + 345 // several transactions
	for _, format := range []int{1, 2} {
		for _, part := range []bool{false, true} {
			t.Run(fmt.Sprintf("format %d, part migrated=%v", format, part), func(t *testing.T) {
				ds := v1Deliveries(n)
				migrated := map[string]bool{}
				if part {
					for _, d := range ds[:n/2] {
						migrated[d.id] = true
					}
				}
				path := filepath.Join(t.TempDir(), "old.db")
				writeOld(t, path, format, ds, migrated)
				s, err := Open(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				checkMigrated(t, s.(*store), ds)
				must(t, s.Close())
				checkReopened(t, path, ds)
			})
		}
	}
}

// checkReopened checks that the closed file at path is of the current
// format, without the buckets of earlier ones, and still holds ds.
func checkReopened(t *testing.T, path string, ds []v1Delivery) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	must(t, err)
	must(t, db.View(func(tx *bolt.Tx) error {
		if f := tx.Bucket(bucketMeta).Get(keyFormat); !bytes.Equal(f, formatName) {
			t.Errorf("format %q after migration", f)
		}
		if tx.Bucket(bucketBodies) != nil || tx.Bucket(bucketDeliveries) != nil {
			t.Error("a bucket of an earlier format is still there")
		}
		return nil
	}))
	must(t, db.Close())
	s, err := Open(path, nil)
	must(t, err)
	defer s.Close()
	checkMigrated(t, s.(*store), ds)
}

// TestMigrateFormat2Damaged: a format 2 record whose index entry is
// missing fails to open with outbox.ErrCorrupt naming it; nothing is
// dropped.
func TestMigrateFormat2Damaged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	ds := v1Deliveries(20)
	writeOld(t, path, 2, ds, nil)
	db, err := bolt.Open(path, 0o600, nil)
	must(t, err)
	must(t, db.Update(func(tx *bolt.Tx) error {
		d := ds[3] // pending
		return tx.Bucket(bucketDue).Delete(dueKey(d.r.dest, d.r.due, d.id))
	}))
	must(t, db.Close())
	s, err := Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
	if !errors.Is(err, outbox.ErrCorrupt) || !strings.Contains(err.Error(), ds[3].id) {
		t.Errorf("error %v: want outbox.ErrCorrupt naming %s", err, ds[3].id)
	}
}

// checkMigrated checks that s holds ds.
func checkMigrated(t *testing.T, s *store, ds []v1Delivery) {
	t.Helper()
	ctx := context.Background()
	want := map[string]v1Delivery{}
	dead := 0
	for _, d := range ds {
		want[d.id] = d
		if d.r.dead {
			dead++
		}
	}
	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != len(ds)-dead || st.Dead != dead {
		t.Fatalf("Stats = %+v, want %d pending, %d dead", st, len(ds)-dead, dead)
	}
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: len(ds), TTL: time.Minute, Now: time.Now()})
	must(t, err)
	if len(ls) != len(ds)-dead {
		t.Fatalf("leased %d of %d pending", len(ls), len(ds)-dead)
	}
	for _, l := range ls {
		d := want[l.ID]
		if !bytes.Equal(l.Body, d.body) || l.Destination != d.r.dest || l.Attempts != d.r.attempts {
			t.Fatalf("leased %s = %+v %q, want %+v %q", l.ID, l.Delivery, l.Body, d.r, d.body)
		}
		h, err := s.History(ctx, l.ID)
		must(t, err)
		if len(h) != len(d.history) || (len(h) > 0 && h[0].Status != d.history[0].Status) {
			t.Fatalf("history of %s = %+v, want %+v", l.ID, h, d.history)
		}
		must(t, s.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Released}})[0])
	}
	dls, err := s.DeadLetters(ctx, outbox.DeadLetterQuery{Limit: len(ds)})
	must(t, err)
	if len(dls) != dead {
		t.Fatalf("%d dead letters, want %d", len(dls), dead)
	}
	for _, dl := range dls {
		if dl.Reason != want[dl.ID].r.reason {
			t.Fatalf("dead letter %s: reason %q", dl.ID, dl.Reason)
		}
	}
}

// TestMigrateDamaged: a format 1 file whose body or record is missing fails
// to open with outbox.ErrCorrupt naming the delivery; nothing is dropped.
func TestMigrateDamaged(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(tx *bolt.Tx) error
		text   string
	}{
		{"missing body", func(tx *bolt.Tx) error { return tx.Bucket(bucketBodies).Delete([]byte("m00007")) }, `"m00007": a record of format 1 whose body is missing`},
		{"body without record", func(tx *bolt.Tx) error { return tx.Bucket(bucketDeliveries).Delete([]byte("m00011")) }, `"m00011"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "v1.db")
			writeOld(t, path, 1, v1Deliveries(20), nil)
			db, err := bolt.Open(path, 0o600, nil)
			must(t, err)
			must(t, db.Update(tt.damage))
			must(t, db.Close())
			s, err := Open(path, nil)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			t.Logf("error: %v", err)
			if !errors.Is(err, outbox.ErrCorrupt) || !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %v: want outbox.ErrCorrupt naming %s", err, tt.text)
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

// TestMigrateNotReadOnly: a read-only Open refuses a file of an older
// format, which only a write could migrate, and leaves it as it was.
func TestMigrateNotReadOnly(t *testing.T) {
	for _, format := range []int{1, 2} {
		path := filepath.Join(t.TempDir(), "old.db")
		writeOld(t, path, format, v1Deliveries(3), nil)
		before, err := os.ReadFile(path)
		must(t, err)
		s, err := Open(path, &Options{ReadOnly: true})
		if err == nil {
			s.Close()
			t.Fatalf("format %d: a read-only Open succeeded", format)
		}
		if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), "older format") {
			t.Errorf("format %d: %v, want ErrInvalid naming the older format", format, err)
		}
		if after, err := os.ReadFile(path); err != nil || !bytes.Equal(before, after) {
			t.Errorf("format %d: a refused read-only Open changed the file (%v)", format, err)
		}
	}
}
