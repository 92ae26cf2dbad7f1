package pgstore_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

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
