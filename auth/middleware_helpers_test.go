package auth

// The helpers of the middleware tests: a small test verifier with requests
// signed by it (middleware_test, middleware_replay_test), and requests
// signed by any Signer with an echoing handler (the JWT, Standard and replay
// tests).

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// mwTestVerifier is a small HMAC scheme used to test the middleware on its
// own: Test-Signature = hex(HMAC-SHA256(key, id.ts.body)). Its mismatch
// error deliberately quotes the received header, so that the tests can
// check the middleware never echoes error details.
type mwTestVerifier struct {
	key []byte
	now func() time.Time
}

const mwTestTolerance = 5 * time.Minute

func (v mwTestVerifier) sign(h http.Header, id string, ts time.Time, body []byte) {
	h.Set("Test-Id", id)
	h.Set("Test-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("Test-Signature", v.mac(id, ts.Unix(), body))
}

func (v mwTestVerifier) mac(id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, v.key)
	fmt.Fprintf(m, "%s.%d.", id, ts)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

func (v mwTestVerifier) Verify(h http.Header, body []byte) (Verified, error) {
	sig := h.Get("Test-Signature")
	if sig == "" {
		return Verified{}, ErrNoSignature
	}
	ts, err := strconv.ParseInt(h.Get("Test-Timestamp"), 10, 64)
	if err != nil {
		return Verified{}, fmt.Errorf("test: timestamp: %w", ErrMalformed)
	}
	if !hmac.Equal([]byte(sig), []byte(v.mac(h.Get("Test-Id"), ts, body))) {
		return Verified{}, fmt.Errorf("test: got %q: %w", sig, ErrBadSignature)
	}
	t := time.Unix(ts, 0)
	if v.now().Sub(t) > mwTestTolerance {
		return Verified{}, ErrExpired
	}
	return Verified{Scheme: "test", ID: h.Get("Test-Id"), Timestamp: t, KeyID: "0"}, nil
}

var mwTestNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newMWTestVerifier() mwTestVerifier {
	return mwTestVerifier{key: []byte("test-key-0123456789abcdef-0123456789"), now: func() time.Time { return mwTestNow }}
}

// withMiddlewareClock is a test-only option replacing the middleware clock.
func withMiddlewareClock(now func() time.Time) MiddlewareOption {
	return func(c *middlewareConfig) { c.now = now }
}

// echoHandler answers 200 with what it saw: the body it read and the
// verified id from the context.
func mwEchoHandler(t *testing.T) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("next handler read: %v", err)
		}
		ver, ok := FromContext(r.Context())
		if !ok {
			t.Errorf("no Verified in the context")
		}
		if r.ContentLength != int64(len(body)) {
			t.Errorf("ContentLength = %d, body has %d bytes", r.ContentLength, len(body))
		}
		w.Header().Set("Verified-Id", ver.ID)
		w.Header().Set("Verified-Scheme", ver.Scheme)
		_, _ = w.Write(body)
	})
}

type mwResponse struct {
	status int
	body   string
	header http.Header
	closed bool // the server ended the connection (Connection: close)
}

// post sends body through srv, signed at ts with id unless id is empty.
func mwPost(t *testing.T, url string, v mwTestVerifier, id string, ts time.Time, body []byte, edit func(*http.Request)) mwResponse {
	t.Helper()
	res := must(mwTryPost(url, v, id, ts, body, edit))(t)
	return res
}

// tryPost is post for goroutines, where t.Fatal may not be called.
func mwTryPost(url string, v mwTestVerifier, id string, ts time.Time, body []byte, edit func(*http.Request)) (mwResponse, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return mwResponse{}, err
	}
	if id != "" {
		v.sign(req.Header, id, ts, body)
	}
	if edit != nil {
		edit(req)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return mwResponse{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return mwResponse{status: res.StatusCode, body: string(b), header: res.Header, closed: res.Close}, err
}

// signedRequest builds a POST of body to url, signed by s for delivery id.
func mwSignedRequest(t testing.TB, s Signer, url, id string, ts time.Time, body string) *http.Request {
	t.Helper()
	req := must(http.NewRequest(http.MethodPost, url, strings.NewReader(body)))(t)
	if err := s.Sign(req.Header, Message{ID: id, Timestamp: ts, Body: []byte(body), URL: url}); err != nil {
		t.Fatal(err)
	}
	return req
}

// do sends req and returns the status and the trimmed response body.
func mwDo(t testing.TB, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	code, body, err := mwTryDo(c, req)
	if err != nil {
		t.Fatal(err)
	}
	return code, body
}

// tryDo is do for goroutines, where t.Fatal may not be called.
func mwTryDo(c *http.Client, req *http.Request) (int, string, error) {
	res, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b)), err
}

// mwVerifiedEcho answers with the verified scheme, id and key id, then the
// body it read.
func mwVerifiedEcho(w http.ResponseWriter, r *http.Request) {
	ver, ok := FromContext(r.Context())
	if !ok {
		http.Error(w, "no Verified in context", http.StatusInternalServerError)
		return
	}
	b, _ := io.ReadAll(r.Body)
	_, _ = io.WriteString(w, ver.Scheme+" "+ver.ID+" "+ver.KeyID+" "+string(b))
}
