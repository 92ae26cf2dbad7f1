package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
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
	at := func(d time.Duration) string {
		t.Helper()
		clock.Store(int64(d))
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

	expiresIn.Store(0)     // the next token does not expire
	tc.invalidate("tok-1") // no longer cached: nothing happens
	if tok := at(62 * time.Second); tok != "tok-2" {
		t.Fatalf("after invalidating an old token: %s, want tok-2", tok)
	}
	tc.invalidate("tok-2")
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
