package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// TestOutboxStatsOnDrainedNATSOutbox: the usual state of a quiet fleet's
// outbox is an empty stream whose sequence is not zero (every delivery
// done, every tombstone expired). herald outbox stats, and a relay
// restarted on it, waited their 30 seconds to load its index there and
// failed ("load index: context deadline exceeded").
func TestOutboxStatsOnDrainedNATSOutbox(t *testing.T) {
	dir := t.TempDir()
	addr, pass := embeddedNATS(t)
	_, js := natstest.Connect(t, fmt.Sprintf("nats://herald:%s@%s", pass, addr))
	ctx := context.Background()
	// The store URL takes the existing stream's duplicate window: a second.
	ob, err := natsstore.Open(ctx, js, natsstore.Config{Stream: "DRAINED", Subject: "drained", DuplicateWindow: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
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
	st, err := js.Stream(ctx, "DRAINED")
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string { return "the tombstone to expire" }, func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
	store := fmt.Sprintf("nats://herald:%s@%s?stream=DRAINED", pass, addr)
	if pending, dead := outboxStats(t, dir, store, pass); pending != 0 || dead != 0 {
		t.Errorf("outbox stats: %d pending, %d dead; want none", pending, dead)
	}
}
