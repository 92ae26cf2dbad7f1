package pgstore_test

import (
	"context"
	"log"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
)

// An order row and the webhook announcing it commit together: if the
// transaction rolls back, no webhook is ever sent.
func ExampleEnqueue() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	store, err := pgstore.Open(ctx, pool, nil) // creates the herald_outbox_* tables
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	q := &outbox.Queue{Outbox: store, Destinations: []sender.Destination{{Name: "billing", URL: "https://billing.example/hooks"}}}
	go q.Run(ctx) //nolint:errcheck // runs until ctx ends

	tx, err := pool.Begin(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit, a no-op
	if _, err := tx.Exec(ctx, "INSERT INTO orders (id, total_cents) VALUES ($1, $2)", "ord-1001", 4200); err != nil {
		log.Fatal(err)
	}
	msg := sender.Message{Topic: "order:placed", Body: []byte(`{"order":"ord-1001"}`)}
	if _, err := pgstore.Enqueue(ctx, tx, q, "billing", msg); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil { // the order and its webhook, or neither
		log.Fatal(err)
	}
}
