package outbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/sender"
)

// TestRunClosesItsOwnSendersConnections: a Queue given no Sender makes its
// own, which no caller can reach to close. Once Run has returned, that
// Sender's kept-alive connections must be closed, not left open (a socket
// and two goroutines each) for the transport's idle timeout, a minute and
// a half, after every Queue a program starts and stops.
func TestRunClosesItsOwnSendersConnections(t *testing.T) {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())

	// By name: the Queue checks a literal address against its own
	// Sender's guard when it starts, and that Sender refuses loopback
	// until the test lets it reach the receiver, below.
	url := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	q := &Queue{Outbox: NewMemory(), Destinations: []sender.Destination{{Name: "d", URL: url}}, Poll: 5 * time.Millisecond}
	if err := q.init(); err != nil {
		t.Fatal(err)
	}
	// The Sender the Queue made, only able to reach the test's receiver
	// (whose certificate names example.com).
	q.sender.TLS = &tls.Config{RootCAs: roots, ServerName: "example.com"}
	q.sender.AllowNetworks = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}

	ctx := context.Background()
	for range 4 {
		if _, err := q.Enqueue(ctx, "d", sender.Message{}); err != nil {
			t.Fatal(err)
		}
	}
	ran := make(chan error, 1)
	go func() { ran <- q.Run(ctx) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s, err := q.Outbox.(Admin).Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v", s)
		}
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
	n := 0
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n = len(open)
		mu.Unlock()
		if n == 0 {
			return
		}
	}
	t.Errorf("%d connections of the Queue's own Sender still open 5s after Run returned", n)
}
