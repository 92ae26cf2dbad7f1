package sender_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/syncbuf"
	"github.com/heraldhq/herald/sender"
)

const (
	oauthClientID = "herald-client"
	oauthSecret   = "client-s3cret-9f2c41d7e0" // must never print
	tokenPrefix   = "acc3ss-t0ken-"            // every issued token starts so
)

// oauthWorld is a real HTTPS token endpoint and a real HTTPS receiver that
// accepts only the tokens the endpoint issued and has not revoked, and an
// HMAC signature in its own header.
type oauthWorld struct {
	tokens, receiver *httptest.Server
	std              *auth.Scheme
	fetches          atomic.Int32
	tokenStatus      atomic.Int32 // when set, the endpoint answers it and no token
	refuseAll        atomic.Bool  // when set, the receiver refuses every token

	mu      sync.Mutex
	valid   map[string]bool
	issued  []string
	seen    []string // the tokens the receiver accepted, in order
	scopes  []string
	refused int
}

func newOAuthWorld(t *testing.T) *oauthWorld {
	t.Helper()
	secret, err := auth.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	w := &oauthWorld{valid: map[string]bool{}}
	if w.std, err = auth.NewStandard([]auth.Secret{secret}); err != nil {
		t.Fatal(err)
	}
	w.tokens = httptest.NewTLSServer(http.HandlerFunc(w.token))
	w.receiver = httptest.NewTLSServer(http.HandlerFunc(w.receive))
	t.Cleanup(w.tokens.Close)
	t.Cleanup(w.receiver.Close)
	return w
}

func (w *oauthWorld) token(rw http.ResponseWriter, r *http.Request) {
	n := w.fetches.Add(1)
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost || r.PostForm.Get("grant_type") != "client_credentials" {
		http.Error(rw, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	id, sec, ok := r.BasicAuth()
	if !ok {
		id, sec = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	rw.Header().Set("Content-Type", "application/json")
	if id != oauthClientID || sec != oauthSecret {
		rw.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(rw, `{"error":"invalid_client","error_description":"bad secret %s"}`, sec)
		return
	}
	if st := w.tokenStatus.Load(); st != 0 {
		rw.WriteHeader(int(st))
		fmt.Fprintf(rw, `{"error":"temporarily_unavailable","error_description":"client %s secret %s"}`, id, sec)
		return
	}
	tok := fmt.Sprintf("%s%d-%d", tokenPrefix, n, time.Now().UnixNano())
	w.mu.Lock()
	w.valid[tok] = true
	w.issued = append(w.issued, tok)
	w.scopes = append(w.scopes, r.PostForm.Get("scope"))
	w.mu.Unlock()
	_ = json.NewEncoder(rw).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

func (w *oauthWorld) receive(rw http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok || !w.valid[tok] || w.refuseAll.Load() {
		w.refused++
		http.Error(rw, "invalid token", http.StatusUnauthorized)
		return
	}
	if _, err := w.std.Verify(r.Header, body); err != nil {
		http.Error(rw, "bad signature", http.StatusUnauthorized)
		return
	}
	w.seen = append(w.seen, tok)
}

// revokeAll makes the receiver refuse every token issued so far.
func (w *oauthWorld) revokeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.valid)
}

func (w *oauthWorld) lastSeen() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) == 0 {
		return ""
	}
	return w.seen[len(w.seen)-1]
}

// sender trusts both servers' certificate and may reach loopback.
func (w *oauthWorld) sender() *sender.Sender {
	return trustingSender(w.tokens, w.receiver)
}

func (w *oauthWorld) dest() sender.Destination {
	return sender.Destination{
		Name: "oauth", URL: w.receiver.URL + "/hooks", Signer: w.std,
		OAuth2: &sender.OAuth2{
			TokenURL: w.tokens.URL + "/oauth/token", ClientID: oauthClientID,
			ClientSecret: auth.NewSecret([]byte(oauthSecret)), Scopes: []string{"webhooks:write", "events"},
		},
	}
}

