package sender_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/sender"
	"github.com/heraldhq/herald/sender/sendertest"
)

// scheme is one auth scheme under test: a signer whose clock advances one
// second per signature, a verifier on the real clock, and the headers that
// must change from one attempt to the next.
type scheme struct {
	name     string
	signer   auth.Signer
	verifier auth.Verifier
	fresh    []string // headers that differ per attempt; none for hub, which signs the body alone
	keys     []string // the key material, in the encodings it could leak in
}

// verifiedIDOK reports whether the receiver's Verified.ID fits delivery id:
// the id itself where the scheme signs it, else (Hub, Stripe) an id
// derived from the signature, since their webhook-id header is unsigned.
func verifiedIDOK(sc scheme, verified, id string) bool {
	if sc.name == "hub" || sc.name == "stripe" {
		return strings.HasPrefix(verified, "sig:")
	}
	return verified == id
}

// steppingClock returns a clock that starts now and advances one second per
// call, so that consecutive signatures carry different timestamps.
func steppingClock() func() time.Time {
	base := time.Now()
	var n atomic.Int64
	return func() time.Time { return base.Add(time.Duration(n.Add(1)) * time.Second) }
}

func newSecret(t testing.TB, n int) auth.Secret {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return auth.NewSecret(b)
}

// schemes builds every scheme afresh (each subtest gets its own clock).
func schemes(t testing.TB) []scheme {
	t.Helper()
	must := func(s auth.Signer, v auth.Verifier, err error) (auth.Signer, auth.Verifier) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return s, v
	}
	var out []scheme

	sec := newSecret(t, 32)
	sgn, err := auth.NewStandard([]auth.Secret{sec}, auth.WithClock(steppingClock()))
	ver, err2 := auth.NewStandard([]auth.Secret{sec})
	s, v := must(sgn, ver, errors.Join(err, err2))
	out = append(out, scheme{"standard", s, v, []string{"Webhook-Timestamp", "Webhook-Signature"}, secretForms(sec.Bytes())})

	key, err := auth.GeneratePrivateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	sgnA, err := auth.NewStandardV1a([]auth.PrivateKey{key}, auth.WithClock(steppingClock()))
	verA, err2 := auth.NewStandardV1aVerifier([]auth.PublicKey{key.Public()})
	s, v = must(sgnA, verA, errors.Join(err, err2))
	out = append(out, scheme{"standard-v1a", s, v, []string{"Webhook-Timestamp", "Webhook-Signature"}, keyForms(t, key)})

	hub, err := auth.NewHub([]auth.Secret{sec})
	s, v = must(hub, hub, err)
	out = append(out, scheme{"hub", s, v, nil, secretForms(sec.Bytes())})

	sgnS, err := auth.NewStripe([]auth.Secret{sec}, auth.WithClock(steppingClock()))
	verS, err2 := auth.NewStripe([]auth.Secret{sec})
	s, v = must(sgnS, verS, errors.Join(err, err2))
	out = append(out, scheme{"stripe", s, v, []string{"Stripe-Signature"}, secretForms(sec.Bytes())})

	sgnJ, err := auth.NewJWT("HS256", []auth.Secret{sec}, auth.WithClock(steppingClock()), auth.WithIssuer("herald-test"))
	verJ, err2 := auth.NewJWT("HS256", []auth.Secret{sec}, auth.WithIssuer("herald-test"), auth.WithRequireBodyHash())
	s, v = must(sgnJ, verJ, errors.Join(err, err2))
	out = append(out, scheme{"jwt", s, v, []string{"Authorization"}, secretForms(sec.Bytes())})

	jkey, err := auth.GeneratePrivateKey("EdDSA")
	if err != nil {
		t.Fatal(err)
	}
	if jkey, err = auth.NewPrivateKey(jkey.Signer(), "k1"); err != nil {
		t.Fatal(err)
	}
	sgnE, err := auth.NewJWTSigner([]auth.PrivateKey{jkey}, auth.WithClock(steppingClock()))
	verE, err2 := auth.NewJWTVerifier(auth.PublicKeys{jkey.Public()}, auth.WithRequireBodyHash())
	s, v = must(sgnE, verE, errors.Join(err, err2))
	out = append(out, scheme{"jwt" + "-eddsa", s, v, []string{"Authorization"}, keyForms(t, jkey)})
	return out
}

