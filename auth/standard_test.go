package auth

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustStandard(t testing.TB, secrets []Secret, opts ...StandardOption) *standardScheme {
	t.Helper()
	s, err := newStandard(secrets, opts...)
	if err != nil {
		t.Fatalf("NewStandard: %v", err)
	}
	return s
}

func svVectorSecret(t testing.TB) Secret {
	t.Helper()
	k, err := ParseStandardSecret(svVectorKey)
	if err != nil {
		t.Fatalf("ParseStandardSecret: %v", err)
	}
	return k
}

func TestStandardVector(t *testing.T) {
	s := mustStandard(t, []Secret{svVectorSecret(t)}, WithClock(hmClock))
	h := http.Header{}
	if err := s.Sign(h, Message{ID: svVectorID, Body: []byte(svVectorBody)}); err != nil {
		t.Fatal(err)
	}
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

func TestStandardVerifyCases(t *testing.T) {
	key := svVectorSecret(t)
	other := hmSecret(9, 32)
	tsNow := strconv.Itoa(svVectorTS)
	good := func() http.Header {
		return hmHeader("webhook-id", svVectorID, "webhook-timestamp", tsNow, "webhook-signature", svVectorSig)
	}
	with := func(k, v string) http.Header { h := good(); h.Set(k, v); return h }
	without := func(k string) http.Header { h := good(); h.Del(k); return h }
	signedAt := func(ts time.Time) http.Header {
		h := http.Header{}
		s := mustStandard(t, []Secret{key}, WithClock(func() time.Time { return ts }))
		if err := s.Sign(h, Message{ID: svVectorID, Body: []byte(svVectorBody)}); err != nil {
			t.Fatal(err)
		}
		return h
	}
	body := []byte(svVectorBody)
	cases := []struct {
		name   string
		keys   []Secret
		h      http.Header
		body   []byte
		want   error
		keyID  string
		tolOpt time.Duration
	}{
		{name: "valid", h: good(), want: nil, keyID: "0"},
		{name: "tampered body", h: good(), body: []byte(`{"test": 2432232315}`), want: ErrBadSignature},
		{name: "empty body", h: good(), body: []byte{}, want: ErrBadSignature},
		{name: "wrong key", keys: []Secret{other}, h: good(), want: ErrBadSignature},
		{name: "tampered id", h: with("webhook-id", svVectorID+"x"), want: ErrBadSignature},
		{name: "tampered timestamp", h: with("webhook-timestamp", strconv.Itoa(svVectorTS+1)), want: ErrBadSignature},
		{name: "leading zero timestamp", h: with("webhook-timestamp", "0"+tsNow), want: ErrBadSignature},
		{name: "expired", h: signedAt(hmTime.Add(-defaultTolerance - time.Second)), want: ErrExpired},
		{name: "future", h: signedAt(hmTime.Add(defaultTolerance + time.Second)), want: errNotYetValid},
		{name: "edge of tolerance", h: signedAt(hmTime.Add(-defaultTolerance)), want: nil, keyID: "0"},
		{name: "custom tolerance", h: signedAt(hmTime.Add(-2 * time.Minute)), tolOpt: time.Minute, want: ErrExpired},
		{name: "no headers", h: http.Header{}, want: ErrNoSignature},
		{name: "missing signature", h: without("webhook-signature"), want: ErrNoSignature},
		{name: "missing id", h: without("webhook-id"), want: ErrMalformed},
		{name: "empty id", h: with("webhook-id", ""), want: ErrMalformed},
		{name: "missing timestamp", h: without("webhook-timestamp"), want: ErrMalformed},
		{name: "garbage timestamp", h: with("webhook-timestamp", "yesterday"), want: ErrMalformed},
		{name: "negative timestamp", h: with("webhook-timestamp", "-1614265330"), want: ErrMalformed},
		{name: "fractional timestamp", h: with("webhook-timestamp", "1614265330.5"), want: ErrMalformed},
		{name: "huge timestamp", h: with("webhook-timestamp", strings.Repeat("9", 19)), want: ErrMalformed},
		{name: "overlong timestamp", h: with("webhook-timestamp", strings.Repeat("1", 40)), want: ErrMalformed},
		{name: "huge id", h: with("webhook-id", strings.Repeat("a", maxIDLen+1)), want: ErrMalformed},
		{name: "huge signature header", h: with("webhook-signature", svVectorSig+strings.Repeat(" v2,x", 1000)), want: ErrMalformed},
		{name: "repeated id", h: func() http.Header { h := good(); h.Add("webhook-id", "msg_other"); return h }(), want: ErrMalformed},
		{name: "garbage signature", h: with("webhook-signature", "\x00\xff,,, v1"), want: ErrNoSignature},
		{name: "v1 garbage", h: with("webhook-signature", "v1,not-base64!"), want: ErrBadSignature},
		{name: "v1 empty", h: with("webhook-signature", "v1,"), want: ErrBadSignature},
		{name: "only unknown versions", h: with("webhook-signature", "v1a,"+svVectorSig[3:]+" v2,"+svVectorSig[3:]), want: ErrNoSignature},
		{name: "unknown versions ignored", h: with("webhook-signature", "v2,abc v1a,def   "+svVectorSig+" v0,zzz"), want: nil, keyID: "0"},
		{name: "signature split over header values", h: func() http.Header {
			h := with("webhook-signature", "v1,bm9wZQ==")
			h.Add("webhook-signature", svVectorSig)
			return h
		}(), want: nil, keyID: "0"},
		{name: "uppercase version", h: with("webhook-signature", "V1,"+svVectorSig[3:]), want: ErrNoSignature},
		{name: "second secret matches", keys: []Secret{other, key}, h: good(), want: nil, keyID: "1"},
		{name: "svix headers", h: hmHeader("svix-id", svVectorID, "svix-timestamp", tsNow, "svix-signature", svVectorSig), want: nil, keyID: "0"},
		{name: "mixed families are not merged", h: hmHeader("webhook-id", svVectorID, "svix-timestamp", tsNow, "svix-signature", svVectorSig), want: ErrNoSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := c.keys
			if keys == nil {
				keys = []Secret{key}
			}
			s := mustStandard(t, keys, WithClock(hmClock), WithTolerance(c.tolOpt))
			b := c.body
			if b == nil {
				b = body
			}
			v, err := s.Verify(c.h, b)
			hmWantErr(t, err, c.want)
			if err != nil {
				if v.Scheme != "" || v.ID != "" || v.KeyID != "" || !v.Timestamp.IsZero() {
					t.Fatalf("failed Verify returned %+v", v)
				}
				hmNoLeak(t, err.Error(), svVectorKey, svVectorKey[6:], svVectorSig[3:], string(key.Bytes()))
				return
			}
			if v.KeyID != c.keyID || v.Scheme != schemeStandard || v.ID != svVectorID {
				t.Fatalf("Verified = %+v, want KeyID %q", v, c.keyID)
			}
		})
	}
}

