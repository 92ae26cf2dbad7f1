package natsevents_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

func TestSourceSharedWithRedeliveryAndDeadLetters(t *testing.T) {
	b := newBus(t)
	var handled tally
	l := listener.New()
	l.On("job:ok", func(_ context.Context, ev *listener.Event) error { handled.add(ev.ID); return nil })
	l.On("job:flaky", func(_ context.Context, ev *listener.Event) error {
		if handled.add(ev.ID) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	l.On("job:fail", func(_ context.Context, ev *listener.Event) error { handled.add(ev.ID); return errors.New("always") })
	l.On("job:bad", func(_ context.Context, ev *listener.Event) error {
		handled.add(ev.ID)
		return listener.Permanent(errors.New("malformed"))
	})

	ctx, cancel := context.WithCancel(context.Background())
	var workers []<-chan error
	for range 2 {
		src := &natsevents.Source{MaxDeliver: 4, RetryDelay: 10 * time.Millisecond, AckWait: 5 * time.Second}
		workers = append(workers, serve(ctx, t, b.url, src, l))
	}
	const n = 200
	for i := range n {
		ev := &listener.Event{ID: fmt.Sprint("ok-", i), Topic: "job:ok", Payload: []byte(`{"i":1}`)}
		if err := natsevents.Publish(ctx, b.js, "", ev); err != nil {
			t.Fatal(err)
		}
	}
	for _, ev := range []*listener.Event{
		{ID: "flaky", Topic: "job:flaky"}, {ID: "fail", Topic: "job:fail"}, {ID: "bad", Topic: "job:bad"},
		{ID: "ok-0", Topic: "job:ok"}, // republished: deduplicated
	} {
		if err := natsevents.Publish(ctx, b.js, "", ev); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := b.js.Stream(ctx, "HERALD_EVENTS_DEAD")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := dead.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		okDone := true
		for i := range n {
			okDone = okDone && handled.get(fmt.Sprint("ok-", i)) > 0
		}
		if info.State.Msgs == 2 && okDone && handled.get("flaky") == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead letters %d, flaky %d", info.State.Msgs, handled.get("flaky"))
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	for _, w := range workers {
		if err := <-w; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}
	if got := handled.get("fail"); got != 4 {
		t.Errorf("failing event handled %d times, want MaxDeliver 4", got)
	}
	if got := handled.get("bad"); got != 1 {
		t.Errorf("permanent failure handled %d times, want 1", got)
	}
	if got := handled.get("ok-0"); got != 1 {
		t.Errorf("republished event handled %d times, want 1", got)
	}
	for _, subj := range []string{"events-dead.job.fail", "events-dead.job.bad"} {
		m, err := dead.GetLastMsgForSubject(context.Background(), subj)
		if err != nil {
			t.Fatalf("dead letter %s: %v", subj, err)
		}
		if m.Header.Get(natsevents.HeaderDeadReason) == "" || m.Header.Get(natsevents.HeaderOriginalSubject) != "events"+subj[len("events-dead"):] {
			t.Errorf("dead letter headers %v", m.Header)
		}
		var ev listener.Event
		if err := ev.UnmarshalJSON(m.Data); err != nil {
			t.Errorf("dead letter body: %v", err)
		}
	}
	// The consumer has nothing left unacknowledged.
	cons, err := b.js.Consumer(context.Background(), "HERALD_EVENTS", "herald-workers")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := cons.Info(context.Background()); err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
		t.Errorf("consumer pending %d, ack pending %d, %v", info.NumPending, info.NumAckPending, err)
	}
}
