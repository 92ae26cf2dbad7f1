package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"testing"
)

const (
	ghVectorSecret = "It's a Secret to Everybody"
	ghVectorBody   = "Hello, World!"
	ghVectorSig    = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
)

func mustHub(t testing.TB, secrets []Secret, opts ...HubOption) *hubScheme {
	t.Helper()
	s, err := newHub(secrets, opts...)
	if err != nil {
		t.Fatalf("NewHub: %v", err)
	}
	return s
}

// hubSigID is the Verified.ID of a Hub header value: "sig:" and the
// SHA-256 of the raw MAC it carries.
func hubSigID(header string) string {
	_, hexMAC, _ := strings.Cut(header, "=")
	mac, err := hex.DecodeString(hexMAC)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(mac)
	return "sig:" + hex.EncodeToString(sum[:])
}

func TestHubVector(t *testing.T) {
	s := mustHub(t, []Secret{NewSecret([]byte(ghVectorSecret))})
	h := http.Header{}
	if err := s.Sign(h, Message{Body: []byte(ghVectorBody)}); err != nil {
		t.Fatal(err)
	}
	if got := h.Get("X-Hub-Signature-256"); got != ghVectorSig {
		t.Fatalf("X-Hub-Signature-256 = %q, want %q", got, ghVectorSig)
	}
	if len(h) != 1 {
		t.Fatalf("Sign without an id set %v", h)
	}
	in := hmHeader("X-Hub-Signature-256", ghVectorSig, "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	v, err := s.Verify(in, []byte(ghVectorBody))
	if err != nil {
		t.Fatal(err)
	}
	// The id is derived from the signature, never from X-GitHub-Delivery,
	// which it does not cover.
	if v.Scheme != schemeHub || v.ID != hubSigID(ghVectorSig) || v.KeyID != "0" || !v.Timestamp.IsZero() {
		t.Fatalf("Verified = %+v, want ID %s", v, hubSigID(ghVectorSig))
	}
}

func TestHubSHA1AndHeaderName(t *testing.T) {
	key := []byte(ghVectorSecret)
	m := hmac.New(sha1.New, key)
	m.Write([]byte(ghVectorBody))
	want := "sha1=" + hex.EncodeToString(m.Sum(nil))

	s := mustHub(t, []Secret{NewSecret(key)}, WithSHA1())
	h := http.Header{}
	if err := s.Sign(h, Message{ID: "d-1", Body: []byte(ghVectorBody)}); err != nil {
		t.Fatal(err)
	}
	if got := h.Get("X-Hub-Signature"); got != want {
		t.Fatalf("X-Hub-Signature = %q, want %q", got, want)
	}
	if h.Get("webhook-id") != "d-1" {
		t.Fatalf("webhook-id = %q", h.Get("webhook-id"))
	}
	v, err := s.Verify(h, []byte(ghVectorBody))
	if err != nil || v.ID != hubSigID(want) {
		t.Fatalf("Verify = %+v, %v", v, err)
	}
	// A sha256 verifier does not accept the sha1 header.
	if _, err := mustHub(t, []Secret{NewSecret(key)}).Verify(h, []byte(ghVectorBody)); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("sha256 verifier on sha1 header: %v", err)
	}

	c := mustHub(t, []Secret{NewSecret(key)}, WithHeaderName("x-custom-signature"))
	h = http.Header{}
	if err := c.Sign(h, Message{Body: []byte(ghVectorBody)}); err != nil {
		t.Fatal(err)
	}
	if got := h.Get("X-Custom-Signature"); got != ghVectorSig {
		t.Fatalf("custom header = %q", got)
	}
	if _, err := c.Verify(h, []byte(ghVectorBody)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"bad header", "x:y", "a\nb", strings.Repeat("x", 200)} {
		if _, err := newHub([]Secret{NewSecret(key)}, WithHeaderName(bad)); err == nil {
			t.Errorf("header name %q accepted", bad)
		}
	}
}

