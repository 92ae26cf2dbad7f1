package outboxtest

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"github.com/heraldhq/herald/outbox"
)

// testLargeAttemptCounts: a delivery put with a large attempt count (a
// tool, an import, a replay of another store's records) is either refused
// with ErrInvalid or kept in a form the store can count on from: leasing,
// retrying and dead-lettering it succeed, with a count no lower than the
// one put, and so do the settlements of the other deliveries settled in
// the same batch. (The bbolt store took counts its reader refused, after
// which every Lease failed; the PostgreSQL store counted past its
// column's maximum, which failed the whole Settle batch.)
func testLargeAttemptCounts(t *testing.T, ob outbox.Outbox) {
	var held []string
	want := map[string]int{}
	for _, n := range []int{1 << 30, math.MaxInt32, math.MaxInt} {
		for _, end := range []string{"retry", "dead"} {
			d := mk(fmt.Sprintf("count-%d-%s", n, end), "d")
			d.Attempts = n
			switch err := ob.Put(ctx, d); {
			case errors.Is(err, outbox.ErrInvalid):
				continue // refused: the store cannot hold it
			case err != nil:
				t.Fatalf("Put with %d attempts: %v, want nil or ErrInvalid", n, err)
			}
			held = append(held, d.ID)
			want[d.ID] = min(n, math.MaxInt32) // a store may hold a count at its column's maximum
		}
	}
	put(t, ob, mk("plain", "d"))
	ls := lease(t, ob, outbox.LeaseOptions{Max: 100})
	if len(ls) != len(held)+1 {
		t.Fatalf("leased %v, want %v and plain", ids(ls), held)
	}
	var ss []outbox.Settlement
	for _, l := range ls {
		s := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Retrying, Due: l.Due, Attempt: outbox.AttemptRecord{At: l.Due, Error: "failed"}}
		if len(l.ID) > 4 && l.ID[len(l.ID)-4:] == "dead" {
			s.Outcome, s.Reason = outbox.DeadLettered, "counted"
		}
		ss = append(ss, s)
	}
	errs := ob.Settle(ctx, ss)
	if len(errs) != len(ss) {
		t.Fatalf("Settle returned %d errors for %d settlements", len(errs), len(ss))
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("Settle %s: %v", ss[i].ID, err)
		}
	}
	ls = lease(t, ob, outbox.LeaseOptions{Max: 100})
	for _, l := range ls {
		if n, ok := want[l.ID]; ok && l.Attempts < n {
			t.Errorf("%s: %d attempts after one more, want at least %d", l.ID, l.Attempts, n)
		}
	}
	if a, ok := ob.(outbox.Admin); ok {
		dl, err := a.DeadLetters(ctx, outbox.DeadLetterQuery{})
		if err != nil {
			t.Fatalf("DeadLetters: %v", err)
		}
		for _, d := range dl {
			if n, ok := want[d.ID]; ok && d.Attempts < n {
				t.Errorf("dead letter %s: %d attempts, want at least %d", d.ID, d.Attempts, n)
			}
		}
	}
}
