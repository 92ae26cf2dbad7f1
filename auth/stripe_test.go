package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stVector* were produced by the stripe-node library (23.1.0,
// webhooks.generateTestHeaderString) for this payload, secret and time.
const (
	stVectorSecret = "whsec_test_secret"
	stVectorBody   = "{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}"
	stVectorHeader = "t=1614265330,v1=af4ead0627a34a8cca29808e8de9ada8e41a92e6237c63cef6eacf51d36cca34"
)

func mustStripe(t testing.TB, secrets []Secret, opts ...StripeOption) *stripeScheme {
	t.Helper()
	s, err := newStripe(secrets, opts...)
	if err != nil {
		t.Fatalf("NewStripe: %v", err)
	}
	return s
}

func TestStripeVector(t *testing.T) {
	key := []byte(stVectorSecret)
	if want := "t=" + strconv.Itoa(svVectorTS) + ",v1=" + refStripe(key, strconv.Itoa(svVectorTS), []byte(stVectorBody)); want != stVectorHeader {
		t.Fatalf("reference HMAC %q disagrees with stripe-node %q", want, stVectorHeader)
	}
	s := mustStripe(t, []Secret{NewSecret(key)}, WithClock(hmClock))
	h := http.Header{}
	if err := s.Sign(h, Message{Body: []byte(stVectorBody)}); err != nil {
		t.Fatal(err)
	}
	if got := h.Get("Stripe-Signature"); got != stVectorHeader {
		t.Fatalf("Stripe-Signature = %q, want %q", got, stVectorHeader)
	}
	if len(h) != 1 {
		t.Fatalf("Sign without id set %v", h)
	}
	v, err := s.Verify(hmHeader("Stripe-Signature", stVectorHeader), []byte(stVectorBody))
	if err != nil {
		t.Fatal(err)
	}
	if v.Scheme != schemeStripe || v.KeyID != "0" || v.ID != hubSigID(stVectorHeader[strings.Index(stVectorHeader, "v1="):]) || !v.Timestamp.Equal(hmTime) {
		t.Fatalf("Verified = %+v", v)
	}
	// With an id and a custom header name.
	c := mustStripe(t, []Secret{NewSecret(key)}, WithClock(hmClock), WithHeaderName("X-Signature"))
	h = http.Header{}
	if err := c.Sign(h, Message{ID: "evt_1", Body: []byte(stVectorBody)}); err != nil {
		t.Fatal(err)
	}
	if h.Get("X-Signature") != stVectorHeader || h.Get("webhook-id") != "evt_1" || h.Get("Stripe-Signature") != "" {
		t.Fatalf("custom header: %v", h)
	}
	// webhook-id is not signed: the id still comes from the signature.
	if v, err := c.Verify(h, []byte(stVectorBody)); err != nil || v.ID != hubSigID(stVectorHeader[strings.Index(stVectorHeader, "v1="):]) {
		t.Fatalf("custom header Verify = %+v, %v", v, err)
	}
}

func TestStripeVerifyCases(t *testing.T) {
	key := NewSecret([]byte(stVectorSecret))
	other := hmSecret(7, 32)
	body := []byte(stVectorBody)
	v1 := stVectorHeader[strings.Index(stVectorHeader, "v1="):]
	tsNow := strconv.Itoa(svVectorTS)
	sig := func(v string) http.Header { return hmHeader("Stripe-Signature", v) }
	signedAt := func(ts time.Time) http.Header {
		h := http.Header{}
		if err := mustStripe(t, []Secret{key}, WithClock(func() time.Time { return ts })).Sign(h, Message{Body: body}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	cases := []struct {
		name  string
		keys  []Secret
		h     http.Header
		body  string
		want  error
		keyID string
	}{
		{name: "valid", h: sig(stVectorHeader), keyID: "0"},
		{name: "v0 and unknown keys ignored", h: sig("t=" + tsNow + ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,scheme=x," + v1), keyID: "0"},
		{name: "spaces tolerated", h: sig(" t=" + tsNow + " , " + v1 + " "), keyID: "0"},
		{name: "v1 order", h: sig(v1 + ",t=" + tsNow), keyID: "0"},
		{name: "one of several v1", h: sig("t=" + tsNow + ",v1=" + strings.Repeat("0", 64) + "," + v1), keyID: "0"},
		{name: "tampered body", h: sig(stVectorHeader), body: stVectorBody + " ", want: ErrBadSignature},
		{name: "tampered t", h: sig("t=" + strconv.Itoa(svVectorTS+1) + "," + v1), want: ErrBadSignature},
		{name: "wrong key", keys: []Secret{other}, h: sig(stVectorHeader), want: ErrBadSignature},
		{name: "second key", keys: []Secret{other, key}, h: sig(stVectorHeader), keyID: "1"},
		{name: "uppercase hex", h: sig("t=" + tsNow + ",v1=" + strings.ToUpper(v1[3:])), want: ErrBadSignature},
		{name: "expired", h: signedAt(hmTime.Add(-defaultTolerance - time.Second)), want: ErrExpired},
		{name: "future", h: signedAt(hmTime.Add(defaultTolerance + time.Second)), want: errNotYetValid},
		{name: "missing", h: http.Header{}, want: ErrNoSignature},
		{name: "empty", h: sig(""), want: ErrNoSignature},
		{name: "only v0", h: sig("t=" + tsNow + ",v0=" + v1[3:]), want: ErrNoSignature},
		{name: "no t", h: sig(v1), want: ErrMalformed},
		{name: "two t", h: sig("t=" + tsNow + ",t=" + tsNow + "," + v1), want: ErrMalformed},
		{name: "garbage t", h: sig("t=soon," + v1), want: ErrMalformed},
		{name: "negative t", h: sig("t=-5," + v1), want: ErrMalformed},
		{name: "item without =", h: sig("t=" + tsNow + ",garbage," + v1), want: ErrMalformed},
		{name: "huge", h: sig("t=" + tsNow + strings.Repeat(",v0=x", 1000) + "," + v1), want: ErrMalformed},
		{name: "repeated header", h: func() http.Header { h := sig(stVectorHeader); h.Add("Stripe-Signature", stVectorHeader); return h }(), want: ErrMalformed},
		{name: "huge unsigned webhook-id ignored", h: hmHeader("Stripe-Signature", stVectorHeader, "webhook-id", strings.Repeat("i", 300)), keyID: "0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := c.keys
			if keys == nil {
				keys = []Secret{key}
			}
			b := body
			if c.body != "" {
				b = []byte(c.body)
			}
			v, err := mustStripe(t, keys, WithClock(hmClock)).Verify(c.h, b)
			hmWantErr(t, err, c.want)
			if err != nil {
				hmNoLeak(t, err.Error(), stVectorSecret, v1[3:])
				return
			}
			// Whatever else the header holds, the id is that of the v1
			// signature that matched.
			if v.KeyID != c.keyID || v.ID != hubSigID(v1) {
				t.Fatalf("Verified = %+v, want KeyID %q and ID %s", v, c.keyID, hubSigID(v1))
			}
		})
	}
}

func TestStripeRotation(t *testing.T) {
	oldK, newK, unrelated := hmSecret(1, 24), hmSecret(2, 24), hmSecret(3, 24)
	h := http.Header{}
	body := []byte("stripe rotation")
	if err := mustStripe(t, []Secret{oldK, newK}, WithClock(hmClock)).Sign(h, Message{Body: body}); err != nil {
		t.Fatal(err)
	}
	ts := strconv.Itoa(svVectorTS)
	want := "t=" + ts + ",v1=" + refStripe(oldK.Bytes(), ts, body) + ",v1=" + refStripe(newK.Bytes(), ts, body)
	if got := h.Get("Stripe-Signature"); got != want {
		t.Fatalf("Stripe-Signature = %q, want %q", got, want)
	}
	for _, c := range []struct {
		keys  []Secret
		keyID string
		want  error
	}{
		{[]Secret{oldK}, "0", nil},
		{[]Secret{newK}, "0", nil},
		{[]Secret{unrelated, newK}, "1", nil},
		{[]Secret{unrelated}, "", ErrBadSignature},
	} {
		v, err := mustStripe(t, c.keys, WithClock(hmClock)).Verify(h, body)
		hmWantErr(t, err, c.want)
		if v.KeyID != c.keyID {
			t.Fatalf("KeyID = %q, want %q", v.KeyID, c.keyID)
		}
	}
}

func TestNewStripeRefuses(t *testing.T) {
	for name, secrets := range map[string][]Secret{
		"nil": nil, "short": {hmSecret(1, 15)}, "one short": {hmSecret(1, 16), {}},
	} {
		if _, err := newStripe(secrets); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", name, err)
		}
	}
	if _, err := newStripe([]Secret{hmSecret(1, 16)}, WithHeaderName("no spaces allowed")); err == nil {
		t.Fatal("bad header name accepted")
	}
	s := mustStripe(t, []Secret{hmSecret(1, 16)})
	for name, m := range map[string]Message{"bad id": {ID: "a\nb"}, "before epoch": {Timestamp: time.Unix(-1, 0)}} {
		if err := s.Sign(http.Header{}, m); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
	}
}