func TestHubVerifyCases(t *testing.T) {
	key := NewSecret([]byte(ghVectorSecret))
	other := hmSecret(4, 32)
	body := []byte(ghVectorBody)
	hexSig := ghVectorSig[len("sha256="):]
	sig := func(v string) http.Header { return hmHeader("X-Hub-Signature-256", v) }
	cases := []struct {
		name  string
		keys  []Secret
		h     http.Header
		body  string
		want  error
		keyID string
		id    string
	}{
		{name: "valid", h: sig(ghVectorSig), keyID: "0", id: hubSigID(ghVectorSig)},
		{name: "tampered body", h: sig(ghVectorSig), body: "Hello, World?", want: ErrBadSignature},
		{name: "wrong key", keys: []Secret{other}, h: sig(ghVectorSig), want: ErrBadSignature},
		{name: "second key", keys: []Secret{other, key}, h: sig(ghVectorSig), keyID: "1", id: hubSigID(ghVectorSig)},
		{name: "missing", h: http.Header{}, want: ErrNoSignature},
		{name: "empty", h: sig(""), want: ErrNoSignature},
		{name: "no prefix", h: sig(hexSig), want: ErrMalformed},
		{name: "sha1 prefix", h: sig("sha1=" + hexSig[:40]), want: ErrMalformed},
		{name: "short hex", h: sig(ghVectorSig[:len(ghVectorSig)-2]), want: ErrMalformed},
		{name: "long hex", h: sig(ghVectorSig + "00"), want: ErrMalformed},
		{name: "uppercase hex", h: sig("sha256=" + strings.ToUpper(hexSig)), want: ErrBadSignature},
		{name: "garbage", h: sig("sha256=" + strings.Repeat("zz", 32)), want: ErrBadSignature},
		{name: "huge", h: sig("sha256=" + strings.Repeat("a", 10000)), want: ErrMalformed},
		{name: "repeated", h: func() http.Header { h := sig(ghVectorSig); h.Add("X-Hub-Signature-256", ghVectorSig); return h }(), want: ErrMalformed},
		{name: "unsigned ids ignored", h: hmHeader("X-Hub-Signature-256", ghVectorSig, "webhook-id", "w", "X-GitHub-Delivery", "g"), keyID: "0", id: hubSigID(ghVectorSig)},
		{name: "huge unsigned id ignored", h: hmHeader("X-Hub-Signature-256", ghVectorSig, "X-GitHub-Delivery", strings.Repeat("g", 300)), keyID: "0", id: hubSigID(ghVectorSig)},
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
			v, err := mustHub(t, keys).Verify(c.h, b)
			hmWantErr(t, err, c.want)
			if err != nil {
				hmNoLeak(t, err.Error(), ghVectorSecret, hexSig)
				return
			}
			if v.KeyID != c.keyID || v.ID != c.id {
				t.Fatalf("Verified = %+v, want KeyID %q ID %q", v, c.keyID, c.id)
			}
		})
	}
}

func TestHubRotation(t *testing.T) {
	oldK, newK := hmSecret(5, 20), hmSecret(6, 20)
	h := http.Header{}
	body := []byte("hub rotation")
	if err := mustHub(t, []Secret{newK, oldK}).Sign(h, Message{Body: body}); err != nil {
		t.Fatal(err)
	}
	if vals := h["X-Hub-Signature-256"]; len(vals) != 1 {
		t.Fatalf("%d header values, want one (first secret only)", len(vals))
	}
	if _, err := mustHub(t, []Secret{newK}).Verify(h, body); err != nil {
		t.Fatalf("new-only verifier: %v", err)
	}
	if _, err := mustHub(t, []Secret{oldK}).Verify(h, body); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("old-only verifier: %v, want ErrBadSignature (Hub signs with the first secret)", err)
	}
	v, err := mustHub(t, []Secret{oldK, newK}).Verify(h, body)
	if err != nil || v.KeyID != "1" {
		t.Fatalf("old+new verifier: %+v, %v", v, err)
	}
}

func TestNewHubRefuses(t *testing.T) {
	for name, secrets := range map[string][]Secret{
		"nil": nil, "short": {hmSecret(1, 15)}, "one short": {hmSecret(1, 16), hmSecret(1, 3)},
	} {
		if _, err := newHub(secrets); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %v, want ErrBadKey", name, err)
		}
	}
	s := mustHub(t, []Secret{hmSecret(1, 16)})
	if err := s.Sign(http.Header{}, Message{ID: "bad id"}); err == nil {
		t.Fatal("Sign accepted an id with a space")
	}
}
