package natsstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// TestOpenDrainedOutbox: once every delivery of an outbox is done and
// their tombstones expired (DuplicateWindow after the last one, the
// usual state of a quiet outbox), the stream is empty but its sequence
// is not zero. Open waited for its watcher to catch up with that
// sequence, which no message would ever bring: a relay restarted then
// could not start ("load index: context deadline exceeded").
func TestOpenDrainedOutbox(t *testing.T) {
	js := jetStream(t)
	cfg := freshConfig()
	cfg.DuplicateWindow = time.Second
	ob := open(t, js, cfg)
	ctx := context.Background()
	now := time.Now()
	if err := ob.Put(ctx, outbox.Delivery{ID: "a", Destination: "d", Body: []byte("{}"), Due: now, Created: now}); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lease = %d, %v", len(ls), err)
	}
	if errs := ob.Settle(ctx, []outbox.Settlement{{ID: "a", Token: ls[0].Token, Outcome: outbox.Delivered}}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	st, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ { // the tombstone expires after a second
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs == 0 {
			break
		}
		if i == 100 {
			t.Fatal("the tombstone did not expire")
		}
		time.Sleep(100 * time.Millisecond)
	}
	octx, cancel := context.WithTimeout(ctx, 10*time.Second) // not a speed limit: without the fix Open never returns
	defer cancel()
	again, err := natsstore.Open(octx, js, cfg)
	if err != nil {
		t.Fatalf("Open of the drained outbox: %v", err)
	}
	defer again.Close()
	if s, err := again.Stats(ctx); err != nil || s != (outbox.Stats{}) {
		t.Fatalf("Stats = %+v, %v; want none", s, err)
	}
}
