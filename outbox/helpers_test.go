package outbox_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/outbox"
	"github.com/heraldhq/herald/sender"
)

var ctx = context.Background()

// testSecret signs and verifies in these tests.
var testSecret = auth.NewSecret([]byte("outbox test secret, 32 bytes ok"))

// enqueue enqueues n messages to dest through q, with the ids dest-0000,
// dest-0001, ...
func enqueue(t testing.TB, q *outbox.Queue, dest string, n int) {
	t.Helper()
	for i := range n {
		if _, err := q.Enqueue(ctx, dest, sender.Message{ID: fmt.Sprintf("%s-%04d", dest, i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// standard returns a Standard Webhooks v1 signer and verifier.
func standard(t testing.TB) *auth.Scheme {
	t.Helper()
	s, err := auth.NewStandard([]auth.Secret{testSecret})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// stats returns the outbox's Stats.
func stats(t testing.TB, ob outbox.Outbox) outbox.Stats {
	t.Helper()
	s, err := ob.(outbox.Admin).Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// gauge is an HTTPS receiver that answers 200 after a delay and records
// the most requests it ever had in flight at once.
type gauge struct {
	srv      *httptest.Server
	delay    time.Duration
	inFlight atomic.Int64
	maxSeen  atomic.Int64
	count    atomic.Int64
}

func newGauge(t testing.TB, delay time.Duration) *gauge {
	g := &gauge{delay: delay}
	g.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := g.inFlight.Add(1)
		for {
			m := g.maxSeen.Load()
			if n <= m || g.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-time.After(g.delay):
		case <-r.Context().Done():
		}
		g.inFlight.Add(-1)
		g.count.Add(1)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// loopbackSender returns a Sender that trusts httptest's certificate (all
// httptest and sendertest servers share it), may reach loopback, and makes
// one attempt per Send.
func loopbackSender(t testing.TB, srv *httptest.Server) *sender.Sender {
	s := &sender.Sender{
		TLS:           &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Retry:         sender.RetryPolicy{MaxAttempts: 1},
	}
	t.Cleanup(s.CloseIdleConnections)
	return s
}

// counter is a Metrics that counts outcomes.
type counter struct {
	mu       sync.Mutex
	outcomes map[outbox.Outcome]int
	depths   int
	lastPend int
}

func (c *counter) Observe(e outbox.Sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.outcomes == nil {
		c.outcomes = map[outbox.Outcome]int{}
	}
	c.outcomes[e.Outcome]++
}

func (c *counter) Depth(s outbox.Stats, inFlight int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.depths++
	c.lastPend = s.Pending
}

func (c *counter) get(o outbox.Outcome) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outcomes[o]
}
