package auth

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

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
