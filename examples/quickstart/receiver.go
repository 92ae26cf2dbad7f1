package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender/sendertest"
)

// receiver stands in for the customer's backend: an HTTPS server whose
// webhook endpoints accept only requests that verify.
type receiver struct {
	url    string
	roots  *x509.CertPool // trusts the self-signed certificate
	client *http.Client   // for the "platform" pushing events
	srv    *http.Server
	mux    *http.ServeMux

	mu       sync.Mutex
	got      []delivery
	arrived  chan struct{}
	failOnce sync.Once
}

// delivery is one verified webhook as the receiver saw it.
type delivery struct {
	dest     string
	event    string
	topic    string
	verified auth.Verified
}

func startReceiver(hmacSecret auth.Secret, jwtPublic auth.PublicKey) (*receiver, error) {
	cert, roots, _, err := sendertest.SelfSignedCert("herald quickstart receiver", time.Hour)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	rx := &receiver{
		url:     "https://" + ln.Addr().String(),
		roots:   roots,
		client:  &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}},
		mux:     http.NewServeMux(),
		arrived: make(chan struct{}, 1),
	}

	// Verifiers hold only what a receiver has: the shared HMAC secret, and
	// the worker's public key with the expected issuer and audience.
	hmacVerifier, err := auth.NewStandard([]auth.Secret{hmacSecret})
	if err != nil {
		return nil, err
	}
	jwtVerifier, err := auth.NewJWTVerifier(auth.PublicKeys{jwtPublic},
		auth.WithIssuer("quickstart-worker"), auth.WithAudience(rx.url+"/hooks/jwt"), auth.WithRequireBodyHash())
	if err != nil {
		return nil, err
	}
	rx.mux.Handle("POST /hooks/hmac", auth.Middleware(hmacVerifier)(rx.record("backend-hmac", false)))
	// The JWT endpoint fails its first request with 503, to show a retry:
	// same delivery id, freshly signed token.
	rx.mux.Handle("POST /hooks/jwt", auth.Middleware(jwtVerifier)(rx.record("backend-jwt", true)))

	rx.srv = &http.Server{
		Handler:   rx.mux,
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

// mount adds another handler to the receiver's server.
func (rx *receiver) mount(pattern string, h http.Handler) { rx.mux.Handle(pattern, h) }

// record answers a verified webhook and remembers it.
func (rx *receiver) record(dest string, failFirst bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failFirst {
			failed := false
			rx.failOnce.Do(func() { failed = true })
			if failed {
				http.Error(w, "warming up", http.StatusServiceUnavailable)
				return
			}
		}
		v, _ := auth.FromContext(r.Context()) // set by auth.Middleware
		var envelope struct {                 // the native envelope that listener.Forward sends
			ID    string `json:"id"`
			Topic string `json:"topic"`
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		_ = json.Unmarshal(body, &envelope)
		rx.mu.Lock()
		rx.got = append(rx.got, delivery{dest: dest, event: envelope.ID, topic: envelope.Topic, verified: v})
		rx.mu.Unlock()
		select { // wake waitFor, never block a handler on it
		case rx.arrived <- struct{}{}:
		default:
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// waitFor returns the first n verified deliveries, or fails when ctx ends.
func (rx *receiver) waitFor(ctx context.Context, n int) ([]delivery, error) {
	for {
		rx.mu.Lock()
		if len(rx.got) >= n {
			got := append([]delivery(nil), rx.got...)
			rx.mu.Unlock()
			return got, nil
		}
		rx.mu.Unlock()
		select {
		case <-rx.arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for %d deliveries: %w", n, ctx.Err())
		}
	}
}

func (rx *receiver) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = rx.srv.Shutdown(ctx)
}
