package pgstore_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// wantClash fails t unless err refuses the id held for "a" given for "b".
func wantClash(t *testing.T, what string, err error, id string) {
	t.Helper()
	want := `"` + id + `" is held for destination "a", not "b"`
	if !errors.Is(err, outbox.ErrInvalid) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: %v, want ErrInvalid with %s", what, err, want)
	}
}

// TestEnqueueIDOtherDestination: Enqueue and EnqueueSQL of an id the
// outbox holds for another destination fail with ErrInvalid, store
// nothing, and leave the caller's transaction usable: it goes on and
// commits its own writes. The same id for the same destination still
// succeeds. An id another open transaction enqueued for another
// destination is refused once that one commits.
func TestEnqueueIDOtherDestination(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	db := openSQL(t, url)
	ob := open(t, pool, nil)
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: "a", URL: "https://a.example/"}, {Name: "b", URL: "https://b.example/", Ordered: true}}}
	if _, err := pool.Exec(ctx, "CREATE TABLE orders (id text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	msg := func(id string) sender.Message { return sender.Message{ID: id, Body: []byte(`{}`)} }
	if err := ob.Put(ctx, outbox.Delivery{ID: "held", Destination: "a", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = pgstore.Enqueue(ctx, tx, q, "b", msg("held"))
	wantClash(t, "Enqueue", err, "held")
	if _, err := pgstore.Enqueue(ctx, tx, q, "a", msg("held")); err != nil {
		t.Errorf("Enqueue of the held id for its own destination: %v", err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO orders VALUES ('pgx')"); err != nil {
		t.Fatalf("the transaction after a refused Enqueue: %v", err)
	}
	if _, err := pgstore.Enqueue(ctx, tx, q, "a", msg("pgx")); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	stx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stx.Rollback() //nolint:errcheck
	_, err = pgstore.EnqueueSQL(ctx, stx, q, "b", sender.Message{ID: "held", Body: []byte(`{}`), PartitionKey: "k"})
	wantClash(t, "EnqueueSQL", err, "held")
	if _, err := stx.ExecContext(ctx, "INSERT INTO orders VALUES ('sql')"); err != nil {
		t.Fatalf("the transaction after a refused EnqueueSQL: %v", err)
	}
	if _, err := pgstore.EnqueueSQL(ctx, stx, q, "a", msg("sql")); err != nil {
		t.Fatal(err)
	}
	if err := stx.Commit(); err != nil {
		t.Fatal(err)
	}
	var orders int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&orders); err != nil || orders != 2 {
		t.Errorf("%d orders, %v; want the 2 of the transactions", orders, err)
	}
	if s, err := ob.Stats(ctx); err != nil || s.Pending != 3 {
		t.Errorf("Stats = %+v, %v; want held, pgx and sql pending", s, err)
	}

	// Racing a transaction that has not committed yet: the insert waits
	// for it, skips the id once it commits, and the look finds it.
	first, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback(ctx) //nolint:errcheck
	if _, err := pgstore.Enqueue(ctx, first, q, "a", msg("race")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- enqueueSQL(ctx, db, q, "b", msg("race")) }()
	if err := first.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wantClash(t, "EnqueueSQL racing a transaction", <-done, "race")
}

// enqueueSQL enqueues m for dest in a transaction of its own and commits
// it, returning the Enqueue's error.
func enqueueSQL(ctx context.Context, db *sql.DB, q *outbox.Queue, dest string, m sender.Message) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := pgstore.EnqueueSQL(ctx, tx, q, dest, m); err != nil {
		return err
	}
	return tx.Commit()
}

// TestPutOfHeldIDsDoesNotDeadlockSettle: a client retrying a batch
// (y, z, x), y with a partition key, so that the Put keeps its order,
// while a worker settles x and y at that moment. The Put waits on z,
// which another transaction is enqueuing, between meeting y and meeting
// x. The Put locks the held y (ON CONFLICT DO UPDATE does), the Settle
// then waits for y holding x, and the Put for x: the server ended the
// Settle as a deadlock, and its deliveries, sent, stayed leased. Both
// must succeed.
func TestPutOfHeldIDsDoesNotDeadlockSettle(t *testing.T) {
	pool := newPool(t)
	ob := open(t, pool, nil)
	x, y := heldDelivery("x", ""), heldDelivery("y", "k")
	token := putAndLease(t, ob, x, y)
	blocker := blockID(t, pool, ob, "z")
	putDone := make(chan error, 1)
	go func() { putDone <- ob.Put(ctx, y, heldDelivery("z", ""), x) }()
	waitForRowWaiters(t, pool, 1) // the Put, on z
	settled := make(chan []error, 1)
	go func() {
		settled <- ob.Settle(ctx, []outbox.Settlement{
			{ID: "x", Token: token["x"], Outcome: outbox.Delivered},
			{ID: "y", Token: token["y"], Outcome: outbox.Retrying, Due: time.Now()},
		})
	}()
	waitForRowWaiters(t, pool, 2) // and the Settle, on y
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-putDone; err != nil {
		t.Errorf("Put: %v", err)
	}
	for i, err := range <-settled {
		if err != nil {
			t.Errorf("Settle %d: %v", i, err)
		}
	}
}

// TestPutLocksHeldIDsInIDOrder: a Put given held ids out of order (c3,
// b2, a1) locks their rows in the order of the ids, the order in which
// Settle settles them, so that a Put and a Settle, or two Puts, of the
// same ids never wait on each other both ways. While the Put waits on b2,
// which another transaction is enqueuing, it holds a1 and not yet c3.
// Before, it held c3: a Settle of a1 and c3 then took a1 and waited for
// c3, the Put waited for a1, and the server ended one of them a second
// later; clients retrying batches of held ids while workers settled them
// brought the outbox's deliveries to a crawl (tens a second).
func TestPutLocksHeldIDsInIDOrder(t *testing.T) {
	pool := newPool(t)
	ob := open(t, pool, nil)
	a1, c3 := heldDelivery("a1", ""), heldDelivery("c3", "")
	putAndLease(t, ob, a1, c3)
	blocker := blockID(t, pool, ob, "b2")
	putDone := make(chan error, 1)
	go func() { putDone <- ob.Put(ctx, c3, heldDelivery("b2", ""), a1) }()
	waitForRowWaiters(t, pool, 1) // the Put, on b2
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "SELECT id FROM herald_outbox_deliveries WHERE id IN ('a1', 'c3') ORDER BY id FOR UPDATE SKIP LOCKED")
	if err != nil {
		t.Fatal(err)
	}
	free, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-putDone; err != nil {
		t.Errorf("Put: %v", err)
	}
	if !slices.Equal(free, []string{"c3"}) {
		t.Errorf("while the Put waited on b2, of a1 and c3 %v were not locked; want [c3]: it locks held ids out of order", free)
	}
}

