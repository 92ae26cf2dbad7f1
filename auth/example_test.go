package auth_test

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/heraldhq/herald/auth"
)

// Sign a delivery with a Standard Webhooks v1 secret and verify it. The
// message and secret are the Standard Webhooks test vector, so the
// signature below is the one every conforming library computes.
func ExampleNewStandard() {
	secret, err := auth.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		fmt.Println(err)
		return
	}
	sent := time.Unix(1614265330, 0)
	clock := func() time.Time { return sent.Add(30 * time.Second) } // the receiver's clock
	std, err := auth.NewStandard([]auth.Secret{secret}, auth.WithClock(clock))
	if err != nil {
		fmt.Println(err)
		return
	}

	body := []byte(`{"test": 2432232314}`)
	h := http.Header{}
	if err := std.Sign(h, auth.Message{ID: "msg_p5jXN8AQM9LWM0D4loKWxJek", Timestamp: sent, Body: body}); err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		fmt.Printf("%s: %s\n", name, h.Get(name))
	}

	v, err := std.Verify(h, body)
	fmt.Println(v.Scheme, v.ID, v.Timestamp.Unix(), v.KeyID, err)

	_, err = std.Verify(h, []byte(`{"test": 0}`))
	fmt.Println(errors.Is(err, auth.ErrBadSignature))
	// Output:
	// Webhook-Id: msg_p5jXN8AQM9LWM0D4loKWxJek
	// Webhook-Timestamp: 1614265330
	// Webhook-Signature: v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=
	// standard msg_p5jXN8AQM9LWM0D4loKWxJek 1614265330 0 <nil>
	// true
}

// A receiver protected by Middleware: the handler runs only for genuine,
// fresh, first-time requests, and finds what was verified in its context.
// Refusals are answered with 401 and a short reason. A delivery already
// handled is answered 200 without running the handler again, so that a
// sender retrying after a lost answer succeeds.
func ExampleMiddleware() {
	// Both ends hold the secret; load it from your secret store.
	secret, _ := auth.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		fmt.Println(err)
		return
	}

	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := auth.FromContext(r.Context())
		body, _ := io.ReadAll(r.Body) // the same bytes that were verified
		fmt.Fprintf(w, "accepted %s %s", v.ID, body)
	})
	srv := httptest.NewServer(auth.Middleware(std)(hook))
	defer srv.Close()

	post := func(body string, sign func(h http.Header)) {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		sign(req.Header)
		res, err := srv.Client().Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer res.Body.Close()
		reply, _ := io.ReadAll(res.Body)
		fmt.Println(res.StatusCode, strings.TrimSpace(string(reply)))
	}
	signed := func(id, body string) func(http.Header) {
		return func(h http.Header) {
			_ = std.Sign(h, auth.Message{ID: id, Body: []byte(body)})
		}
	}

	post(`{"amount":10}`, signed("msg_1", `{"amount":10}`))   // genuine
	post(`{"amount":10}`, signed("msg_1", `{"amount":10}`))   // the same delivery again: the handler does not run twice
	post(`{"amount":9999}`, signed("msg_2", `{"amount":10}`)) // tampered body
	post(`{"amount":10}`, func(http.Header) {})               // unsigned
	// Output:
	// 200 accepted msg_1 {"amount":10}
	// 200 duplicate delivery, already handled
	// 401 signature mismatch
	// 401 no signature
}

// Two receivers behind a load balancer share one replay cache, so that a
// sender's retry that lands on the other instance (its first answer lost)
// is acknowledged there without running the handler a second time. Across
// processes, the cache would be a shared store such as Redis (see
// [auth.ReplayCache]).
func ExampleWithReplayCache() {
	secret, _ := auth.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	shared := auth.NewReplayCache(0)
	var runs atomic.Int32
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	a := httptest.NewServer(auth.Middleware(std, auth.WithReplayCache(shared))(hook))
	defer a.Close()
	b := httptest.NewServer(auth.Middleware(std, auth.WithReplayCache(shared))(hook))
	defer b.Close()

	deliver := func(url string) {
		body := `{"amount":10}`
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		_ = std.Sign(req.Header, auth.Message{ID: "msg_1", Body: []byte(body)}) // re-signed, same id
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer res.Body.Close()
		fmt.Println(res.StatusCode)
	}
	deliver(a.URL) // handled by a
	deliver(b.URL) // the retry, on b
	fmt.Println("handler runs:", runs.Load())
	// Output:
	// 204
	// 200
	// handler runs: 1
}

