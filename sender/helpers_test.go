package sender_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// testScheme is a minimal HMAC scheme for the tests that are not about a
// particular auth scheme: X-Test-Signature = hex(HMAC(key, id.ts.body)).
type testScheme struct {
	key   []byte
	clock atomic.Int64 // unix seconds of the next signature, advanced by Sign
}

func newTestScheme() *testScheme {
	s := &testScheme{key: []byte("test-key-0123456789abcdef0123456789")}
	s.clock.Store(time.Now().Unix())
	return s
}

func (s *testScheme) mac(id, ts string, body []byte) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%s.%s.", id, ts)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Sign signs with a timestamp that advances by one second per call, so that
// every attempt carries a different signature.
func (s *testScheme) Sign(h http.Header, m auth.Message) error {
	ts := strconv.FormatInt(s.clock.Add(1), 10)
	h.Set("X-Test-Timestamp", ts)
	h.Set("X-Test-Signature", s.mac(m.ID, ts, m.Body))
	return nil
}

func (s *testScheme) Verify(h http.Header, body []byte) (auth.Verified, error) {
	sig := h.Get("X-Test-Signature")
	if sig == "" {
		return auth.Verified{}, auth.ErrNoSignature
	}
	id, ts := h.Get("Webhook-Id"), h.Get("X-Test-Timestamp")
	if !hmac.Equal([]byte(sig), []byte(s.mac(id, ts, body))) {
		return auth.Verified{}, auth.ErrBadSignature
	}
	return auth.Verified{Scheme: "test", ID: id}, nil
}

// mapResolver resolves names from a map; names absent fail as NXDOMAIN.
// failFirst makes the first n lookups fail with a temporary DNS error.
type mapResolver struct {
	mu        sync.Mutex
	names     map[string][]netip.Addr
	failFirst int
	lookups   int
}

func (r *mapResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	if r.lookups <= r.failFirst {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	addrs, ok := r.names[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

// attempts records what OnAttempt reports.
type attempts struct {
	mu   sync.Mutex
	list []sender.Attempt
}

func (a *attempts) hook(at sender.Attempt) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.list = append(a.list, at)
}

func (a *attempts) get() []sender.Attempt {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]sender.Attempt(nil), a.list...)
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func mustDeliveryError(t *testing.T, err error) *sender.DeliveryError {
	t.Helper()
	var de *sender.DeliveryError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DeliveryError", err, err)
	}
	return de
}

// trustingSender trusts the certificates of servers and may reach loopback.
func trustingSender(servers ...*httptest.Server) *sender.Sender {
	roots := x509.NewCertPool()
	for _, s := range servers {
		roots.AddCert(s.Certificate())
	}
	return &sender.Sender{
		TLS:           &tls.Config{RootCAs: roots},
		AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Retry:         sender.RetryPolicy{MaxAttempts: 3, MinWait: time.Millisecond, MaxWait: 5 * time.Millisecond},
	}
}
