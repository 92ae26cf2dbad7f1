package natsevents_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// TestPublishMsgIDScopedBySubject: JetStream deduplicates on Nats-Msg-Id
// across the whole stream, so an id shared by two subjects must not make
// the second event a duplicate (a publisher allowed events.job.ready could
// otherwise drop a billing:refund by publishing its id first), while the
// same event published twice on its subject is still stored once.
func TestPublishMsgIDScopedBySubject(t *testing.T) {
	s := natstest.Start(t, nil)
	var handled tally
	l := counting(t, &handled, func(ev *listener.Event) string { return ev.Topic + " " + ev.ID })
	src := &natsevents.Source{JetStream: connect(t, s.ClientURL()), AckWait: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Setup(ctx); err != nil {
		t.Fatal(err)
	}

	js := connect(t, s.ClientURL())
	for _, topic := range []string{"job:ready", "billing:refund", "job:ready"} {
		if err := natsevents.Publish(ctx, js, "", &listener.Event{ID: "evt_7", Topic: topic, Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
	}
	stream, err := js.Stream(ctx, "HERALD_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream holds %d events, want 2 (one per subject)", info.State.Msgs)
	}
	for seq, want := range map[uint64]string{1: "events.job.ready evt_7", 2: "events.billing.refund evt_7"} {
		m, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Header.Get("Nats-Msg-Id"); got != want {
			t.Errorf("message %d: Nats-Msg-Id %q, want %q", seq, got, want)
		}
	}

	done := serve(ctx, t, s.ClientURL(), src, l)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if handled.len() >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := handled.counts(); !maps.Equal(got, map[string]int{"billing:refund evt_7": 1, "job:ready evt_7": 1}) {
		t.Fatalf("handled %v, want job:ready and billing:refund, each once", got)
	}
}
