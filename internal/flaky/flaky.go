// Package flaky is an HTTPS webhook receiver for tests and measurements
// that fails like a struggling production endpoint: a share of its answers
// are 503, 429 or 500 or a dropped connection, and some come late. It
// counts the webhook-ids it accepted, so that a test can check that every
// delivery arrived, once.
package flaky

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"
)

// Mix says how a Receiver fails. Fail is split among 503, 429, 500 and
// dropped connections in the ratio 12:10:10:8 (the "40 %" is
// Fail 0.4); Slow is the share of requests, failing or not, answered only
// after Delay.
type Mix struct {
	Fail  float64       // share of requests that fail, 0 to 1
	Slow  float64       // share of requests answered only after Delay
	Delay time.Duration // how long a slow request waits
}

// Receiver is a running flaky HTTPS receiver. Its methods are safe for
// concurrent use.
type Receiver struct {
	srv      *httptest.Server
	mix      Mix
	requests atomic.Int64
	mu       sync.Mutex
	ok       map[string]int // 2xx answers per webhook-id
	first    time.Time      // of the first request
	last     time.Time      // of the last 2xx
}

// Start starts a Receiver with the given mix on a loopback TLS port; Close
// stops it.
func Start(mix Mix) *Receiver {
	r := &Receiver{mix: mix, ok: map[string]int{}}
	r.srv = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	return r
}

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	if r.requests.Add(1) == 1 {
		r.mu.Lock()
		r.first = time.Now()
		r.mu.Unlock()
	}
	if rand.Float64() < r.mix.Slow {
		select {
		case <-time.After(r.mix.Delay):
		case <-req.Context().Done():
			return
		}
	}
	x := rand.Float64() / max(r.mix.Fail, 1e-9) // below 1: this request fails
	switch {
	case x < 12.0/40:
		w.WriteHeader(http.StatusServiceUnavailable)
	case x < 22.0/40:
		w.WriteHeader(http.StatusTooManyRequests)
	case x < 32.0/40:
		w.WriteHeader(http.StatusInternalServerError)
	case x < 1:
		if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
			c.Close()
		}
	default:
		id := req.Header.Get("webhook-id")
		r.mu.Lock()
		r.ok[id]++
		r.last = time.Now()
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}
}

// URL is the receiver's https:// URL.
func (r *Receiver) URL() string { return r.srv.URL }

// Server is the underlying test server, for its certificate.
func (r *Receiver) Server() *httptest.Server { return r.srv }

// Requests counts the requests received.
func (r *Receiver) Requests() int64 { return r.requests.Load() }

// Accepted returns the number of 2xx answers per webhook-id, and the time
// from the first request to the last 2xx.
func (r *Receiver) Accepted() (map[string]int, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.ok))
	for k, v := range r.ok {
		out[k] = v
	}
	return out, r.last.Sub(r.first)
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }
