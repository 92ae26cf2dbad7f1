package pgstore_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// newQueue returns a Queue over ob delivering to rcv, polling only once
// an hour: what it delivers sooner, a notification woke it for.
func newQueue(ob outbox.Outbox, rcv *sendertest.Receiver) *outbox.Queue {
	return &outbox.Queue{
		Outbox: ob, Sender: rcv.Sender(), Workers: 8,
		Destinations: []sender.Destination{rcv.Destination(nil)},
		Poll:         time.Hour,
	}
}

// received returns the distinct webhook-ids rcv got, sorted, and fails t
// if one came twice.
func received(t *testing.T, rcv *sendertest.Receiver) []string {
	t.Helper()
	seen := map[string]int{}
	for _, d := range rcv.Deliveries() {
		seen[d.ID]++
	}
	var out []string
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// TestTransactions: of N transactions that enqueue a webhook beside a
// business row and commit, and M that do the same and roll back, through
// both pgx.Tx and database/sql, exactly the N webhooks reach a real HTTPS
// receiver, each once, and exactly the N rows exist.
func TestTransactions(t *testing.T) {
	url := pgtest.URL(t)
	pool := connect(t, url)
	db := openSQL(t, url)
	if _, err := pool.Exec(ctx, "CREATE TABLE orders (id text PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	ob := open(t, pool, nil)
	rcv := sendertest.NewReceiver(t, nil)
	q := newQueue(ob, rcv)
	queuetest.Run(t, q)

	const n = 60
	var want []string
	for i := range n {
		id := fmt.Sprintf("order-%03d", i)
		commit := i%3 != 0 // two in three commit
		var err error
		if i%2 == 0 {
			err = pgxOrder(pool, q, id, commit)
		} else {
			err = sqlOrder(db, q, id, commit)
		}
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if commit {
			want = append(want, "wh-"+id)
		}
	}
	if _, err := rcv.WaitFor(len(want), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // room for a webhook that should not come
	if got := received(t, rcv); !slices.Equal(got, want) {
		t.Errorf("received %d webhooks %v, want the %d committed %v", len(got), got, len(want), want)
	}
	var rows int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM orders").Scan(&rows); err != nil || rows != len(want) {
		t.Errorf("%d orders (%v), want %d", rows, err, len(want))
	}
	if s, err := ob.Stats(ctx); err != nil || s != (outbox.Stats{}) {
		t.Errorf("Stats = %+v, %v; want empty", s, err)
	}
}

// pgxOrder writes an order row and its webhook in one pgx transaction, and
// commits or rolls back.
func pgxOrder(pool *pgxpool.Pool, q *outbox.Queue, id string, commit bool) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, "INSERT INTO orders VALUES ($1)", id); err != nil {
		return err
	}
	msg := sender.Message{ID: "wh-" + id, Topic: "order:created", Body: []byte(`{"order":"` + id + `"}`)}
	if _, err := pgstore.Enqueue(ctx, tx, q, "sendertest", msg); err != nil {
		return err
	}
	if !commit {
		return tx.Rollback(ctx)
	}
	return tx.Commit(ctx)
}

// sqlOrder is pgxOrder through database/sql.
func sqlOrder(db *sql.DB, q *outbox.Queue, id string, commit bool) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck
	if _, err := tx.ExecContext(ctx, "INSERT INTO orders VALUES ($1)", id); err != nil {
		return err
	}
	msg := sender.Message{ID: "wh-" + id, Topic: "order:created", Body: []byte(`{"order":"` + id + `"}`)}
	if _, err := pgstore.EnqueueSQL(ctx, tx, q, "sendertest", msg); err != nil {
		return err
	}
	if !commit {
		return tx.Rollback()
	}
	return tx.Commit()
}

