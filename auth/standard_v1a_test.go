package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStandardV1aRoundTrip(t *testing.T) {
	ks := asymKeys(t)
	s := must(newStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock)))(t)
	m := asymMsg()
	h := signed(t, s, m)
	sig := h.Get("webhook-signature")
	if !strings.HasPrefix(sig, "v1a,") || len(sig) != 4+88 || strings.Contains(sig, " ") {
		t.Fatalf("webhook-signature = %q", sig)
	}
	if h.Get("webhook-id") != m.ID || h.Get("webhook-timestamp") != strconv.FormatInt(asymNow.Unix(), 10) {
		t.Fatalf("headers = %v", h)
	}
	// The signature is plain Ed25519 over id.timestamp.body.
	raw, _ := base64.StdEncoding.DecodeString(sig[4:])
	content := m.ID + "." + h.Get("webhook-timestamp") + "." + string(m.Body)
	if !ed25519.Verify(ks.ed.Public().Key().(ed25519.PublicKey), []byte(content), raw) {
		t.Fatal("signature is not Ed25519 over id.timestamp.body")
	}

	v := must(newStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock)))(t)
	got := must(v.Verify(h, m.Body))(t)
	want := Verified{Scheme: schemeStandardV1a, ID: m.ID, Timestamp: time.Unix(asymNow.Unix(), 0), KeyID: "ed-1"}
	if got.Scheme != want.Scheme || got.ID != want.ID || !got.Timestamp.Equal(want.Timestamp) || got.KeyID != want.KeyID || got.Claims != nil {
		t.Fatalf("Verified = %+v, want %+v", got, want)
	}
	if err := v.Sign(http.Header{}, m); !errors.Is(err, errNoPrivateKey) {
		t.Fatalf("verifier Sign = %v, want errNoPrivateKey", err)
	}
	// The signer verifies too.
	if _, err := s.Verify(h, m.Body); err != nil {
		t.Fatal(err)
	}
}

// keyedSchemeNamed returns the row of keyedSchemes for scheme.
func keyedSchemeNamed(t testing.TB, scheme string) keyedScheme {
	for _, r := range keyedSchemes(t) {
		if r.scheme == scheme {
			return r
		}
	}
	t.Fatalf("no keyed scheme %s", scheme)
	return keyedScheme{}
}

// TestStandardV1aVerifyCases checks the cases of the Standard family and
// those only v1a has; the refusals of every scheme are in
// TestKeyedSchemesVerify.
func TestStandardV1aVerifyCases(t *testing.T) {
	r := keyedSchemeNamed(t, schemeStandardV1a)
	m := Message{ID: "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", Timestamp: hmTime, Body: []byte(`{"type":"contact.created"}`)}
	good := signed(t, r.signer(t, 0), m)
	goodSig := good.Get("webhook-signature")
	keyID := r.keyID(0, 0)
	sig := func(v string) http.Header {
		return editHeader(good, func(h http.Header) { h.Set("webhook-signature", v) })
	}
	flipped, _ := base64.StdEncoding.DecodeString(goodSig[4:])
	flipped[10] ^= 1
	early := m
	early.Timestamp = hmTime.Add(-9 * time.Minute)
	verifyRun{
		scheme:   schemeStandardV1a,
		id:       func(http.Header) string { return m.ID },
		body:     m.Body,
		verifier: r.verifier,
		secrets:  []string{goodSig[4:20]},
	}.run(t, append(standardFamilyCases(good, keyID), []verifyCase{
		{name: "valid", h: good, keyID: keyID},
		{name: "body one byte longer", h: good, body: append(append([]byte(nil), m.Body...), ' '), want: ErrBadSignature},
		{name: "flipped signature bit", h: sig("v1a," + base64.StdEncoding.EncodeToString(flipped)), want: ErrBadSignature},
		{name: "v1 only", h: sig("v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="), want: ErrNoSignature},
		{name: "v1a signature labelled v1", h: sig("v1," + goodSig[4:]), want: ErrNoSignature},
		{name: "blank signature header", h: sig("  "), want: ErrNoSignature},
		{name: "short signature", h: sig("v1a,AAAA"), want: ErrMalformed},
		// 88 characters of base64 without padding are 66 bytes, 87 and
		// one "=" are 65: more than an Ed25519 signature, from a header of
		// the right length. Once a crash (an index past a 64-byte buffer).
		{name: "88 base64 characters of 66 bytes", h: sig("v1a," + strings.Repeat("A", 88)), want: ErrMalformed},
		{name: "88 base64 characters of 65 bytes", h: sig("v1a," + strings.Repeat("A", 87) + "="), want: ErrMalformed},
		{name: "not base64", h: sig("v1a," + strings.Repeat("*", 88)), want: ErrMalformed},
		{name: "too many v1a", h: sig(strings.Repeat("v1a,"+strings.Repeat("A", 86)+"== ", 9)), want: ErrMalformed},
		{name: "v1 and unknown versions around v1a", h: sig("v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v2,abc " + goodSig + " v3"), keyID: keyID},
		{name: "bad v1a before a good one", h: sig("v1a," + strings.Repeat("A", 86) + "== " + goodSig), keyID: keyID},
		{name: "66-byte v1a before a good one", h: sig("v1a," + strings.Repeat("A", 88) + " " + goodSig), keyID: keyID},
		{name: "within widened tolerance", h: signed(t, r.signer(t, 0), early), tolerance: 10 * time.Minute, keyID: keyID},
	}...))
}