// TestOAuth2BearerCachedAndRefreshedOn401 delivers to a receiver that wants
// a bearer token from a real token endpoint and an HMAC signature in its
// own header: the token is fetched once and reused; once the receiver
// revokes it, the 401 makes the Sender fetch a new one and deliver at
// once, even with no retries configured; a receiver that refuses the new
// token too gets one retry, not more.
func TestOAuth2BearerCachedAndRefreshedOn401(t *testing.T) {
	w := newOAuthWorld(t)
	s := w.sender()
	dest := w.dest()
	if err := s.Validate(dest); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		res, err := s.Send(ctx, dest, sender.Message{Body: []byte(fmt.Sprintf(`{"n":%d}`, i))})
		if err != nil || res.Attempts != 1 {
			t.Fatalf("delivery %d: %v, %d attempts", i, err, res.Attempts)
		}
	}
	if n := w.fetches.Load(); n != 1 {
		t.Fatalf("%d token fetches for 3 deliveries, want 1 (cached)", n)
	}
	if w.scopes[0] != "webhooks:write events" {
		t.Fatalf("scope %q", w.scopes[0])
	}
	first := w.lastSeen()

	// Revoked: the 401 makes the Sender fetch a new token and deliver at
	// once, also when it makes no retries.
	s1 := w.sender()
	s1.Retry.MaxAttempts = 1
	if _, err := s1.Send(ctx, dest, sender.Message{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	for _, snd := range []*sender.Sender{s, s1} {
		w.revokeAll()
		before := w.fetches.Load()
		res, err := snd.Send(ctx, dest, sender.Message{Body: []byte(`{"after":"revocation"}`)})
		if err != nil || res.Attempts != 2 || res.Status != 200 {
			t.Fatalf("after revocation: %v, %d attempts, status %d; want success in 2", err, res.Attempts, res.Status)
		}
		if got := w.fetches.Load() - before; got != 1 {
			t.Fatalf("%d token fetches after the 401, want 1", got)
		}
		if w.lastSeen() == first {
			t.Fatal("the receiver accepted the revoked token")
		}
	}

	// A receiver that refuses every token: one refresh, then the 401 stands.
	w.mu.Lock()
	w.refused = 0
	w.mu.Unlock()
	before := w.fetches.Load()
	w.refuseAll.Store(true)
	res, err := s.Send(ctx, dest, sender.Message{Body: []byte(`{}`)})
	if !errors.Is(err, sender.ErrRejected) || res.Status != 401 || res.Attempts != 2 {
		t.Fatalf("always 401: %v, status %d, %d attempts; want ErrRejected, 401, 2", err, res.Status, res.Attempts)
	}
	if got := w.fetches.Load() - before; got != 1 {
		t.Fatalf("%d token fetches, want 1", got)
	}
	if de := mustDeliveryError(t, err); de.Retryable {
		t.Fatal("a 401 after a fresh token is retryable")
	}
}

// TestOAuth2TokenEndpointFailures: a token endpoint that refuses the client
// ends the delivery (not retryable) and one that fails (5xx) leaves it
// retryable; neither reaches the receiver, and neither error quotes the
// endpoint's answer.
func TestOAuth2TokenEndpointFailures(t *testing.T) {
	w := newOAuthWorld(t)
	s := w.sender()
	ctx := context.Background()

	bad := w.dest()
	bad.OAuth2 = &sender.OAuth2{TokenURL: bad.OAuth2.TokenURL, ClientID: oauthClientID, ClientSecret: auth.NewSecret([]byte("wrong-secret-value"))}
	_, err := s.Send(ctx, bad, sender.Message{Body: []byte(`{}`)})
	if !errors.Is(err, sender.ErrToken) || mustDeliveryError(t, err).Retryable {
		t.Fatalf("refused client: %v; want ErrToken, not retryable", err)
	}
	if !strings.Contains(err.Error(), "status 401 (invalid_client)") || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("refused client: error text %q", err)
	}

	w.tokenStatus.Store(503)
	_, err = s.Send(ctx, w.dest(), sender.Message{Body: []byte(`{}`)})
	if !errors.Is(err, sender.ErrToken) || !mustDeliveryError(t, err).Retryable {
		t.Fatalf("failing endpoint: %v; want ErrToken, retryable", err)
	}
	w.mu.Lock()
	reached := len(w.seen) + w.refused
	w.mu.Unlock()
	if reached != 0 {
		t.Fatalf("the receiver got %d requests without a token", reached)
	}
	w.tokenStatus.Store(0)
	if _, err := s.Send(ctx, w.dest(), sender.Message{Body: []byte(`{}`)}); err != nil {
		t.Fatalf("after the endpoint recovered: %v", err)
	}
}