func TestStandardRotation(t *testing.T) {
	oldK, newK, unrelated := hmSecret(1, 32), hmSecret(2, 32), hmSecret(3, 32)
	signer := mustStandard(t, []Secret{oldK, newK}, WithClock(hmClock))
	h := http.Header{}
	body := []byte("rotate me")
	if err := signer.Sign(h, Message{ID: "msg_1", Body: body}); err != nil {
		t.Fatal(err)
	}
	ts := h.Get("webhook-timestamp")
	want := refStandard(oldK.Bytes(), "msg_1", ts, body) + " " + refStandard(newK.Bytes(), "msg_1", ts, body)
	if got := h.Get("webhook-signature"); got != want {
		t.Fatalf("webhook-signature = %q, want %q", got, want)
	}
	for _, c := range []struct {
		name  string
		keys  []Secret
		keyID string
		want  error
	}{
		{"old only", []Secret{oldK}, "0", nil},
		{"new only", []Secret{newK}, "0", nil},
		{"unrelated then new", []Secret{unrelated, newK}, "1", nil},
		{"unrelated only", []Secret{unrelated}, "", ErrBadSignature},
	} {
		v, err := mustStandard(t, c.keys, WithClock(hmClock)).Verify(h, body)
		hmWantErr(t, err, c.want)
		if v.KeyID != c.keyID {
			t.Fatalf("%s: KeyID = %q, want %q", c.name, v.KeyID, c.keyID)
		}
	}
}

func TestNewStandardRefuses(t *testing.T) {
	for name, secrets := range map[string][]Secret{
		"nil":          nil,
		"empty":        {},
		"zero secret":  {{}},
		"short":        {hmSecret(1, 23)},
		"one short":    {hmSecret(1, 32), hmSecret(2, 16)},
		"empty second": {hmSecret(1, 32), NewSecret(nil)},
	} {
		s, err := newStandard(secrets)
		if !errors.Is(err, ErrBadKey) || s != nil {
			t.Errorf("%s: NewStandard = %v, %v; want ErrBadKey", name, s, err)
		}
	}
	if _, err := newStandard([]Secret{hmSecret(1, 24)}); err != nil {
		t.Fatalf("24-byte secret refused: %v", err)
	}
}

func TestStandardSignRefuses(t *testing.T) {
	s := mustStandard(t, []Secret{hmSecret(1, 32)}, WithClock(hmClock))
	for name, m := range map[string]Message{
		"empty id":     {},
		"newline id":   {ID: "a\r\nX-Evil: 1"},
		"space id":     {ID: "a b"},
		"huge id":      {ID: strings.Repeat("i", maxIDLen+1)},
		"before epoch": {ID: "a", Timestamp: time.Unix(-5, 0)},
	} {
		h := http.Header{}
		if err := s.Sign(h, m); err == nil {
			t.Errorf("%s: Sign succeeded", name)
		}
		if len(h) != 0 {
			t.Errorf("%s: Sign set headers on failure: %v", name, h)
		}
	}
}

func TestStandardResignReusesHeader(t *testing.T) {
	key := hmSecret(1, 32)
	now := hmTime
	s := mustStandard(t, []Secret{key}, WithClock(func() time.Time { return now }))
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
	s := mustStandard(t, []Secret{hmSecret(1, 32), hmSecret(2, 40)}, WithClock(hmClock))
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