func TestStandardV1aConstructors(t *testing.T) {
	ks := asymKeys(t)
	if _, err := newStandardV1a(nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("no keys: %v", err)
	}
	if _, err := newStandardV1a([]PrivateKey{ks.ed, ks.ec}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("ECDSA key: %v", err)
	}
	if _, err := newStandardV1a([]PrivateKey{{}}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("zero key: %v", err)
	}
	if _, err := newStandardV1aVerifier(nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("no public keys: %v", err)
	}
	if _, err := newStandardV1aVerifier([]PublicKey{ks.rsa.Public()}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("RSA key: %v", err)
	}
	// A zero Timestamp means now (the configured clock).
	s := must(newStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock)))(t)
	h := signed(t, s, Message{ID: "a", Body: nil})
	if h.Get("webhook-timestamp") != strconv.FormatInt(asymNow.Unix(), 10) {
		t.Fatalf("Sign with zero time: %v", h)
	}
	if _, err := s.Verify(h, nil); err != nil {
		t.Fatalf("empty body: %v", err)
	}
}

// TestDecodeV1aSignature pins the buffer of decodeV1aSignature to what
// base64 can produce from a signature-length input, and checks that only
// strict, padded 64-byte signatures decode.
func TestDecodeV1aSignature(t *testing.T) {
	if v1aSigLen != base64.StdEncoding.EncodedLen(ed25519.SignatureSize) || v1aDecodedMax != base64.StdEncoding.DecodedLen(v1aSigLen) {
		t.Fatalf("v1aSigLen %d, v1aDecodedMax %d", v1aSigLen, v1aDecodedMax)
	}
	good := base64.StdEncoding.EncodeToString(make([]byte, ed25519.SignatureSize))
	for _, tt := range []struct {
		sig string
		ok  bool
	}{
		{good, true},
		{strings.Repeat("A", 88), false},         // 66 bytes
		{strings.Repeat("A", 87) + "=", false},   // 65 bytes
		{strings.Repeat("A", 85) + "B==", false}, // non-zero padding bits
		{good[:87], false},
		{good + "=", false},
	} {
		var dst [ed25519.SignatureSize]byte
		if got := decodeV1aSignature(&dst, tt.sig); got != tt.ok {
			t.Errorf("decodeV1aSignature(%q) = %v, want %v", tt.sig, got, tt.ok)
		}
	}
}
