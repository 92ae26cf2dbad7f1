package pgstore_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/pgstore"
)

// TestReplayKeepsLongLineOrder: 200 dead letters of one line, whose ids
// sort unlike the line, replayed by one call go out again in the line's
// order. The conformance suite checks six; this checks that the new places
// are numbered after the sort whatever plan PostgreSQL picks for more rows,
// in a schema whose name needs quoting (Replay finds the identity sequence
// from the table's oid, not by pasting the name into a literal).
func TestReplayKeepsLongLineOrder(t *testing.T) {
	const n = 200
	ob := open(t, newPool(t), &pgstore.Options{Schema: `replay "order" o'k`})
	ad := ob.(outbox.Admin)
	line := make([]string, n)
	ds := make([]outbox.Delivery, n)
	for i := range line {
		sum := sha256.Sum256(fmt.Append(nil, i))
		line[i] = hex.EncodeToString(sum[:6])
		ds[i] = outbox.Delivery{ID: line[i], Destination: "d", PartitionKey: "L", Body: []byte(`{}`), Due: time.Now(), Created: time.Now()}
	}
	if err := ob.Put(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	// headOf leases the line's head, which must be want.
	headOf := func(want, when string) outbox.Leased {
		t.Helper()
		ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
		if err != nil || len(ls) != 1 || ls[0].ID != want {
			got := make([]string, len(ls))
			for i, l := range ls {
				got[i] = l.ID
			}
			t.Fatalf("%s: leased %v, %v; want %s alone", when, got, err, want)
		}
		return ls[0]
	}
	settle := func(l outbox.Leased, s outbox.Settlement) {
		t.Helper()
		s.ID, s.Token = l.ID, l.Token
		if err := ob.Settle(ctx, []outbox.Settlement{s})[0]; err != nil {
			t.Fatalf("Settle %s: %v", l.ID, err)
		}
	}
	for _, id := range line {
		settle(headOf(id, "dead-lettering the line"), outbox.Settlement{Outcome: outbox.DeadLettered, Reason: "rejected: 400",
			Attempt: outbox.AttemptRecord{At: time.Now(), Status: 400}})
	}
	if got, err := ad.Replay(ctx, outbox.Selector{All: true}); err != nil || got != n {
		t.Fatalf("Replay = %d, %v; want %d", got, err, n)
	}
	for _, id := range line {
		settle(headOf(id, "after the Replay"), outbox.Settlement{Outcome: outbox.Delivered})
	}
}
