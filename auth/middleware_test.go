package auth

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestMiddlewareStatuses(t *testing.T) {
	v := newMWTestVerifier()
	srv := httptest.NewServer(Middleware(v, WithMaxBodyBytes(64))(mwEchoHandler(t)))
	defer srv.Close()
	body := []byte(`{"hello":"world"}`)

	tests := []struct {
		name   string
		id     string
		ts     time.Time
		body   []byte
		edit   func(*http.Request)
		status int
		reason string
	}{
		{"valid", "msg_1", mwTestNow, body, nil, 200, ""},
		{"empty body", "msg_empty", mwTestNow, nil, nil, 200, ""},
		{"body exactly at the limit", "msg_64", mwTestNow, bytes.Repeat([]byte("a"), 64), nil, 200, ""},
		{"missing signature", "", mwTestNow, body, nil, 401, "no signature"},
		{"malformed timestamp", "msg_2", mwTestNow, body, func(r *http.Request) { r.Header.Set("Test-Timestamp", "soon") }, 401, "malformed signature header"},
		{"bad signature", "msg_3", mwTestNow, body, func(r *http.Request) {
			r.Header.Set("Test-Signature", strings.Repeat("0", 64))
		}, 401, "signature mismatch"},
		{"tampered body", "msg_4", mwTestNow, body, func(r *http.Request) {
			r.Body = io.NopCloser(strings.NewReader(`{"hello":"w0rld"}`))
		}, 401, "signature mismatch"},
		{"expired", "msg_5", mwTestNow.Add(-10 * time.Minute), body, nil, 401, "timestamp too old"},
		{"too large, declared", "msg_6", mwTestNow, bytes.Repeat([]byte("a"), 65), nil, 413, "request body too large"},
		{"too large, chunked", "msg_7", mwTestNow, bytes.Repeat([]byte("a"), 1000), func(r *http.Request) {
			r.ContentLength = -1 // sent chunked: the limit is found while reading
			r.Body = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("a"), 1000)))
		}, 413, "request body too large"},
		{"chunked, exactly at the limit", "msg_8", mwTestNow, bytes.Repeat([]byte("b"), 64), func(r *http.Request) {
			r.ContentLength = -1
			r.Body = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("b"), 64)))
		}, 200, ""},
		{"chunked, one byte over", "msg_9", mwTestNow, bytes.Repeat([]byte("b"), 65), func(r *http.Request) {
			r.ContentLength = -1
			r.Body = io.NopCloser(bytes.NewReader(bytes.Repeat([]byte("b"), 65)))
		}, 413, "request body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mwPost(t, srv.URL, v, tt.id, tt.ts, tt.body, tt.edit)
			if res.status != tt.status {
				t.Fatalf("status = %d (%q), want %d", res.status, res.body, tt.status)
			}
			if tt.status == 413 && !res.closed {
				t.Errorf("413 without Connection: close")
			}
			if tt.status != 200 {
				if got := strings.TrimSpace(res.body); got != tt.reason {
					t.Errorf("reason = %q, want %q", got, tt.reason)
				}
				return
			}
			if res.body != string(tt.body) {
				t.Errorf("next handler read %q, want %q", res.body, tt.body)
			}
			if got := res.header.Get("Verified-Id"); got != tt.id {
				t.Errorf("Verified.ID in context = %q, want %q", got, tt.id)
			}
		})
	}
}