// TestEnqueueInvalid: a delivery the Queue refuses fails inside the
// transaction with ErrInvalid and stores nothing, and a Queue over another
// store is refused.
func TestEnqueueInvalid(t *testing.T) {
	pool := newPool(t)
	ob := open(t, pool, nil)
	rcv := sendertest.NewReceiver(t, nil)
	q := newQueue(ob, rcv)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	for _, c := range []struct {
		dest string
		m    sender.Message
	}{
		{"nowhere", sender.Message{}},
		{"sendertest", sender.Message{ID: "bad\nid"}},
	} {
		if _, err := pgstore.Enqueue(ctx, tx, q, c.dest, c.m); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Enqueue(%q, %q) = %v, want ErrInvalid", c.dest, c.m.ID, err)
		}
	}
	mem := &outbox.Queue{Outbox: outbox.NewMemory(), Destinations: q.Destinations}
	if _, err := pgstore.Enqueue(ctx, tx, mem, "sendertest", sender.Message{}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Enqueue with a memory queue = %v, want ErrInvalid", err)
	}
	id, err := pgstore.Enqueue(ctx, tx, q, "sendertest", sender.Message{})
	if err != nil || id == "" {
		t.Fatalf("Enqueue = %q, %v", id, err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if s, err := ob.Stats(ctx); err != nil || s.Pending != 1 {
		t.Errorf("Stats = %+v, %v; want the one valid delivery", s, err)
	}
	// Idempotent on the id, in a transaction as outside: a held id is left
	// as it is, and its enqueue succeeds.
	tx2, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback(ctx) //nolint:errcheck
	if again, err := pgstore.Enqueue(ctx, tx2, q, "sendertest", sender.Message{ID: id, Body: []byte("other")}); err != nil || again != id {
		t.Fatalf("Enqueue of a held id = %q, %v", again, err)
	}
	if err := tx2.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 1 || string(ls[0].Body) == "other" {
		t.Errorf("after a second Enqueue of one id leased %+v, %v; want the first", ls, err)
	}
}

// TestEnqueueNilTx: a nil transaction is refused with ErrInvalid, by
// Enqueue and EnqueueSQL alike, rather than a nil dereference.
func TestEnqueueNilTx(t *testing.T) {
	pool := newPool(t)
	q := newQueue(open(t, pool, nil), sendertest.NewReceiver(t, nil))
	if _, err := pgstore.Enqueue(ctx, nil, q, "sendertest", sender.Message{}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Enqueue with a nil pgx.Tx = %v, want ErrInvalid", err)
	}
	if _, err := pgstore.EnqueueSQL(ctx, nil, q, "sendertest", sender.Message{}); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("EnqueueSQL with a nil *sql.Tx = %v, want ErrInvalid", err)
	}
}

// TestFleet: two processes' worth of outboxes (each its own pool) and
// Queues share one outbox; deliveries put by either reach the receiver
// once each, the idle Queue woken by the other's NOTIFY rather than its
// hourly poll.
func TestFleet(t *testing.T) {
	url := pgtest.URL(t)
	rcv := sendertest.NewReceiver(t, nil)
	var obs []outbox.Store
	var qs []*outbox.Queue
	for range 2 {
		ob := open(t, connect(t, url), nil)
		q := newQueue(ob, rcv)
		queuetest.Run(t, q)
		obs, qs = append(obs, ob), append(qs, q)
	}
	time.Sleep(100 * time.Millisecond) // both idle, waiting
	const n = 400
	var want []string
	var wg sync.WaitGroup
	for i := range n {
		id := fmt.Sprintf("f-%04d", i)
		want = append(want, id)
		wg.Go(func() {
			if _, err := qs[i%2].Enqueue(ctx, "sendertest", sender.Message{ID: id}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if _, err := rcv.WaitFor(n, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if got := received(t, rcv); !slices.Equal(got, want) {
		t.Errorf("received %d distinct of %d", len(got), n)
	}
	// A delivery put through a bare outbox (no Queue poked) still wakes
	// a Queue, idle by now: through the NOTIFY alone.
	time.Sleep(200 * time.Millisecond)
	d := outbox.Delivery{ID: "bare", Destination: "sendertest", Body: []byte("{}"), Due: time.Now(), Created: time.Now()}
	if err := obs[0].Put(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv.WaitFor(n+1, 30*time.Second); err != nil {
		t.Fatalf("a Put by another process woke no Queue (they poll hourly): %v", err)
	}
}