// heldDelivery returns a delivery of id to "a" with key.
func heldDelivery(id, key string) outbox.Delivery {
	return outbox.Delivery{ID: id, Destination: "a", PartitionKey: key, Body: []byte(`{}`), Due: time.Now(), Created: time.Now()}
}

// putAndLease puts ds and leases them, and returns their tokens by id.
func putAndLease(t *testing.T, ob outbox.Outbox, ds ...outbox.Delivery) map[string]string {
	t.Helper()
	if err := ob.Put(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != len(ds) {
		t.Fatalf("Lease = %d, %v; want %d", len(ls), err, len(ds))
	}
	token := map[string]string{}
	for _, l := range ls {
		token[l.ID] = l.Token
	}
	return token
}

// blockID begins a transaction that enqueues id to "a" and leaves it
// open (rolled back when t ends): a Put of id waits for it.
func blockID(t *testing.T, pool *pgxpool.Pool, ob outbox.Outbox, id string) pgx.Tx {
	t.Helper()
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: "a", URL: "https://a.example/"}}}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Rollback(ctx) })
	if _, err := pgstore.Enqueue(ctx, tx, q, "a", sender.Message{ID: id, Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return tx
}

// waitForRowWaiters waits until n sessions wait for a transaction or a
// row's lock, and fails t if they do not within 20 seconds.
func waitForRowWaiters(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if queryInt(t, pool, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions never waited for a lock", n)
		}
	}
}

