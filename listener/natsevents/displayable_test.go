package natsevents_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

// TestEventIDsThatDoNotShowAsThemselves: Publish refuses an event whose
// id holds a bidi control or a line separator, and Serve dead-letters one
// that reached the stream another way, with a reason that shows as itself,
// without running a handler: the id becomes part of delivery ids and shows
// in logs. (Only C0 and DEL were refused: the handlers ran.)
func TestEventIDsThatDoNotShowAsThemselves(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, id := range []string{"evt\u202e1", "evt\u0085", "evt\u2028x"} {
		if err := natsevents.Publish(ctx, b.js, "", &listener.Event{ID: id, Topic: "job:ready"}); !errors.Is(err, listener.ErrInvalidEvent) {
			t.Errorf("Publish of id %+q = %v, want ErrInvalidEvent", id, err)
		}
	}
	var handled tally
	done := serve(ctx, t, b.url, &natsevents.Source{RetryDelay: 10 * time.Millisecond}, counting(t, &handled, func(ev *listener.Event) string { return ev.ID }))
	if _, err := b.js.Publish(ctx, "events.job.ready", []byte(`{"id":"evt\u2028x","topic":"job:ready"}`)); err != nil {
		t.Fatal(err)
	}
	dead, err := b.js.Stream(ctx, "HERALD_EVENTS_DEAD")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m, err := dead.GetLastMsgForSubject(ctx, "events-dead.job.ready"); err == nil {
			reason := m.Header.Get(natsevents.HeaderDeadReason)
			if _, ok := wire.Displayable(reason); !ok || reason == "" {
				t.Errorf("dead letter reason %+q", reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no dead letter; %d events handled", handled.len())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := handled.len(); n != 0 {
		t.Errorf("%d events handled, want none: %v", n, handled.counts())
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

// TestRefusedSubjectShowsAsItself: a message published on a subject that
// names no topic because it holds a bidi control or a C1 control (NATS
// takes both) is refused, and the subject it logs shows as itself, as the
// id and topic beside it do. (The subject was logged raw: a JSON log line
// carried the U+202E that makes it read backwards.)
func TestRefusedSubjectShowsAsItself(t *testing.T) {
	b := newBus(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := (&natsevents.Source{JetStream: b.js}).Setup(ctx); err != nil {
		t.Fatal(err)
	}
	subjects := []string{"events.job\u202e.ready", "events.job.re\u0085ady"}
	for _, s := range subjects {
		if _, err := b.js.Publish(ctx, s, []byte(`{"id":"evt_1","topic":"job:ready"}`)); err != nil {
			t.Fatalf("publish on %+q: %v", s, err)
		}
	}
	var handled tally
	logs := &syncbuf.Buffer{}
	done := serve(ctx, t, b.url, &natsevents.Source{RetryDelay: 10 * time.Millisecond,
		Logger: slog.New(slog.NewJSONHandler(logs, nil))}, counting(t, &handled, func(ev *listener.Event) string { return ev.ID }))
	var refused []string
	for deadline := time.Now().Add(10 * time.Second); len(refused) < len(subjects); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d refusals logged:\n%s", len(refused), len(subjects), logs.String())
		}
		refused = refused[:0]
		sc := bufio.NewScanner(strings.NewReader(logs.String()))
		for sc.Scan() {
			var line struct{ Msg, Subject string }
			if err := json.Unmarshal(sc.Bytes(), &line); err == nil && line.Msg == "event refused" {
				refused = append(refused, line.Subject)
			}
		}
	}
	for _, s := range refused {
		if _, ok := wire.Displayable(s); !ok {
			t.Errorf("refused subject logged as %+q, which does not show as itself", s)
		}
	}
	if n := handled.len(); n != 0 {
		t.Errorf("%d events handled, want none", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
