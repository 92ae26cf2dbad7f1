package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/pgtest"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// TestLeaseReadsHeadsNotBacklogs: behind a line whose head is leased, a
// Lease reads about as many pages whether 20 or 20,000 deliveries wait
// in the line (counted by EXPLAIN ANALYZE of the lease statement), and
// few: it reads the head, not the backlog. It still leases the
// deliveries without a key, due after the whole line.
func TestLeaseReadsHeadsNotBacklogs(t *testing.T) {
	ctx := context.Background()
	pool := internalPool(t)
	blocks := map[int]int{}
	for _, n := range []int{20, 20_000} {
		schema := fmt.Sprint("backlog_", n)
		ob, err := Open(ctx, pool, &Options{Schema: schema})
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()
		now := time.Now()
		var ds []outbox.Delivery
		for i := range n {
			ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("k%06d", i), Destination: "d", PartitionKey: "K", Body: []byte("{}"), Due: now.Add(-time.Hour), Created: now})
		}
		for i := range 3 {
			ds = append(ds, outbox.Delivery{ID: fmt.Sprint("free", i), Destination: "d", Body: []byte("{}"), Due: now, Created: now})
		}
		if err := ob.Put(ctx, ds...); err != nil {
			t.Fatal(err)
		}
		if ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Hour, Now: now}); err != nil || len(ls) != 1 || ls[0].ID != "k000000" {
			t.Fatalf("leasing the head: %v, %v", ls, err)
		}
		var leased int
		blocks[n], leased = leaseBlocks(t, pool, ob.(*store), names(schema, defaultPrefix), now.Add(time.Second))
		if leased != 3 {
			t.Errorf("behind a line of %d, the lease statement leased %d rows, want the 3 without a key", n, leased)
		}
	}
	t.Logf("pages read by the lease statement: %v", blocks)
	if blocks[20_000] > 100 || blocks[20_000] > 2*blocks[20]+10 {
		t.Errorf("the lease statement read %d pages behind a line of 20,000, %d behind a line of 20: it reads the backlog",
			blocks[20_000], blocks[20])
	}
}

// leaseBlocks runs ob's lease statement, on tables tb, for destination d at now under
// EXPLAIN (ANALYZE, BUFFERS), in a transaction it rolls back, and returns
// the pages it read (shared buffers hit or read) and the rows it leased.
func leaseBlocks(t *testing.T, pool *pgxpool.Pool, ob *store, tb tables, now time.Time) (blocks, rows int) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only in effect: rolled back
	var out []byte
	if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "+ob.q.lease,
		[]string{"d"}, []int32{10}, wire.Nanos(now), 10, "token", wire.Nanos(now.Add(time.Minute))).Scan(&out); err != nil {
		t.Fatal(err)
	}
	var plans []struct {
		Plan struct {
			Hit  int `json:"Shared Hit Blocks"`
			Read int `json:"Shared Read Blocks"`
			Rows int `json:"Actual Rows"`
		}
	}
	if err := json.Unmarshal(out, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", out, err)
	}
	var leased int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+tb.deliveries+" WHERE lease_token = 'token'").Scan(&leased); err != nil {
		t.Fatal(err)
	}
	return plans[0].Plan.Hit + plans[0].Plan.Read, leased
}

// internalPool connects to a new database for t, closed when t ends.
func internalPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