// secretForms returns an HMAC secret as raw text, hex, base64 and whsec_.
func secretForms(b []byte) []string {
	b64 := base64.StdEncoding.EncodeToString(b)
	return []string{string(b), hex.EncodeToString(b), b64, "whsec_" + b64, base64.RawURLEncoding.EncodeToString(b)}
}

// keyForms returns an Ed25519 private key as its seed (raw, hex, base64),
// its whsk_ form and its PEM body.
func keyForms(t testing.TB, k auth.PrivateKey) []string {
	priv, ok := k.Signer().(ed25519.PrivateKey)
	if !ok {
		t.Fatal("not an Ed25519 key")
	}
	out := secretForms(priv.Seed())
	if s, err := auth.FormatStandardSigningKey(k); err == nil {
		out = append(out, s)
	}
	if pem, err := auth.MarshalPrivateKeyPEM(k); err == nil {
		lines := strings.Split(string(pem), "\n")
		out = append(out, lines[1])
	}
	return out
}

// schemeCases are the MUST-SHOW behaviours, run for every scheme against a
// real TLS receiver verifying with the scheme's verifier.
var schemeCases = []struct {
	name string
	run  func(t *testing.T, sc scheme)
}{
	{"success", func(t *testing.T, sc scheme) {
		rcv := sendertest.NewReceiver(t, sc.verifier)
		res, err := rcv.Sender().Send(context.Background(), rcv.Destination(sc.signer), sender.Message{Topic: "job:ready", Body: []byte(`{"ok":true}`)})
		if err != nil || res.Attempts != 1 || res.Status != 200 {
			t.Fatalf("Send = %+v, %v", res, err)
		}
		d := onlyVerified(t, rcv, 1)[0]
		if d.ID != res.ID || !verifiedIDOK(sc, d.Verified.ID, res.ID) || !strings.HasPrefix(sc.name, d.Verified.Scheme) {
			t.Fatalf("delivery id %q, verified %+v; want id %q, scheme %s", d.ID, d.Verified, res.ID, sc.name)
		}
	}},
	{"Destination.Headers do not override the scheme's headers", func(t *testing.T, sc scheme) {
		rcv := sendertest.NewReceiver(t, sc.verifier, sendertest.FailFirst(1, http.StatusInternalServerError))
		dest := rcv.Destination(sc.signer)
		dest.Headers = http.Header{}
		for _, k := range append([]string{auth.HeaderWebhookID}, sc.fresh...) {
			dest.Headers.Set(k, "spoof")
		}
		res, err := rcv.Sender().Send(context.Background(), dest, sender.Message{Body: []byte(`{"ok":true}`)})
		if err != nil || res.Attempts != 2 {
			t.Fatalf("Send = %+v, %v", res, err)
		}
		for i, d := range onlyVerified(t, rcv, 2) {
			if got := d.Header.Values(auth.HeaderWebhookID); len(got) != 1 || got[0] != res.ID {
				t.Errorf("attempt %d: webhook-id %q, want [%s]", i+1, got, res.ID)
			}
			for _, k := range sc.fresh {
				if got := d.Header.Values(k); len(got) != 1 || got[0] == "spoof" {
					t.Errorf("attempt %d: %s = %q, want the signer's one value", i+1, k, got)
				}
			}
		}
	}},
	{"500 then success, re-signed", func(t *testing.T, sc scheme) {
		rcv := sendertest.NewReceiver(t, sc.verifier, sendertest.FailFirst(2, http.StatusInternalServerError))
		res, err := rcv.Sender().Send(context.Background(), rcv.Destination(sc.signer), sender.Message{Body: []byte(`{"n":1}`)})
		if err != nil || res.Attempts != 3 {
			t.Fatalf("Send = %+v, %v; want success on attempt 3", res, err)
		}
		ds := onlyVerified(t, rcv, 3)
		for _, h := range sc.fresh {
			seen := map[string]bool{}
			for _, d := range ds {
				seen[d.Header.Get(h)] = true
			}
			if len(seen) != len(ds) {
				t.Errorf("header %s repeated across attempts: %d distinct in %d", h, len(seen), len(ds))
			}
		}
		for i, d := range ds {
			if d.ID != res.ID || !verifiedIDOK(sc, d.Verified.ID, res.ID) {
				t.Errorf("attempt %d: id %q (verified %q), want %q", i+1, d.ID, d.Verified.ID, res.ID)
			}
		}
	}},
	{"429 Retry-After seconds honoured", func(t *testing.T, sc scheme) {
		if wait := retryAfterWait(t, sc, "30", time.Minute); wait != 30*time.Second {
			t.Fatalf("wait %s, want 30s", wait)
		}
	}},
	{"429 Retry-After date honoured", func(t *testing.T, sc scheme) {
		wait := retryAfterWait(t, sc, time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat), time.Minute)
		if wait < 28*time.Second || wait > 30*time.Second {
			t.Fatalf("wait %s, want about 30s", wait)
		}
	}},
	{"429 Retry-After seconds capped", func(t *testing.T, sc scheme) {
		if wait := retryAfterWait(t, sc, "86400", 25*time.Millisecond); wait != 25*time.Millisecond {
			t.Fatalf("wait %s, want the 25ms cap", wait)
		}
	}},
	{"429 Retry-After date capped", func(t *testing.T, sc scheme) {
		if wait := retryAfterWait(t, sc, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 25*time.Millisecond); wait != 25*time.Millisecond {
			t.Fatalf("wait %s, want the 25ms cap", wait)
		}
	}},
	{"400 not retried", func(t *testing.T, sc scheme) {
		rcv := sendertest.NewReceiver(t, sc.verifier, sendertest.FailFirst(100, http.StatusBadRequest))
		res, err := rcv.Sender().Send(context.Background(), rcv.Destination(sc.signer), sender.Message{Body: []byte("{}")})
		de := mustDeliveryError(t, err)
		if !errors.Is(err, sender.ErrRejected) || de.Retryable || res.Attempts != 1 || res.Status != 400 {
			t.Fatalf("err %v (%+v); want one non-retryable ErrRejected", err, de)
		}
		onlyVerified(t, rcv, 1)
	}},
	{"410 gone", func(t *testing.T, sc scheme) {
		rcv := sendertest.NewReceiver(t, sc.verifier, sendertest.Gone())
		res, err := rcv.Sender().Send(context.Background(), rcv.Destination(sc.signer), sender.Message{Body: []byte("{}")})
		de := mustDeliveryError(t, err)
		if !errors.Is(err, sender.ErrGone) || de.Retryable || res.Attempts != 1 {
			t.Fatalf("err %v (%+v); want ErrGone after one attempt", err, de)
		}
		onlyVerified(t, rcv, 1)
	}},
	{"redirect not followed", func(t *testing.T, sc scheme) {
		var rcv *sendertest.Receiver
		rcv = sendertest.NewReceiver(t, sc.verifier, sendertest.Respond(func(int) (int, http.Header, []byte) {
			return http.StatusFound, http.Header{"Location": {rcv.URL() + "/moved"}}, nil
		}))
		_, err := rcv.Sender().Send(context.Background(), rcv.Destination(sc.signer), sender.Message{Body: []byte("{}")})
		if !errors.Is(err, sender.ErrRejected) {
			t.Fatalf("err %v, want ErrRejected (redirect refused)", err)
		}
		onlyVerified(t, rcv, 1)
	}},
	{"slow server hits the attempt timeout", func(t *testing.T, sc scheme) {
		rcv := sendertest.NewReceiver(t, sc.verifier, sendertest.Delay(time.Minute))
		s := rcv.Sender()
		s.AttemptTimeout = 50 * time.Millisecond
		s.Retry.MaxAttempts = 2
		res, err := s.Send(context.Background(), rcv.Destination(sc.signer), sender.Message{Body: []byte("{}")})
		if !errors.Is(err, sender.ErrTimeout) || !errors.Is(err, sender.ErrGaveUp) || res.Attempts != 2 {
			t.Fatalf("err %v after %d attempts; want ErrTimeout after 2", err, res.Attempts)
		}
		// The first attempt reached the handler; the second may time out
		// while still dialing on a loaded machine, so only the first is
		// certain to be recorded. Whatever arrived must have verified.
		if _, err := rcv.WaitFor(1, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		for i, d := range rcv.Deliveries() {
			if d.Err != nil {
				t.Fatalf("delivery %d failed verification: %v", i+1, d.Err)
			}
		}
	}},
	{"cancel during backoff", func(t *testing.T, sc scheme) {
		rcv := sendertest.NewReceiver(t, sc.verifier, sendertest.FailFirst(100, http.StatusServiceUnavailable))
		s := rcv.Sender()
		s.Retry = sender.RetryPolicy{MinWait: time.Hour, MaxWait: time.Hour, MaxElapsed: 48 * time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s.OnAttempt = func(a sender.Attempt) {
			if a.Retry {
				go cancel() // while Send sits in its hour-long wait
			}
		}
		res, err := s.Send(ctx, rcv.Destination(sc.signer), sender.Message{Body: []byte("{}")})
		if !errors.Is(err, context.Canceled) || res.Attempts != 1 {
			t.Fatalf("err %v after %d attempts; want context.Canceled after 1", err, res.Attempts)
		}
		onlyVerified(t, rcv, 1)
	}},
	{"http URL refused", func(t *testing.T, sc scheme) {
		srv := httptest.NewServer(http.NotFoundHandler())
		defer srv.Close()
		rcv := sendertest.NewReceiver(t, sc.verifier)
		_, err := rcv.Sender().Send(context.Background(), sender.Destination{URL: srv.URL, Signer: sc.signer}, sender.Message{Body: []byte("{}")})
		if !errors.Is(err, sender.ErrInsecureURL) {
			t.Fatalf("err %v, want ErrInsecureURL", err)
		}
	}},
}

func TestEveryScheme(t *testing.T) {
	for _, sc := range schemes(t) {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range schemeCases {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t, schemeNamed(t, sc.name)) // a fresh clock per case
				})
			}
		})
	}
}

