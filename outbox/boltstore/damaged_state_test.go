package boltstore_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestQueueDamagedStateHoldsOnlyIt: one unreadable destination state in
// the file (here "broken"'s) made DestinationStates fail whole, and the
// Queue, which then applied no state at all, started every destination
// enabled: after a restart it sent to "held", which an operator had
// disabled, and to "broken". The damaged record now reads as "broken"
// held, with a reason the Queue logs and the states list, and hides no
// other state; Enable clears it.
func TestQueueDamagedStateHoldsOnlyIt(t *testing.T) {
	rcv := map[string]*sendertest.Receiver{}
	var dests []sender.Destination
	for _, name := range []string{"held", "broken", "ok"} {
		rcv[name] = sendertest.NewReceiver(t, nil)
		dests = append(dests, sender.Destination{Name: name, URL: rcv[name].URL()})
	}
	s, path := open(t)
	ds := s.(outbox.DestinationStore)
	for _, name := range []string{"held", "broken"} {
		st := outbox.DestinationState{Destination: name, Disabled: time.Now(), Reason: "receiver compromised"}
		if err := ds.SetDestinationState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	var all []outbox.Delivery
	for _, d := range dests {
		for i := range 3 {
			all = append(all, outbox.Delivery{ID: fmt.Sprint(d.Name, i), Destination: d.Name, Body: []byte("{}")})
		}
	}
	if err := s.Put(ctx, all...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tamper(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("destinations")).Put([]byte("broken"), []byte(`{"destination":"broken","disabled":"not a time"}`))
	})

	// The restart.
	s = openAt(t, path)
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
	states, err := s.(outbox.DestinationStore).DestinationStates(ctx)
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
}
