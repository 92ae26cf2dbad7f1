package boltstore_test

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestPutRefusesUnreadableCount: Put took a delivery whose attempt count
// the record decoder refuses (over 2^30), and from then on every Lease
// failed with ErrCorrupt naming it: one Put of a tool or a caller's store
// stopped every destination's deliveries. Such a count is now refused with
// ErrInvalid, and one at the decoder's bound counts on to it, not past it,
// when the delivery fails again: its dead letter still lists.
func TestPutRefusesUnreadableCount(t *testing.T) {
	st, _ := open(t)
	now := time.Now()
	for _, n := range []int{math.MaxInt, 1<<30 + 1} {
		err := st.Put(ctx, outbox.Delivery{ID: fmt.Sprint("huge-", n), Destination: "d", Due: now, Created: now, Attempts: n})
		if !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Put with %d attempts = %v, want ErrInvalid", n, err)
		}
	}
	if err := st.Put(ctx, outbox.Delivery{ID: "edge", Destination: "d", Due: now, Created: now, Attempts: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, outbox.Delivery{ID: "fine", Destination: "d", Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	ls, err := st.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now})
	if err != nil || len(ls) != 2 {
		t.Fatalf("Lease = %d, %v; want both deliveries", len(ls), err)
	}
	var ss []outbox.Settlement
	for _, l := range ls {
		ss = append(ss, outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.DeadLettered, Reason: "test", Attempt: outbox.AttemptRecord{At: now, Error: "x"}})
	}
	for i, err := range st.Settle(ctx, ss) {
		if err != nil {
			t.Fatalf("Settle %s: %v", ss[i].ID, err)
		}
	}
	dl, err := st.DeadLetters(ctx, outbox.DeadLetterQuery{})
	if err != nil || len(dl) != 2 {
		t.Fatalf("DeadLetters = %d, %v; want both", len(dl), err)
	}
}
