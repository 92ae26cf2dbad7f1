package natsstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/natstest"
	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

var streams atomic.Int64

// jetStream starts a server of the test's own and connects to it.
func jetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := natstest.Connect(t, natstest.Start(t, nil).ClientURL())
	return js
}

// freshConfig returns a Config naming a stream no other test uses.
func freshConfig() natsstore.Config {
	n := streams.Add(1)
	return natsstore.Config{Stream: fmt.Sprint("OUTBOX_", n), Subject: fmt.Sprint("outbox.t", n)}
}

// freshStore starts a server of the test's own and opens an outbox on it
// with a freshConfig, closed when the test ends; it returns the
// connection, the Config and the outbox.
func freshStore(t testing.TB) (jetstream.JetStream, natsstore.Config, outbox.Store) {
	t.Helper()
	js := jetStream(t)
	cfg := freshConfig()
	return js, cfg, open(t, js, cfg)
}

// open opens an outbox on js, closed when the test ends.
func open(t testing.TB, js jetstream.JetStream, cfg natsstore.Config) outbox.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return queuetest.Opened(t)(natsstore.Open(ctx, js, cfg))
}
