package outbox_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/bodypool"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/outbox/boltstore"
	"github.com/heraldhq/herald/sender"
)

// TestLentBodiesStayTheirs: a bbolt outbox lends the buffers of the bodies
// it leases, and the Queue gives each back once its request is written, so
// that the next lease may fill it with another delivery's body. Given back
// while net/http still wrote it, to a receiver that answers before it has
// read the body, the buffer would put another delivery's body, perhaps to
// another destination, on that connection. Two receivers, one answering at
// once and reading the body after, slowly, each check that every body they
// read is the one signed for the delivery it names; the buffers must also
// have been given back, or the test shows nothing.
func TestLentBodiesStayTheirs(t *testing.T) {
	scheme := standard(t)
	var mu sync.Mutex
	var wrong []string
	seen := map[string]int{}
	receiver := func(early bool) *httptest.Server {
		return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if early {
				w.WriteHeader(http.StatusNoContent)
				w.(http.Flusher).Flush()
				time.Sleep(time.Millisecond)
			}
			body, err := io.ReadAll(r.Body)
			id := r.Header.Get("webhook-id")
			_, verr := scheme.Verify(r.Header, body)
			mu.Lock()
			defer mu.Unlock()
			seen[id]++
			switch {
			case err != nil && !early:
				wrong = append(wrong, fmt.Sprintf("%s: reading the body: %v", id, err))
			case err == nil && (verr != nil || !bytes.Equal(body, bodyOf(id))):
				wrong = append(wrong, fmt.Sprintf("%s: a body of %d bytes that is not its own (%v)", id, len(body), verr))
			}
		}))
	}
	early, plain := receiver(true), receiver(false)
	defer early.Close()
	defer plain.Close()
	roots := x509.NewCertPool()
	roots.AddCert(early.Certificate())
	s := &sender.Sender{TLS: &tls.Config{RootCAs: roots}, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Retry: sender.RetryPolicy{MaxAttempts: 1}}
	defer s.CloseIdleConnections()

	st, err := boltstore.Open(filepath.Join(t.TempDir(), "outbox.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	dests := []sender.Destination{{Name: "early", URL: early.URL, Signer: scheme}, {Name: "plain", URL: plain.URL, Signer: scheme}}
	q := &outbox.Queue{Outbox: st, Sender: s, Destinations: dests, Workers: 16, Poll: 10 * time.Millisecond, Schedule: short}
	const n = 300
	for i := range n {
		for _, d := range dests {
			id := fmt.Sprintf("%s-%04d", d.Name, i)
			if _, err := q.Enqueue(ctx, d.Name, sender.Message{ID: id, Body: bodyOf(id)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	given := bodypool.Given()
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	for deadline := time.Now().Add(60 * time.Second); stats(t, st).Pending > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not drained: %+v", stats(t, st))
		}
	}
	if err := q.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, w := range wrong {
		t.Error(w)
	}
	if len(seen) != 2*n {
		t.Errorf("%d deliveries seen, want %d", len(seen), 2*n)
	}
	if got := bodypool.Given() - given; got < n {
		t.Errorf("%d buffers given back for %d deliveries: the test shows nothing", got, 2*n)
	}
}

// bodyOf returns the body of the delivery id: JSON naming it, padded to a
// length from 100 bytes to 60 KiB that depends on the id, so that the
// buffers of several sizes are lent.
func bodyOf(id string) []byte {
	var sum int
	for _, c := range id {
		sum = sum*31 + int(c)
	}
	size := 100 + (sum&0x7fffffff)%(60<<10)
	b := fmt.Appendf(nil, `{"id":%q,"pad":"`, id)
	for len(b) < size-2 {
		b = append(b, 'a'+byte(len(b)%26))
	}
	return append(b, `"}`...)
}
