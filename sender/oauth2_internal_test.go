package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
)

// TestTokenRefreshedBeforeExpiry drives a token cache by a fake clock
// against a real HTTPS token endpoint: concurrent callers share one fetch;
// a token of 120 s is reused for its first minute and replaced after; a
// token without expires_in is kept until a receiver refuses it.
func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	var fetches atomic.Int32
	var expiresIn atomic.Int32
	expiresIn.Store(120)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fetches.Add(1)
		time.Sleep(5 * time.Millisecond) // let concurrent callers pile up
		w.Header().Set("Content-Type", "application/json")
		ans := map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer"}
		if e := expiresIn.Load(); e > 0 {
			ans["expires_in"] = e
		}
		_ = json.NewEncoder(w).Encode(ans)
	}))
	defer srv.Close()
	tc, setClock := clockedTokenCache(t, srv)
	at := func(d time.Duration) string {
		t.Helper()
		setClock(d)
		tok, err := tc.token(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() { at(0) })
	}
	wg.Wait()
	if n := fetches.Load(); n != 1 {
		t.Fatalf("16 concurrent callers made %d fetches, want 1", n)
	}
	if tok := at(59 * time.Second); tok != "tok-1" {
		t.Fatalf("at 59 s: %s, want the cached tok-1", tok)
	}
	if tok := at(61 * time.Second); tok != "tok-2" {
		t.Fatalf("at 61 s: %s, want a fresh tok-2", tok)
	}

	expiresIn.Store(0)                           // the next token does not expire
	tc.invalidate(context.Background(), "tok-1") // no longer cached: nothing happens
	if tok := at(62 * time.Second); tok != "tok-2" {
		t.Fatalf("after invalidating an old token: %s, want tok-2", tok)
	}
	tc.invalidate(context.Background(), "tok-2")
	if tok := at(63 * time.Second); tok != "tok-3" {
		t.Fatalf("after invalidating: %s, want tok-3", tok)
	}
	if tok := at(1000 * time.Hour); tok != "tok-3" {
		t.Fatalf("a token without expiry was replaced: %s", tok)
	}

	// A caller whose context ends while another fetches leaves at once.
	tc.sem <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tc.token(ctx); err != context.Canceled {
		t.Fatalf("waiting with a cancelled context: %v", err)
	}
	<-tc.sem
}

// Behind a token endpoint that never answers, the deliveries waiting on a
// fetch share its failure rather than each fetching again in turn (the
// k-th waited k fetches, two requests each), and a fetch, both requests
// included, takes at most AttemptTimeout.
func TestTokenFailureShared(t *testing.T) {
	var requests atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	s := &Sender{TLS: &tls.Config{RootCAs: roots}, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		AttemptTimeout: 200 * time.Millisecond}
	s.init()
	dest := Destination{URL: "https://hooks.example/", OAuth2: &OAuth2{TokenURL: srv.URL, ClientID: "c", ClientSecret: auth.NewSecret([]byte("s"))}}
	_, tc, err := s.destClient(&dest)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = tc.token(context.Background()) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, ErrToken) {
			t.Errorf("caller %d: %v, want ErrToken", i, err)
		}
	}
	if n := requests.Load(); n > 2 {
		t.Errorf("4 waiting callers made %d token requests, want one fetch (at most 2 requests)", n)
	}

	// invalidate leaves as soon as its caller's context ends.
	tc.sem <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tc.invalidate(ctx, "tok") // would block for ever before
	<-tc.sem
}

// TestTokenKeptWhileRefreshFails: the early refresh of a token that has
// not expired yet fails (the token endpoint answers 503); the token, still
// good until its expiry, goes on being used rather than failing every
// delivery of the last minute of its life, and once it has expired the
// endpoint's failure is the answer.
func TestTokenKeptWhileRefreshFails(t *testing.T) {
	var fetches atomic.Int32
	var failing atomic.Bool
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := fetches.Add(1)
		if failing.Load() {
			http.Error(w, `{"error":"temporarily_unavailable"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": 120})
	}))
	defer srv.Close()
	tc, setClock := clockedTokenCache(t, srv)
	at := func(d time.Duration) (string, error) {
		setClock(d)
		return tc.token(context.Background())
	}
	if tok, err := at(0); err != nil || tok != "tok-1" {
		t.Fatalf("first token: %q, %v", tok, err)
	}
	failing.Store(true)
	for _, d := range []time.Duration{61 * time.Second, 61*time.Second + 500*time.Millisecond, 90 * time.Second} {
		if tok, err := at(d); err != nil || tok != "tok-1" {
			t.Fatalf("at %s, refresh failing, token valid until 120 s: %q, %v; want tok-1", d, tok, err)
		}
	}
	if tok, err := at(121 * time.Second); !errors.Is(err, ErrToken) {
		t.Fatalf("at 121 s, token expired, refresh failing: %q, %v; want ErrToken", tok, err)
	}
	failing.Store(false)
	if tok, err := at(123 * time.Second); err != nil || tok == "tok-1" || tok == "" {
		t.Fatalf("after the endpoint recovered: %q, %v; want a fresh token", tok, err)
	}
}

// clockedTokenCache returns the token cache of a destination whose token
// endpoint is srv, and a function that sets its clock to d after the start.
func clockedTokenCache(t *testing.T, srv *httptest.Server) (*tokenCache, func(d time.Duration)) {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	s := &Sender{TLS: &tls.Config{RootCAs: roots}, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	s.init()
	dest := Destination{URL: "https://hooks.example/", OAuth2: &OAuth2{TokenURL: srv.URL, ClientID: "c", ClientSecret: auth.NewSecret([]byte("s"))}}
	_, tc, err := s.destClient(&dest)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	var clock atomic.Int64
	tc.now = func() time.Time { return t0.Add(time.Duration(clock.Load())) }
	return tc, func(d time.Duration) { clock.Store(int64(d)) }
}
