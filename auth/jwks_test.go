package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestJWKSHandler(t *testing.T) {
	ks := asymKeys(t)
	h := JWKSHandler(ks.ed.Public(), ks.ec.Public(), ks.rsa.Public(), PublicKey{})
	srv := httptest.NewTLSServer(h)
	defer srv.Close()

	resp := must(srv.Client().Get(srv.URL))(t)
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
		t.Fatalf("status %d, headers %v", resp.StatusCode, resp.Header)
	}
	var doc struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := []map[string]string{
		{"kty": "OKP", "crv": "Ed25519", "kid": "ed-1", "alg": "EdDSA", "use": "sig"},
		{"kty": "EC", "crv": "P-256", "kid": "ec-1", "alg": "ES256", "use": "sig"},
		{"kty": "RSA", "kid": "rsa-1", "alg": "RS256", "use": "sig", "e": "AQAB"},
	}
	if len(doc.Keys) != len(want) {
		t.Fatalf("%d keys, want %d", len(doc.Keys), len(want))
	}
	for i, w := range want {
		for k, v := range w {
			if doc.Keys[i][k] != v {
				t.Errorf("key %d: %s = %q, want %q", i, k, doc.Keys[i][k], v)
			}
		}
		if _, has := doc.Keys[i]["d"]; has {
			t.Errorf("key %d publishes d", i)
		}
	}

	for _, method := range []string{http.MethodHead, http.MethodPost} {
		req, _ := http.NewRequest(method, srv.URL, nil)
		resp := must(srv.Client().Do(req))(t)
		resp.Body.Close()
		if method == http.MethodHead && resp.StatusCode != 200 {
			t.Fatalf("HEAD: %d", resp.StatusCode)
		}
		if method == http.MethodPost && (resp.StatusCode != 405 || resp.Header.Get("Allow") == "") {
			t.Fatalf("POST: %d %v", resp.StatusCode, resp.Header)
		}
	}
}

// jwksServer serves a swappable key set over TLS and counts fetches.
type jwksServer struct {
	srv     *httptest.Server
	handler atomic.Pointer[http.Handler]
	fetches atomic.Int32
}

func newJWKSServer(t testing.TB, keys ...PublicKey) *jwksServer {
	s := &jwksServer{}
	s.set(JWKSHandler(keys...))
	s.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		(*s.handler.Load()).ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(h http.Handler) { s.handler.Store(&h) }

// jwksAt returns a JWKS for the server whose clock the test moves.
func jwksAt(t testing.TB, s *jwksServer, path string, clock *atomic.Int64) *JWKS {
	j := must(NewJWKS(s.srv.URL+path, s.srv.Client()))(t)
	j.now = func() time.Time { return asymNow.Add(time.Duration(clock.Load())) }
	return j
}

// clockedJWKS returns a key server serving keys and a JWKS for it at
// /jwks, with the clock the test moves.
func clockedJWKS(t testing.TB, keys ...PublicKey) (*jwksServer, *JWKS, *atomic.Int64) {
	s := newJWKSServer(t, keys...)
	clock := new(atomic.Int64)
	return s, jwksAt(t, s, "/jwks", clock), clock
}

func TestJWKSFetchAndVerify(t *testing.T) {
	ks := asymKeys(t)
	s := newJWKSServer(t, ks.ed.Public(), ks.ec.Public())
	var clock atomic.Int64
	j := jwksAt(t, s, "/.well-known/jwks.json?tenant=QUERYSECRET", &clock)
	v := must(NewJWTVerifier(j, WithClock(asymClock)))(t)
	m := asymMsg()
	sign := func(k PrivateKey) http.Header {
		signer := must(NewJWTSigner([]PrivateKey{k}, WithClock(asymClock)))(t)
		h := signed(t, signer, m)
		return h
	}
	ctx := context.Background()

	// First use fetches; later uses hit the cache.
	for _, k := range []PrivateKey{ks.ed, ks.ec, ks.ed} {
		got, err := v.VerifyContext(ctx, sign(k), m.Body)
		if err != nil || got.KeyID != k.ID() {
			t.Fatalf("Verify(%s) = %+v, %v", k.ID(), got, err)
		}
	}
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}

	// An unknown kid refreshes once; more unknown kids within the interval
	// do not fetch again.
	s.set(JWKSHandler(ks.ed.Public(), ks.ec.Public(), ks.ed2.Public()))
	if _, err := v.Verify(sign(ks.ed2), m.Body); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("new key within the interval of the first fetch: %v", err)
	}
	clock.Store(int64(jwksMinRefreshInterval))
	if _, err := v.Verify(sign(ks.ed2), m.Body); err != nil {
		t.Fatalf("new key after refresh: %v", err)
	}
	for range 5 {
		if _, err := v.Verify(sign(ks.rsa), m.Body); !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("unknown kid: %v", err)
		}
	}
	if n := s.fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (initial, ed-2)", n)
	}
	// After the interval, an unknown kid may fetch again.
	s.set(JWKSHandler(ks.rsa.Public()))
	clock.Store(int64(2 * jwksMinRefreshInterval))
	if _, err := v.Verify(sign(ks.rsa), m.Body); err != nil {
		t.Fatalf("rsa after interval: %v", err)
	}
	if n := s.fetches.Load(); n != 3 {
		t.Fatalf("%d fetches, want 3", n)
	}

	// A failing server: stale keys stay in use, errors name no query string.
	s.set(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 503) }))
	clock.Store(int64(2 * jwksMaxAge))
	if _, err := v.Verify(sign(ks.rsa), m.Body); err != nil {
		t.Fatalf("stale key during an outage: %v", err)
	}
	// The stale keys are fetched again without the lookup waiting.
	for end := time.Now().Add(10 * time.Second); s.fetches.Load() != 4; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("%d fetches, want 4 (stale refresh)", s.fetches.Load())
		}
	}
	clock.Store(int64(2*jwksMaxAge + 2*jwksMinRefreshInterval))
	_, err := v.Verify(sign(ks.ed), m.Body)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "503") || strings.Contains(err.Error(), "QUERYSECRET") {
		t.Fatalf("outage error = %v", err)
	}
	if err := j.refresh(ctx); err == nil || strings.Contains(err.Error(), "QUERYSECRET") {
		t.Fatalf("refresh within the interval = %v, want the last error", err)
	}
}

