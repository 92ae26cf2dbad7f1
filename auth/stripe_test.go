package auth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestStripeVector(t *testing.T) {
	key := []byte(stVectorSecret)
	if want := "t=" + strconv.Itoa(svVectorTS) + ",v1=" + refStripe(key, strconv.Itoa(svVectorTS), []byte(stVectorBody)); want != stVectorHeader {
		t.Fatalf("reference HMAC %q disagrees with stripe-node %q", want, stVectorHeader)
	}
	s := must(NewStripe([]Secret{NewSecret(key)}, WithClock(hmClock)))(t)
	h := signed(t, s, Message{Body: []byte(stVectorBody)})
	if got := h.Get("Stripe-Signature"); got != stVectorHeader {
		t.Fatalf("Stripe-Signature = %q, want %q", got, stVectorHeader)
	}
	if len(h) != 1 {
		t.Fatalf("Sign without id set %v", h)
	}
	v := must(s.Verify(hmHeader("Stripe-Signature", stVectorHeader), []byte(stVectorBody)))(t)
	if v.Scheme != schemeStripe || v.KeyID != "0" || v.ID != hubSigID(stVectorHeader[strings.Index(stVectorHeader, "v1="):]) || !v.Timestamp.Equal(hmTime) {
		t.Fatalf("Verified = %+v", v)
	}
	// With an id and a custom header name.
	c := must(NewStripe([]Secret{NewSecret(key)}, WithClock(hmClock), WithHeaderName("X-Signature")))(t)
	h = signed(t, c, Message{ID: "evt_1", Body: []byte(stVectorBody)})
	if h.Get("X-Signature") != stVectorHeader || h.Get("webhook-id") != "evt_1" || h.Get("Stripe-Signature") != "" {
		t.Fatalf("custom header: %v", h)
	}
	// webhook-id is not signed: the id still comes from the signature.
	if v, err := c.Verify(h, []byte(stVectorBody)); err != nil || v.ID != hubSigID(stVectorHeader[strings.Index(stVectorHeader, "v1="):]) {
		t.Fatalf("custom header Verify = %+v, %v", v, err)
	}
	if _, err := NewStripe([]Secret{hmSecret(1, 16)}, WithHeaderName("no spaces allowed")); err == nil {
		t.Fatal("bad header name accepted")
	}
}

// TestStripeVerifyCases checks what only Stripe refuses or accepts; the
// refusals of every scheme are in TestKeyedSchemesVerify.
func TestStripeVerifyCases(t *testing.T) {
	keys := []Secret{NewSecret([]byte(stVectorSecret)), hmSecret(7, 32)}
	v1 := stVectorHeader[strings.Index(stVectorHeader, "v1="):]
	tsNow := strconv.Itoa(svVectorTS)
	sig := func(v ...string) http.Header { return http.Header{"Stripe-Signature": v} }
	// Whatever else the header holds, the id is that of the v1 signature
	// that matched.
	verifyRun{
		scheme: schemeStripe,
		id:     func(http.Header) string { return hubSigID(v1) },
		body:   []byte(stVectorBody),
		verifier: func(t testing.TB, _ time.Duration, idx ...int) scheme {
			return must(NewStripe(pick(keys, idx), WithClock(hmClock)))(t)
		},
		secrets: []string{stVectorSecret, v1[3:]},
	}.run(t, []verifyCase{
		{name: "valid", h: sig(stVectorHeader), keyID: "0"},
		{name: "v0 and unknown keys ignored", h: sig("t=" + tsNow + ",v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39,scheme=x," + v1), keyID: "0"},
		{name: "spaces tolerated", h: sig(" t=" + tsNow + " , " + v1 + " "), keyID: "0"},
		{name: "v1 order", h: sig(v1 + ",t=" + tsNow), keyID: "0"},
		{name: "one of several v1", h: sig("t=" + tsNow + ",v1=" + strings.Repeat("0", 64) + "," + v1), keyID: "0"},
		{name: "tampered t", h: sig("t=" + strconv.Itoa(svVectorTS+1) + "," + v1), want: ErrBadSignature},
		{name: "uppercase hex", h: sig("t=" + tsNow + ",v1=" + strings.ToUpper(v1[3:])), want: ErrBadSignature},
		{name: "only v0", h: sig("t=" + tsNow + ",v0=" + v1[3:]), want: ErrNoSignature},
		{name: "no t", h: sig(v1), want: ErrMalformed},
		{name: "two t", h: sig("t=" + tsNow + ",t=" + tsNow + "," + v1), want: ErrMalformed},
		{name: "garbage t", h: sig("t=soon," + v1), want: ErrMalformed},
		{name: "negative t", h: sig("t=-5," + v1), want: ErrMalformed},
		{name: "item without =", h: sig("t=" + tsNow + ",garbage," + v1), want: ErrMalformed},
		{name: "repeated header", h: sig(stVectorHeader, stVectorHeader), want: ErrMalformed},
		{name: "huge unsigned webhook-id ignored", h: hmHeader("Stripe-Signature", stVectorHeader, "webhook-id", strings.Repeat("i", 300)), keyID: "0"},
	})
}
