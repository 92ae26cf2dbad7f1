package auth

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

// TestHMACSecretRedaction checks that HMAC secrets never print, and that
// errors from bad input or wrong keys never carry a secret or an expected
// signature.
func TestHMACSecretRedaction(t *testing.T) {
	key := svVectorSecret(t)
	raw := string(key.Bytes())
	text := svVectorKey[len("whsec_"):]
	holder := struct {
		Key  Secret
		Keys []Secret
	}{key, []Secret{key}}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d"} {
		outs = append(outs, fmt.Sprintf(verb, key), fmt.Sprintf(verb, holder), fmt.Sprintf(verb, &holder))
	}
	js := must(json.Marshal(holder))(t)
	outs = append(outs, string(js))
	var logs bytes.Buffer
	lg := slog.New(slog.NewJSONHandler(&logs, nil))
	lg.Info("k", "secret", key, "holder", holder)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("k", "secret", key)
	outs = append(outs, logs.String())

	s := must(NewStandard([]Secret{key}, WithClock(hmClock)))(t)
	outs = append(outs, fmt.Sprintf("%v %+v %#v", s, s, *s))
	hub := must(NewHub([]Secret{key}))(t)
	st := must(NewStripe([]Secret{key}, WithClock(hmClock)))(t)
	outs = append(outs, fmt.Sprintf("%+v %#v %+v %#v", hub, *hub, st, *st))

	// Errors from wrong signatures, with the expected ones at hand.
	h := http.Header{}
	body := []byte(svVectorBody)
	_ = s.Sign(h, Message{ID: svVectorID, Body: body})
	stdSig := h.Get("webhook-signature")[3:]
	_ = hub.Sign(h, Message{Body: body})
	hubSig := h.Get("X-Hub-Signature-256")[7:]
	_ = st.Sign(h, Message{Body: body})
	stripeSig := h.Get("Stripe-Signature")[strings.Index(h.Get("Stripe-Signature"), "v1=")+3:]
	for _, v := range []Verifier{s, hub, st} {
		_, err := v.Verify(h, []byte("other body"))
		if err == nil {
			t.Fatalf("%T verified a tampered body", v)
		}
		outs = append(outs, err.Error(), fmt.Sprintf("%+v %#v", err, err))
	}
	// Errors from constructors and parsers given key-like input.
	for _, in := range []string{text + "!", "whsk_" + text, "v1," + text, svVectorKey + svVectorKey} {
		_, err := ParseStandardSecret(in)
		outs = append(outs, err.Error())
	}
	_, err := NewStandard([]Secret{NewSecret([]byte("short-secret-value"))})
	outs = append(outs, err.Error())

	for _, o := range outs {
		noLeak(t, o, raw, text, stdSig, hubSig, stripeSig, "short-secret-value")
		noLeak(t, o, fmt.Sprintf("%x", key.Bytes()), fmt.Sprint(key.Bytes()))
	}
	if !strings.Contains(outs[0], "[redacted]") {
		t.Fatalf("%%v printed %q", outs[0])
	}
}

// TestHMACAllocs pins the allocation budget of the hot paths: at most two
// per Sign (re-using the header map, as sender does per attempt) and per
// Verify. AllocsPerRun counts, it does not time.
func TestHMACAllocs(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1024)
	s := must(NewStandard([]Secret{hmSecret(1, 32)}, WithClock(hmClock)))(t)
	hub := must(NewHub([]Secret{hmSecret(1, 32)}))(t)
	st := must(NewStripe([]Secret{hmSecret(1, 32)}, WithClock(hmClock)))(t)
	for _, c := range []struct {
		name string
		sv   interface {
			Signer
			Verifier
		}
	}{{"standard", s}, {"hub", hub}, {"stripe", st}} {
		h := http.Header{}
		m := Message{ID: "msg_2ZPcQ5cQ0ZGJ7aWNGQkZ9mXyAbC", Body: body}
		if err := c.sv.Sign(h, m); err != nil {
			t.Fatal(err)
		}
		signAllocs := testing.AllocsPerRun(200, func() { _ = c.sv.Sign(h, m) })
		verifyAllocs := testing.AllocsPerRun(200, func() {
			if _, err := c.sv.Verify(h, body); err != nil {
				t.Fatal(err)
			}
		})
		if signAllocs > 2+hmAllocSlack || verifyAllocs > 2+hmAllocSlack {
			t.Errorf("%s: %.0f allocs per Sign, %.0f per Verify; want <= 2", c.name, signAllocs, verifyAllocs)
		}
		t.Logf("%s: %.0f allocs per Sign, %.0f per Verify", c.name, signAllocs, verifyAllocs)
	}
}

// TestStandardSignFreshHeaderAllocs checks that a Standard signer sets its
// three headers on an empty header map (as sender gives it per attempt)
// with one allocation for all three, beside the one for the values: the
// header pre-fill sender used to do itself, now inside auth.
func TestStandardSignFreshHeaderAllocs(t *testing.T) {
	s := must(NewStandard([]Secret{hmSecret(1, 32)}, WithClock(hmClock)))(t)
	m := Message{ID: "msg_2ZPcQ5cQ0ZGJ7aWNGQkZ9mXyAbC", Body: []byte("{}")}
	h := make(http.Header, 8)
	allocs := testing.AllocsPerRun(200, func() {
		clear(h)
		if err := s.Sign(h, m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2+hmAllocSlack {
		t.Errorf("%.0f allocs per Sign on an empty header map, want <= 2", allocs)
	}
	for _, k := range []string{HeaderWebhookID, HeaderWebhookTimestamp, HeaderWebhookSignature} {
		if len(h[k]) != 1 || h[k][0] == "" {
			t.Errorf("%s = %q, want one value", k, h[k])
		}
	}
	if _, err := s.Verify(h, m.Body); err != nil {
		t.Fatal(err)
	}
}
