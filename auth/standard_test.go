package auth

// The tests of Standard Webhooks: v1 (HMAC) and v1a (Ed25519), which read
// the same headers and answer the requests of standardFamilyCases alike.
// What they share with Hub and Stripe is in schemes_test.go.

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

func svVectorSecret(t testing.TB) Secret {
	t.Helper()
	k, err := ParseStandardSecret(svVectorKey)
	if err != nil {
		t.Fatalf("ParseStandardSecret: %v", err)
	}
	return k
}

func TestStandardVector(t *testing.T) {
	s := must(NewStandard([]Secret{svVectorSecret(t)}, WithClock(hmClock)))(t)
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
			return must(NewStandard(pick(keys, idx), WithClock(hmClock)))(t)
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
	s := must(NewStandard([]Secret{key}, WithClock(func() time.Time { return now })))(t)
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
	s := must(NewStandard([]Secret{hmSecret(1, 32), hmSecret(2, 40)}, WithClock(hmClock)))(t)
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

// standardFamilyCases are the requests that Standard v1 and v1a, which read
// the same headers (readStandardHeaders), answer alike. good is a request
// signed by key 0 that verifies with keyID; the cases change its headers.
func standardFamilyCases(good http.Header, keyID string) []verifyCase {
	with := func(kv ...string) http.Header {
		return editHeader(good, func(h http.Header) {
			for i := 0; i+1 < len(kv); i += 2 {
				h.Set(kv[i], kv[i+1])
			}
		})
	}
	without := func(k string) http.Header { return editHeader(good, func(h http.Header) { h.Del(k) }) }
	id, ts, sig := good.Get("webhook-id"), good.Get("webhook-timestamp"), good.Get("webhook-signature")
	unix, _ := strconv.ParseInt(ts, 10, 64)
	version, _, _ := strings.Cut(sig, ",")
	return []verifyCase{
		{name: "tampered id", h: with("webhook-id", id+"x"), want: ErrBadSignature},
		{name: "tampered timestamp", h: with("webhook-timestamp", strconv.FormatInt(unix+1, 10)), want: ErrBadSignature},
		{name: "leading zero timestamp", h: with("webhook-timestamp", "0"+ts), want: ErrBadSignature},
		{name: "timestamp in ms", h: with("webhook-timestamp", ts+"000"), want: errNotYetValid},
		{name: "no headers", h: http.Header{}, want: ErrNoSignature},
		{name: "missing id", h: without("webhook-id"), want: ErrMalformed},
		{name: "empty id", h: with("webhook-id", ""), want: ErrMalformed},
		{name: "huge id", h: with("webhook-id", strings.Repeat("a", maxIDLen+1)), want: ErrMalformed},
		{name: "repeated id", h: editHeader(good, func(h http.Header) { h.Add("webhook-id", "msg_other") }), want: ErrMalformed},
		{name: "missing timestamp", h: without("webhook-timestamp"), want: ErrMalformed},
		{name: "garbage timestamp", h: with("webhook-timestamp", "yesterday"), want: ErrMalformed},
		{name: "negative timestamp", h: with("webhook-timestamp", "-"+ts), want: ErrMalformed},
		{name: "fractional timestamp", h: with("webhook-timestamp", ts+".5"), want: ErrMalformed},
		{name: "huge timestamp", h: with("webhook-timestamp", strings.Repeat("9", 19)), want: ErrMalformed},
		{name: "overlong timestamp", h: with("webhook-timestamp", strings.Repeat("1", 40)), want: ErrMalformed},
		{name: "garbage signature", h: with("webhook-signature", "\x00\xff,,, v1"), want: ErrNoSignature},
		{name: "uppercase version", h: with("webhook-signature", strings.ToUpper(version)+sig[len(version):]), want: ErrNoSignature},
		{name: "unknown versions ignored", h: with("webhook-signature", "v2,abc v1a,def   "+sig+" v0,zzz"), keyID: keyID},
		{name: "signature split over header values", h: editHeader(good, func(h http.Header) {
			h["Webhook-Signature"] = []string{"v1,bm9wZQ==", sig}
		}), keyID: keyID},
		{name: "svix headers", h: hmHeader("svix-id", id, "svix-timestamp", ts, "svix-signature", sig), keyID: keyID},
		{name: "mixed families are not merged", h: hmHeader("webhook-id", id, "svix-timestamp", ts, "svix-signature", sig), want: ErrNoSignature},
	}
}

func TestCutSignature(t *testing.T) {
	var got []string
	for v, sig, rest, ok := cutSignature("  v1,a\tv1a,b  nocomma v2,c,d "); ok; v, sig, rest, ok = cutSignature(rest) {
		got = append(got, v+"|"+sig)
	}
	want := "v1|a v1a|b |nocomma v2|c,d"
	if strings.Join(got, " ") != want {
		t.Fatalf("tokens = %q, want %q", strings.Join(got, " "), want)
	}
	if _, _, _, ok := cutSignature("   "); ok {
		t.Fatal("blank header yielded a token")
	}
}

func TestStandardV1aRoundTrip(t *testing.T) {
	ks := asymKeys(t)
	s := must(NewStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock)))(t)
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

	v := must(NewStandardV1aVerifier([]PublicKey{ks.ed.Public()}, WithClock(asymClock)))(t)
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
	if _, err := NewStandardV1a(nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("no keys: %v", err)
	}
	if _, err := NewStandardV1a([]PrivateKey{ks.ed, ks.ec}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("ECDSA key: %v", err)
	}
	if _, err := NewStandardV1a([]PrivateKey{{}}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("zero key: %v", err)
	}
	if _, err := NewStandardV1aVerifier(nil); !errors.Is(err, ErrBadKey) {
		t.Fatalf("no public keys: %v", err)
	}
	if _, err := NewStandardV1aVerifier([]PublicKey{ks.rsa.Public()}); !errors.Is(err, ErrBadKey) {
		t.Fatalf("RSA key: %v", err)
	}
	// A zero Timestamp means now (the configured clock).
	s := must(NewStandardV1a([]PrivateKey{ks.ed}, WithClock(asymClock)))(t)
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
