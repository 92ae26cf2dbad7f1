package natsstore_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/outbox"
)

// TestStoreFull fills a real server's JetStream storage (1 MiB here, as a
// full disk would leave it): the Put that does not fit fails whole, with
// the server's reason, and stores nothing of its batch, not even in the
// index (whose watcher may bring a message of the batch after the undo
// deleted it, and used to count it as pending for ever); every delivery
// stored before is still there and can be acknowledged while the storage
// is full (an acknowledgement replaces a record with a smaller
// tombstone); and once they are, Put works again.
func TestStoreFull(t *testing.T) {
	s := natstest.Start(t, &server.Options{JetStreamMaxStore: 1 << 20})
	_, js := natstest.Connect(t, s.ClientURL())
	cfg := freshConfig()
	ob := open(t, js, cfg)
	ctx := context.Background()
	body := bytes.Repeat([]byte("x"), 4096)
	const batch = 20
	stored := 0
	var err error
	for b := 0; b < 100 && err == nil; b++ {
		ds := make([]outbox.Delivery, batch)
		for i := range ds {
			ds[i] = outbox.Delivery{ID: fmt.Sprintf("d-%d-%d", b, i), Destination: "d", Body: body, Due: time.Now(), Created: time.Now()}
		}
		if err = ob.Put(ctx, ds...); err == nil {
			stored += batch
		}
	}
	if err == nil || !strings.Contains(err.Error(), "insufficient resources") {
		t.Fatalf("Put into full storage: %v; want the server's insufficient resources", err)
	}
	if stored == 0 {
		t.Fatal("the storage was full before the first Put: make it larger")
	}
	str, serr := js.Stream(ctx, cfg.Stream)
	if serr != nil {
		t.Fatal(serr)
	}
	if info, ierr := str.Info(ctx); ierr != nil || info.State.Msgs != uint64(stored) {
		t.Fatalf("the stream holds %d messages (%v); want the %d of the Puts that succeeded, none of the failed one", info.State.Msgs, ierr, stored)
	}
	if st, serr := ob.Stats(ctx); serr != nil || st.Pending != stored {
		t.Fatalf("Stats = %+v, %v; want %d pending", st, serr, stored)
	}

	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 1000, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != stored {
		t.Fatalf("leased %d of %d in full storage (%v)", len(ls), stored, err)
	}
	ss := make([]outbox.Settlement, len(ls))
	for i, l := range ls {
		ss[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
	}
	for i, err := range ob.Settle(ctx, ss) {
		if err != nil {
			t.Fatalf("acknowledging %s in full storage: %v", ss[i].ID, err)
		}
	}
	if st, err := ob.Stats(ctx); err != nil || st != (outbox.Stats{}) {
		t.Fatalf("after the acknowledgements: Stats = %+v, %v; want none", st, err)
	}
	if err := ob.Put(ctx, outbox.Delivery{ID: "after", Destination: "d", Body: body, Due: time.Now(), Created: time.Now()}); err != nil {
		t.Fatalf("Put once the storage was freed: %v", err)
	}
}

// TestStreamLimitKeepsWhatPutReturnedFor caps the outbox stream the way an
// operator bounding its disk would (nats stream edit --max-msgs 3): a Put
// past the cap must fail, and no delivery that a Put returned nil for may
// go. Under the discard-old policy the server made room by deleting the
// oldest record, a pending delivery acknowledged long before, and every
// Put succeeded. The records held still take their leases and
// settlements, which replace a record without adding one.
func TestStreamLimitKeepsWhatPutReturnedFor(t *testing.T) {
	s := natstest.Start(t, nil)
	_, js := natstest.Connect(t, s.ClientURL())
	cfg := freshConfig()
	ob := open(t, js, cfg)
	ctx := context.Background()
	str, err := js.Stream(ctx, cfg.Stream)
	if err != nil {
		t.Fatal(err)
	}
	sc := str.CachedInfo().Config
	sc.MaxMsgs = 3
	if _, err := js.UpdateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	stored, failed := 0, 0
	for i := range 5 {
		d := outbox.Delivery{ID: fmt.Sprintf("d-%d", i), Destination: "d", Body: []byte("{}"), Due: time.Now(), Created: time.Now()}
		if err := ob.Put(ctx, d); err != nil {
			failed++
			continue
		}
		stored++
	}
	if failed == 0 {
		t.Errorf("every Put into a stream capped at 3 messages returned nil")
	}
	if info, err := str.Info(ctx); err != nil || info.State.Msgs != uint64(stored) {
		t.Fatalf("the stream holds %d messages (%v) of the %d deliveries Put returned nil for", info.State.Msgs, err, stored)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != stored {
		t.Fatalf("leased %d of %d at the cap (%v)", len(ls), stored, err)
	}
	for i, err := range ob.Settle(ctx, []outbox.Settlement{{ID: ls[0].ID, Token: ls[0].Token, Outcome: outbox.Retrying, Due: time.Now()}}) {
		if err != nil {
			t.Fatalf("settling %s at the cap: %v", ls[i].ID, err)
		}
	}
}