func TestJWKSFetchFailures(t *testing.T) {
	ks := asymKeys(t)
	tests := []struct {
		name    string
		handler http.HandlerFunc
		mention string
	}{
		{"status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) }, "status 404"},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(`{"keys":[`))
			_, _ = w.Write([]byte(strings.Repeat(" ", maxJWKSLen)))
			_, _ = w.Write([]byte(`]}`))
		}, "larger than"},
		{"not a key set", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`<html>`)) }, "not a JSON"},
		{"redirect to http", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/jwks?x=QUERYSECRET", http.StatusFound)
		}, "non-https"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.handler)
			defer srv.Close()
			client := srv.Client()
			if tt.name == "redirect to http" {
				// The default client's redirect policy, with the test server's TLS roots.
				j0, _ := NewJWKS(srv.URL, nil)
				client.CheckRedirect = j0.client.CheckRedirect
			}
			j := must(NewJWKS(srv.URL+"/jwks?secret=QUERYSECRET", client))(t)
			_, err := j.Keys(context.Background(), ks.ed.ID())
			if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), tt.mention) || strings.Contains(err.Error(), "QUERYSECRET") {
				t.Fatalf("err = %v, want ErrUnknownKey mentioning %q", err, tt.mention)
			}
		})
	}
	for _, u := range []string{"http://example.com/jwks", "ftp://x/y", "https://", "::"} {
		if _, err := NewJWKS(u, nil); !errors.Is(err, ErrBadKey) {
			t.Errorf("NewJWKS(%q) = %v", u, err)
		}
	}
}

func TestJWKSConcurrentUnknownKid(t *testing.T) {
	ks := asymKeys(t)
	s, j, _ := clockedJWKS(t, ks.ed.Public())
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			if _, err := j.Keys(context.Background(), "unknown"); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("Keys = %v", err)
			}
			if _, err := j.Keys(context.Background(), ks.ed.ID()); err != nil {
				t.Errorf("Keys(known) = %v", err)
			}
		})
	}
	wg.Wait()
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func TestJWKSContextCancelled(t *testing.T) {
	ks := asymKeys(t)
	release := make(chan struct{})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		JWKSHandler(ks.ed.Public()).ServeHTTP(w, r)
	}))
	defer srv.Close()
	j, _ := NewJWKS(srv.URL, srv.Client())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Keys(ctx, ""); !errors.Is(err, ErrUnknownKey) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Keys(cancelled) = %v", err)
	}
	// The caller that hung up did not abort (or poison) the fetch.
	close(release)
	if keys, err := j.Keys(context.Background(), ""); err != nil || len(keys) != 1 {
		t.Fatalf("Keys after a cancelled caller = %v, %v", keys, err)
	}
}

func TestPublicKeysSelection(t *testing.T) {
	ks := asymKeys(t)
	set := PublicKeys{ks.ed.Public(), ks.ec.Public()}
	if got, err := set.Keys(context.Background(), ""); err != nil || len(got) != 2 {
		t.Fatalf("no kid: %v %v", got, err)
	}
	if got, err := set.Keys(context.Background(), "ec-1"); err != nil || len(got) != 1 || got[0].ID() != "ec-1" {
		t.Fatalf("kid: %v %v", got, err)
	}
	if _, err := set.Keys(context.Background(), "zz"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	if _, err := (PublicKeys{}).Keys(context.Background(), ""); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("empty set: %v", err)
	}
}

// A token without a kid is tried against every key of its algorithm in a
// static set (a rotation without kids), but a JWKS with several such keys
// refuses it: a fetched set may hold hundreds, and each try is a signature
// check that a forged token would get for free.
func TestJWKSKidlessToken(t *testing.T) {
	ks := asymKeys(t)
	m := asymMsg()
	signer := must(NewJWTSigner([]PrivateKey{ks.ed2.withID("")}, WithClock(asymClock)))(t)
	h := signed(t, signer, m)

	var clock atomic.Int64
	two := newJWKSServer(t, ks.ed.Public(), ks.ed2.Public())
	v := must(NewJWTVerifier(jwksAt(t, two, "/", &clock), WithClock(asymClock)))(t)
	_, err := v.Verify(h, m.Body)
	if !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), "no kid") {
		t.Fatalf("kid-less token against a JWKS of two EdDSA keys: %v", err)
	}

	// One key of the token's algorithm (the other is ES256): it is tried.
	one := newJWKSServer(t, ks.ed2.Public(), ks.ec.Public())
	v = must(NewJWTVerifier(jwksAt(t, one, "/", &clock), WithClock(asymClock)))(t)
	if got, err := v.Verify(h, m.Body); err != nil || got.KeyID != "ed-2" {
		t.Fatalf("kid-less token against one EdDSA key: %+v, %v", got, err)
	}

	// A static set is the caller's own: every key is tried.
	v = must(NewJWTVerifier(PublicKeys{ks.ed.Public(), ks.ed2.Public()}, WithClock(asymClock)))(t)
	if got, err := v.Verify(h, m.Body); err != nil || got.KeyID != "ed-2" {
		t.Fatalf("kid-less token against a static pair: %+v, %v", got, err)
	}
}
