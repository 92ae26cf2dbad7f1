package pgstore_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// keysAgainstHashOrder returns two keys a < b of destination "d" whose
// lines' locks come in the other order by their hashes.
func keysAgainstHashOrder(t *testing.T, pool *pgxpool.Pool) (a, b string) {
	t.Helper()
	keys := []string{"A", "B", "C", "D", "E", "F", "G", "H"}
	for i, a := range keys {
		for _, b := range keys[i+1:] {
			if queryInt(t, pool, `SELECT (hashtextextended('d ' || encode($1::bytea, 'hex'), 0) >
					hashtextextended('d ' || encode($2::bytea, 'hex'), 0))::int`, []byte(a), []byte(b)) == 1 {
				return a, b
			}
		}
	}
	t.Fatal("no two keys whose lines hash against their byte order")
	return "", ""
}

// waitForLockWaiters waits until n sessions wait for advisory locks, and
// fails t if none does within 20 seconds.
func waitForLockWaiters(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if queryInt(t, pool, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions never waited for a line's lock", n)
		}
	}
}

// beginEnqueue begins a transaction on pool and enqueues id with key to
// "d" in it.
func beginEnqueue(t *testing.T, pool *pgxpool.Pool, q *outbox.Queue, id, key string) pgx.Tx {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	if _, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: id, Body: []byte("{}"), PartitionKey: key}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestEnqueueInByteOrderMeetsPut: a caller's transaction enqueues to two
// keys in their byte order, as Enqueue asks, while a Put to both keys
// waits for a third transaction that holds the second key's line. The
// Put and the caller's transaction take the lines' locks in one order,
// so neither is failed as a deadlock.
func TestEnqueueInByteOrderMeetsPut(t *testing.T) {
	pool := newPool(t)
	ob, q := orderedQueue(t, pool)
	a, b := keysAgainstHashOrder(t, pool)
	other := beginEnqueue(t, pool, q, "other-b", b)
	tx := beginEnqueue(t, pool, q, "tx-a", a)
	now := time.Now()
	put := make(chan error, 1)
	go func() {
		put <- ob.Put(ctx, outbox.Delivery{ID: "put-a", Destination: "d", PartitionKey: a, Body: []byte("{}"), Due: now, Created: now},
			outbox.Delivery{ID: "put-b", Destination: "d", PartitionKey: b, Body: []byte("{}"), Due: now, Created: now})
	}()
	waitForLockWaiters(t, pool, 1)
	enqueued := make(chan error, 1)
	go func() {
		_, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: "tx-b", Body: []byte("{}"), PartitionKey: b})
		enqueued <- err
	}()
	waitForLockWaiters(t, pool, 2)
	if err := other.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-enqueued; err != nil {
		t.Fatalf("the caller's second Enqueue, in byte order of keys: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-put; err != nil {
		t.Fatal(err)
	}
	leaseOnly(t, ob, "the heads", "other-b", "tx-a")
}

// TestReplayMeetsEnqueueInByteOrder: a Replay of dead letters of two
// keys waits for a caller's transaction that enqueued to the first key in
// byte order, and then enqueues to the second: the Replay takes the lines'
// locks in that order too, so it is not failed as a deadlock.
func TestReplayMeetsEnqueueInByteOrder(t *testing.T) {
	pool := newPool(t)
	ob, q := orderedQueue(t, pool)
	a, b := keysAgainstHashOrder(t, pool)
	now := time.Now()
	for _, key := range []string{a, b} {
		if err := ob.Put(ctx, outbox.Delivery{ID: "dead-" + key, Destination: "d", PartitionKey: key, Body: []byte("{}"), Due: now, Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now.Add(time.Second)})
	if err != nil || len(ls) != 2 {
		t.Fatalf("leasing the two heads: %v, %v", ls, err)
	}
	for _, l := range ls {
		if errs := ob.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.DeadLettered, Reason: "gone"}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	tx := beginEnqueue(t, pool, q, "tx-a", a)
	replayed := make(chan error, 1)
	go func() {
		_, err := ob.(outbox.Admin).Replay(ctx, outbox.Selector{All: true})
		replayed <- err
	}()
	waitForLockWaiters(t, pool, 1)
	enqueued := make(chan error, 1)
	go func() {
		_, err := pgstore.Enqueue(ctx, tx, q, "d", sender.Message{ID: "tx-b", Body: []byte("{}"), PartitionKey: b})
		enqueued <- err
	}()
	select {
	case err := <-enqueued:
		if err != nil {
			t.Fatalf("the caller's second Enqueue, in byte order of keys: %v", err)
		}
	case err := <-replayed:
		t.Fatalf("the Replay returned (%v) while the caller's transaction holds a line it replays into", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-replayed; err != nil {
		t.Fatalf("Replay: %v", err)
	}
	leaseOnly(t, ob, "the heads", "tx-a", "tx-b")
}
