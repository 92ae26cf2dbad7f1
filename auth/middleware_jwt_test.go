package auth

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMiddlewareJWT(t *testing.T) {
	signer := must(NewJWT("HS256", []Secret{jwtSecret}, WithClock(asymClock), WithIssuer("herald")))(t)
	srv := httptest.NewServer(Middleware(signer)(http.HandlerFunc(mwVerifiedEcho)))
	defer srv.Close()
	c := srv.Client()
	body := `{"event":"job:ready"}`

	if st, got := mwDo(t, c, mwSignedRequest(t, signer, srv.URL, "msg_jwt1", asymNow, body)); st != 200 || got != "jwt msg_jwt1 0 "+body {
		t.Fatalf("valid: %d %q", st, got)
	}
	if st, got := mwDo(t, c, mwSignedRequest(t, signer, srv.URL, "msg_jwt1", asymNow, body)); st != 200 || got != duplicateText {
		t.Fatalf("replayed jti: %d %q, want 200 and the duplicate answer", st, got)
	}
	req := mwSignedRequest(t, signer, srv.URL, "msg_jwt2", asymNow, body)
	req.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "ready", "READY", 1)))
	if st, got := mwDo(t, c, req); st != 401 || got != errBodyMismatch.Error() {
		t.Fatalf("tampered body: %d %q", st, got)
	}
	if st, got := mwDo(t, c, mwSignedRequest(t, signer, srv.URL, "msg_jwt3", asymNow.Add(-time.Hour), body)); st != 401 || got != ErrExpired.Error() {
		t.Fatalf("expired: %d %q", st, got)
	}
	req = mwSignedRequest(t, signer, srv.URL, "msg_jwt4", asymNow, body)
	req.Header.Del("Authorization")
	if st, got := mwDo(t, c, req); st != 401 || got != ErrNoSignature.Error() {
		t.Fatalf("no token: %d %q", st, got)
	}
	other := must(NewJWT("HS256", []Secret{jwtSecret2}, WithClock(asymClock), WithIssuer("herald")))(t)
	if st, got := mwDo(t, c, mwSignedRequest(t, other, srv.URL, "msg_jwt5", asymNow, body)); st != 401 || got != ErrBadSignature.Error() {
		t.Fatalf("wrong key: %d %q", st, got)
	}
}

// An EdDSA verifier whose keys come from a JWKS served over TLS: the whole
// receiving side with real parts.
// Middleware keeps a JWT's id until the token expires, even past its
// replay window: a token that lives an hour, replayed half an hour later,
// is still a duplicate; once it expires it is refused outright.
func TestMiddlewareJWTReplayUntilExpiry(t *testing.T) {
	var mu sync.Mutex
	now := asymNow
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	s := must(NewJWT("HS256", []Secret{jwtSecret}, WithClock(clock), WithTTL(time.Hour), WithMaxLifetime(time.Hour)))(t)
	cache := newMemoryReplayCache(0)
	cache.now = clock
	var runs atomic.Int32
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { runs.Add(1) })
	srv := httptest.NewServer(Middleware(s, WithReplayCache(cache), withMiddlewareClock(clock))(next))
	defer srv.Close()

	captured := mwSignedRequest(t, s, srv.URL, "msg_long", asymNow, "{}")
	replay := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
		req.Header = captured.Header.Clone()
		return mwDo(t, srv.Client(), req)
	}
	if st, got := replay(); st != 200 || got != "" {
		t.Fatalf("first: %d %q", st, got)
	}
	advance(3 * defaultReplayWindow)
	if st, got := replay(); st != 200 || got != duplicateText {
		t.Fatalf("replayed past the replay window, before exp: %d %q, want the duplicate answer", st, got)
	}
	advance(time.Hour)
	if st, got := replay(); st != 401 || got != ErrExpired.Error() {
		t.Fatalf("replayed after exp: %d %q, want 401 %q", st, got, ErrExpired.Error())
	}
	if r := runs.Load(); r != 1 {
		t.Fatalf("handler ran %d times, want 1", r)
	}
}

func TestMiddlewareJWTWithJWKS(t *testing.T) {
	key := asymKeys(t).ed
	jwksSrv := httptest.NewTLSServer(JWKSHandler(key.Public()))
	defer jwksSrv.Close()
	set := must(NewJWKS(jwksSrv.URL+"/.well-known/jwks.json", jwksSrv.Client()))(t)
	verifier := must(NewJWTVerifier(set, WithClock(asymClock)))(t)
	signer := must(NewJWTSigner([]PrivateKey{key}, WithClock(asymClock)))(t)
	srv := httptest.NewServer(Middleware(verifier)(http.HandlerFunc(mwVerifiedEcho)))
	defer srv.Close()
	if st, got := mwDo(t, srv.Client(), mwSignedRequest(t, signer, srv.URL, "msg_jwks", asymNow, "{}")); st != 200 || got != "jwt msg_jwks "+key.ID()+" {}" {
		t.Fatalf("valid: %d %q", st, got)
	}
}

// mwCtxKeySet is a KeySet that records the context it is asked with.
type mwCtxKeySet struct {
	keys PublicKeys
	seen chan any
}

type mwCtxProbe struct{}

func (k mwCtxKeySet) Keys(ctx context.Context, kid string) ([]PublicKey, error) {
	k.seen <- ctx.Value(mwCtxProbe{})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return k.keys.Keys(ctx, kid)
}

// The middleware hands the request's context to a verifier that takes one.
func TestMiddlewareVerifyContext(t *testing.T) {
	key := asymKeys(t).ed
	ks := mwCtxKeySet{keys: PublicKeys{key.Public()}, seen: make(chan any, 2)}
	verifier := must(NewJWTVerifier(ks, WithClock(asymClock)))(t)
	signer := must(NewJWTSigner([]PrivateKey{key}, WithClock(asymClock)))(t)
	h := Middleware(verifier)(http.HandlerFunc(mwVerifiedEcho))

	req := mwSignedRequest(t, signer, "http://example.test/hook", "msg_ctx", asymNow, "{}")
	req = req.WithContext(context.WithValue(req.Context(), mwCtxProbe{}, "probe"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || <-ks.seen != "probe" {
		t.Fatalf("status %d; the key set did not get the request context", rec.Code)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req = mwSignedRequest(t, signer, "http://example.test/hook", "msg_ctx2", asymNow, "{}").WithContext(ctx)
	var gotErr error
	rec = httptest.NewRecorder()
	Middleware(verifier, WithErrorHandler(func(w http.ResponseWriter, r *http.Request, status int, err error) {
		gotErr = err
		w.WriteHeader(status)
	}))(http.HandlerFunc(mwVerifiedEcho)).ServeHTTP(rec, req)
	<-ks.seen
	if rec.Code != 401 || !errors.Is(gotErr, context.Canceled) {
		t.Fatalf("cancelled request: %d, %v", rec.Code, gotErr)
	}
}
