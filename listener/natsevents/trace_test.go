package natsevents_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// The traceparent of the context given to Publish travels as a message
// header and is in the handlers' context on the consuming side.
func TestTraceparentCrossesJetStream(t *testing.T) {
	b := newBus(t)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	got := make(chan string, 2)
	l := listener.New()
	if err := l.On("job:*", func(ctx context.Context, _ *listener.Event) error {
		got <- telemetry.FromContext(ctx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, b.url, &natsevents.Source{}, l)
	if err := natsevents.Publish(telemetry.WithTraceparent(ctx, tp), b.js, "", &listener.Event{ID: "t1", Topic: "job:a"}); err != nil {
		t.Fatal(err)
	}
	if err := natsevents.Publish(ctx, b.js, "", &listener.Event{ID: "t2", Topic: "job:b"}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 2 {
		select {
		case v := <-got:
			seen[v] = true
		case <-time.After(20 * time.Second):
			t.Fatal("events not handled")
		}
	}
	if !seen[tp] || !seen[""] {
		t.Fatalf("handlers saw traceparents %v, want %q for the traced event and none for the other", seen, tp)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
