package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender/sendertest"
)

// workerHeader names the worker that sent a webhook; each worker's
// destination adds it.
const workerHeader = "X-Fleet-Worker"

// receiver is the customer's backend: an HTTPS endpoint that verifies every
// webhook and counts them by delivery id and by sending worker. It
// deduplicates on the id, as a receiver of at-least-once webhooks should.
type receiver struct {
	url   string
	roots *x509.CertPool
	srv   *http.Server

	mu       sync.Mutex
	byID     map[string]int // verified requests per delivery id
	byWorker map[string]int // first deliveries per worker
	rejected int
	arrived  chan struct{}
}

// startReceiver serves on a loopback port with a fresh self-signed
// certificate, verifying with v.
func startReceiver(v auth.Verifier) (*receiver, error) {
	cert, roots, _, err := sendertest.SelfSignedCert("herald fleet receiver", time.Hour)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rx := &receiver{
		url: "https://" + ln.Addr().String(), roots: roots,
		byID: map[string]int{}, byWorker: map[string]int{}, arrived: make(chan struct{}, 1),
	}
	rx.srv = &http.Server{
		Handler:   rx.handler(v),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		// Every timeout, so that a client that trickles its request or
		// never reads the answer cannot hold a connection.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	go rx.srv.ServeTLS(ln, "", "")
	return rx, nil
}

// handler verifies and counts one webhook.
func (rx *receiver) handler(v auth.Verifier) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err == nil {
			_, err = v.Verify(r.Header, body)
		}
		rx.mu.Lock()
		defer rx.mu.Unlock()
		if err != nil {
			rx.rejected++
			http.Error(w, "unverified", http.StatusUnauthorized)
			return
		}
		id := r.Header.Get("webhook-id")
		rx.byID[id]++
		if rx.byID[id] == 1 {
			rx.byWorker[r.Header.Get(workerHeader)]++
		}
		select {
		case rx.arrived <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// waitFor waits until n distinct ids arrived, or ctx ends.
func (rx *receiver) waitFor(ctx context.Context, n int) error {
	for {
		rx.mu.Lock()
		got := len(rx.byID)
		rx.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-rx.arrived:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (rx *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = rx.srv.Shutdown(ctx)
}
