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
	s, err := newStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock))
	if err != nil {
		t.Fatal(err)
	}
	m := asymMsg()
	h := http.Header{}
	if err := s.Sign(h, m); err != nil {
		t.Fatal(err)
	}
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

	v, err := newStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock))
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Verify(h, m.Body)
	if err != nil {
		t.Fatal(err)
	}
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

func TestStandardV1aRotation(t *testing.T) {
	ks := asymKeys(t)
	signer, err := newStandardV1a([]PrivateKey{ks.ed, ks.ed2}, WithClock(asymClock))
	if err != nil {
		t.Fatal(err)
	}
	m := asymMsg()
	h := http.Header{}
	if err := signer.Sign(h, m); err != nil {
		t.Fatal(err)
	}
	if n := len(strings.Fields(h.Get("webhook-signature"))); n != 2 {
		t.Fatalf("%d signatures, want 2", n)
	}
	tests := []struct {
		name   string
		keys   []PublicKey
		wantID string
	}{
		{"old key only", []PublicKey{ks.ed.Public()}, "ed-1"},
		{"new key only", []PublicKey{ks.ed2.Public()}, "ed-2"},
		{"unnamed, second", []PublicKey{asymOtherEd(t), ks.ed2.Public().withID("")}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := newStandardV1aVerifier(tt.keys, WithClock(asymClock))
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(h, m.Body)
			if err != nil || got.KeyID != tt.wantID {
				t.Fatalf("Verify = %+v, %v; want KeyID %q", got, err, tt.wantID)
			}
		})
	}
}

// asymOtherEd is an Ed25519 public key that signed nothing in these tests.
func asymOtherEd(t *testing.T) PublicKey {
	k, err := NewPublicKey(ed25519.NewKeyFromSeed(make([]byte, 32)).Public(), "")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestStandardV1aFailures(t *testing.T) {
	ks := asymKeys(t)
	signer, err := newStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock))
	if err != nil {
		t.Fatal(err)
	}
	m := asymMsg()
	good := http.Header{}
	if err := signer.Sign(good, m); err != nil {
		t.Fatal(err)
	}
	goodSig := good.Get("webhook-signature")
	ts := good.Get("webhook-timestamp")
	sign := func(id, ts string, body []byte) string {
		sig := ed25519.Sign(ks.ed.Signer().(ed25519.PrivateKey), []byte(id+"."+ts+"."+string(body)))
		return "v1a," + base64.StdEncoding.EncodeToString(sig)
	}
	at := func(d time.Duration) string { return strconv.FormatInt(asymNow.Add(d).Unix(), 10) }

	tests := []struct {
		name string
		edit func(h http.Header) []byte // returns the body to verify
		want error
	}{
		{"tampered body", func(h http.Header) []byte { return []byte(`{"type":"contact.deleted"}`) }, ErrBadSignature},
		{"body one byte longer", func(h http.Header) []byte { return append(append([]byte(nil), m.Body...), ' ') }, ErrBadSignature},
		{"tampered id", func(h http.Header) []byte { h.Set("webhook-id", "msg_other"); return m.Body }, ErrBadSignature},
		{"tampered timestamp", func(h http.Header) []byte { h.Set("webhook-timestamp", at(time.Second)); return m.Body }, ErrBadSignature},
		{"flipped signature bit", func(h http.Header) []byte {
			raw, _ := base64.StdEncoding.DecodeString(goodSig[4:])
			raw[10] ^= 1
			h.Set("webhook-signature", "v1a,"+base64.StdEncoding.EncodeToString(raw))
			return m.Body
		}, ErrBadSignature},
		{"wrong key", func(h http.Header) []byte {
			sig := ed25519.Sign(ks.ed2.Signer().(ed25519.PrivateKey), []byte(m.ID+"."+ts+"."+string(m.Body)))
			h.Set("webhook-signature", "v1a,"+base64.StdEncoding.EncodeToString(sig))
			return m.Body
		}, ErrBadSignature},
		{"expired", func(h http.Header) []byte {
			old := at(-6 * time.Minute)
			h.Set("webhook-timestamp", old)
			h.Set("webhook-signature", sign(m.ID, old, m.Body))
			return m.Body
		}, ErrExpired},
		{"future", func(h http.Header) []byte {
			fut := at(6 * time.Minute)
			h.Set("webhook-timestamp", fut)
			h.Set("webhook-signature", sign(m.ID, fut, m.Body))
			return m.Body
		}, errNotYetValid},
		{"v1 only", func(h http.Header) []byte {
			h.Set("webhook-signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=")
			return m.Body
		}, ErrNoSignature},
		{"v1a signature labelled v1", func(h http.Header) []byte {
			h.Set("webhook-signature", "v1,"+goodSig[4:])
			return m.Body
		}, ErrNoSignature},
		{"no signature header", func(h http.Header) []byte { h.Del("webhook-signature"); return m.Body }, ErrNoSignature},
		{"empty signature header", func(h http.Header) []byte { h.Set("webhook-signature", "  "); return m.Body }, ErrNoSignature},
		{"no id", func(h http.Header) []byte { h.Del("webhook-id"); return m.Body }, ErrMalformed},
		{"no timestamp", func(h http.Header) []byte { h.Del("webhook-timestamp"); return m.Body }, ErrMalformed},
		{"timestamp not digits", func(h http.Header) []byte { h.Set("webhook-timestamp", ts+".5"); return m.Body }, ErrMalformed},
		{"timestamp in ms", func(h http.Header) []byte { h.Set("webhook-timestamp", ts+"000"); return m.Body }, errNotYetValid},
		{"repeated id", func(h http.Header) []byte { h.Add("webhook-id", "x"); return m.Body }, ErrMalformed},
		{"short signature", func(h http.Header) []byte { h.Set("webhook-signature", "v1a,AAAA"); return m.Body }, ErrMalformed},
		// 88 characters of base64 without padding are 66 bytes, 87 and
		// one "=" are 65: more than an Ed25519 signature, from a header of
		// the right length. Once a crash (an index past a 64-byte buffer).
		{"88 base64 characters of 66 bytes", func(h http.Header) []byte {
			h.Set("webhook-signature", "v1a,"+strings.Repeat("A", 88))
			return m.Body
		}, ErrMalformed},
		{"88 base64 characters of 65 bytes", func(h http.Header) []byte {
			h.Set("webhook-signature", "v1a,"+strings.Repeat("A", 87)+"=")
			return m.Body
		}, ErrMalformed},
		{"not base64", func(h http.Header) []byte {
			h.Set("webhook-signature", "v1a,"+strings.Repeat("*", 88))
			return m.Body
		}, ErrMalformed},
		{"too many v1a", func(h http.Header) []byte {
			h.Set("webhook-signature", strings.Repeat("v1a,"+strings.Repeat("A", 86)+"== ", 9))
			return m.Body
		}, ErrMalformed},
		{"oversized header", func(h http.Header) []byte {
			h.Set("webhook-signature", goodSig+" v2,"+strings.Repeat("A", 5000))
			return m.Body
		}, ErrMalformed},
	}
	v, err := newStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := cloneHeader(good)
			body := tt.edit(h)
			got, err := v.Verify(h, body)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify = %+v, %v; want %v", got, err, tt.want)
			}
			if got.Scheme != "" || got.ID != "" || got.KeyID != "" {
				t.Fatalf("failed Verify returned %+v", got)
			}
			if strings.Contains(err.Error(), goodSig[4:20]) {
				t.Fatalf("error reveals a signature: %v", err)
			}
		})
	}
}

