package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func svVectorSecret(t testing.TB) Secret {
	t.Helper()
	k, err := ParseStandardSecret(svVectorKey)
	if err != nil {
		t.Fatalf("ParseStandardSecret: %v", err)
	}
	return k
}

func TestStandardVector(t *testing.T) {
	s := must(newStandard([]Secret{svVectorSecret(t)}, WithClock(hmClock)))(t)
	h := signed(t, s, Message{ID: svVectorID, Body: []byte(svVectorBody)})
	if got := h.Get("webhook-signature"); got != svVectorSig {
		t.Fatalf("webhook-signature = %q, want %q", got, svVectorSig)
	}
	if got := h.Get("webhook-id"); got != svVectorID {
		t.Fatalf("webhook-id = %q", got)
	}
	if got := h.Get("webhook-timestamp"); got != strconv.Itoa(svVectorTS) {
		t.Fatalf("webhook-timestamp = %q", got)
	}
	// The published headers, written by hand, verify; under both header
	// families.
	for _, prefix := range []string{"webhook-", "svix-"} {
		in := hmHeader(prefix+"id", svVectorID, prefix+"timestamp", strconv.Itoa(svVectorTS), prefix+"signature", svVectorSig)
		v, err := s.Verify(in, []byte(svVectorBody))
		if err != nil {
			t.Fatalf("%s: Verify: %v", prefix, err)
		}
		want := Verified{Scheme: schemeStandard, ID: svVectorID, Timestamp: hmTime, KeyID: "0"}
		if v.Scheme != want.Scheme || v.ID != want.ID || !v.Timestamp.Equal(want.Timestamp) || v.KeyID != want.KeyID || v.Claims != nil {
			t.Fatalf("%s: Verified = %+v, want %+v", prefix, v, want)
		}
	}
	// m.Timestamp wins over the clock.
	h = http.Header{}
	ts := hmTime.Add(-time.Minute)
	if err := s.Sign(h, Message{ID: "x", Timestamp: ts, Body: nil}); err != nil {
		t.Fatal(err)
	}
	if got := h.Get("webhook-timestamp"); got != strconv.FormatInt(ts.Unix(), 10) {
		t.Fatalf("webhook-timestamp = %q, want m.Timestamp", got)
	}
	if got, want := h.Get("webhook-signature"), refStandard(svVectorSecret(t).Bytes(), "x", h.Get("webhook-timestamp"), nil); got != want {
		t.Fatalf("signature %q, reference %q", got, want)
	}
}

// TestStandardVerifyCases checks the published vector against the cases of
// the Standard family and those only v1 has; the refusals of every scheme
// are in TestKeyedSchemesVerify.
func TestStandardVerifyCases(t *testing.T) {
	keys := []Secret{svVectorSecret(t), hmSecret(9, 32)}
	good := hmHeader("webhook-id", svVectorID, "webhook-timestamp", strconv.Itoa(svVectorTS), "webhook-signature", svVectorSig)
	sig := func(v string) http.Header {
		return editHeader(good, func(h http.Header) { h.Set("webhook-signature", v) })
	}
	verifyRun{
		scheme: schemeStandard,
		id:     func(http.Header) string { return svVectorID },
		body:   []byte(svVectorBody),
		verifier: func(t testing.TB, _ time.Duration, idx ...int) scheme {
			return must(newStandard(pick(keys, idx), WithClock(hmClock)))(t)
		},
		secrets: []string{svVectorKey, svVectorKey[6:], svVectorSig[3:], string(keys[0].Bytes())},
	}.run(t, append(standardFamilyCases(good, "0"), []verifyCase{
		{name: "valid", h: good, keyID: "0"},
		{name: "v1 garbage", h: sig("v1,not-base64!"), want: ErrBadSignature},
		{name: "v1 empty", h: sig("v1,"), want: ErrBadSignature},
		{name: "only unknown versions", h: sig("v1a," + svVectorSig[3:] + " v2," + svVectorSig[3:]), want: ErrNoSignature},
	}...))
}

func TestStandardResignReusesHeader(t *testing.T) {
	key := hmSecret(1, 32)
	now := hmTime
	s := must(newStandard([]Secret{key}, WithClock(func() time.Time { return now })))(t)
	h := http.Header{}
	body := []byte("again")
	for i := range 3 {
		now = hmTime.Add(time.Duration(i) * time.Second)
		if err := s.Sign(h, Message{ID: "msg_" + strconv.Itoa(i), Body: body}); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
			if len(h[k]) != 1 {
				t.Fatalf("attempt %d: %s has %d values", i, k, len(h[k]))
			}
		}
		ts := strconv.FormatInt(now.Unix(), 10)
		if h.Get("webhook-timestamp") != ts || h.Get("webhook-signature") != refStandard(key.Bytes(), "msg_"+strconv.Itoa(i), ts, body) {
			t.Fatalf("attempt %d: stale headers %v", i, h)
		}
		if _, err := s.Verify(h, body); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
}

func TestStandardConcurrent(t *testing.T) {
	s := must(newStandard([]Secret{hmSecret(1, 32), hmSecret(2, 40)}, WithClock(hmClock)))(t)
	done := make(chan error)
	for g := range 8 {
		go func() {
			var err error
			for i := 0; i < 200 && err == nil; i++ {
				h := http.Header{}
				body := []byte(strings.Repeat("b", g*i))
				id := "msg_" + strconv.Itoa(g) + "_" + strconv.Itoa(i)
				if err = s.Sign(h, Message{ID: id, Body: body}); err == nil {
					var v Verified
					v, err = s.Verify(h, body)
					if err == nil && v.ID != id {
						err = errors.New("wrong id " + v.ID)
					}
				}
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
