package natsstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// TestOpenSparesAForeignStream: Open of a stream name that an application
// already uses for something else (a typo in a --store URL; herald outbox
// stats, which only reads, opens it too) used to "update" that stream
// into an outbox: one message per subject, the others purged, or its
// subjects replaced. Open now refuses a stream that is not the outbox its
// Config describes, and leaves it as it was.
func TestOpenSparesAForeignStream(t *testing.T) {
	js := jetStream(t)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "orders.1", []byte("order")); err != nil {
			t.Fatal(err)
		}
	}
	cfg := freshConfig()
	octx, cancel := context.WithTimeout(ctx, 10*time.Second) // not a speed limit: Open could hang
	defer cancel()
	for _, c := range []natsstore.Config{{Stream: "ORDERS", Subject: "orders"}, {Stream: "ORDERS", Subject: cfg.Subject}} {
		if _, err := natsstore.Open(octx, js, c); !errors.Is(err, outbox.ErrInvalid) {
			t.Errorf("Open(%+v) of a stream that is not an outbox: %v; want ErrInvalid", c, err)
		}
	}
	st, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	info := st.CachedInfo()
	if info.State.Msgs != 3 || info.Config.MaxMsgsPerSubject == 1 || len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != "orders.>" {
		t.Fatalf("the stream now holds %d messages, max %d per subject, subjects %q; want it as it was",
			info.State.Msgs, info.Config.MaxMsgsPerSubject, info.Config.Subjects)
	}
	// An outbox opened again with another subject would strand its records
	// under the old one, out of the index's sight.
	open(t, js, cfg)
	moved := cfg
	moved.Subject += "x"
	if _, err := natsstore.Open(octx, js, moved); !errors.Is(err, outbox.ErrInvalid) {
		t.Errorf("Open of an outbox with another subject: %v; want ErrInvalid", err)
	}
}
