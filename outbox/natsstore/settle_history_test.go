package natsstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestSettleTwiceKeepsHistory: two settlements of one lease in one Settle
// run at once, each on a copy of the record cached at the lease. Exactly
// one may win, and the history holds its attempt. (The copies shared the
// history's array, each appending where the other read: a data race, and
// the winner could record the loser's attempt.)
func TestSettleTwiceKeepsHistory(t *testing.T) {
	ctx := context.Background()
	ob := open(t, jetStream(t), freshConfig())
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: "x", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	for round := range 200 {
		o := outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: now.Add(time.Duration(round) * time.Hour)}
		ls, err := ob.Lease(ctx, o)
		if err != nil || len(ls) != 1 {
			t.Fatalf("round %d: Lease: %v, %v", round, ls, err)
		}
		tok := ls[0].Token
		errs := ob.Settle(ctx, []outbox.Settlement{
			{ID: "x", Token: tok, Outcome: outbox.Retrying, Due: o.Now, Attempt: outbox.AttemptRecord{At: o.Now, Error: "a"}},
			{ID: "x", Token: tok, Outcome: outbox.Retrying, Due: o.Now, Attempt: outbox.AttemptRecord{At: o.Now, Error: "b"}},
		})
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: both or neither settled: %v", round, errs)
		}
		want := "a"
		if errs[0] != nil {
			want = "b"
		}
		h, err := ob.History(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		if got := h[len(h)-1].Error; got != want {
			t.Fatalf("round %d: the settlement of attempt %q won, and the history records %q", round, want, got)
		}
	}
}
