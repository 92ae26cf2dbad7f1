package natsevents_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// TestPublishMsgIDScopedBySource: CloudEvents 1.0 makes an event's source
// and id unique together, and the listener keeps two sources' events of
// one id apart (WithDedupe, listener.DeliveryID): so must Publish's
// Nats-Msg-Id, or JetStream drops the second source's event as the first's
// duplicate while Publish returns nil, and it is never handled. The same
// event published twice is still stored once, with or without a source.
func TestPublishMsgIDScopedBySource(t *testing.T) {
	b := newBus(t)
	var handled tally
	l := counting(t, &handled, func(ev *listener.Event) string { return ev.Context["source"] + " " + ev.ID })
	src := &natsevents.Source{JetStream: connect(t, b.url), AckWait: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	for _, source := range []string{"/shop/eu", "/shop/us", "", "/shop/eu", ""} {
		ev := &listener.Event{ID: "1", Topic: "order:paid", Payload: []byte(`{}`)}
		if source != "" {
			ev.Context = map[string]string{"source": source}
		}
		if err := natsevents.Publish(ctx, b.js, "", ev); err != nil {
			t.Fatalf("publish from %q: %v", source, err)
		}
	}
	if _, n := eventStream(ctx, t, b.js); n != 3 {
		t.Errorf("stream holds %d events, want 3 (one per source, and one without)", n)
	}

	done := serve(ctx, t, b.url, src, l)
	want := map[string]int{"/shop/eu 1": 1, "/shop/us 1": 1, " 1": 1}
	for deadline := time.Now().Add(20 * time.Second); handled.len() < len(want) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // room for a duplicate to show
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := handled.counts(); !maps.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}