// TestOAuth2TokenURLGuarded: a token URL on a loopback, link-local or
// private address, literal or by name, or on http, is refused like a
// destination URL would be, and the token endpoint (a real one, listening
// on loopback) is never reached.
func TestOAuth2TokenURLGuarded(t *testing.T) {
	w := newOAuthWorld(t)
	port := w.tokens.Listener.Addr().(*net.TCPAddr).Port
	guarded := &sender.Sender{
		TLS: w.sender().TLS,
		LookupNetIP: (&mapResolver{names: map[string][]netip.Addr{
			"hooks.example":   addrs("93.184.215.14"),
			"tokens.internal": addrs("127.0.0.1"),
			"metadata.test":   addrs("169.254.169.254"),
		}}).LookupNetIP,
		Retry: sender.RetryPolicy{MaxAttempts: 1},
	}
	for _, c := range []struct {
		url      string
		want     error
		validate bool // Validate sees it without resolving names
	}{
		{fmt.Sprintf("https://127.0.0.1:%d/oauth/token", port), sender.ErrBlockedAddr, true},
		{"https://169.254.169.254/latest/meta-data/token", sender.ErrBlockedAddr, true},
		{"https://[::ffff:127.0.0.1]:" + fmt.Sprint(port) + "/t", sender.ErrBlockedAddr, true},
		{fmt.Sprintf("https://tokens.internal:%d/oauth/token", port), sender.ErrBlockedAddr, false},
		{"https://metadata.test/token", sender.ErrBlockedAddr, false},
		{fmt.Sprintf("http://tokens.internal:%d/oauth/token", port), sender.ErrInsecureURL, true},
		{"ftp://tokens.internal/x", sender.ErrInvalidURL, true},
		{"", sender.ErrInvalidURL, true},
	} {
		dest := sender.Destination{URL: "https://hooks.example/in", OAuth2: &sender.OAuth2{
			TokenURL: c.url, ClientID: oauthClientID, ClientSecret: auth.NewSecret([]byte(oauthSecret)),
		}}
		err := guarded.Validate(dest)
		if c.validate && (!errors.Is(err, c.want) || !errors.Is(err, sender.ErrToken)) {
			t.Errorf("Validate(%q) = %v, want %v", c.url, err, c.want)
		}
		if !c.validate && err != nil {
			t.Errorf("Validate(%q) = %v, want nil (names are checked at dial time)", c.url, err)
		}
		_, err = guarded.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)})
		if !errors.Is(err, c.want) || !errors.Is(err, sender.ErrToken) || mustDeliveryError(t, err).Retryable {
			t.Errorf("Send with token URL %q = %v, want ErrToken and %v, not retryable", c.url, err, c.want)
		}
	}
	if n := w.fetches.Load(); n != 0 {
		t.Fatalf("the guarded token endpoint was reached %d times", n)
	}
}

// TestOAuth2RefusesAnotherAuthorization: OAuth2 with a JWT scheme (or an
// Authorization header of its own) is refused at configuration, and by
// Send before any token is fetched or request sent; with HMAC schemes it
// is accepted.
func TestOAuth2RefusesAnotherAuthorization(t *testing.T) {
	w := newOAuthWorld(t)
	s := w.sender()
	jwtScheme, err := auth.NewJWT("HS256", []auth.Secret{auth.NewSecret([]byte("a-jwt-secret-of-at-least-32-bytes!"))})
	if err != nil {
		t.Fatal(err)
	}
	withJWT := w.dest()
	withJWT.Signer = jwtScheme
	withHeader := w.dest()
	withHeader.Headers = http.Header{"authorization": {"Bearer static"}}
	for _, d := range []sender.Destination{withJWT, withHeader} {
		err := s.Validate(d)
		if !errors.Is(err, sender.ErrInvalidMessage) || !strings.Contains(err.Error(), "JWT") {
			t.Fatalf("Validate = %v, want ErrInvalidMessage naming JWT", err)
		}
		_, err = s.Send(context.Background(), d, sender.Message{Body: []byte(`{}`)})
		if !errors.Is(err, sender.ErrInvalidMessage) {
			t.Fatalf("Send = %v, want ErrInvalidMessage", err)
		}
	}
	if n := w.fetches.Load(); n != 0 {
		t.Fatalf("%d token fetches for refused configurations", n)
	}
	for _, sc := range schemes(t) {
		d := w.dest()
		d.Signer = sc.signer
		if err := s.Validate(d); (err != nil) != strings.HasPrefix(sc.name, "jwt") {
			t.Errorf("%s with OAuth2: Validate = %v", sc.name, err)
		}
	}
}

