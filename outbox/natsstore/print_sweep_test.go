package natsstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/leaktest"
	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/listener/natsevents"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// TestStorePrintsNoNATSPassword: the outbox natsstore.Open returns, and a
// natsevents.Source, over a connection made with a password print it under
// no fmt verb, slog or JSON.
func TestStorePrintsNoNATSPassword(t *testing.T) {
	const password = "nats-passw0rd-e4f1"
	s := natstest.Start(t, &server.Options{Username: "herald", Password: password})
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo("herald", password))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := natsstore.Open(ctx, js, freshConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.(interface{ Close() error }).Close() })
	forbidden := leaktest.TextForms(password)
	leaktest.CheckAsGiven(t, "store", st, forbidden)
	leaktest.CheckAsGiven(t, "Queue", &outbox.Queue{Outbox: st}, forbidden)
	leaktest.Check(t, "natsevents.Source", natsevents.Source{JetStream: js, Stream: "EVENTS"}, forbidden)
}
