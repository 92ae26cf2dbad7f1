package auth

import (
	"crypto/sha1"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHubVector(t *testing.T) {
	s := must(NewHub([]Secret{NewSecret([]byte(ghVectorSecret))}))(t)
	h := signed(t, s, Message{Body: []byte(ghVectorBody)})
	if got := h.Get("X-Hub-Signature-256"); got != ghVectorSig {
		t.Fatalf("X-Hub-Signature-256 = %q, want %q", got, ghVectorSig)
	}
	if len(h) != 1 {
		t.Fatalf("Sign without an id set %v", h)
	}
	in := hmHeader("X-Hub-Signature-256", ghVectorSig, "X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	v := must(s.Verify(in, []byte(ghVectorBody)))(t)
	// The id is derived from the signature, never from X-GitHub-Delivery,
	// which it does not cover.
	if v.Scheme != schemeHub || v.ID != hubSigID(ghVectorSig) || v.KeyID != "0" || !v.Timestamp.IsZero() {
		t.Fatalf("Verified = %+v, want ID %s", v, hubSigID(ghVectorSig))
	}
}

func TestHubSHA1AndHeaderName(t *testing.T) {
	key := []byte(ghVectorSecret)
	want := refHubWith(sha1.New, "sha1=", key, []byte(ghVectorBody))

	s := must(NewHub([]Secret{NewSecret(key)}, WithSHA1()))(t)
	h := signed(t, s, Message{ID: "d-1", Body: []byte(ghVectorBody)})
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
	if _, err := must(NewHub([]Secret{NewSecret(key)}))(t).Verify(h, []byte(ghVectorBody)); !errors.Is(err, ErrNoSignature) {
		t.Fatalf("sha256 verifier on sha1 header: %v", err)
	}

	c := must(NewHub([]Secret{NewSecret(key)}, WithHeaderName("x-custom-signature")))(t)
	h = signed(t, c, Message{Body: []byte(ghVectorBody)})
	if got := h.Get("X-Custom-Signature"); got != ghVectorSig {
		t.Fatalf("custom header = %q", got)
	}
	if _, err := c.Verify(h, []byte(ghVectorBody)); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"bad header", "x:y", "a\nb", strings.Repeat("x", 200)} {
		if _, err := NewHub([]Secret{NewSecret(key)}, WithHeaderName(bad)); err == nil {
			t.Errorf("header name %q accepted", bad)
		}
	}
}

// TestHubVerifyCases checks what only Hub refuses or accepts; the
// refusals of every scheme are in TestKeyedSchemesVerify.
func TestHubVerifyCases(t *testing.T) {
	keys := []Secret{NewSecret([]byte(ghVectorSecret)), hmSecret(4, 32)}
	hexSig := ghVectorSig[len("sha256="):]
	sig := func(v ...string) http.Header { return http.Header{"X-Hub-Signature-256": v} }
	verifyRun{
		scheme:   schemeHub,
		id:       func(http.Header) string { return hubSigID(ghVectorSig) },
		body:     []byte(ghVectorBody),
		verifier: func(t testing.TB, _ time.Duration, idx ...int) scheme { return must(NewHub(pick(keys, idx)))(t) },
		secrets:  []string{ghVectorSecret, hexSig},
	}.run(t, []verifyCase{
		{name: "valid", h: sig(ghVectorSig), keyID: "0"},
		{name: "no prefix", h: sig(hexSig), want: ErrMalformed},
		{name: "sha1 prefix", h: sig("sha1=" + hexSig[:40]), want: ErrMalformed},
		{name: "short hex", h: sig(ghVectorSig[:len(ghVectorSig)-2]), want: ErrMalformed},
		{name: "long hex", h: sig(ghVectorSig + "00"), want: ErrMalformed},
		{name: "uppercase hex", h: sig("sha256=" + strings.ToUpper(hexSig)), want: ErrBadSignature},
		{name: "garbage", h: sig("sha256=" + strings.Repeat("zz", 32)), want: ErrBadSignature},
		{name: "repeated", h: sig(ghVectorSig, ghVectorSig), want: ErrMalformed},
		{name: "unsigned ids ignored", h: hmHeader("X-Hub-Signature-256", ghVectorSig, "webhook-id", "w", "X-GitHub-Delivery", "g"), keyID: "0"},
		{name: "huge unsigned id ignored", h: hmHeader("X-Hub-Signature-256", ghVectorSig, "X-GitHub-Delivery", strings.Repeat("g", 300)), keyID: "0"},
	})
}
