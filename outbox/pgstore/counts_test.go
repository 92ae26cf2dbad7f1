package pgstore_test

import (
	"math"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestSettleCountAtColumnMax: a delivery put with an attempt count at the
// column's maximum (Put holds a larger one there) made the statement that
// counts its next attempt fail with "integer out of range", and with it
// every settlement of the batch it was settled in: the healthy deliveries
// beside it stayed leased and were sent again, batch after batch. The
// count now stops at the maximum.
func TestSettleCountAtColumnMax(t *testing.T) {
	st := open(t, newPool(t), nil)
	now := time.Now()
	err := st.Put(ctx,
		outbox.Delivery{ID: "huge", Destination: "d", Attempts: math.MaxInt, Due: now, Created: now},
		outbox.Delivery{ID: "dead", Destination: "d", Attempts: math.MaxInt32, Due: now, Created: now},
		outbox.Delivery{ID: "fine", Destination: "d", Due: now, Created: now},
		outbox.Delivery{ID: "keyed", Destination: "d", PartitionKey: "k", Attempts: math.MaxInt32, Due: now, Created: now})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now})
	if err != nil || len(ls) != 4 {
		t.Fatalf("Lease = %d, %v; want 4", len(ls), err)
	}
	var ss []outbox.Settlement
	for _, l := range ls {
		s := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Retrying, Due: now, Attempt: outbox.AttemptRecord{At: now, Error: "x"}}
		if l.ID == "dead" || l.ID == "keyed" {
			s.Outcome, s.Reason = outbox.DeadLettered, "test"
		}
		ss = append(ss, s)
	}
	for i, err := range st.Settle(ctx, ss) {
		if err != nil {
			t.Errorf("Settle %s: %v", ss[i].ID, err)
		}
	}
	ls, err = st.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now})
	if err != nil || len(ls) != 2 {
		t.Fatalf("Lease after Settle = %d, %v; want the two retried", len(ls), err)
	}
	for _, l := range ls {
		if l.ID == "huge" && l.Attempts != math.MaxInt32 {
			t.Errorf("huge: %d attempts, want %d", l.Attempts, math.MaxInt32)
		}
	}
}
