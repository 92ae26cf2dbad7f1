package natsevents_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// nats.go takes a message with an empty body and a Status header for one
// of the server's own, and any publisher on the event subjects can send
// one: with 409 or 400 its iterator ended, stopping every worker in turn;
// with 100 the message was dropped and held a place for ever. The Source
// pulls for itself now: such a message is an event like any other, and, as
// it does not parse, a dead letter; the events after it are handled.
func TestSourceTakesStatusHeadersAsEvents(t *testing.T) {
	b := newBus(t)
	var handled tally
	l := counting(t, &handled, func(ev *listener.Event) string { return ev.ID })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, b.url, &natsevents.Source{AckWait: time.Second, Concurrency: 4}, l)

	for i := range 20 {
		m := nats.NewMsg("events.job.ready")
		m.Header.Set("Status", []string{"409", "400", "100", "404"}[i%4])
		m.Header.Set("Description", "Consumer Deleted")
		if _, err := b.js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for i := range 10 {
		ids = append(ids, fmt.Sprint("after-", i))
		if err := natsevents.Publish(ctx, b.js, "", &listener.Event{ID: ids[i], Topic: "job:ready", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(handled.missing(ids)) > 0 && time.Now().Before(deadline) {
		select {
		case err := <-done:
			t.Fatalf("Serve returned %v with events %v unhandled", err, handled.missing(ids))
		case <-time.After(20 * time.Millisecond):
		}
	}
	if m := handled.missing(ids); len(m) > 0 {
		t.Fatalf("events %v never handled", m)
	}
	dead, err := b.js.Stream(ctx, "HERALD_EVENTS_DEAD")
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for ; n < 20 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		info, err := dead.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n = info.State.Msgs
	}
	if n != 20 {
		t.Fatalf("%d dead letters for 20 status messages", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

// A consumer deleted under a running Source ends its Serve with an error,
// as the package documentation says, rather than leaving it waiting.
func TestSourceConsumerDeleted(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, b.url, &natsevents.Source{AckWait: time.Second}, listener.New())
	time.Sleep(100 * time.Millisecond) // let it ask for events
	if err := b.js.DeleteConsumer(ctx, "HERALD_EVENTS", "herald-workers"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, jetstream.ErrConsumerDeleted) && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			t.Fatalf("Serve = %v, want the consumer's deletion", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Serve still running 30 s after its consumer was deleted")
	}
}

// A worker whose NATS user may subscribe only under its own inbox prefix
// (nats.CustomInboxPrefix, the usual way to lock inboxes down) receives
// its events: the Source's inbox follows the connection's prefix.
func TestSourceCustomInboxPrefix(t *testing.T) {
	s := natstest.Start(t, &server.Options{Users: []*server.User{{
		Username: "w", Password: "p",
		Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}},
			Subscribe: &server.SubjectPermission{Allow: []string{"_W.>"}},
		},
	}}})
	var asyncErr atomic.Value
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("w", "p"), nats.CustomInboxPrefix("_W"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, e error) { asyncErr.Store(e.Error()) }))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var got tally
	l := counting(t, &got, func(ev *listener.Event) string { return ev.ID })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, "", &natsevents.Source{JetStream: js, AckWait: time.Second}, l)
	if err := natsevents.Publish(ctx, js, "", &listener.Event{ID: "e1", Topic: "job:ready", Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); got.get("e1") == 0 && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	if got.get("e1") == 0 {
		t.Fatalf("event never handled; async error: %v", asyncErr.Load())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}
