package pgstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// attemptRows counts the rows of the attempts of the delivery id in the
// tables of schema.
func attemptRows(t *testing.T, pool *pgxpool.Pool, schema, id string) int {
	t.Helper()
	var n int
	q := fmt.Sprintf(`SELECT count(*) FROM %s.herald_outbox_attempts WHERE delivery_id = $1`, schema)
	if err := pool.QueryRow(ctx, q, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Tables written before the bound may hold more attempts of a delivery:
// History returns the newest limits.History, the next attempt deletes the
// surplus rows, and acknowledging or purging still deletes every one. A
// delivery replayed again and again kept one row more per attempt.
func TestHistoryOverTheBoundFromOlderTables(t *testing.T) {
	pool := newPool(t)
	const schema = "older"
	s := open(t, pool, &pgstore.Options{Schema: schema})
	now := time.Now()
	ids := []string{"settled", "keyed", "acked", "purged"}
	for _, id := range ids {
		d := outbox.Delivery{ID: id, Destination: id, Body: []byte("{}"), Due: now, Created: now}
		if id == "keyed" {
			d.PartitionKey = "k"
		}
		if err := s.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	const old = 100 // attempts of each, as an earlier version kept them
	_, err := pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.herald_outbox_attempts (delivery_id, at_ns, status, latency_ns, tries, error)
		SELECT id, 0, 503, 0, n, '' FROM unnest($1::text[]) id CROSS JOIN generate_series(0, $2 - 1) n ORDER BY id, n`, schema), ids, old)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		h, err := s.History(ctx, id)
		if err != nil || len(h) != limits.History || h[0].Tries != old-limits.History || h[len(h)-1].Tries != old-1 {
			t.Fatalf("History of %s: %d attempts, %v; want the newest %d", id, len(h), err, limits.History)
		}
	}
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 4, TTL: time.Minute, Now: time.Now(), Allow: func(string) int { return 1 }})
	if err != nil || len(ls) != 4 {
		t.Fatalf("Lease: %v, %v", ls, err)
	}
	next := outbox.AttemptRecord{At: now, Status: 500, Tries: old}
	var ss []outbox.Settlement
	for _, l := range ls {
		st := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
		switch l.ID {
		case "settled":
			st.Outcome, st.Due, st.Attempt = outbox.Retrying, now.Add(time.Hour), next
		case "keyed", "purged":
			st.Outcome, st.Reason, st.Attempt = outbox.DeadLettered, "gave up", next
		}
		ss = append(ss, st)
	}
	for i, err := range s.Settle(ctx, ss) {
		if err != nil {
			t.Fatalf("Settle %s: %v", ss[i].ID, err)
		}
	}
	for _, id := range []string{"settled", "keyed", "purged"} {
		if n := attemptRows(t, pool, schema, id); n != limits.History {
			t.Errorf("%d rows of attempts of %s after one more, want %d", n, id, limits.History)
		}
		h, err := s.History(ctx, id)
		if err != nil || len(h) != limits.History || h[0].Tries != old+1-limits.History || h[len(h)-1].Tries != old {
			t.Errorf("History of %s: %d attempts, %v; want the newest %d", id, len(h), err, limits.History)
		}
	}
	if n := attemptRows(t, pool, schema, "acked"); n != 0 {
		t.Errorf("%d rows of attempts of the acknowledged delivery", n)
	}
	if n, err := s.Purge(ctx, outbox.Selector{IDs: []string{"purged"}}); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	if n := attemptRows(t, pool, schema, "purged"); n != 0 {
		t.Errorf("%d rows of attempts of the purged delivery", n)
	}
}
