package natsstore_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// TestLeaseWithinDueSecond: the index orders deliveries due within the
// same second in an order of its own, so one due later in the second can
// come before one due already. Lease passes over it rather than stopping
// there: of ten deliveries due now and ten due later in the same second,
// it leases the ten due now. (It used to stop at the first not yet due,
// and left the others waiting for the rest of the second.)
func TestLeaseWithinDueSecond(t *testing.T) {
	ctx := context.Background()
	ob := open(t, jetStream(t), freshConfig())
	now := time.Now().Add(time.Hour).Truncate(time.Second).Add(100 * time.Millisecond)
	var ds []outbox.Delivery
	var want []string
	for i := range 10 {
		due := outbox.Delivery{ID: fmt.Sprint(i, "-now"), Destination: "d", Body: []byte("{}"), Due: now, Created: now}
		soon := outbox.Delivery{ID: fmt.Sprint(i, "-soon"), Destination: "d", Body: []byte("{}"), Due: now.Add(800 * time.Millisecond), Created: now}
		ds = append(ds, due, soon)
		want = append(want, due.ID)
	}
	if err := ob.Put(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 20, TTL: time.Minute, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, l.ID)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("leased %v; want the ten due now, %v", got, want)
	}
}