func TestStandardV1aAccepts(t *testing.T) {
	ks := asymKeys(t)
	signer, _ := newStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock))
	v, err := newStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock), WithTolerance(10*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	m := asymMsg()
	tests := []struct {
		name string
		edit func(h http.Header)
	}{
		{"v1 and unknown versions around v1a", func(h http.Header) {
			h.Set("webhook-signature", "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4= v2,abc "+h.Get("webhook-signature")+" v3")
		}},
		{"bad v1a before a good one", func(h http.Header) {
			h.Set("webhook-signature", "v1a,"+strings.Repeat("A", 86)+"== "+h.Get("webhook-signature"))
		}},
		{"66-byte v1a before a good one", func(h http.Header) {
			h.Set("webhook-signature", "v1a,"+strings.Repeat("A", 88)+" "+h.Get("webhook-signature"))
		}},
		{"two header values", func(h http.Header) {
			sig := h.Get("webhook-signature")
			h["Webhook-Signature"] = []string{"v1,xyz", sig}
		}},
		{"svix headers", func(h http.Header) {
			for _, n := range []string{"id", "timestamp", "signature"} {
				h.Set("svix-"+n, h.Get("webhook-"+n))
				h.Del("webhook-" + n)
			}
		}},
		{"within widened tolerance", func(h http.Header) {
			m := asymMsg()
			m.Timestamp = asymNow.Add(-9 * time.Minute)
			_ = signer.Sign(h, m)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if err := signer.Sign(h, m); err != nil {
				t.Fatal(err)
			}
			tt.edit(h)
			if got, err := v.Verify(h, m.Body); err != nil || got.ID != m.ID {
				t.Fatalf("Verify = %+v, %v", got, err)
			}
		})
	}
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
	s, _ := newStandardV1a([]PrivateKey{ks.ed})
	for _, id := range []string{"", "has space", strings.Repeat("x", 300)} {
		if err := s.Sign(http.Header{}, Message{ID: id, Body: []byte("x")}); err == nil {
			t.Fatalf("Sign accepted id %q", id)
		}
	}
	// A zero Timestamp means now (the configured clock).
	h := http.Header{}
	s2, _ := newStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock))
	if err := s2.Sign(h, Message{ID: "a", Body: nil}); err != nil || h.Get("webhook-timestamp") != strconv.FormatInt(asymNow.Unix(), 10) {
		t.Fatalf("Sign with zero time: %v %v", err, h)
	}
	if _, err := s2.Verify(h, nil); err != nil {
		t.Fatalf("empty body: %v", err)
	}
}

// TestStandardV1aRefusesPre1970: like v1, v1a refuses to sign a timestamp
// its own verifier would reject as malformed.
func TestStandardV1aRefusesPre1970(t *testing.T) {
	k, err := GeneratePrivateKey(algEdDSA)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newStandardV1a([]PrivateKey{k})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	if err := s.Sign(h, Message{ID: "msg_1", Timestamp: time.Unix(-5, 0), Body: []byte("{}")}); err == nil {
		t.Fatalf("signed a pre-1970 timestamp: %v", h)
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
