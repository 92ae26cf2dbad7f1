package natsstore_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/outbox"
)

// TestForeignSubjectSparesTheRecord: a message another writer put on a
// subject of the outbox whose metadata names a stored delivery's id is not
// that delivery's record. The index used to take it for the delivery's
// latest revision, so every Lease read the wrong message, failed, and the
// delivery was never sent, in this process or any opened later.
func TestForeignSubjectSparesTheRecord(t *testing.T) {
	js, cfg, ob := freshStore(t)
	ctx := context.Background()
	putDueNow(t, ob, "a")
	m := nats.NewMsg(cfg.Subject + ".not-a")
	m.Header.Set("Herald-Meta", `{"id":"a","dest":"d"}`)
	m.Data = []byte{0}
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
	leaseAndRelease(t, ob, "the store open before")
	leaseAndRelease(t, open(t, js, cfg), "a store opened after")
}

// putDueNow puts a delivery to "d" of each of ids, due now, one Put each.
func putDueNow(t *testing.T, ob outbox.Outbox, ids ...string) {
	t.Helper()
	now := time.Now()
	for _, id := range ids {
		if err := ob.Put(context.Background(), outbox.Delivery{ID: id, Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
}

// leaseAndRelease leases the one delivery "a" from st and releases it.
func leaseAndRelease(t *testing.T, st outbox.Store, name string) {
	t.Helper()
	ctx := context.Background()
	var ls []outbox.Leased
	for range 3 { // a watcher may bring the message late
		got, err := st.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if ls = got; len(ls) > 0 {
			break
		}
		time.Sleep(2500 * time.Millisecond) // past the retry of a stale entry
	}
	if len(ls) != 1 || ls[0].ID != "a" {
		t.Fatalf("%s leased %d deliveries; want a", name, len(ls))
	}
	for _, err := range st.Settle(ctx, []outbox.Settlement{{ID: "a", Token: ls[0].Token, Outcome: outbox.Released}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestCorruptRecordsDoNotBlock: a record whose metadata reads but whose
// data does not (another writer put it there) can never be leased. Due
// before everything else, it was picked first by every Lease and took a
// place of it, for good: as many such records as a Lease may take of their
// destination stopped its deliveries for ever.
func TestCorruptRecordsDoNotBlock(t *testing.T) {
	js, cfg, ob := freshStore(t)
	ctx := context.Background()
	putDueNow(t, ob, "good")
	for _, id := range []string{"bad1", "bad2"} {
		m := nats.NewMsg(cfg.Subject + "." + base64.RawURLEncoding.EncodeToString([]byte(id)))
		m.Header.Set("Herald-Meta", `{"id":"`+id+`","dest":"d","due":1}`)
		m.Data = []byte{0xff, 0xff, 0xff} // no history length
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	st := open(t, js, cfg) // its index holds all three
	for range 3 {
		ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 2, TTL: time.Minute, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if len(ls) > 0 {
			if len(ls) != 1 || ls[0].ID != "good" {
				t.Fatalf("leased %d deliveries; want good", len(ls))
			}
			return
		}
	}
	t.Fatal("three Leases of two took none: the corrupt records block the destination")
}

// TestUnreadableRecordLeavesTheIndex: a message another writer put on a
// delivery's subject replaces its record (one message per subject). A
// store opened afterwards never indexes it, but one open before kept the
// old record's entry for good: counted as pending, and picked by Lease
// every two seconds to find it gone.
func TestUnreadableRecordLeavesTheIndex(t *testing.T) {
	js, cfg, ob := freshStore(t)
	ctx := context.Background()
	putDueNow(t, ob, "a", "b")
	if _, err := js.Publish(ctx, cfg.Subject+"."+base64.RawURLEncoding.EncodeToString([]byte("a")), []byte("garbage")); err != nil {
		t.Fatal(err)
	}
	waitStats(t, open(t, js, cfg), outbox.Stats{Pending: 1})
	waitStats(t, ob, outbox.Stats{Pending: 1})
}
