package natsstore_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
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
	rcv := map[string]*sendertest.Receiver{}
	var dests []sender.Destination
	for _, name := range []string{"held", "broken", "ok"} {
		rcv[name] = sendertest.NewReceiver(t, nil)
		dests = append(dests, sender.Destination{Name: name, URL: rcv[name].URL()})
	}
	first := open(t, js, cfg)
	for _, name := range []string{"held", "broken"} {
		st := outbox.DestinationState{Destination: name, Disabled: time.Now(), Reason: "receiver compromised"}
		if err := first.(outbox.DestinationStore).SetDestinationState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	var all []outbox.Delivery
	for _, d := range dests {
		for i := range 3 {
			all = append(all, outbox.Delivery{ID: fmt.Sprint(d.Name, i), Destination: d.Name, Body: []byte("{}")})
		}
	}
	if err := first.Put(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, cfg.Stream+"_DEST")
	if err != nil {
		t.Fatal(err)
	}
	damage := func(dest string) {
		t.Helper()
		key := base64.RawURLEncoding.EncodeToString([]byte(dest))
		if _, err := kv.Put(ctx, key, []byte(`{"destination":"`+dest+`","disabled":"not a time"}`)); err != nil {
			t.Fatal(err)
		}
	}
	damage("broken")

	// The restart.
	s := open(t, js, cfg)
	ds := s.(outbox.DestinationStore)
	var logs syncbuf.Buffer
	q := &outbox.Queue{
		Outbox: s, Sender: rcv["ok"].Sender(), Destinations: dests, Poll: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	queuetest.Run(t, q)
	if _, err := rcv["ok"].WaitFor(3, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // twenty polls
	for _, name := range []string{"held", "broken"} {
		if n := len(rcv[name].Deliveries()); n != 0 {
			t.Errorf("after a restart the disabled destination %s got %d requests, want none", name, n)
		}
	}
	states, err := ds.DestinationStates(ctx)
	if err != nil || len(states) != 2 {
		t.Fatalf("DestinationStates = %+v, %v; want held's and broken's", states, err)
	}
	for _, st := range states {
		if st.Disabled.IsZero() || st.Destination == "broken" && !strings.Contains(st.Reason, "unreadable") {
			t.Errorf("state %+v: want disabled, and broken's saying its record is unreadable", st)
		}
	}
	if l := logs.String(); !strings.Contains(l, "level=WARN") || !strings.Contains(l, "destination=broken") || !strings.Contains(l, "unreadable") {
		t.Errorf("log %q: want a WARN line saying broken is held, its state unreadable", l)
	}

	if err := q.Enable(ctx, "broken"); err != nil {
		t.Fatal(err)
	}
	if _, err := rcv["broken"].WaitFor(3, 10*time.Second); err != nil {
		t.Errorf("Enable did not resume the destination of the damaged state: %v", err)
	}

	// A damaged value written while the store is open.
	damage("late")
	queuetest.WaitFor(t, 10*time.Second, "the damaged state of late to read as held", func() bool {
		list, err := ds.DestinationStates(ctx)
		return err == nil && slices.ContainsFunc(list, func(s outbox.DestinationState) bool {
			return s.Destination == "late" && !s.Disabled.IsZero() && strings.Contains(s.Reason, "unreadable")
		})
	})
	if n := len(rcv["held"].Deliveries()); n != 0 {
		t.Errorf("held got %d requests, want none", n)
	}
}
