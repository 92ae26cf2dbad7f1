package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/devcert"
)

// writeClientCert makes a self-signed client certificate and writes it and
// its key as PEM files in dir; it returns the certificate, to be trusted
// by a server, and the key's PEM body, which must never print.
func writeClientCert(t *testing.T, dir, cn string) (*x509.Certificate, string) {
	t.Helper()
	c, err := devcert.Client(cn, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(c.TLS.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "client.pem", string(c.PEM))
	keyPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}))
	writeFile(t, dir, "client.key", keyPEM)
	return c.TLS.Leaf, pemBody([]byte(keyPEM))
}

// mtlsReceiver is an HTTPS receiver that requires a client certificate
// signed by ca and, when token is set, the bearer token it returns.
type mtlsReceiver struct {
	*httptest.Server
	mu    sync.Mutex
	ok    int
	token func() string
}

func newMTLSReceiver(t *testing.T, ca *x509.Certificate, token func() string) *mtlsReceiver {
	t.Helper()
	r := &mtlsReceiver{token: token}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.token != nil && req.Header.Get("Authorization") != "Bearer "+r.token() {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.mu.Lock()
		r.ok++
		r.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	r.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	r.StartTLS()
	t.Cleanup(r.Close)
	return r
}

func (r *mtlsReceiver) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok
}

// certPEM is a server's certificate as PEM, for --cacert.
func certPEM(s *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw}))
}

// TestSendClientCert sends to a receiver that requires a client
// certificate: refused without --client-cert, delivered with it.
func TestSendClientCert(t *testing.T) {
	dir := t.TempDir()
	ca, keyBody := writeClientCert(t, dir, "herald-send")
	rcv := newMTLSReceiver(t, ca, nil)
	writeFile(t, dir, "ca.pem", certPEM(rcv.Server))
	o := runOpts{dir: dir}
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	base := []string{"send", "--secret", secret, "--cacert", "ca.pem", "--allow-private", "--retries", "0"}

	r := herald(t, o, append(base, rcv.URL)...)
	if r.code != 1 || rcv.delivered() != 0 {
		t.Fatalf("without a client certificate: exit %d, %d delivered\n%s", r.code, rcv.delivered(), r.all())
	}
	r = must(t, o, append(base, "--client-cert", "client.pem", "--client-key", "client.key", rcv.URL)...)
	if line := sendLine(t, r); line["status"] != float64(204) || rcv.delivered() != 1 {
		t.Fatalf("with a client certificate: %v, %d delivered", line, rcv.delivered())
	}
	expect(t, o, 2, []string{"--client-cert and --client-key go together"}, append(base, "--client-cert", "client.pem", rcv.URL)...)
	r = expect(t, o, 2, []string{"--client-key"}, append(base, "--client-cert", "client.pem", "--client-key", "ca.pem", rcv.URL)...)
	noLeak(t, r.all(), keyBody)
}

// tokenEndpoint is an HTTPS OAuth2 token endpoint that issues a new token
// per request to the one client it knows.
type tokenEndpoint struct {
	*httptest.Server
	fetches atomic.Int32
	current atomic.Value // string
}

func newTokenEndpoint(t *testing.T, id, secret string) *tokenEndpoint {
	e := &tokenEndpoint{}
	e.current.Store("")
	e.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := e.fetches.Add(1)
		_ = r.ParseForm()
		gotID, gotSecret, ok := r.BasicAuth()
		if !ok || gotID != id || gotSecret != secret || r.PostForm.Get("scope") != "webhooks" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		tok := fmt.Sprintf("relay-t0ken-%d-%d", n, time.Now().UnixNano())
		e.current.Store(tok)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
	}))
	t.Cleanup(e.Close)
	return e
}

