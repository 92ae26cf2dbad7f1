package pgstore_test

import (
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestTraceParentKept: a delivery's trace parent and partition key come
// back from Lease after a release, from DeadLetters once it is dead, and
// from Lease again after a replay.
func TestTraceParentKept(t *testing.T) {
	ob := open(t, newPool(t), nil)
	now := time.Now()
	const trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if err := ob.Put(ctx, outbox.Delivery{ID: "t", Destination: "d", TraceParent: trace, PartitionKey: "K", Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	leaseOne := func(what string) outbox.Leased {
		t.Helper()
		ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now().Add(time.Second)})
		if err != nil || len(ls) != 1 || ls[0].TraceParent != trace || ls[0].PartitionKey != "K" {
			t.Fatalf("%s: Lease = %+v, %v; want t with its trace parent and key", what, ls, err)
		}
		return ls[0]
	}
	settle := func(s outbox.Settlement) {
		t.Helper()
		if errs := ob.Settle(ctx, []outbox.Settlement{s}); errs[0] != nil {
			t.Fatal(errs[0])
		}
	}
	l := leaseOne("after Put")
	settle(outbox.Settlement{ID: "t", Token: l.Token, Outcome: outbox.Released})
	l = leaseOne("after Released")
	settle(outbox.Settlement{ID: "t", Token: l.Token, Outcome: outbox.DeadLettered, Reason: "rejected: 400",
		Attempt: outbox.AttemptRecord{At: now, Status: 400}})
	dl, err := ob.DeadLetters(ctx, outbox.DeadLetterQuery{})
	if err != nil || len(dl) != 1 || dl[0].TraceParent != trace || dl[0].PartitionKey != "K" {
		t.Fatalf("DeadLetters = %+v, %v", dl, err)
	}
	if n, err := ob.Replay(ctx, outbox.Selector{All: true}); err != nil || n != 1 {
		t.Fatalf("Replay = %d, %v", n, err)
	}
	leaseOne("after Replay")
}
