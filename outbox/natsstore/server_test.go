package natsstore_test

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/queuetest"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/natsstore"
)

// startServer starts an embedded NATS server with JetStream on loopback,
// storing in dir, on port (-1: a random one). It is shut down when the
// test ends.
func startServer(t testing.TB, dir string, port int) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir,
		NoLog: true, NoSigs: true,
	})
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// port returns the server's TCP port.
func port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// connect opens a connection that reconnects forever, closed when the test
// ends.
func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

var streams atomic.Int64

// jetStream starts a server of the test's own and connects to it.
func jetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	_, js := connect(t, startServer(t, t.TempDir(), -1).ClientURL())
	return js
}

// freshConfig returns a Config naming a stream no other test uses.
func freshConfig() natsstore.Config {
	n := streams.Add(1)
	return natsstore.Config{Stream: fmt.Sprint("OUTBOX_", n), Subject: fmt.Sprint("outbox.t", n)}
}

// open opens an outbox on js, closed when the test ends.
func open(t testing.TB, js jetstream.JetStream, cfg natsstore.Config) outbox.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return queuetest.Opened(t)(natsstore.Open(ctx, js, cfg))
}