// TestOAuth2SecretsNeverPrinted runs OAuth2 deliveries that succeed and
// fail in every way, with a token endpoint whose error answers echo the
// secret, captures every log line (Debug and up, text and JSON), every
// error and Attempt, and the Destination formatted and logged, and checks
// that neither the client secret nor any token appears.
func TestOAuth2SecretsNeverPrinted(t *testing.T) {
	w := newOAuthWorld(t)
	var logs syncbuf.Buffer
	var texts []string
	s := w.sender()
	s.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s.OnAttempt = func(a sender.Attempt) { texts = append(texts, fmt.Sprintf("%+v %v", a, a.Err)) }
	js := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	dest := w.dest()
	send := func(d sender.Destination) {
		res, err := s.Send(ctx, d, sender.Message{Body: []byte(`{}`)})
		texts = append(texts, fmt.Sprintf("%v %+v %#v %+v", err, err, err, res))
	}
	send(dest) // success
	w.revokeAll()
	send(dest) // 401, refresh, success
	bad := w.dest()
	bad.OAuth2.ClientSecret = auth.NewSecret([]byte(oauthSecret + "-wrong"))
	send(bad) // the endpoint echoes the wrong secret
	w.tokenStatus.Store(500)
	w.revokeAll()
	send(dest) // 401, the endpoint fails and echoes the secret
	for _, v := range []any{dest, &dest, dest.OAuth2, *dest.OAuth2} {
		texts = append(texts, fmt.Sprintf("%v|%+v|%#v|%s", v, v, v, v))
		js.Info("destination", "dest", v)
		s.Logger.Info("destination", "dest", v)
	}
	all := logs.String() + strings.Join(texts, "\n")
	for _, want := range []string{"webhook failed", "status 401", "invalid_client"} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q: the test captured too little", want)
		}
	}
	w.mu.Lock()
	issued := append([]string(nil), w.issued...)
	w.mu.Unlock()
	if len(issued) < 2 {
		t.Fatalf("only %d tokens issued", len(issued))
	}
	for _, secret := range append(issued, oauthSecret, tokenPrefix) {
		if strings.Contains(all, secret) {
			t.Errorf("output contains the secret %q", secret)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", all)
	}
}

// TestOAuth2WithClientCert: the token endpoint is reached through the
// destination's connections, so one that requires the client certificate
// gets it, and the receiver gets both the certificate and the token.
func TestOAuth2WithClientCert(t *testing.T) {
	good, goodCA := clientCert(t, "herald-oauth")
	tokens := newMTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"mtls-token","token_type":"Bearer","expires_in":600}`)
	}, goodCA)
	rcv := newMTLSServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer mtls-token" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}, goodCA)
	s := trustingSender(rcv.Server, tokens.Server)
	dest := sender.Destination{URL: rcv.URL, ClientCert: &good, OAuth2: &sender.OAuth2{
		TokenURL: tokens.URL + "/token", ClientID: "c", ClientSecret: auth.NewSecret([]byte("s")),
	}}
	if res, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)}); err != nil || res.Attempts != 1 {
		t.Fatalf("%v, %d attempts", err, res.Attempts)
	}
	if got := append(tokens.seen(), rcv.seen()...); strings.Join(got, ",") != "herald-oauth,herald-oauth" {
		t.Fatalf("the servers saw %q", got)
	}
	dest.ClientCert = nil // the token endpoint refuses the handshake now
	_, err := s.Send(context.Background(), dest, sender.Message{Body: []byte(`{}`)})
	if !errors.Is(err, sender.ErrToken) {
		t.Fatalf("without the certificate: %v, want ErrToken", err)
	}
}
