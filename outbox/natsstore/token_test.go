package natsstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestSettleTokenOnlyAsLeaseMadeIt: a settle token that Lease never
// makes, such as the lease's own with a leading zero, settled the lease
// as if it were the token. It is now ErrLeaseLost, and the lease's own
// token still settles it.
func TestSettleTokenOnlyAsLeaseMadeIt(t *testing.T) {
	ctx := context.Background()
	ob := open(t, jetStream(t), freshConfig())
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: "a", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: now})
	if err != nil || len(ls) != 1 {
		t.Fatalf("lease: %v, %v", ls, err)
	}
	for _, token := range []string{"0" + ls[0].Token, "+" + ls[0].Token, ls[0].Token + " ", ""} {
		err := ob.Settle(ctx, []outbox.Settlement{{ID: "a", Token: token, Outcome: outbox.Released}})[0]
		if !errors.Is(err, outbox.ErrLeaseLost) {
			t.Fatalf("settle with token %q (the lease's is %q): %v; want ErrLeaseLost", token, ls[0].Token, err)
		}
	}
	if err := ob.Settle(ctx, []outbox.Settlement{{ID: "a", Token: ls[0].Token, Outcome: outbox.Delivered}})[0]; err != nil {
		t.Fatalf("settle with the lease's token: %v", err)
	}
}