func TestMiddlewareErrorHandler(t *testing.T) {
	v := newMWTestVerifier()
	var gotErr error
	onError := func(w http.ResponseWriter, r *http.Request, status int, err error) {
		gotErr = err
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"status": status, "expired": errors.Is(err, ErrExpired)})
	}
	h := Middleware(v, WithErrorHandler(onError))(mwEchoHandler(t))
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
	v.sign(req.Header, "msg_e", mwTestNow.Add(-time.Hour), []byte("x"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 401 || !errors.Is(gotErr, ErrExpired) {
		t.Fatalf("status %d, err %v", rec.Code, gotErr)
	}
	if got := strings.TrimSpace(rec.Body.String()); got != `{"expired":true,"status":401}` {
		t.Errorf("body = %s", got)
	}
}

// mwErrReader fails in the middle of the body, like a client that hangs up.
type mwErrReader struct{ n int }

func (r *mwErrReader) Read(p []byte) (int, error) {
	if r.n > 0 {
		r.n--
		p[0] = 'x'
		return 1, nil
	}
	return 0, io.ErrUnexpectedEOF
}

func TestMiddlewareEdgeCases(t *testing.T) {
	v := newMWTestVerifier()
	t.Run("body read error", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/", &mwErrReader{n: 3})
		rec := httptest.NewRecorder()
		Middleware(v)(mwEchoHandler(t)).ServeHTTP(rec, req)
		if rec.Code != 400 || strings.TrimSpace(rec.Body.String()) != "cannot read request body" {
			t.Fatalf("got %d %q", rec.Code, rec.Body)
		}
	})
	t.Run("nil body", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Body = nil
		v.sign(req.Header, "msg_nil", mwTestNow, nil)
		rec := httptest.NewRecorder()
		Middleware(v)(mwEchoHandler(t)).ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("got %d %q", rec.Code, rec.Body)
		}
	})
	t.Run("nil verifier", func(t *testing.T) {
		dropped, _ := NewHub(nil) // a nil *Scheme, its error ignored
		for _, nv := range []Verifier{nil, dropped} {
			rec := httptest.NewRecorder()
			Middleware(nv)(mwEchoHandler(t)).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x")))
			if rec.Code != 500 {
				t.Fatalf("Middleware(%#v): got %d", nv, rec.Code)
			}
		}
		if _, err := dropped.Verify(http.Header{}, nil); !errors.Is(err, errNilScheme) {
			t.Fatalf("nil *Scheme Verify = %v", err)
		}
		if err := dropped.Sign(http.Header{}, Message{ID: "msg_1"}); !errors.Is(err, errNilScheme) {
			t.Fatalf("nil *Scheme Sign = %v", err)
		}
	})
	t.Run("zero Scheme", func(t *testing.T) {
		// &Scheme{}, made without a constructor, panicked (a nil
		// dereference) in Sign, Verify and on every request of Middleware.
		zero := &Scheme{}
		rec := httptest.NewRecorder()
		Middleware(zero)(mwEchoHandler(t)).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x")))
		if rec.Code != 500 {
			t.Fatalf("Middleware(&Scheme{}): got %d", rec.Code)
		}
		if _, err := zero.Verify(http.Header{}, nil); !errors.Is(err, errNilScheme) {
			t.Fatalf("zero Scheme Verify = %v", err)
		}
		if _, err := zero.VerifyContext(context.Background(), http.Header{}, nil); !errors.Is(err, errNilScheme) {
			t.Fatalf("zero Scheme VerifyContext = %v", err)
		}
		if err := zero.Sign(http.Header{}, Message{ID: "msg_1"}); !errors.Is(err, errNilScheme) {
			t.Fatalf("zero Scheme Sign = %v", err)
		}
	})
	t.Run("Sign into a nil header", func(t *testing.T) {
		// Every scheme panicked (assignment to entry in nil map).
		signers := map[string]func() (*Scheme, error){
			"standard": func() (*Scheme, error) { return NewStandard([]Secret{NewSecret(make([]byte, 32))}) },
			"hub":      func() (*Scheme, error) { return NewHub([]Secret{NewSecret(make([]byte, 32))}) },
			"stripe":   func() (*Scheme, error) { return NewStripe([]Secret{NewSecret(make([]byte, 32))}) },
			"jwt":      func() (*Scheme, error) { return NewJWT("HS256", []Secret{NewSecret(make([]byte, 32))}) },
		}
		for name, mk := range signers {
			s, err := mk()
			if err != nil {
				t.Fatal(name, err)
			}
			if err := s.Sign(nil, Message{ID: "msg_1", URL: "https://example.com/"}); !errors.Is(err, errNilHeader) {
				t.Errorf("%s: Sign(nil, …) = %v, want errNilHeader", name, err)
			}
		}
	})
	t.Run("nil next and nil options", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
		v.sign(req.Header, "msg_nn", mwTestNow, []byte("x"))
		rec := httptest.NewRecorder()
		Middleware(v, nil, WithErrorHandler(nil), WithMaxBodyBytes(-1), WithReplayWindow(0))(nil).ServeHTTP(rec, req)
		if rec.Code != 200 {
			t.Fatalf("got %d", rec.Code)
		}
	})
	t.Run("empty id skips the replay cache", func(t *testing.T) {
		h := Middleware(v)(mwEchoHandler(t))
		for range 2 {
			req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
			v.sign(req.Header, "", mwTestNow, []byte("x"))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				t.Fatalf("got %d", rec.Code)
			}
		}
	})
	t.Run("the original request is not modified", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
		v.sign(req.Header, "msg_orig", mwTestNow, []byte("x"))
		orig := req.Body
		Middleware(v)(mwEchoHandler(t)).ServeHTTP(httptest.NewRecorder(), req)
		if req.Body != orig {
			t.Error("the caller's request had its Body replaced")
		}
		if _, ok := FromContext(req.Context()); ok {
			t.Error("the caller's request context was modified")
		}
	})
	t.Run("streaming handler keeps Flusher", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("x"))
		v.sign(req.Header, "msg_flush", mwTestNow, []byte("x"))
		rec := httptest.NewRecorder()
		Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f, ok := w.(http.Flusher)
			if !ok {
				t.Fatal("the writer passed to next is not an http.Flusher")
			}
			f.Flush()
		})).ServeHTTP(rec, req)
		if !rec.Flushed {
			t.Error("Flush did not reach the underlying writer")
		}
	})
}