// schemeNamed builds the named scheme afresh.
func schemeNamed(t *testing.T, name string) scheme {
	for _, sc := range schemes(t) {
		if sc.name == name {
			return sc
		}
	}
	t.Fatalf("no scheme %s", name)
	return scheme{}
}

// retryAfterWait sends through a receiver that answers 429 with the given
// Retry-After once, and returns the wait the backoff computed for it. A
// wait under a second is sat through and the delivery must then succeed;
// a longer one is checked as computed, then cut short by cancelling the
// context, to keep the tests fast (TestSendRetryAfter waits for real).
func retryAfterWait(t *testing.T, sc scheme, value string, maxWait time.Duration) time.Duration {
	t.Helper()
	rcv := sendertest.NewReceiver(t, sc.verifier, sendertest.Respond(func(n int) (int, http.Header, []byte) {
		if n == 1 {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {value}}, nil
		}
		return 0, nil, nil
	}))
	s := rcv.Sender()
	s.Retry.MaxWait = maxWait
	var log attempts
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.OnAttempt = func(a sender.Attempt) {
		log.hook(a)
		if a.Wait >= time.Second {
			go cancel()
		}
	}
	res, err := s.Send(ctx, rcv.Destination(sc.signer), sender.Message{Body: []byte("{}")})
	at := log.get()
	if len(at) == 0 || at[0].Status != 429 || !at[0].Retry || !errors.Is(at[0].Err, sender.ErrRateLimited) {
		t.Fatalf("attempts %+v", at)
	}
	if at[0].Wait >= time.Second {
		if !errors.Is(err, context.Canceled) || res.Attempts != 1 {
			t.Fatalf("Send = %+v, %v; want cancelled during the wait", res, err)
		}
		onlyVerified(t, rcv, 1)
		return at[0].Wait
	}
	if err != nil || res.Attempts != 2 {
		t.Fatalf("Send = %+v, %v; want success on attempt 2", res, err)
	}
	onlyVerified(t, rcv, 2)
	return at[0].Wait
}

// onlyVerified checks that the receiver got exactly n requests, all of which
// passed verification.
func onlyVerified(t *testing.T, rcv *sendertest.Receiver, n int) []sendertest.Delivery {
	t.Helper()
	ds := rcv.Deliveries()
	if len(ds) != n {
		t.Fatalf("%d requests received, want %d", len(ds), n)
	}
	for i, d := range ds {
		if d.Err != nil {
			t.Fatalf("request %d failed verification: %v", i+1, d.Err)
		}
	}
	return ds
}
