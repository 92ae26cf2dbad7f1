package listener_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// TestDeliveryID: the delivery id is stable for an event (another call, a
// redelivered copy), and distinct per destination and per topic, since an
// event id is unique only within its topic.
func TestDeliveryID(t *testing.T) {
	ready := &listener.Event{ID: "evt_1", Topic: "job:ready", Payload: []byte(`{"n":1}`)}
	id := listener.DeliveryID(ready, "billing")
	if u, err := uuid.Parse(id); err != nil || u.Version() != 5 {
		t.Fatalf("delivery id %q is not a UUIDv5 (%v)", id, err)
	}
	// Pinned: receivers deduplicate on it, so a change is a breaking one.
	if id != "b89b4c4b-d35a-59b9-bbf6-cd63dffaa8ed" {
		t.Errorf("delivery id %s changed", id)
	}
	raw, err := ready.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var redelivered listener.Event
	if err := json.Unmarshal(raw, &redelivered); err != nil {
		t.Fatal(err)
	}
	if listener.DeliveryID(ready, "billing") != id || listener.DeliveryID(&redelivered, "billing") != id {
		t.Error("the same event got another delivery id")
	}
	for _, other := range []struct {
		ev   *listener.Event
		dest string
	}{
		{ready, "shipping"},
		{&listener.Event{ID: "evt_1", Topic: "billing:refund"}, "billing"},
		{&listener.Event{ID: "evt_1", Topic: "job:readyx"}, "billing"},
		{&listener.Event{ID: "1", Topic: "job:readyevt_"}, "billing"},
		{&listener.Event{ID: "evt_1billing", Topic: "job:ready"}, ""},
	} {
		if got := listener.DeliveryID(other.ev, other.dest); got == id {
			t.Errorf("%s %s to %q shares the delivery id of job:ready evt_1 to billing", other.ev.Topic, other.ev.ID, other.dest)
		}
	}
	if listener.DeliveryID(nil, "billing") != listener.DeliveryID(&listener.Event{}, "billing") {
		t.Error("a nil event is not the empty event")
	}
}

// TestForwardSameIDOtherTopic forwards two events that share an id but not
// a topic to a receiver behind auth.Middleware, which runs its handler once
// per webhook-id: both must run, or a publisher allowed one topic could use
// up the delivery of another topic's event by taking its id first. The
// redelivery of either one is still recognised as such.
func TestForwardSameIDOtherTopic(t *testing.T) {
	signer := newStandard(t, "outbound-secret-0123456789abcdef")
	var (
		mu   sync.Mutex
		runs []string // topic of each body the receiver's handler took
	)
	srv := httptest.NewTLSServer(auth.Middleware(signer)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev listener.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		runs = append(runs, ev.Topic)
		mu.Unlock()
	})))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	s := &sender.Sender{
		TLS:           &tls.Config{RootCAs: pool},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
	}
	t.Cleanup(s.CloseIdleConnections)

	l := listener.New()
	mustOn(t, l, "**", listener.Forward(s, sender.Destination{Name: "hook", URL: srv.URL, Signer: signer}))
	for _, ev := range []*listener.Event{
		{ID: "evt_1", Topic: "job:ready"},
		{ID: "evt_1", Topic: "billing:refund"},
		{ID: "evt_1", Topic: "billing:refund"}, // redelivered
		{ID: "evt_1", Topic: "job:ready"},      // redelivered
	} {
		if err := l.Dispatch(context.Background(), ev); err != nil {
			t.Fatalf("%s: %v", ev.Topic, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(runs, []string{"job:ready", "billing:refund"}) {
		t.Fatalf("receiver ran for %q, want job:ready and billing:refund once each", runs)
	}
}

// TestDeliveryIDOutbox enqueues, as the relay does, one delivery per event
// with its DeliveryID: the outbox skips a delivery whose id it holds, so
// two events sharing an id but not a topic must both reach the receiver.
func TestDeliveryIDOutbox(t *testing.T) {
	signer := newStandard(t, "outbound-secret-0123456789abcdef")
	rcv := sendertest.NewReceiver(t, signer)
	dest := rcv.Destination(signer)
	q := &outbox.Queue{Outbox: outbox.NewMemory(), Sender: rcv.Sender(), Destinations: []sender.Destination{dest}, Poll: 10 * time.Millisecond}
	ctx := context.Background()
	for _, ev := range []*listener.Event{
		{ID: "evt_1", Topic: "job:ready"},
		{ID: "evt_1", Topic: "billing:refund"},
		{ID: "evt_1", Topic: "job:ready"}, // posted again: nothing more
	} {
		body, err := ev.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		msg := sender.Message{ID: listener.DeliveryID(ev, dest.Name), Topic: ev.Topic, Body: body, ContentType: "application/json"}
		if _, err := q.Enqueue(ctx, dest.Name, msg); err != nil {
			t.Fatal(err)
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- q.Run(runCtx) }()
	ds, err := rcv.WaitFor(2, 10*time.Second)
	time.Sleep(50 * time.Millisecond) // room for a wrong third delivery
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	var topics []string
	for _, d := range rcv.Deliveries() {
		var ev listener.Event
		if d.Err != nil || json.Unmarshal(d.Body, &ev) != nil {
			t.Fatalf("receiver could not verify or decode %s: %v", d.Body, d.Err)
		}
		ids[d.ID] = true
		topics = append(topics, ev.Topic)
	}
	slices.Sort(topics)
	if len(ids) != 2 || !slices.Equal(topics, []string{"billing:refund", "job:ready"}) {
		t.Fatalf("receiver got %q under %d webhook-ids (first %+v), want each topic once", topics, len(ids), ds[0])
	}
}
