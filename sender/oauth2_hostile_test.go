package sender_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
)

// switchingServer starts a TLS server that answers every request with 101
// Switching Protocols and holds the connection open for a minute, or until
// t ends (before the server closes, which leaves hijacked connections).
func switchingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		c, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: evil\r\n\r\n")
		_ = rw.Flush()
		select {
		case <-release:
		case <-time.After(time.Minute):
		}
	}))
	srv.EnableHTTP2 = false
	srv.StartTLS()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // cleanups run last first: released, then closed
	return srv
}

// TestOAuth2TokenSwitchingProtocols: a token endpoint (which a tenant may
// name) that answers 101 Switching Protocols and keeps the connection open
// fails the fetch at once. net/http hands such an answer's connection over
// as its body, which no context or timeout closes, and the oauth2 library
// reads the body first: Send waited until the endpoint let go (a minute
// here), and with it a Queue's worker and Shutdown.
func TestOAuth2TokenSwitchingProtocols(t *testing.T) {
	tok := switchingServer(t)
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer recv.Close()
	s := trustingSender(tok, recv)
	s.AttemptTimeout = time.Second
	dest := sender.Destination{Name: "d", URL: recv.URL,
		OAuth2: &sender.OAuth2{TokenURL: tok.URL, ClientID: "c", ClientSecret: auth.NewSecret([]byte("client-secret-value"))}}
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, sender.ErrToken) || !strings.Contains(err.Error(), "101 Switching Protocols") {
			t.Errorf("Send = %v; want ErrToken naming the 101", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Send still waits on the token endpoint's 101 after 30 s (AttemptTimeout 1 s)")
	}
}

// TestOAuth2ErrorCodeNotQuoted: a token endpoint that puts the client
// secret in its answer's error code does not get it into the error (and
// so not into a log line, an attempt record or a dead letter's reason);
// the codes of RFC 6749 are named.
func TestOAuth2ErrorCodeNotQuoted(t *testing.T) {
	const secret = "client-s3cret-9f2c41d7e0"
	var code atomic.Value // the error code to answer; the secret sent, if none
	code.Store("")
	tok := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		_, sec, ok := r.BasicAuth()
		if !ok {
			sec = r.PostForm.Get("client_secret")
		}
		if c := code.Load().(string); c != "" {
			sec = c
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":"`+sec+`"}`)
	}))
	defer tok.Close()
	recv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer recv.Close()
	s := trustingSender(tok, recv)
	dest := sender.Destination{Name: "d", URL: recv.URL,
		OAuth2: &sender.OAuth2{TokenURL: tok.URL, ClientID: "c", ClientSecret: auth.NewSecret([]byte(secret))}}
	_, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)})
	if !errors.Is(err, sender.ErrToken) || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "status 401") {
		t.Errorf("Send = %v; want ErrToken with the status, without the secret the endpoint echoed as its code", err)
	}
	code.Store("invalid_client")
	s = trustingSender(tok, recv) // a new token cache: the failure is not held
	if _, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)}); err == nil || !strings.Contains(err.Error(), "status 401 (invalid_client)") {
		t.Errorf("Send = %v; want the standard code named", err)
	}
}

// TestReceiverSwitchingProtocols: a receiver that answers a delivery with
// 101 Switching Protocols and holds the connection open does not hold the
// attempt: the answer is a failure at once, its connection closed. (The
// Sender reads no body of a 101, whose Content-Length is 0; a token fetch,
// whose library reads it, needed noSwitch.)
func TestReceiverSwitchingProtocols(t *testing.T) {
	recv := switchingServer(t)
	s := trustingSender(recv)
	s.Retry.MaxAttempts = 1
	done := make(chan error, 1)
	go func() {
		_, err := s.Send(context.Background(), sender.Destination{Name: "d", URL: recv.URL}, sender.Message{Body: []byte(`{}`)})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "status 101") {
			t.Errorf("Send of a delivery answered 101: %v; want it refused, naming the status", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Send still waits on the receiver's 101 after 30 s")
	}
}
