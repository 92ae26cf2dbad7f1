package auth

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// hmMutateString returns s with the byte at pos (mod len) XORed with a
// non-zero mask, so the result always differs from s.
func hmMutateString(s string, pos uint16, mask byte) string {
	if s == "" {
		return s
	}
	if mask == 0 {
		mask = 1
	}
	b := []byte(s)
	b[int(pos)%len(b)] ^= mask
	return string(b)
}

func hmMutateBytes(b []byte, pos uint16, mask byte) []byte {
	if mask == 0 {
		mask = 1
	}
	if len(b) == 0 {
		return []byte{mask}
	}
	c := bytes.Clone(b)
	c[int(pos)%len(c)] ^= mask
	return c
}

func FuzzStandardVerify(f *testing.F) {
	f.Add(svVectorID, strconv.Itoa(svVectorTS), svVectorSig, []byte(svVectorBody), uint16(0), byte(1))
	f.Add("msg_1", "1614265330", "v1a,abc v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", []byte("{}"), uint16(47), byte(0x20))
	f.Add("", "", "", []byte(nil), uint16(3), byte(0x80))
	f.Add("id", "-1", "v1,,,, v1 ,", []byte("x"), uint16(9), byte(0xff))
	key := svVectorSecret(f)
	s := must(NewStandard([]Secret{key}, WithClock(hmClock)))(f)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, pos uint16, mask byte) {
		// Arbitrary headers: no panic, and success only with a genuine signature.
		h := http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
		if v, err := s.Verify(h, body); err == nil {
			ref := refStandard(key.Bytes(), id, ts, body)
			if !strings.Contains(" "+sig+" ", " "+ref+" ") && !strings.Contains(sig, ref) {
				t.Fatalf("verified without the genuine signature: %q", sig)
			}
			if v.ID != id || v.Scheme != schemeStandard {
				t.Fatalf("Verified = %+v", v)
			}
		}
		// A genuine signature verifies; any one-byte change to the
		// signature header or the body does not.
		hs := http.Header{}
		if err := s.Sign(hs, Message{ID: id, Body: body}); err != nil {
			return // id not sendable
		}
		hmFuzzMutations(t, s, hs, "webhook-signature", body, pos, mask)
	})
}

// hmFuzzMutations checks that h, signed for body, verifies with s, and that
// neither the signature header key nor the body, changed at pos by mask,
// does.
func hmFuzzMutations(t *testing.T, s Verifier, h http.Header, key string, body []byte, pos uint16, mask byte) {
	t.Helper()
	if _, err := s.Verify(h, body); err != nil {
		t.Fatalf("genuine signature refused: %v", err)
	}
	good := h.Get(key)
	h.Set(key, hmMutateString(good, pos, mask))
	if _, err := s.Verify(h, body); err == nil {
		t.Fatalf("mutated signature %q verified", h.Get(key))
	}
	h.Set(key, good)
	if _, err := s.Verify(h, hmMutateBytes(body, pos, mask)); err == nil {
		t.Fatal("mutated body verified")
	}
}

func FuzzHubVerify(f *testing.F) {
	f.Add(ghVectorSig, []byte(ghVectorBody), uint16(0), byte(1))
	f.Add("sha256=", []byte(""), uint16(10), byte(0x20))
	f.Add("sha1=0123456789abcdef0123456789abcdef01234567", []byte("x"), uint16(70), byte(0xff))
	s := must(NewHub([]Secret{NewSecret([]byte(ghVectorSecret))}))(f)
	f.Fuzz(func(t *testing.T, sig string, body []byte, pos uint16, mask byte) {
		h := http.Header{"X-Hub-Signature-256": {sig}}
		if _, err := s.Verify(h, body); err == nil {
			hs := http.Header{}
			_ = s.Sign(hs, Message{Body: body})
			if hs.Get("X-Hub-Signature-256") != sig {
				t.Fatalf("verified without the genuine signature: %q", sig)
			}
		}
		hmFuzzMutations(t, s, signed(t, s, Message{Body: body}), "X-Hub-Signature-256", body, pos, mask)
	})
}

func FuzzStripeVerify(f *testing.F) {
	f.Add(stVectorHeader, []byte(stVectorBody), uint16(0), byte(1))
	f.Add("t=1614265330,v0=abc,v1=", []byte("{}"), uint16(12), byte(0x20))
	f.Add("t=,t=,,v1=,=", []byte(nil), uint16(3), byte(0xff))
	key := NewSecret([]byte(stVectorSecret))
	s := must(NewStripe([]Secret{key}, WithClock(hmClock)))(f)
	f.Fuzz(func(t *testing.T, sig string, body []byte, pos uint16, mask byte) {
		h := http.Header{"Stripe-Signature": {sig}}
		if v, err := s.Verify(h, body); err == nil {
			ts := strconv.FormatInt(v.Timestamp.Unix(), 10)
			if !strings.Contains(sig, "v1="+refStripe(key.Bytes(), ts, body)) {
				t.Fatalf("verified without the genuine signature: %q", sig)
			}
		}
		hmFuzzMutations(t, s, signed(t, s, Message{Body: body}), "Stripe-Signature", body, pos, mask)
	})
}

func FuzzParseStandardSecret(f *testing.F) {
	for _, s := range []string{svVectorKey, svVectorKey[6:], svVectorSig, "whsk_AAAA", "whsec_", "whsec_====", "", " whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseStandardSecret(in)
		if err != nil {
			if s.size() != 0 {
				t.Fatal("error with a non-empty secret")
			}
			// Error text never repeats a key-like input.
			if trimmed := strings.TrimSpace(in); len(trimmed) >= 16 && strings.Trim(trimmed, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_") == "" {
				noLeak(t, err.Error(), trimmed)
			}
			return
		}
		if s.size() < minStandardSecretLen || s.size() > maxStandardSecretLen {
			t.Fatalf("accepted a %d-byte secret", s.size())
		}
		back, err := ParseStandardSecret(FormatStandardSecret(s))
		if err != nil || !bytes.Equal(back.Bytes(), s.Bytes()) {
			t.Fatalf("format/parse round trip failed: %v", err)
		}
		if _, err := NewStandard([]Secret{s}); err != nil {
			t.Fatalf("parsed secret refused by NewStandard: %v", err)
		}
	})
}
