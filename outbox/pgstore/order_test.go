package pgstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// TestOrderLateCommit: a delivery enqueued with a partition key inside a
// caller's transaction holds its line until the transaction ends, so that
// a Put to the same line from elsewhere waits for it (seen in pg_locks)
// and goes out after it: the line follows commit order, and two of its
// deliveries are never leased at once, however late the first commits.
// A Put to another key does not wait.
func TestOrderLateCommit(t *testing.T) {
	pool := newPool(t)
	ob := open(t, pool, nil)
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: "d", URL: "https://d.example/", Ordered: true}}}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	first, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: "first", Body: []byte("{}"), PartitionKey: "K"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: "other", Destination: "d", PartitionKey: "L", Due: now, Created: now}); err != nil {
		t.Fatalf("a Put to another key: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		done <- ob.Put(ctx, outbox.Delivery{ID: "second", Destination: "d", PartitionKey: "K", Due: now, Created: now})
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var waiting int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 1 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the Put to the line of an open transaction's delivery returned (%v) before the transaction ended", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the Put to the line of an open transaction's delivery never waited for its lock")
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{first, "second"} {
		ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now.Add(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range ls {
			if l.PartitionKey == "K" {
				got = append(got, l.ID)
			}
			if errs := ob.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}}); errs[0] != nil {
				t.Fatal(errs[0])
			}
		}
		if !slices.Equal(got, []string{want}) {
			t.Fatalf("leased %v of key K, want [%s]", got, want)
		}
	}
}
