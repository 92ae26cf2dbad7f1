package listener_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/listenertest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// Both a Sender (in process) and a Queue (durable) are Deliverers.
var (
	_ listener.Deliverer = (*sender.Sender)(nil)
	_ listener.Deliverer = (*outbox.Queue)(nil)
)

// twoDests returns two destinations, "a" wanting job:* and "b" every topic,
// both at rcv.
func twoDests(rcv *sendertest.Receiver) (a, b sender.Destination) {
	a = rcv.Destination(nil)
	a.Name, a.Topics = "a", []string{"job:*"}
	b = rcv.Destination(nil)
	b.Name = "b"
	return a, b
}

// TestForwardSenderTwoDestinations: in process, one event reaches both
// destinations that want it, each under its own derived id; a topic one of
// them does not want reaches only the other.
func TestForwardSenderTwoDestinations(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	a, b := twoDests(rcv)
	h := listener.Forward(rcv.Sender(), a, b)
	ev := listenertest.NewEvent(t, "job:ready", map[string]string{"jobId": "j1"})
	if err := h(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	other := listenertest.NewEvent(t, "records:created", nil)
	if err := h(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	ds, err := rcv.WaitFor(3, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	want := []string{listener.DeliveryID(ev, "a"), listener.DeliveryID(ev, "b"), listener.DeliveryID(other, "b")}
	slices.Sort(ids)
	slices.Sort(want)
	if !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
}

// failingPut is a real outbox whose next Put of a delivery for "b" fails,
// as a full disk would: a Put of "a" alone before it would be stored.
type failingPut struct {
	outbox.Outbox
	fail atomic.Bool
}

var errDiskFull = errors.New("disk full")

func (f *failingPut) Put(ctx context.Context, ds ...outbox.Delivery) error {
	for _, d := range ds {
		if d.Destination == "b" && f.fail.Swap(false) {
			return errDiskFull
		}
	}
	return f.Outbox.Put(ctx, ds...)
}

func openBolt(t *testing.T) outbox.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestForwardQueueOneCommit: through a Queue over a bbolt file, an event
// wanted by two destinations is stored as two deliveries in one commit. When
// the commit fails, neither is stored, the HTTP source answers 500 so the
// platform posts the event again, and the retry stores both under the same
// ids, which the Queue then delivers.
func TestForwardQueueOneCommit(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	a, b := twoDests(rcv)
	st := openBolt(t)
	ob := &failingPut{Outbox: st}
	q := &outbox.Queue{Outbox: ob, Sender: rcv.Sender(), Destinations: []sender.Destination{a, b}, Poll: 10 * time.Millisecond}

	l := listener.New()
	mustOn(t, l, "job:*", listener.Forward(q, a, b))
	h := &listener.HTTPHandler{Dispatcher: l}
	body := `{"id":"evt_7","topic":"job:ready","payload":{"jobId":"j7"}}`

	ob.fail.Store(true)
	if w := post(h, jsonHeader(), body); w.Code != http.StatusInternalServerError {
		t.Fatalf("failed commit: status %d, want 500", w.Code)
	}
	if s, err := st.Stats(context.Background()); err != nil || s.Pending != 0 {
		t.Fatalf("after a failed commit: %+v, %v; want nothing stored", s, err)
	}
	for range 2 { // the platform's retry, and a duplicate of it
		if w := post(h, jsonHeader(), body); w.Code/100 != 2 {
			t.Fatalf("retry: status %d", w.Code)
		}
	}
	if s, err := st.Stats(context.Background()); err != nil || s.Pending != 2 {
		t.Fatalf("after the retry: %+v, %v; want 2 pending", s, err)
	}

	runUntilBothDelivered(t, q, rcv, "evt_7")
	if n := len(rcv.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries, want 2 (the duplicate post adds none)", n)
	}
}

// TestForwardQueueUnknownDestinationRetryable: a Forward to a destination
// its Queue does not know (added to Forward but not to the Queue, or
// removed from the Queue first in a rolling deploy) is the worker's
// configuration at fault, not the event's. The event was refused for good
// (400), for the destination the Queue knows too, so the platform dropped
// it. It is now refused retryably, over real HTTP (5xx, the platform posts
// it again), with an error naming the destination, nothing of it stored;
// once the worker restarts with the destination added to the Queue, the
// event posted again is stored and delivered to both.
func TestForwardQueueUnknownDestinationRetryable(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	a, b := twoDests(rcv)
	path := filepath.Join(t.TempDir(), "outbox.db")
	const body = `{"id":"1","topic":"job:ready"}`

	st, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	q := &outbox.Queue{Outbox: st, Sender: rcv.Sender(), Destinations: []sender.Destination{a}}
	if code, reply := postTLS(t, listener.Forward(q, a, b), body); code/100 != 5 || strings.Contains(reply, `"b"`) {
		t.Fatalf("unknown destination: status %d %q, want a 5xx that names no destination", code, reply)
	}
	err = listener.Forward(q, a, b)(context.Background(), &listener.Event{ID: "1", Topic: "job:ready"})
	if err == nil || listener.IsPermanent(err) || !strings.Contains(err.Error(), `unknown destination "b"`) {
		t.Fatalf("%v: want a retryable error naming the unknown destination b", err)
	}
	if s, err := st.Stats(context.Background()); err != nil || s.Pending != 0 {
		t.Fatalf("%+v, %v: want nothing stored, for a either", s, err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	// The worker restarts, its Queue given b.
	st, err = boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q = &outbox.Queue{Outbox: st, Sender: rcv.Sender(), Destinations: []sender.Destination{a, b}, Poll: 10 * time.Millisecond}
	if code, reply := postTLS(t, listener.Forward(q, a, b), body); code != http.StatusNoContent {
		t.Fatalf("posted again: status %d %q, want 204", code, reply)
	}
	runUntilBothDelivered(t, q, rcv, "1")
}

// runUntilBothDelivered runs q until rcv has two deliveries, shuts q down,
// and fails t unless they are those of the job:ready event eventID to the
// destinations "a" and "b" of twoDests.
func runUntilBothDelivered(t *testing.T, q *outbox.Queue, rcv *sendertest.Receiver, eventID string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	ds, err := rcv.WaitFor(2, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	ev := &listener.Event{ID: eventID, Topic: "job:ready"}
	got := []string{ds[0].ID, ds[1].ID}
	want := []string{listener.DeliveryID(ev, "a"), listener.DeliveryID(ev, "b")}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("delivered ids %v, want %v", got, want)
	}
}

// postTLS posts body as a native envelope to an HTTPHandler, behind a TLS
// server, whose listener runs h for every topic, and returns the status
// and the reply.
func postTLS(t *testing.T, h listener.Handler, body string) (int, string) {
	t.Helper()
	l := listener.New(listener.WithDedupe(0, 0))
	mustOn(t, l, "**", h)
	srv := httptest.NewTLSServer(&listener.HTTPHandler{Dispatcher: l})
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(reply)
}

// TestForwardQueueDeadLetterKeepsEventID: an event forwarded through a Queue
// over a bbolt file to a receiver rejecting it (400) dies at once, and its
// dead letter names the event it came from, so an operator can trace it.
func TestForwardQueueDeadLetterKeepsEventID(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil, sendertest.FailFirst(100, http.StatusBadRequest))
	dest := rcv.Destination(nil)
	dest.Name = "rejects"
	st := openBolt(t)
	q := &outbox.Queue{Outbox: st, Sender: rcv.Sender(), Destinations: []sender.Destination{dest}, Poll: 10 * time.Millisecond}
	ev := listenertest.NewEvent(t, "job:ready", map[string]string{"jobId": "j9"})
	if err := listener.Forward(q, dest)(context.Background(), ev); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	var dls []outbox.DeadLetter
	for deadline := time.Now().Add(5 * time.Second); len(dls) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no dead letter")
		}
		var err error
		if dls, err = st.DeadLetters(context.Background(), outbox.DeadLetterQuery{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	if len(dls) != 1 || dls[0].EventID != ev.ID || dls[0].ID != listener.DeliveryID(ev, "rejects") {
		t.Fatalf("dead letters %+v, want one of event %q", dls, ev.ID)
	}
}

// TestForwardMalformedTopicsRefused: a destination whose Topics holds a
// malformed pattern wanted nothing, so Forward answered every event as
// handled while that destination never got it. Every event now fails,
// retryably (the configuration is at fault, not the event, and its
// source keeps it until that is fixed), naming the destination and the
// pattern, and nothing is sent to any destination.
func TestForwardMalformedTopicsRefused(t *testing.T) {
	rcv := sendertest.NewReceiver(t, nil)
	a, b := twoDests(rcv)
	b.Topics = []string{"job:ready", "job:**"}
	s := rcv.Sender()
	err := listener.Forward(s, a, b)(context.Background(), &listener.Event{ID: "1", Topic: "job:ready"})
	if !errors.Is(err, sender.ErrInvalidPattern) || listener.IsPermanent(err) ||
		!strings.Contains(err.Error(), `"b"`) || !strings.Contains(err.Error(), "Topics[1]") {
		t.Fatalf("Forward with a malformed pattern: %v; want a retryable ErrInvalidPattern naming b's Topics[1]", err)
	}
	if n := len(rcv.Deliveries()); n != 0 {
		t.Fatalf("%d webhooks sent, want none", n)
	}
}
