package pgstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

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
// (x, z, y) whose deliveries x and y a worker is acknowledging (y, then
// x) at that moment. The Put waits on z, which another transaction is
// enqueuing, between meeting x and meeting y. The Put locks the held x
// (ON CONFLICT DO UPDATE does), the Settle then waits for x holding y, and
// the Put for y: the server ended the Settle as a deadlock, and its
// deliveries, sent, stayed leased. Both must succeed.
func TestPutOfHeldIDsDoesNotDeadlockSettle(t *testing.T) {
	pool := newPool(t)
	ob := open(t, pool, nil)
	q := &outbox.Queue{Outbox: ob, Destinations: []sender.Destination{{Name: "a", URL: "https://a.example/"}}}
	mkd := func(id string) outbox.Delivery {
		return outbox.Delivery{ID: id, Destination: "a", Body: []byte(`{}`), Due: time.Now(), Created: time.Now()}
	}
	if err := ob.Put(ctx, mkd("x"), mkd("y")); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 2 {
		t.Fatalf("Lease = %d, %v", len(ls), err)
	}
	token := map[string]string{}
	for _, l := range ls {
		token[l.ID] = l.Token
	}
	blocker, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Rollback(ctx) //nolint:errcheck
	if _, err := pgstore.Enqueue(ctx, blocker, q, "a", sender.Message{ID: "z", Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	putDone := make(chan error, 1)
	go func() { putDone <- ob.Put(ctx, mkd("x"), mkd("z"), mkd("y")) }()
	waitForRowWaiters(t, pool, 1) // the Put, on z
	settled := make(chan []error, 1)
	go func() {
		settled <- ob.Settle(ctx, []outbox.Settlement{
			{ID: "y", Token: token["y"], Outcome: outbox.Delivered},
			{ID: "x", Token: token["x"], Outcome: outbox.Delivered},
		})
	}()
	var errs []error
	// The Settle waits for the Put's lock on x, or, when the Put locks no
	// held row, is done.
	for deadline := time.Now().Add(20 * time.Second); errs == nil; time.Sleep(10 * time.Millisecond) {
		select {
		case errs = <-settled:
			continue
		default:
		}
		if rowWaiters(t, pool) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Settle neither waited nor returned")
		}
	}
	if err := blocker.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-putDone; err != nil {
		t.Errorf("Put: %v", err)
	}
	if errs == nil {
		errs = <-settled
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("Settle %d: %v", i, err)
		}
	}
}

// waitForRowWaiters waits until n sessions wait for a transaction or a
// row's lock, and fails t if they do not within 20 seconds.
func waitForRowWaiters(t *testing.T, pool *pgxpool.Pool, n int) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if rowWaiters(t, pool) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions never waited for a lock", n)
		}
	}
}

// rowWaiters returns how many sessions of t's database wait for a lock.
func rowWaiters(t *testing.T, pool *pgxpool.Pool) int {
	t.Helper()
	return queryInt(t, pool, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")
}