// Neither the response nor the log of a refusal may carry the key, the
// expected signature, the received signature or the body.
func TestMiddlewareNoSecretInResponseOrLog(t *testing.T) {
	v := newMWTestVerifier()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := httptest.NewServer(Middleware(v, WithLogger(logger))(mwEchoHandler(t)))
	defer srv.Close()

	body := []byte(`{"card":"4111111111111111"}`)
	sent := strings.Repeat("ab", 32)
	res := mwPost(t, srv.URL, v, "msg_leak", mwTestNow, body, func(r *http.Request) { r.Header.Set("Test-Signature", sent) })
	if res.status != 401 {
		t.Fatalf("status %d", res.status)
	}
	expected := v.mac("msg_leak", mwTestNow.Unix(), body)
	for _, out := range []string{res.body, fmt.Sprint(res.header), logs.String()} {
		for _, secret := range []string{string(v.key), hex.EncodeToString(v.key), expected, sent, "4111111111111111", "msg_leak"} {
			if strings.Contains(out, secret) {
				t.Errorf("output %q contains %q", out, secret)
			}
		}
	}
	for _, want := range []string{"reason=\"signature mismatch\"", "status=401", "remote_addr=127.0.0.1:"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
}

// A duplicate is logged at Info with its id, so that an operator sees the
// sender retrying; still without the body.
func TestMiddlewareLogsDuplicate(t *testing.T) {
	v := newMWTestVerifier()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil)) // Info and above
	srv := httptest.NewServer(Middleware(v, WithLogger(logger))(mwEchoHandler(t)))
	defer srv.Close()
	body := []byte(`{"card":"4111111111111111"}`)
	for range 2 {
		if res := mwPost(t, srv.URL, v, "msg_twice", mwTestNow, body, nil); res.status != 200 {
			t.Fatalf("status %d", res.status)
		}
	}
	got := logs.String()
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, "level=INFO") ||
		!strings.Contains(got, `msg="auth: duplicate webhook acknowledged" id=msg_twice`) {
		t.Errorf("log %q: want one Info line for the duplicate, with its id", got)
	}
	if strings.Contains(got, "4111111111111111") {
		t.Errorf("log %q carries the body", got)
	}
}

func TestMiddlewareConcurrent(t *testing.T) {
	v := newMWTestVerifier()
	var handled atomic.Int32
	srv := httptest.NewServer(Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		handled.Add(1)
		_, _ = io.WriteString(w, "handled")
	})))
	defer srv.Close()

	const n = 32
	var wg sync.WaitGroup
	var unique, sharedRan, duplicates, running atomic.Int32
	for i := range n {
		wg.Go(func() {
			body := []byte(strconv.Itoa(i))
			if res, err := mwTryPost(srv.URL, v, "msg_c"+strconv.Itoa(i), mwTestNow, body, nil); err != nil {
				t.Error(err)
			} else if res.status == 200 {
				unique.Add(1)
			}
			res, err := mwTryPost(srv.URL, v, "msg_shared", mwTestNow, []byte("same"), nil)
			if err != nil {
				t.Error(err)
			}
			switch {
			case res.status == 200 && res.body == "handled":
				sharedRan.Add(1)
			case res.status == 200 && strings.TrimSpace(res.body) == duplicateText:
				duplicates.Add(1)
			case res.status == 503:
				running.Add(1)
			default:
				t.Errorf("shared id: %d %q", res.status, res.body)
			}
		})
	}
	wg.Wait()
	if unique.Load() != n || sharedRan.Load() != 1 || duplicates.Load()+running.Load() != n-1 {
		t.Fatalf("unique ok %d/%d; shared id: handled %d (want 1), duplicates %d and running %d (want %d in all)",
			unique.Load(), n, sharedRan.Load(), duplicates.Load(), running.Load(), n-1)
	}
	if handled.Load() != n+1 {
		t.Fatalf("next ran %d times, want %d", handled.Load(), n+1)
	}
}
