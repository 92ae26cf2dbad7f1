// Package sendertest provides a verifying HTTPS webhook receiver for tests:
// a started httptest TLS server that checks every request with an
// [auth.Verifier], records what arrived, and answers as scripted (fail the
// first N, 429 with Retry-After, delays, 410 Gone, or any function of the
// request number). [Receiver.Sender] returns a [sender.Sender] that trusts
// the receiver's certificate and may reach loopback. [SelfSignedCert] makes
// a certificate for a loopback receiver of your own, and the pool its
// clients trust.
package sendertest

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// maxBody bounds the request bodies a Receiver reads: 10 MiB. A longer
// body is answered 413 and recorded with an error.
const maxBody = 10 << 20

// Delivery is one request as the Receiver saw it; [Receiver.Deliveries]
// lists them in the order they were answered.
type Delivery struct {
	// ID is the webhook-id header.
	ID string
	// Header holds the request headers.
	Header http.Header
	// Body is the request body.
	Body []byte
	// Verified is what the verifier reported; zero when Err is set or the
	// Receiver has no verifier.
	Verified auth.Verified
	// Err is the verification (or body read) error; nil when the request
	// passed, or when the Receiver has no verifier.
	Err error
	// Status is what the Receiver answered.
	Status int
}

// response is what the Receiver answers to one request.
type response struct {
	status int
	header http.Header
	body   []byte
}

// An Option scripts a Receiver. Options are rules consulted in order for
// every verified request: the first rule that names a status decides the
// answer.
type Option func(*config)

type config struct {
	rules []func(n int) (int, http.Header, []byte)
	delay time.Duration
}

// Respond adds a rule computed from the request number n (1 for the first
// request the Receiver got, verified or not): the HTTP status, headers
// added to the response, and its body. A status of 0 means "no opinion":
// the next rule decides, and 200 OK when none does.
func Respond(f func(n int) (status int, header http.Header, body []byte)) Option {
	return func(c *config) {
		if f != nil {
			c.rules = append(c.rules, f)
		}
	}
}

// FailFirst answers the first n requests with status.
func FailFirst(n, status int) Option {
	return Respond(func(i int) (int, http.Header, []byte) {
		if i <= n {
			return status, nil, nil
		}
		return 0, nil, nil
	})
}

// Delay makes every answer wait d, cut short if the client goes away.
func Delay(d time.Duration) Option {
	return func(c *config) { c.delay = d }
}

// Gone answers every request 410 Gone.
func Gone() Option {
	return Respond(func(int) (int, http.Header, []byte) { return http.StatusGone, nil, nil })
}

// Receiver is a running HTTPS webhook receiver. It is closed when the test
// ends. Its methods are safe for concurrent use.
type Receiver struct {
	t   testing.TB
	v   auth.Verifier
	cfg config
	srv *httptest.Server

	mu         sync.Mutex
	n          int
	deliveries []Delivery
	changed    chan struct{} // closed and replaced on every new delivery
}

// NewReceiver starts a Receiver that verifies every request with v (nil
// accepts unsigned requests) and answers as opts script. Requests that fail
// verification are answered 401 and recorded with their error.
func NewReceiver(t testing.TB, v auth.Verifier, opts ...Option) *Receiver {
	t.Helper()
	r := &Receiver{t: t, v: v, changed: make(chan struct{})}
	for _, o := range opts {
		if o != nil {
			o(&r.cfg)
		}
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	// TLS handshake failures are what some tests provoke; keep them quiet.
	r.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	return r
}

// serve records and answers one request.
func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	d := Delivery{ID: req.Header.Get("webhook-id"), Header: req.Header.Clone()}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	d.Body = body
	resp := response{status: http.StatusOK}
	switch {
	case err != nil:
		d.Err = fmt.Errorf("sendertest: reading body: %w", err)
		resp.status = http.StatusRequestEntityTooLarge
	case r.v != nil:
		d.Verified, d.Err = r.v.Verify(req.Header, body)
		if d.Err != nil {
			resp = response{status: http.StatusUnauthorized, body: []byte(d.Err.Error())}
		}
	}

	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()

	if d.Err == nil {
		resp = r.script(n)
	}
	d.Status = resp.status
	r.record(d)

	if r.cfg.delay > 0 && d.Err == nil {
		timer := time.NewTimer(r.cfg.delay)
		select {
		case <-timer.C:
		case <-req.Context().Done():
			// The client gave up. Abort rather than return: returning would
			// let net/http answer an implicit 200, which a client whose
			// cancellation raced the handler could still read.
			timer.Stop()
			panic(http.ErrAbortHandler)
		}
	}
	for k, vs := range resp.header {
		w.Header()[http.CanonicalHeaderKey(k)] = vs
	}
	w.WriteHeader(resp.status)
	_, _ = w.Write(resp.body)
}

// script applies the rules to request n.
func (r *Receiver) script(n int) response {
	for _, rule := range r.cfg.rules {
		if status, header, body := rule(n); status != 0 {
			return response{status, header, body}
		}
	}
	return response{status: http.StatusOK}
}

func (r *Receiver) record(d Delivery) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries = append(r.deliveries, d)
	close(r.changed)
	r.changed = make(chan struct{})
}

// URL returns the receiver's base URL, https://127.0.0.1:<port>. Any path
// under it is served the same way.
func (r *Receiver) URL() string { return r.srv.URL }

// RootCAs returns a pool holding the receiver's certificate, for a client's
// tls.Config.
func (r *Receiver) RootCAs() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(r.srv.Certificate())
	return pool
}

// Sender returns a new Sender that trusts the receiver's certificate, may
// reach loopback addresses, and retries with millisecond waits (MinWait
// 1ms, MaxWait 50ms, so a Retry-After is capped at 50ms) to keep tests
// fast. Change its fields before its first Send. Its idle connections are
// closed when the test ends.
func (r *Receiver) Sender() *sender.Sender {
	s := &sender.Sender{
		TLS: &tls.Config{RootCAs: r.RootCAs()},
		AllowNetworks: []netip.Prefix{
			netip.MustParsePrefix("127.0.0.0/8"),
			netip.MustParsePrefix("::1/128"),
		},
		Retry: sender.RetryPolicy{MinWait: time.Millisecond, MaxWait: 50 * time.Millisecond},
	}
	r.t.Cleanup(s.CloseIdleConnections)
	return s
}

// Destination returns a Destination named "sendertest" pointing at the
// receiver, signed by signer (nil for none).
func (r *Receiver) Destination(signer auth.Signer) sender.Destination {
	return sender.Destination{Name: "sendertest", URL: r.URL(), Signer: signer}
}

// Deliveries returns a copy of the requests received so far, in order.
func (r *Receiver) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Delivery(nil), r.deliveries...)
}

// WaitFor waits until at least n requests were received, or timeout passed,
// and returns the deliveries so far, with an error when fewer than n came.
func (r *Receiver) WaitFor(n int, timeout time.Duration) ([]Delivery, error) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		r.mu.Lock()
		got, changed := len(r.deliveries), r.changed
		r.mu.Unlock()
		if got >= n {
			return r.Deliveries(), nil
		}
		select {
		case <-changed:
		case <-timer.C:
			return r.Deliveries(), fmt.Errorf("sendertest: timed out waiting for deliveries: got %d of %d within %s", len(r.Deliveries()), n, timeout)
		}
	}
}

// Close shuts the receiver down now instead of at the end of the test.
func (r *Receiver) Close() { r.srv.Close() }
