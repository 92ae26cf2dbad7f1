package natsevents_test

import (
	"context"
	"errors"
	"testing"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// TestDeadLetterAfterStreamRecreated: the event stream is deleted and
// created again (by an operator changing what cannot be updated; Serve
// creates it at start), so that its sequences start over at 1. An event
// dead-lettered there soon after one of the old stream's is still a dead
// letter. (Both had the dead letter id "HERALD_EVENTS-1": JetStream
// dropped the second as a duplicate, and the event, terminated, was lost.)
func TestDeadLetterAfterStreamRecreated(t *testing.T) {
	b := newBus(t)
	var calls tally
	l := listener.New()
	l.On("job:ready", func(_ context.Context, ev *listener.Event) error {
		calls.add(ev.ID)
		return listener.Permanent(errors.New("refused"))
	})
	deadLetters := func() uint64 {
		t.Helper()
		dead, err := b.js.Stream(context.Background(), "HERALD_EVENTS_DEAD")
		if err != nil {
			t.Fatal(err)
		}
		info, err := dead.Info(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs
	}
	for i, id := range []string{"old", "new"} {
		ctx, cancel := context.WithCancel(context.Background())
		done := serve(ctx, t, b.url, &natsevents.Source{}, l)
		if err := natsevents.Publish(ctx, b.js, "", &listener.Event{ID: id, Topic: "job:ready"}); err != nil {
			t.Fatal(err)
		}
		waitAll(t, &calls, []string{id})
		waitSettled(t, b.js)
		if n := deadLetters(); n != uint64(i+1) {
			t.Errorf("after event %q: %d dead letters, want %d", id, n, i+1)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if err := b.js.DeleteStream(context.Background(), "HERALD_EVENTS"); err != nil {
			t.Fatal(err)
		}
	}
}
