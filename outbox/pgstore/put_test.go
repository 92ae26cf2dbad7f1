package pgstore_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// Two workers putting the same ids in opposite orders (clients retrying
// batches on both) wait on each other's rows, and the server ends one
// statement to break the deadlock; that Put failed. It now tries again,
// and both Puts succeed with every delivery stored once.
func TestPutConcurrentOppositeOrders(t *testing.T) {
	pool := newPool(t)
	a, b := open(t, pool, nil), open(t, pool, nil)
	now := time.Now()
	for round := range 8 {
		var ds []outbox.Delivery
		for i := range 200 {
			ds = append(ds, outbox.Delivery{ID: fmt.Sprintf("r%d-%03d", round, i), Destination: "d", Body: []byte("{}"), Due: now, Created: now})
		}
		rev := slices.Clone(ds)
		slices.Reverse(rev)
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() { errA = a.Put(ctx, ds...) })
		wg.Go(func() { errB = b.Put(ctx, rev...) })
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("round %d: Put %v, reversed Put %v", round, errA, errB)
		}
	}
	if st, err := a.Stats(ctx); err != nil || st.Pending != 8*200 {
		t.Fatalf("Stats = %+v, %v; want %d pending", st, err, 8*200)
	}
}
