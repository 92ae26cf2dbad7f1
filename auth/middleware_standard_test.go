package auth

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// The Standard Webhooks test vector's secret, and a second one for rotation.
const (
	mwStandardSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	mwStandardSecret2 = "whsec_c2Vjb25kLXNlY3JldC1mb3Itcm90YXRpb24tdGVzdHM="
)

var mwStandardNow = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func mwStandard(t testing.TB, secrets ...string) *standardScheme {
	t.Helper()
	var ss []Secret
	for _, s := range secrets {
		sec := must(ParseStandardSecret(s))(t)
		ss = append(ss, sec)
	}
	st := mustScheme[*standardScheme](NewStandard(ss, WithClock(func() time.Time { return mwStandardNow })))(t)
	return st
}

func TestMiddlewareStandard(t *testing.T) {
	verifier := mwStandard(t, mwStandardSecret2, mwStandardSecret) // rotating: new first
	signer := mwStandard(t, mwStandardSecret)
	newSigner := mwStandard(t, mwStandardSecret2)
	srv := httptest.NewServer(Middleware(verifier, WithMaxBodyBytes(4096))(http.HandlerFunc(mwVerifiedEcho)))
	defer srv.Close()
	c := srv.Client()
	body := `{"type":"contact.created"}`

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		want   string // the response body
	}{
		{"valid, old secret", func() *http.Request {
			return mwSignedRequest(t, signer, srv.URL, "msg_s1", mwStandardNow, body)
		}, 200, "standard msg_s1 1 " + body},
		{"valid, new secret", func() *http.Request {
			return mwSignedRequest(t, newSigner, srv.URL, "msg_s2", mwStandardNow, body)
		}, 200, "standard msg_s2 0 " + body},
		{"replayed", func() *http.Request {
			return mwSignedRequest(t, signer, srv.URL, "msg_s1", mwStandardNow, body)
		}, 200, duplicateText}, // acknowledged, without running the handler again
		{"tampered body", func() *http.Request {
			r := mwSignedRequest(t, signer, srv.URL, "msg_s3", mwStandardNow, body)
			r.Body = io.NopCloser(strings.NewReader(strings.Replace(body, "created", "deleted", 1)))
			return r
		}, 401, "signature mismatch"},
		{"tampered id", func() *http.Request {
			r := mwSignedRequest(t, signer, srv.URL, "msg_s4", mwStandardNow, body)
			r.Header.Set("Webhook-Id", "msg_s5")
			return r
		}, 401, "signature mismatch"},
		{"expired", func() *http.Request {
			return mwSignedRequest(t, signer, srv.URL, "msg_s6", mwStandardNow.Add(-6*time.Minute), body)
		}, 401, "timestamp too old"},
		{"from the future", func() *http.Request {
			return mwSignedRequest(t, signer, srv.URL, "msg_s7", mwStandardNow.Add(6*time.Minute), body)
		}, 401, "timestamp in the future"},
		{"unsigned", func() *http.Request {
			r, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			return r
		}, 401, "no signature"},
		{"too large", func() *http.Request {
			return mwSignedRequest(t, signer, srv.URL, "msg_s8", mwStandardNow, strings.Repeat("x", 4097))
		}, 413, "request body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if st, got := mwDo(t, c, tt.req()); st != tt.status || got != tt.want {
				t.Fatalf("got %d %q, want %d %q", st, got, tt.status, tt.want)
			}
		})
	}
}

// A 401 never carries the secret, the expected signature or the request's
// headers, whatever the verifier's error says in detail.
func TestMiddlewareStandardNoSecretInResponse(t *testing.T) {
	verifier := mwStandard(t, mwStandardSecret)
	srv := httptest.NewServer(Middleware(verifier)(http.HandlerFunc(mwVerifiedEcho)))
	defer srv.Close()
	secret := must(ParseStandardSecret(mwStandardSecret))(t)
	body := `{"amount":4200}`

	// The signature a genuine sender would have sent for this body.
	genuine := signed(t, verifier, Message{ID: "msg_leak", Timestamp: mwStandardNow, Body: []byte(body)})
	expected := strings.TrimPrefix(genuine.Get("Webhook-Signature"), "v1,")
	forged := "v1," + base64.StdEncoding.EncodeToString([]byte("forged-signature-forged-sig!"))

	req := mwSignedRequest(t, verifier, srv.URL, "msg_leak", mwStandardNow, body)
	req.Header.Set("Webhook-Signature", forged)
	res := must(srv.Client().Do(req))(t)
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	if res.StatusCode != 401 {
		t.Fatalf("status %d", res.StatusCode)
	}
	dump := string(out) + " " + strings.Join(mwHeaderValues(res.Header), " ")
	for _, leak := range []string{
		mwStandardSecret, strings.TrimPrefix(mwStandardSecret, "whsec_"),
		string(secret.Bytes()), base64.StdEncoding.EncodeToString(secret.Bytes()),
		expected, forged, "msg_leak", body,
	} {
		if strings.Contains(dump, leak) {
			t.Errorf("401 response %q contains %q", dump, leak)
		}
	}
}

func mwHeaderValues(h http.Header) []string {
	var out []string
	for k, vs := range h {
		out = append(out, k)
		out = append(out, vs...)
	}
	return out
}

// Concurrent deliveries through the real Standard verifier, for -race.
func TestMiddlewareStandardConcurrent(t *testing.T) {
	st := mwStandard(t, mwStandardSecret)
	srv := httptest.NewServer(Middleware(st)(http.HandlerFunc(mwVerifiedEcho)))
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			id := "msg_c" + string(rune('a'+i))
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(id))
			if err := st.Sign(req.Header, Message{ID: id, Timestamp: mwStandardNow, Body: []byte(id)}); err != nil {
				t.Error(err)
				return
			}
			code, got, err := mwTryDo(srv.Client(), req)
			if err != nil || code != 200 || got != "standard "+id+" 0 "+id {
				t.Errorf("%s: %d %q %v", id, code, got, err)
			}
		})
	}
	wg.Wait()
}

func BenchmarkMiddlewareStandard(b *testing.B) {
	st := mwStandard(b, mwStandardSecret)
	benchMiddleware(b, st, st, mwStandardNow)
}
