package queuetest

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// DamagedStateHeld is the part of a store's damaged-state test that every
// store shares. Over first it disables "held" and "broken" (an operator's
// doing) and puts three deliveries for each of them and for "ok", closes
// first, has damage make broken's recorded state unreadable, and opens the
// store again with reopen. A Queue over it must then send to ok alone, list
// both states disabled (broken's saying it is unreadable) and log broken
// held; once broken is enabled, it must send broken's. It returns the
// reopened store and the receiver of held, which must stay without
// requests, for the checks a store adds.
func DamagedStateHeld(t *testing.T, first outbox.Store, damage func(), reopen func() outbox.Store) (outbox.Store, *sendertest.Receiver) {
	t.Helper()
	ctx := context.Background()
	rcv := map[string]*sendertest.Receiver{}
	var dests []sender.Destination
	var all []outbox.Delivery
	for _, name := range []string{"held", "broken", "ok"} {
		rcv[name] = sendertest.NewReceiver(t, nil)
		dests = append(dests, sender.Destination{Name: name, URL: rcv[name].URL()})
		for i := range 3 {
			all = append(all, outbox.Delivery{ID: fmt.Sprint(name, i), Destination: name, Body: []byte("{}")})
		}
	}
	for _, name := range []string{"held", "broken"} {
		st := outbox.DestinationState{Destination: name, Disabled: time.Now(), Reason: "receiver compromised"}
		if err := first.SetDestinationState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Put(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	damage()

	// The restart.
	s := reopen()
	var logs syncbuf.Buffer
	q := &outbox.Queue{
		Outbox: s, Sender: rcv["ok"].Sender(), Destinations: dests, Poll: 5 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	Run(t, q)
	if _, err := rcv["ok"].WaitFor(3, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // twenty polls
	for _, name := range []string{"held", "broken"} {
		if n := len(rcv[name].Deliveries()); n != 0 {
			t.Errorf("after a restart the disabled destination %s got %d requests, want none", name, n)
		}
	}
	states, err := s.DestinationStates(ctx)
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
	if n := len(rcv["held"].Deliveries()); n != 0 {
		t.Errorf("held got %d requests after broken was enabled, want none", n)
	}
	return s, rcv["held"]
}
