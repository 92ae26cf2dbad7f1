package boltstore_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestDueOutsideNanosecondRange: a due time that an int64 of Unix
// nanoseconds cannot hold (after 2262 or before 1678) keeps its place in
// time, across Put, Settle and a restart: a delivery due in 2300 is not
// leased now, one due in 1500 is, as the memory store does. UnixNano
// wrapped them: the one due in 2300 was leased at once, due in 1715, and
// the one due in 1500 waited until 2075. A lease as of 2400 takes them
// all.
func TestDueOutsideNanosecondRange(t *testing.T) {
	s, path := open(t)
	now := time.Now()
	future := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	past := time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)
	must(t, s.Put(ctx,
		outbox.Delivery{ID: "future", Destination: "d", Due: future, Created: now},
		outbox.Delivery{ID: "past", Destination: "d", Due: past, Created: past},
		outbox.Delivery{ID: "retried", Destination: "d", Due: now, Created: now},
	))
	leased := func(when string) map[string]bool {
		t.Helper()
		ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now})
		must(t, err)
		got := map[string]bool{}
		for _, l := range ls {
			got[l.ID] = true
			if l.ID == "future" {
				t.Errorf("%s: the delivery due in 2300 was leased now, due %v", when, l.Due)
			}
			if l.ID == "retried" {
				errs := s.Settle(ctx, []outbox.Settlement{{ID: l.ID, Token: l.Token, Outcome: outbox.Retrying, Due: future}})
				must(t, errs[0])
			}
		}
		return got
	}
	if got := leased("after Put"); !got["past"] || !got["retried"] {
		t.Errorf("after Put: leased %v, want past and retried", got)
	}
	s = reopen(t, s, path)
	if got := leased("after a restart"); len(got) != 1 || !got["past"] {
		t.Errorf("after a restart: leased %v, want only past", got)
	}
	ls, err := s.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC)})
	if must(t, err); len(ls) != 3 {
		t.Errorf("a lease as of 2400 took %d deliveries, want all 3", len(ls))
	}
}
