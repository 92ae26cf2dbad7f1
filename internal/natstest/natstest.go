// Package natstest runs embedded NATS servers with JetStream for the tests
// of herald's NATS packages (listener/natsevents, outbox/natsstore,
// cmd/herald): a real server in the test process, on loopback, and
// connections that reconnect the way a worker should.
package natstest

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Start starts an embedded NATS server with JetStream on 127.0.0.1, shut
// down when the test ends. opts, which may be nil, adds to that: a Port
// (zero: a random one), a StoreDir (empty: a new temporary directory, so
// give the same one to start a server again on the same data), and
// authentication; Start sets Host, JetStream, NoLog and NoSigs itself.
func Start(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	var o server.Options
	if opts != nil {
		o = *opts
	}
	o.Host, o.JetStream, o.NoLog, o.NoSigs = "127.0.0.1", true, true, true
	if o.Port == 0 {
		o.Port = -1
	}
	if o.StoreDir == "" {
		o.StoreDir = t.TempDir()
	}
	s, err := server.NewServer(&o)
	if err != nil {
		t.Fatalf("nats server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server not ready")
	}
	t.Cleanup(s.Shutdown)
	return s
}

// Port returns the TCP port s listens on, to start a server again on it.
func Port(s *server.Server) int { return s.Addr().(*net.TCPAddr).Port }

// Connect connects to url, reconnecting forever every 50ms so that a test
// that restarts the server goes on at once, and returns the connection
// with its JetStream context; the connection is closed when the test ends.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}
