package sender

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestTokenOddAnswers: a token endpoint (real, over TLS) answers a token
// whose expires_in is negative, zero or absurd, or a token the Sender
// cannot use. A delivery every 100 ms for 3 s (by the cache's clock) must
// not fetch a token each: an odd lifetime is taken as none given (the
// token is kept until a receiver refuses it) and never wraps into the
// past; an unusable answer is held for a second as any failed fetch is,
// so the endpoint sees one fetch a second (two requests: HTTP Basic, then
// the form) at most. No error quotes the token or the client secret.
func TestTokenOddAnswers(t *testing.T) {
	const (
		jsonType = "application/json"
		formType = "application/x-www-form-urlencoded"
		secret   = "cl1ent-s3cret-odd-answers"
	)
	for _, c := range []struct {
		name, ctype, body string
		usable            bool
	}{
		{"negative", jsonType, `{"access_token":"tok-odd","token_type":"Bearer","expires_in":-5}`, true},
		{"zero", jsonType, `{"access_token":"tok-odd","token_type":"Bearer","expires_in":0}`, true},
		{"int64 max", jsonType, `{"access_token":"tok-odd","token_type":"bearer","expires_in":9223372036854775807}`, true},
		{"string negative", jsonType, `{"access_token":"tok-odd","token_type":"Bearer","expires_in":"-5"}`, true},
		{"form negative", formType, "access_token=tok-odd&token_type=bearer&expires_in=-5", true},
		{"form int64 max", formType, "access_token=tok-odd&token_type=bearer&expires_in=9223372036854775807", true},
		{"form over int64", formType, "access_token=tok-odd&token_type=bearer&expires_in=99999999999999999999", true},
		{"form under int64", formType, "access_token=tok-odd&token_type=bearer&expires_in=-99999999999999999999", true},
		{"form NaN", formType, "access_token=tok-odd&token_type=bearer&expires_in=NaN", true},
		{"form minus infinity", formType, "access_token=tok-odd&token_type=bearer&expires_in=-1e999", true},
		{"form wraps to 0.3s", formType, "access_token=tok-odd&token_type=bearer&expires_in=18446744074", true},
		{"1e30", jsonType, `{"access_token":"tok-odd","token_type":"Bearer","expires_in":1e30}`, false},
		{"empty token", jsonType, `{"access_token":"","token_type":"Bearer","expires_in":3600}`, false},
		{"token with a newline", jsonType, `{"access_token":"tok-odd\nX-Evil: 1","token_type":"Bearer","expires_in":3600}`, false},
		{"mac token", jsonType, `{"access_token":"tok-odd","token_type":"mac","expires_in":3600}`, false},
		{"DPoP token", jsonType, `{"access_token":"tok-odd","token_type":"DPoP","expires_in":3600}`, false},
		{"unparsable", jsonType, `{"access_token":"tok-odd",`, false},
		{"expires_in a word", jsonType, `{"access_token":"tok-odd","token_type":"Bearer","expires_in":"soon"}`, false},
		{"error in a 200", jsonType, `{"error":"invalid_client"}`, false},
		// Cached per destination and sent with every attempt: a hostile
		// endpoint's megabyte would cost a megabyte a request.
		{"20 KiB token", jsonType, `{"access_token":"tok-odd` + strings.Repeat("x", 20<<10) + `","token_type":"Bearer","expires_in":3600}`, false},
		{"16 KiB token", jsonType, `{"access_token":"tok-odd","token_type":"Bearer","expires_in":3600,"pad":"` + strings.Repeat("x", 16<<10) + `"}`, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", c.ctype)
				fmt.Fprint(w, c.body)
			}))
			defer srv.Close()
			tc, setClock := clockedTokenCache(t, srv)
			tc.cfg.ClientSecret = secret
			for ms := 0; ms <= 3000; ms += 100 {
				setClock(time.Duration(ms) * time.Millisecond)
				tok, err := tc.token(context.Background())
				switch {
				case c.usable && (err != nil || tok != "tok-odd"):
					t.Fatalf("at %d ms: %q, %v; want tok-odd", ms, tok, err)
				case !c.usable && (err == nil || !errors.Is(err, ErrToken)):
					t.Fatalf("at %d ms: %q (%d bytes), %v; want ErrToken", ms, tok[:min(len(tok), 16)], len(tok), err)
				case err != nil && (strings.Contains(err.Error(), "tok-odd") || strings.Contains(err.Error(), secret)):
					t.Fatalf("at %d ms: the error quotes the token or the secret: %v", ms, err)
				}
			}
			want := int32(1)
			if !c.usable {
				want = 2 * 4 // a fetch at 0, 1, 2 and 3 s
			}
			if n := requests.Load(); n > want {
				t.Errorf("31 deliveries over 3 s made %d token requests, want at most %d", n, want)
			}
		})
	}
}

// TestTokenLifeRead: a lifetime of 120 s is read from every shape of
// answer, a JSON number or string and a form's integer or decimal, and the
// token is replaced after its first minute.
func TestTokenLifeRead(t *testing.T) {
	for _, c := range []struct{ ctype, body string }{
		{"application/json", `{"access_token":"tok","token_type":"Bearer","expires_in":120}`},
		{"application/json", `{"access_token":"tok","token_type":"Bearer","expires_in":"120"}`},
		{"application/x-www-form-urlencoded", "access_token=tok&token_type=bearer&expires_in=120"},
		{"text/plain", "access_token=tok&token_type=bearer&expires_in=120.5"},
	} {
		var requests atomic.Int32
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			w.Header().Set("Content-Type", c.ctype)
			fmt.Fprint(w, c.body)
		}))
		tc, setClock := clockedTokenCache(t, srv)
		for _, at := range []time.Duration{0, 59 * time.Second, 61 * time.Second} {
			setClock(at)
			if _, err := tc.token(context.Background()); err != nil {
				t.Fatalf("%s at %s: %v", c.body, at, err)
			}
		}
		if n := requests.Load(); n != 2 {
			t.Errorf("%s: %d token requests by 61 s, want 2 (the token replaced after a minute)", c.body, n)
		}
		srv.Close()
	}
}