// TestReplayRetriesDeadlock: a Replay of dead letters that the server ends
// as a deadlock (another transaction, a Put of held ids or an operator's,
// locks the same rows in another order) tries again, as Put and Settle
// do, rather than failing `herald outbox replay` with "deadlock
// detected". The other transaction holds d9 and then asks for d1, which
// the Replay took first: it locks in the order of ids, whatever order the
// table holds the rows in (d9 was dead-lettered first, so a scan meets it
// first).
func TestReplayRetriesDeadlock(t *testing.T) {
	pool, ob, other := deadLettersD9Held(t)
	replayed := make(chan error, 1)
	var n int
	go func() {
		var err error
		n, err = ob.(outbox.Admin).Replay(ctx, outbox.Selector{All: true})
		replayed <- err
	}()
	waitForRowWaiters(t, pool, 1) // the Replay, on d9
	// It holds d1, so that the other transaction's lock on d1 closes the
	// cycle: the server ends the Replay when its deadlock check (5 s after
	// it began to wait; see deadLettersD9Held) finds the cycle closed. So the check that it holds d1 is one statement, and the
	// other asks for d1 right after it.
	if free := queryInt(t, pool, "SELECT count(*) FROM (SELECT 1 FROM herald_outbox_deliveries WHERE id = 'd1' FOR UPDATE SKIP LOCKED) f"); free != 0 {
		t.Fatal("the Replay waits on d9 without holding d1: no deadlock to retry")
	}
	otherDone := make(chan error, 1)
	go func() {
		_, err := other.Exec(ctx, "SELECT 1 FROM herald_outbox_deliveries WHERE id = 'd1' FOR UPDATE")
		if err == nil {
			err = other.Commit(ctx)
		} else {
			// Ended in the Replay's place (a machine too slow to close
			// the cycle within the Replay's check): free d9, so that the
			// Replay ends and the test fails rather than hangs.
			_ = other.Rollback(ctx)
		}
		otherDone <- err
	}()
	if err := <-replayed; err != nil || n != 2 {
		t.Errorf("Replay = %d, %v; want 2 replayed", n, err)
	}
	if err := <-otherDone; err != nil {
		t.Errorf("the other transaction: %v; want the server to end the Replay, which waited first", err)
	}
}

// TestPurgeLocksInIDOrder: a Purge of dead letters locks them in the
// order of their ids, as Put and Settle do, whatever order the table holds
// them in (d9 was dead-lettered first, so a scan meets it first): while
// it waits on d9, which another transaction holds, it holds d1. In the
// table's order it waited on d9 holding nothing, and a transaction taking
// the rows in id order could deadlock with it.
func TestPurgeLocksInIDOrder(t *testing.T) {
	pool, ob, other := deadLettersD9Held(t)
	purged := make(chan error, 1)
	var n int
	go func() {
		var err error
		n, err = ob.(outbox.Admin).Purge(ctx, outbox.Selector{All: true})
		purged <- err
	}()
	waitForRowWaiters(t, pool, 1) // the Purge, on d9
	free := queryInt(t, pool, "SELECT count(*) FROM (SELECT 1 FROM herald_outbox_deliveries WHERE id = 'd1' FOR UPDATE SKIP LOCKED) f")
	if err := other.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-purged; err != nil || n != 2 {
		t.Errorf("Purge = %d, %v; want 2 purged", n, err)
	}
	if free != 0 {
		t.Error("the Purge waits on d9 without holding d1: it locks in the table's order, not the ids'")
	}
}

// deadLettersD9Held opens an outbox holding the dead letters d1 and d9,
// d9 dead-lettered first (so that a scan of the table meets it first),
// and begins another transaction that holds d9's row (rolled back when t
// ends).
func deadLettersD9Held(t *testing.T) (*pgxpool.Pool, outbox.Outbox, pgx.Tx) {
	t.Helper()
	// The server looks for a deadlock once a session has waited
	// deadlock_timeout, and ends the session that looked: the store's
	// sessions look after 5 s, the other transaction's after a minute, so
	// that the store's is the one ended even on a machine that stalls for
	// seconds between the two waits (with the default second for both,
	// a stall of one made the other transaction the one ended).
	pool := connect(t, pgtest.URL(t)+"&deadlock_timeout=5s")
	ob := open(t, pool, nil)
	tokens := putAndLease(t, ob, heldDelivery("d1", ""), heldDelivery("d9", ""))
	for _, id := range []string{"d9", "d1"} {
		if errs := ob.Settle(ctx, []outbox.Settlement{{ID: id, Token: tokens[id], Outcome: outbox.DeadLettered, Reason: "r"}}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	other, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Rollback(ctx) })
	if _, err := other.Exec(ctx, "SET LOCAL deadlock_timeout = '60s'"); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Exec(ctx, "SELECT 1 FROM herald_outbox_deliveries WHERE id = 'd9' FOR UPDATE"); err != nil {
		t.Fatal(err)
	}
	return pool, ob, other
}