// Only requests from the allowed networks reach the handler. Behind a load
// balancer, name it as a trusted proxy so that X-Forwarded-For is read; from
// any other peer that header is ignored.
func ExampleAllowIPs() {
	allowed := []netip.Prefix{
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("198.51.100.7/32"),
	}
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	hook := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	h := auth.AllowIPs(allowed, proxies)(hook)

	for _, c := range []struct{ remote, xff string }{
		{"192.0.2.10:51000", ""},            // allowed network
		{"[::ffff:198.51.100.7]:443", ""},   // IPv4-mapped IPv6: judged as IPv4
		{"203.0.113.5:51000", "192.0.2.10"}, // spoofed header, untrusted peer
		{"10.1.2.3:8080", "192.0.2.10"},     // through the trusted balancer
		{"10.1.2.3:8080", "203.0.113.5"},    // a stranger behind the balancer
	} {
		req := httptest.NewRequest(http.MethodPost, "/hook", nil)
		req.RemoteAddr = c.remote
		if c.xff != "" {
			req.Header.Set("X-Forwarded-For", c.xff)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(c.remote, rec.Code)
	}
	// Output:
	// 192.0.2.10:51000 200
	// [::ffff:198.51.100.7]:443 200
	// 203.0.113.5:51000 403
	// 10.1.2.3:8080 200
	// 10.1.2.3:8080 403
}

// A JWT Bearer scheme with a shared HMAC secret: the sender signs, the
// receiver verifies the token and that it is bound to the exact body.
func ExampleNewJWT() {
	// Load the secret from your secret store; it must be at least 32 bytes
	// for HS256.
	secret := auth.NewSecret([]byte("an-example-secret-of-32-bytes-or-more"))
	clock := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	jwt, err := auth.NewJWT("HS256", []auth.Secret{secret},
		auth.WithIssuer("https://events.example.com"), auth.WithClock(clock))
	if err != nil {
		fmt.Println(err)
		return
	}

	h := http.Header{}
	err = jwt.Sign(h, auth.Message{
		ID:    "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
		Body:  []byte(`{"type":"job:ready"}`),
		URL:   "https://hooks.example.com/in",
		Topic: "job:ready",
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	v, err := jwt.Verify(h, []byte(`{"type":"job:ready"}`))
	fmt.Println(v.Scheme, v.ID, v.Claims["iss"], v.Claims["aud"], v.Claims["topic"], err)

	_, err = jwt.Verify(h, []byte(`{"type":"job:done"}`))
	fmt.Println(errors.Is(err, auth.ErrBadSignature))
	// Output:
	// jwt msg_2KWPBgLlAfxdpx2AI54pPJ85f4W https://events.example.com https://hooks.example.com/in job:ready <nil>
	// true
}

// Answer refusals as JSON instead of plain text. The error matches the
// package's sentinels with errors.Is; its text is free of secrets.
func ExampleWithErrorHandler() {
	secret, _ := auth.ParseStandardSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	jsonError := func(w http.ResponseWriter, r *http.Request, status int, err error) {
		code := "unauthorized"
		switch {
		case errors.Is(err, auth.ErrExpired):
			code = "stale"
		case errors.Is(err, auth.ErrBodyTooLarge):
			code = "too_large"
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q}`, code)
	}
	h := auth.Middleware(std, auth.WithErrorHandler(jsonError))(http.NotFoundHandler())

	req := httptest.NewRequest(http.MethodPost, "/hook", strings.NewReader("{}"))
	_ = std.Sign(req.Header, auth.Message{ID: "msg_1", Timestamp: time.Now().Add(-time.Hour), Body: []byte("{}")})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body)
	// Output:
	// 401 {"error":"stale"}
}

// kmsKey stands for a key held in a KMS or an HSM: herald sees only its
// crypto.Signer, and every signature is one call to it. Here it wraps an
// in-process Ed25519 key and counts the calls; a real one would call the
// KMS's sign API with the message (Ed25519) or the digest (ES256, RS256).
type kmsKey struct {
	key   crypto.Signer
	calls atomic.Int64
}

func (k *kmsKey) Public() crypto.PublicKey { return k.key.Public() }

func (k *kmsKey) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.calls.Add(1)
	return k.key.Sign(r, msg, opts)
}

// Sign Standard Webhooks v1a and JWT with a key that never leaves its KMS:
// NewPrivateKey takes any crypto.Signer, and receivers verify with the
// public key as usual.
func ExampleNewPrivateKey() {
	_, edKey, _ := ed25519.GenerateKey(nil)
	kms := &kmsKey{key: edKey}
	key, err := auth.NewPrivateKey(kms, "kms-2026-01")
	if err != nil {
		fmt.Println(err)
		return
	}
	v1a, err := auth.NewStandardV1a([]auth.PrivateKey{key})
	if err != nil {
		fmt.Println(err)
		return
	}
	jwt, err := auth.NewJWTSigner([]auth.PrivateKey{key})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The receiver holds the public key only.
	verifyV1a, _ := auth.NewStandardV1aVerifier([]auth.PublicKey{key.Public()})
	verifyJWT, _ := auth.NewJWTVerifier(auth.PublicKeys{key.Public()})

	body := []byte(`{"type":"job:ready"}`)
	msg := auth.Message{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", Body: body, URL: "https://hooks.example.com/in"}
	h1, h2 := http.Header{}, http.Header{}
	if err := v1a.Sign(h1, msg); err != nil {
		fmt.Println(err)
		return
	}
	if err := jwt.Sign(h2, msg); err != nil {
		fmt.Println(err)
		return
	}
	v, err := verifyV1a.Verify(h1, body)
	fmt.Println(v.Scheme, v.KeyID, err)
	v, err = verifyJWT.Verify(h2, body)
	fmt.Println(v.Scheme, v.KeyID, err)
	fmt.Println("signatures made by the KMS:", kms.calls.Load())
	fmt.Println(key) // and it prints nothing of the key
	// Output:
	// standard-v1a kms-2026-01 <nil>
	// jwt kms-2026-01 <nil>
	// signatures made by the KMS: 2
	// [redacted]
}
