package natsstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/outbox"
)

// TestTombstoneKeepsDestination: within the duplicate window, a Put of an
// id acknowledged or purged for another destination fails with
// ErrInvalid naming the id and both destinations, and stores nothing of
// its batch; for the same destination it is dropped, as a retried enqueue
// must be. A tombstone written by an earlier version, which keeps no
// destination, drops the id whatever its destination. A store opened
// again on the stream does the same. (Tombstones kept no destination, so
// an acknowledged id given for another destination was dropped without a
// word, and that webhook never sent.)
func TestTombstoneKeepsDestination(t *testing.T) {
	js, cfg, ob := freshStore(t)
	ctx := context.Background()
	now := time.Now()
	mk := func(id, dest string) outbox.Delivery {
		return outbox.Delivery{ID: id, Destination: dest, Body: []byte("{}"), Due: now, Created: now}
	}
	if err := ob.Put(ctx, mk("acked", "dest-a"), mk("purged", "dest-a")); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(ctx, outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: now})
	if err != nil || len(ls) != 2 {
		t.Fatalf("Lease = %d deliveries, %v; want 2", len(ls), err)
	}
	var ss []outbox.Settlement
	for _, l := range ls {
		s := outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.Delivered}
		if l.ID == "purged" {
			s.Outcome, s.Reason, s.Attempt = outbox.DeadLettered, "r", outbox.AttemptRecord{At: now}
		}
		ss = append(ss, s)
	}
	for _, err := range ob.Settle(ctx, ss) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n, err := ob.Purge(ctx, outbox.Selector{IDs: []string{"purged"}}); err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1", n, err)
	}
	// The tombstone of an earlier version: its id and state alone.
	old := nats.NewMsg(cfg.Subject + "." + base64.RawURLEncoding.EncodeToString([]byte("old")))
	old.Header.Set("Herald-Meta", `{"id":"old","state":"gone"}`)
	old.Data = []byte{0}
	if _, err := js.PublishMsg(ctx, old, jetstream.WithMsgTTL(time.Hour)); err != nil {
		t.Fatal(err)
	}

	checkTombstones(t, ob, "the store that wrote them", mk)
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	checkTombstones(t, open(t, js, cfg), "a store opened again", mk)
}

// checkTombstones puts the ids of TestTombstoneKeepsDestination's
// tombstones into st, for another destination and then for their own.
func checkTombstones(t *testing.T, st outbox.Store, name string, mk func(id, dest string) outbox.Delivery) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"acked", "purged"} {
		err := st.Put(ctx, mk("new-"+id, "dest-b"), mk(id, "dest-b"))
		if !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("%s: a Put of the %s id for another destination = %v, want ErrInvalid", name, id, err)
		} else if msg := err.Error(); !strings.Contains(msg, id) || !strings.Contains(msg, "dest-a") || !strings.Contains(msg, "dest-b") {
			t.Errorf("%s: the error %q does not name %s, dest-a and dest-b", name, msg, id)
		}
		if err := st.Put(ctx, mk(id, "dest-a")); err != nil {
			t.Errorf("%s: a Put of the %s id for its own destination: %v", name, id, err)
		}
	}
	if err := st.Put(ctx, mk("old", "dest-b")); err != nil {
		t.Errorf("%s: a Put of an id whose tombstone names no destination: %v", name, err)
	}
	for _, id := range []string{"acked", "purged", "old", "new-acked", "new-purged"} {
		if _, err := st.History(ctx, id); !errors.Is(err, outbox.ErrNotFound) {
			t.Errorf("%s: History(%s) = %v, want ErrNotFound: a Put stored it", name, id, err)
		}
	}
	if s, err := st.Stats(ctx); err != nil || s != (outbox.Stats{}) {
		t.Errorf("%s: Stats = %+v, %v; want nothing held", name, s, err)
	}
}
