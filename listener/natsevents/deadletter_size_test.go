package natsevents_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/listener/natsevents"
)

// An event too large for its dead letter (which adds a reason and two
// more headers) could be neither handled nor dead-lettered, and was
// redelivered for ever. The stream now refuses it at publish, leaving the
// room a dead letter needs.
func TestEventTooLargeToDeadLetterRefused(t *testing.T) {
	b := newBus(t)
	ctx := context.Background()
	if err := (&natsevents.Source{JetStream: b.js}).Setup(ctx); err != nil {
		t.Fatal(err)
	}
	max := b.js.Conn().MaxPayload()
	m := nats.NewMsg("events.job.ready")
	m.Data = bytes.Repeat([]byte("x"), int(max)-200)
	if _, err := b.js.PublishMsg(ctx, m); err == nil {
		t.Fatalf("an event of %d bytes (max_payload %d) was stored", len(m.Data), max)
	}
	m.Data = bytes.Repeat([]byte("x"), int(max)-8<<10)
	if _, err := b.js.PublishMsg(ctx, m); err != nil {
		t.Fatalf("an event 8 KiB under max_payload: %v", err)
	}
}