// TestRelayOAuth2AndClientCert runs a relay whose --config destination
// presents a client certificate and an OAuth2 token (with a Standard
// Webhooks signature) to a receiver that requires all three: events are
// delivered; once the receiver stops taking the token, the relay fetches a
// new one and delivers; the secret and the tokens never appear in its logs.
func TestRelayOAuth2AndClientCert(t *testing.T) {
	dir := t.TempDir()
	ca, keyBody := writeClientCert(t, dir, "herald-relay")
	const oauthSecret = "relay-client-s3cret-77a1"
	tokens := newTokenEndpoint(t, "relay", oauthSecret)
	var revoked atomic.Value // the token the receiver no longer takes
	revoked.Store("")
	rcv := newMTLSReceiver(t, ca, func() string {
		if tok := tokens.current.Load().(string); tok != revoked.Load().(string) {
			return tok
		}
		return "revoked"
	})
	writeFile(t, dir, "ca.pem", certPEM(rcv.Server)+certPEM(tokens.Server))
	secret, _ := stdSecret(t, dir)
	writeFile(t, dir, "relay.json", fmt.Sprintf(`{"destinations": [{"name": "secure", "url": %q,
		"secret": "env:WH_SECRET", "client_cert": "@client.pem", "client_key": "client.key",
		"oauth2": {"token_url": %q, "client_id": "relay", "client_secret": "env:OAUTH_SECRET", "scopes": ["webhooks"]}}]}`,
		rcv.URL+"/hook", tokens.URL+"/oauth/token"))
	p := startRelay(t, dir, []string{"WH_SECRET=" + secret, "OAUTH_SECRET=" + oauthSecret},
		"--store", "relay.db", "--config", "relay.json", "--cacert", "ca.pem", "--allow-private",
		"--workers", "1", "--log-level", "debug", "--retries", "0")

	waitFor := func(n int) {
		t.Helper()
		eventually(t, func() string {
			return fmt.Sprintf("receiver got %d deliveries, want %d\n%s", rcv.delivered(), n, p.stderr())
		},
			func() bool { return rcv.delivered() >= n })
	}
	p.mustPost(t, event("ev-1", "job:ready"), nil)
	p.mustPost(t, event("ev-2", "job:ready"), nil)
	waitFor(2)
	if n := tokens.fetches.Load(); n != 1 {
		t.Fatalf("%d token fetches for 2 deliveries, want 1", n)
	}
	first := tokens.current.Load().(string)

	revoked.Store(first)
	p.mustPost(t, event("ev-3", "job:ready"), nil)
	waitFor(3)
	if n := tokens.fetches.Load(); n != 2 {
		t.Fatalf("%d token fetches, want 2", n)
	}
	if code := p.stop(t); code != 0 {
		t.Errorf("relay exit %d", code)
	}
	noLeak(t, p.stderr(), oauthSecret, first, tokens.current.Load().(string), keyBody)
}

// TestRelayConfigClientAuthRefused: bad client certificate and OAuth2
// settings stop the relay before it starts, with a message that names the
// problem and no secret; OAuth2 with the jwt scheme and a token URL on a
// guarded address are refused like a bad destination.
func TestRelayConfigClientAuthRefused(t *testing.T) {
	dir := t.TempDir()
	_, keyBody := writeClientCert(t, dir, "herald-bad")
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	const oauthSecret = "never-print-this-s3cret"
	jwtKey := strings.TrimSpace(must(t, runOpts{dir: dir}, "keygen", "--scheme", "jwt", "--alg", "HS256").stdout)
	dest := func(extra string) string {
		return `{"destinations": [{"name": "a", "url": "https://a.example/", "secret": "` + secret + `", ` + extra + `}]}`
	}
	oauth := func(fields string) string { return `"oauth2": {` + fields + `}` }
	good := `"token_url": "https://auth.example/token", "client_id": "c", "client_secret": "` + oauthSecret + `"`
	cases := []struct {
		name, config string
		code         int
		want         []string
	}{
		{"cert without key", dest(`"client_cert": "@client.pem"`), 2, []string{`destination "a"`, "client_cert and client_key go together"}},
		{"key is not the cert's", dest(`"client_cert": "@client.pem", "client_key": "@client.pem"`), 2, []string{"cannot load client_cert/client_key"}},
		{"missing cert file", dest(`"client_cert": "@nope.pem", "client_key": "@client.key"`), 2, []string{"client_cert: cannot read"}},
		{"no token_url", dest(oauth(`"client_id": "c", "client_secret": "` + oauthSecret + `"`)), 2, []string{"oauth2: missing token_url"}},
		{"no client_id", dest(oauth(`"token_url": "https://auth.example/t", "client_secret": "` + oauthSecret + `"`)), 2, []string{"oauth2: missing client_id"}},
		{"unset secret", dest(oauth(`"token_url": "https://auth.example/t", "client_id": "c", "client_secret": "env:HERALD_TEST_UNSET_SECRET"`)), 2, []string{"client_secret: environment variable HERALD_TEST_UNSET_SECRET is not set"}},
		{"unknown key", dest(oauth(good + `, "audience": "x"`)), 2, []string{`unknown field "audience"`}},
		{"metadata token URL", dest(oauth(`"token_url": "https://169.254.169.254/token", "client_id": "c", "client_secret": "` + oauthSecret + `"`)), 2, []string{"address not allowed", "link-local"}},
		{"http token URL", dest(oauth(`"token_url": "http://auth.example/token", "client_id": "c", "client_secret": "` + oauthSecret + `"`)), 2, []string{"not https", "--insecure-http"}},
		{"with jwt", `{"destinations": [{"name": "a", "url": "https://a.example/", "scheme": "jwt", "secret": "` + jwtKey + `", ` + oauth(good) + `}]}`, 2, []string{"JWT", "Authorization"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("c%d.json", i)
			writeFile(t, dir, name, c.config)
			r := expect(t, runOpts{dir: dir}, c.code, c.want, "relay", "--store", "r.db", "--config", name, "--in-insecure", "--listen", "127.0.0.1:0")
			noLeak(t, r.all(), oauthSecret, keyBody, strings.TrimPrefix(secret, "whsec_"))
		})
	}
}
