package sender

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/internal/wire"
)

// tokenAnswer is what the fuzzed token endpoint answers.
type tokenAnswer struct {
	status int
	ctype  string
	body   []byte
}

// fuzzTokenStatuses and fuzzTokenTypes are what a fuzzed answer picks its
// status and Content-Type from.
var (
	fuzzTokenStatuses = []int{200, 200, 400, 401, 429, 500, 302}
	fuzzTokenTypes    = []string{"application/json", "application/x-www-form-urlencoded", "text/plain", "", "application/json; charset=utf-8"}
)

// FuzzTokenAnswer: whatever a token endpoint (real, over TLS) answers,
// the token cache never panics; a token it takes is not empty, at most
// 16 KiB and fit for the Authorization header, with a lifetime of at most
// 2³¹-1 seconds; a refusal matches ErrToken and quotes neither the client
// secret nor the access token the answer held.
func FuzzTokenAnswer(f *testing.F) {
	const secret = "fuzz-cl1ent-s3cret"
	var answer atomic.Pointer[tokenAnswer]
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a := answer.Load()
		if a.ctype != "" {
			w.Header().Set("Content-Type", a.ctype)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	s := &Sender{TLS: &tls.Config{RootCAs: roots}, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	s.init()

	for _, b := range []string{
		`{"access_token":"tok-SEKRET-1","token_type":"Bearer","expires_in":3600}`,
		`{"access_token":"tok-SEKRET-1","token_type":"bearer","expires_in":"120"}`,
		`{"access_token":"tok-SEKRET-1","token_type":"Bearer","expires_in":9223372036854775807}`,
		`{"access_token":"tok-SEKRET-1","token_type":"Bearer","expires_in":-9223372036854775808}`,
		`{"access_token":"tok-SEKRET-1","token_type":"Bearer","expires_in":1e308}`,
		`{"access_token":"tok-SEKRET-1","access_token":"tok-SEKRET-2","token_type":"Bearer"}`,
		`{"access_token":"tok-SEKRET\u0000","token_type":"Bearer"}`,
		`{"access_token":"tok-SEKRET\r\nX: 1","token_type":"Bearer"}`,
		"{\"access_token\":\"tok-SEKRET-\xff\",\"token_type\":\"Bearer\"}",
		`{"access_token":"tok-SEKRET-1","token_type":"Bearer"`,
		`{"error":"invalid_client","error_description":"tok-SEKRET-1"}`,
		"",
	} {
		f.Add(uint8(0), uint8(0), []byte(b))
	}
	for _, b := range []string{
		"access_token=tok-SEKRET-1&token_type=bearer&expires_in=99999999999999999999",
		"access_token=tok-SEKRET-1&access_token=tok-SEKRET-2&token_type=bearer&expires_in=-1",
		"access_token=tok-SEKRET%0A1&token_type=bearer",
		"access_token=tok-SEKRET-1&token_type=bearer&expires_in=NaN",
		"access_token=%zz&token_type=bearer",
	} {
		f.Add(uint8(0), uint8(1), []byte(b))
	}
	f.Add(uint8(2), uint8(0), []byte(`{"error":"invalid_client"}`))
	f.Add(uint8(5), uint8(3), []byte("tok-SEKRET-1 internal error"))
	f.Fuzz(func(t *testing.T, status, ctype uint8, body []byte) {
		answer.Store(&tokenAnswer{
			status: fuzzTokenStatuses[int(status)%len(fuzzTokenStatuses)],
			ctype:  fuzzTokenTypes[int(ctype)%len(fuzzTokenTypes)],
			body:   body,
		})
		o := &OAuth2{TokenURL: srv.URL, ClientID: "c", ClientSecret: auth.NewSecret([]byte(secret))}
		_, tc, err := s.destClient(&Destination{URL: "https://hooks.example/", OAuth2: o})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		tc.now = func() time.Time { return now }
		tok, err := tc.token(context.Background())
		if err != nil {
			if !errors.Is(err, ErrToken) {
				t.Fatalf("refused without ErrToken: %v", err)
			}
			text := err.Error()
			if strings.Contains(text, secret) {
				t.Fatalf("the error quotes the client secret: %v", err)
			}
			if at := answeredToken(body); len(at) >= 8 && strings.Contains(text, at) {
				t.Fatalf("the error quotes the access token answered: %v", err)
			}
			return
		}
		switch {
		case tok == "" || len(tok) > maxAccessToken || wire.CheckHeader("Authorization", "Bearer "+tok) != nil:
			t.Fatalf("took an unusable token of %d bytes", len(tok))
		case !tc.expiry.IsZero() && (!tc.expiry.After(now) || tc.expiry.Sub(now) > maxTokenLife):
			t.Fatalf("token expires at %s, %s from now", tc.expiry, tc.expiry.Sub(now))
		case tc.expiry.IsZero() != tc.refreshAt.IsZero() || !tc.expiry.IsZero() && tc.refreshAt.After(tc.expiry):
			t.Fatalf("refresh at %s, expiry at %s", tc.refreshAt, tc.expiry)
		}
	})
}

// answeredToken returns the access token that body holds as JSON or as a
// form, or "" when it holds none or when its error code (which a refusal
// quotes) contains it.
func answeredToken(body []byte) string {
	var j struct {
		AccessToken string `json:"access_token"`
		Error       any    `json:"error"`
	}
	if json.Unmarshal(body, &j) == nil && j.AccessToken != "" {
		if code, _ := j.Error.(string); strings.Contains(code, j.AccessToken) {
			return ""
		}
		return j.AccessToken
	}
	if q, err := url.ParseQuery(string(body)); err == nil && !strings.Contains(q.Get("error"), q.Get("access_token")) {
		return q.Get("access_token")
	}
	return ""
}
