package natsevents_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/listener/natsevents"
)

func TestSubjectAndInvalid(t *testing.T) {
	if got, err := natsevents.SubjectOf("events", "records.v2:created"); err != nil || got != "events.records%2Ev2.created" {
		t.Errorf("Subject = %q, %v", got, err)
	}
	if _, err := natsevents.SubjectOf("events", "nocolon"); !errors.Is(err, listener.ErrInvalidEvent) {
		t.Errorf("Subject of a bad topic: %v", err)
	}
	b := newBus(t)
	if err := natsevents.Publish(context.Background(), b.js, "", &listener.Event{Topic: "job:x"}); !errors.Is(err, listener.ErrInvalidEvent) {
		t.Errorf("Publish without id: %v", err)
	}
	if err := (&natsevents.Source{}).Serve(context.Background(), listener.New()); err == nil {
		t.Error("Serve without JetStream succeeded")
	}
	bad := &natsevents.Source{JetStream: b.js, SubjectPrefix: "ev", DeadLetterPrefix: "ev.dead"}
	if err := bad.Serve(context.Background(), listener.New()); err == nil {
		t.Error("overlapping prefixes accepted")
	}
}

// TestPublishMsgIDScopedBySubject: JetStream deduplicates on Nats-Msg-Id
// across the whole stream, so an id shared by two subjects must not make
// the second event a duplicate (a publisher allowed events.job.ready could
// otherwise drop a billing:refund by publishing its id first), while the
// same event published twice on its subject is still stored once.
func TestPublishMsgIDScopedBySubject(t *testing.T) {
	b := newBus(t)
	var handled tally
	l := counting(t, &handled, func(ev *listener.Event) string { return ev.Topic + " " + ev.ID })
	src := &natsevents.Source{JetStream: connect(t, b.url), AckWait: time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := src.Setup(ctx); err != nil {
		t.Fatal(err)
	}

	for _, topic := range []string{"job:ready", "billing:refund", "job:ready"} {
		if err := natsevents.Publish(ctx, b.js, "", &listener.Event{ID: "evt_7", Topic: topic, Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("publish %s: %v", topic, err)
		}
	}
	stream, n := eventStream(ctx, t, b.js)
	if n != 2 {
		t.Fatalf("stream holds %d events, want 2 (one per subject)", n)
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

	done := serve(ctx, t, b.url, src, l)
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

// TestSourceSubjectDecidesTopic publishes raw messages whose body claims
// another topic than their subject: NATS permissions govern subjects, so a
// publisher allowed only on events.job.ready must not get a billing:refund
// handled. Such a message is terminated (not redelivered, not
// dead-lettered) and logged at WARN without its payload; a body without a
// topic takes the subject's.
func TestSourceSubjectDecidesTopic(t *testing.T) {
	b := newBus(t)
	var handled tally
	l := counting(t, &handled, func(ev *listener.Event) string { return ev.ID + " " + ev.Topic })
	var logs syncbuf.Buffer
	src := &natsevents.Source{AckWait: time.Second, RetryDelay: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := serve(ctx, t, b.url, src, l)

	const marker = "PAYLOAD-MARKER"
	for _, m := range []struct{ subject, body string }{
		{"events.job.ready", `{"id":"forged","topic":"billing:refund","payload":{"note":"` + marker + `"}}`},
		{"events.job.ready", `{"id":"case","topic":"job:Ready"}`},
		{"events.job.ready.extra", `{"id":"deep","topic":"job:ready"}`},
		{"events.job", `{"id":"short","topic":"job:ready"}`},
		{"events.job%2eX.ready", `{"id":"spelling","topic":"job.X:ready"}`},
		{"events.job.ready", `{"id":"bare","payload":{"n":1}}`},
		{"events.records%2Ev2.created", `{"id":"dotted","topic":"records.v2:created"}`},
	} {
		msg := nats.NewMsg(m.subject)
		msg.Data = []byte(m.body)
		if _, err := b.js.PublishMsg(ctx, msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := natsevents.Publish(ctx, b.js, "", &listener.Event{ID: "genuine", Topic: "job:ready"}); err != nil {
		t.Fatal(err)
	}

	want := map[string]int{"bare job:ready": 1, "dotted records.v2:created": 1, "genuine job:ready": 1}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if handled.len() >= len(want) && strings.Count(logs.String(), "event refused") >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handled %v; log:\n%s", handled.counts(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Longer than AckWait: a refused event left unsettled would come back.
	time.Sleep(1500 * time.Millisecond)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if got := handled.counts(); !maps.Equal(got, want) {
		t.Errorf("handled (id topic: times) %v, want %v", got, want)
	}
	log := logs.String()
	if got := strings.Count(log, "event refused"); got != 5 {
		t.Errorf("%d refusals logged, want 5 (each once):\n%s", got, log)
	}
	for _, line := range strings.Split(strings.TrimSpace(log), "\n") {
		if strings.Contains(line, "event refused") && !strings.Contains(line, "level=WARN") {
			t.Errorf("refusal not at WARN: %s", line)
		}
	}
	if !strings.Contains(log, `subject=events.job.ready id=forged topic=billing:refund error="the event's topic is not its subject's"`) {
		t.Errorf("the forged event's refusal does not say why:\n%s", log)
	}
	if strings.Contains(log, marker) {
		t.Errorf("the log holds a payload:\n%s", log)
	}
	// Terminated, not dead-lettered, and nothing left to redeliver.
	dead, err := b.js.Stream(context.Background(), "HERALD_EVENTS_DEAD")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := dead.Info(context.Background()); err != nil || info.State.Msgs != 0 {
		t.Errorf("dead letters: %+v, %v", info.State, err)
	}
	cons, err := b.js.Consumer(context.Background(), "HERALD_EVENTS", "herald-workers")
	if err != nil {
		t.Fatal(err)
	}
	if info, err := cons.Info(context.Background()); err != nil || info.NumPending != 0 || info.NumAckPending != 0 || info.NumRedelivered != 0 {
		t.Errorf("consumer pending %d, ack pending %d, redelivered %d, %v", info.NumPending, info.NumAckPending, info.NumRedelivered, err)
	}
}
