package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRestartKeepsDataAndConnection stops a server and starts another on
// its port and store directory: the stream and its message are still
// there, and the connection Connect made comes back by itself.
func TestRestartKeepsDataAndConnection(t *testing.T) {
	dir := t.TempDir()
	s := Start(t, &server.Options{StoreDir: dir})
	if s.Addr().String() == "127.0.0.1:4222" {
		t.Fatal("Start took the default port instead of a random one")
	}
	nc, js := Connect(t, s.ClientURL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.a", []byte("kept")); err != nil {
		t.Fatal(err)
	}

	port := Port(s)
	s.Shutdown()
	s.WaitForShutdown()
	Start(t, &server.Options{StoreDir: dir, Port: port})
	for !nc.IsConnected() {
		select {
		case <-ctx.Done():
			t.Fatal("the connection did not come back after the restart")
		case <-time.After(10 * time.Millisecond):
		}
	}
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	if msg, err := st.GetLastMsgForSubject(ctx, "t.a"); err != nil || string(msg.Data) != "kept" {
		t.Fatalf("after the restart: %v, %v", msg, err)
	}
}
