package natsstore_test

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
)

// TestQueueDamagedStateHoldsOnlyIt: an unreadable value in the states
// bucket (here "broken"'s, a damaged or foreign write) was skipped with a
// warning, so its destination read as enabled: after a restart the Queue
// sent to "broken", which an operator had disabled. It now reads as
// "broken" held, with a reason the Queue logs and the states list, and the
// other states are as they were; Enable clears it. A damaged value that
// replaces a state while the store is open holds its destination too.
func TestQueueDamagedStateHoldsOnlyIt(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	cfg := freshConfig()
	var kv jetstream.KeyValue
	damage := func(dest string) {
		t.Helper()
		if kv == nil {
			var err error
			if kv, err = js.KeyValue(ctx, cfg.Stream+"_DEST"); err != nil {
				t.Fatal(err)
			}
		}
		key := base64.RawURLEncoding.EncodeToString([]byte(dest))
		if _, err := kv.Put(ctx, key, []byte(`{"destination":"`+dest+`","disabled":"not a time"}`)); err != nil {
			t.Fatal(err)
		}
	}
	s, held := queuetest.DamagedStateHeld(t, open(t, js, cfg), func() { damage("broken") },
		func() outbox.Store { return open(t, js, cfg) })

	// A damaged value written while the store is open.
	damage("late")
	queuetest.WaitFor(t, 10*time.Second, "the damaged state of late to read as held", func() bool {
		list, err := s.DestinationStates(ctx)
		return err == nil && slices.ContainsFunc(list, func(s outbox.DestinationState) bool {
			return s.Destination == "late" && !s.Disabled.IsZero() && strings.Contains(s.Reason, "unreadable")
		})
	})
	if n := len(held.Deliveries()); n != 0 {
		t.Errorf("held got %d requests, want none", n)
	}
}

// TestInvalidStateReadsAsUnreadable: a value of the states bucket that
// decodes but is no state a store may record (something else wrote it: a
// reason over 1024 bytes, a name with a line break) was kept as it was,
// and the Queue logged its reason or name whole. It now reads as any
// unreadable value does: its destination held for the unreadable reason,
// or skipped when the name is no destination's.
func TestInvalidStateReadsAsUnreadable(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	cfg := freshConfig()
	s := open(t, js, cfg)
	kv, err := js.KeyValue(ctx, cfg.Stream+"_DEST")
	if err != nil {
		t.Fatal(err)
	}
	put := func(dest, value string) {
		t.Helper()
		if _, err := kv.Put(ctx, base64.RawURLEncoding.EncodeToString([]byte(dest)), []byte(value)); err != nil {
			t.Fatal(err)
		}
	}
	put("long", `{"destination":"long","disabled":"2026-01-02T03:04:05Z","reason":"`+strings.Repeat("x", 2000)+`"}`)
	put("bad\nname", `{"destination":"bad\nname","disabled":"2026-01-02T03:04:05Z"}`)
	put("last", `{"destination":"last","disabled":"2026-01-02T03:04:05Z","reason":"gone (410)"}`) // seen after the others
	var list []outbox.DestinationState
	queuetest.WaitFor(t, 10*time.Second, "the watcher to bring the states", func() bool {
		list, err = s.(outbox.DestinationStore).DestinationStates(ctx)
		return err == nil && slices.ContainsFunc(list, func(s outbox.DestinationState) bool { return s.Destination == "last" })
	})
	for _, st := range list {
		if err := st.Validate(); err != nil {
			t.Errorf("state of %q: %v", st.Destination, err)
		}
		if st.Destination == "long" && (st.Disabled.IsZero() || !strings.Contains(st.Reason, "unreadable")) {
			t.Errorf("long's state read as %.100v, want it held as unreadable", st)
		}
	}
	if len(list) != 2 {
		t.Errorf("%d states, want long's and last's", len(list))
	}
}

// TestUnknownKVOperationHolds: a message of the states bucket with a
// KV-Operation header other than DEL or PURGE (which NATS's own key-value
// clients read as a put) and a damaged value was taken as the removal of
// its key's state, so a destination an operator had disabled read as
// enabled, at once and in a store opened later. It now reads as any
// unreadable value does: the destination held.
func TestUnknownKVOperationHolds(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	cfg := freshConfig()
	s := open(t, js, cfg).(outbox.DestinationStore)
	disabled := outbox.DestinationState{Destination: "off", Disabled: time.Now(), Reason: "by hand"}
	if err := s.SetDestinationState(ctx, disabled); err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg("$KV." + cfg.Stream + "_DEST." + base64.RawURLEncoding.EncodeToString([]byte("off")))
	msg.Header.Set("KV-Operation", "BOGUS")
	msg.Data = []byte("damaged")
	if _, err := js.PublishMsg(ctx, msg); err != nil {
		t.Fatal(err)
	}
	// off's state until it is no longer the one recorded by hand: "" when
	// it is removed (enabled).
	reason := func(st outbox.DestinationStore) (r string) {
		queuetest.WaitFor(t, 10*time.Second, "the watcher to bring the damaged message", func() bool {
			list, err := st.DestinationStates(ctx)
			if err != nil {
				return false
			}
			r = ""
			for _, st := range list {
				if st.Destination == "off" && !st.Disabled.IsZero() {
					r = st.Reason
				}
			}
			return r != disabled.Reason
		})
		return r
	}
	if r := reason(s); !strings.Contains(r, "unreadable") {
		t.Errorf("open store: off reads as %q, want held as unreadable (empty: enabled)", r)
	}
	if r := reason(open(t, js, cfg).(outbox.DestinationStore)); !strings.Contains(r, "unreadable") {
		t.Errorf("store opened later: off reads as %q, want held as unreadable (empty: enabled)", r)
	}
}
