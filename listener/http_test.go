package listener_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
)

// capture is a listener whose "**" handler stores the last event.
type capture struct {
	l    *listener.Listener
	last *listener.Event
	err  error
}

func newCapture(t *testing.T) *capture {
	c := &capture{l: listener.New()}
	mustOn(t, c.l, "**", func(_ context.Context, ev *listener.Event) error {
		c.last = ev
		return c.err
	})
	return c
}

func post(h http.Handler, header http.Header, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func jsonHeader() http.Header { return http.Header{"Content-Type": {"application/json"}} }

func TestHTTPNativeEnvelope(t *testing.T) {
	c := newCapture(t)
	h := &listener.HTTPHandler{Dispatcher: c.l}
	w := post(h, jsonHeader(), `{"id":"evt_1","topic":"records:created","createdAt":"2025-03-04T05:06:07Z",
		"context":{"workbook":"wb_1"},"payload":{"x":1},"namespaces":["acme"]}`+"\n")
	if w.Code != http.StatusNoContent {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	ev := c.last
	if ev.ID != "evt_1" || ev.Topic != "records:created" || ev.Context["workbook"] != "wb_1" ||
		string(ev.Payload) != `{"x":1}` || ev.Namespaces[0] != "acme" ||
		!ev.CreatedAt.Equal(time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Fatalf("event %+v", ev)
	}
	// No Content-Type is read as the native envelope too.
	if w := post(h, nil, `{"id":"2","topic":"a:b"}`); w.Code != http.StatusNoContent {
		t.Fatalf("status %d", w.Code)
	}
}

func TestHTTPMalformedEnvelope(t *testing.T) {
	c := newCapture(t)
	h := &listener.HTTPHandler{Dispatcher: c.l}
	for name, body := range map[string]string{
		"not json":        `{"id":`,
		"not an object":   `["id","topic"]`,
		"empty":           ``,
		"null":            `null`,
		"missing id":      `{"topic":"a:b"}`,
		"empty id":        `{"id":"","topic":"a:b"}`,
		"id not a string": `{"id":1,"topic":"a:b"}`,
		"control in id":   `{"id":"a\u0000b","topic":"a:b"}`,
		"missing topic":   `{"id":"1"}`,
		"bad topic":       `{"id":"1","topic":"ab"}`,
		"wildcard topic":  `{"id":"1","topic":"a:*"}`,
		"unknown field":   `{"id":"1","topic":"a:b","extra":1}`,
		"wrong case":      `{"ID":"1","topic":"a:b"}`,
		"duplicate field": `{"id":"1","topic":"a:b","id":"2"}`,
		"trailing data":   `{"id":"1","topic":"a:b"} {}`,
		"trailing junk":   `{"id":"1","topic":"a:b"}x`,
		"bad time":        `{"id":"1","topic":"a:b","createdAt":"yesterday"}`,
		"context values":  `{"id":"1","topic":"a:b","context":{"k":1}}`,
		"empty namespace": `{"id":"1","topic":"a:b","namespaces":[""]}`,
	} {
		c.last = nil
		w := post(h, jsonHeader(), body)
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400 (%s)", name, w.Code, w.Body)
		}
		if c.last != nil {
			t.Errorf("%s: handler ran", name)
		}
	}
}

func TestHTTPStatuses(t *testing.T) {
	c := newCapture(t)
	h := &listener.HTTPHandler{Dispatcher: c.l, MaxBodyBytes: 64}
	ok := `{"id":"1","topic":"a:b"}`

	req := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d", w.Code)
	}

	big := `{"id":"1","topic":"a:b","payload":"` + strings.Repeat("x", 64) + `"}`
	if w := post(h, jsonHeader(), big); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("too large with Content-Length: %d", w.Code)
	}
	req = httptest.NewRequest(http.MethodPost, "/", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1 // chunked: the limit applies while reading
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("too large, chunked: %d", w.Code)
	}

	for name, hdr := range map[string]http.Header{
		"text/plain":  {"Content-Type": {"text/plain"}},
		"batch":       {"Content-Type": {"application/cloudevents-batch+json"}},
		"malformed":   {"Content-Type": {"application/json; ;"}},
		"binary text": {"Content-Type": {"text/plain"}, "Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"s"}, "Ce-Type": {"a:b"}},
		// JSON is UTF-8 (RFC 8259): a body declared in another charset
		// would be forwarded as UTF-8 JSON, its label dropped.
		"latin-1 envelope":   {"Content-Type": {"application/json; charset=iso-8859-1"}},
		"latin-1 structured": {"Content-Type": {"application/cloudevents+json; charset=latin1"}},
		"latin-1 binary":     {"Content-Type": {"application/json; charset=ISO-8859-1"}, "Ce-Specversion": {"1.0"}, "Ce-Id": {"1"}, "Ce-Source": {"s"}, "Ce-Type": {"a:b"}},
	} {
		if w := post(h, hdr, ok); w.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%s: %d, want 415", name, w.Code)
		}
	}

	if w := post(h, jsonHeader(), ok); w.Code != http.StatusNoContent {
		t.Errorf("ok: %d", w.Code)
	}
	if w := post(h, http.Header{"Content-Type": {"application/json; charset=UTF-8"}}, ok); w.Code != http.StatusNoContent {
		t.Errorf("ok, charset=UTF-8: %d", w.Code)
	}
	c.err = listener.Permanent(errors.New("no such record"))
	if w := post(h, jsonHeader(), ok); w.Code != http.StatusBadRequest || strings.Contains(w.Body.String(), "no such record") {
		t.Errorf("permanent: %d %q", w.Code, w.Body)
	}
	c.err = errors.New("database down: password=hunter2")
	if w := post(h, jsonHeader(), ok); w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "hunter2") {
		t.Errorf("retryable: %d %q", w.Code, w.Body)
	}
	c.err = nil

	// A handler that runs out of time answers 503 with Retry-After.
	slow := listener.New()
	slow.Use(listener.Timeout(time.Millisecond))
	mustOn(t, slow, "**", func(ctx context.Context, ev *listener.Event) error { <-ctx.Done(); return ctx.Err() })
	w = post(&listener.HTTPHandler{Dispatcher: slow}, jsonHeader(), ok)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("timeout: %d", w.Code)
	}

	// An invalid typed payload: 400 that says why.
	typed := listener.New()
	if err := listener.Handle(typed, "job:ready", func(context.Context, *listener.Event, jobReady) error { return nil }); err != nil {
		t.Fatal(err)
	}
	w = post(&listener.HTTPHandler{Dispatcher: typed}, jsonHeader(), `{"id":"1","topic":"job:ready","payload":{"priority":1}}`)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "jobId is required") {
		t.Errorf("invalid payload: %d %q", w.Code, w.Body)
	}

	// No dispatcher configured.
	if w := post(&listener.HTTPHandler{}, jsonHeader(), ok); w.Code != http.StatusInternalServerError {
		t.Errorf("no dispatcher: %d", w.Code)
	}
}

// A web page can make its visitor's browser post to a listener on their
// machine (no-cors, no Content-Type, no preflight). Without a Verifier to
// refuse it, such a request, which a browser marks as from another site,
// is refused; a server's request carries no such mark.
func TestHTTPCrossSiteWithoutVerifier(t *testing.T) {
	c := newCapture(t)
	h := &listener.HTTPHandler{Dispatcher: c.l}
	for site, want := range map[string]int{"cross-site": 403, "same-site": 403, "same-origin": 204, "none": 204, "": 204} {
		hdr := http.Header{}
		if site != "" {
			hdr.Set("Sec-Fetch-Site", site)
		}
		c.last = nil
		w := post(h, hdr, `{"id":"1","topic":"a:b"}`)
		if w.Code != want || (want == 403) != (c.last == nil) {
			t.Errorf("Sec-Fetch-Site %q: %d, dispatched %v; want %d", site, w.Code, c.last != nil, want)
		}
	}
}

func TestHTTPVerifier(t *testing.T) {
	secret := auth.NewSecret([]byte("0123456789abcdef0123456789abcdef"))
	std, err := auth.NewStandard([]auth.Secret{secret})
	if err != nil {
		t.Fatal(err)
	}
	l := listener.New()
	var verified auth.Verified
	mustOn(t, l, "**", func(ctx context.Context, ev *listener.Event) error {
		verified, _ = auth.FromContext(ctx)
		return nil
	})
	h := &listener.HTTPHandler{Dispatcher: l, Verifier: std}
	body := `{"id":"evt_9","topic":"job:ready"}`
	signed := func(body string) http.Header {
		hdr := jsonHeader()
		if err := std.Sign(hdr, auth.Message{ID: "msg_1", Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
		return hdr
	}
	if w := post(h, jsonHeader(), body); w.Code != http.StatusUnauthorized {
		t.Errorf("unsigned: %d", w.Code)
	}
	hdr := signed(body)
	if w := post(h, hdr, body+" "); w.Code != http.StatusUnauthorized {
		t.Errorf("tampered: %d", w.Code)
	}
	sig := hdr.Get("Webhook-Signature")
	w := post(h, hdr, strings.Replace(body, "9", "8", 1))
	if w.Code != http.StatusUnauthorized || strings.Contains(w.Body.String(), sig[3:]) {
		t.Errorf("tampered: %d %q", w.Code, w.Body)
	}
	if w := post(h, signed(body), body); w.Code != http.StatusNoContent {
		t.Fatalf("signed: %d %s", w.Code, w.Body)
	}
	if verified.Scheme != "standard" || verified.ID != "msg_1" {
		t.Fatalf("verified %+v", verified)
	}
	// Verification comes before parsing: a signed malformed body is 400,
	// an unsigned one 401.
	if w := post(h, signed("{"), "{"); w.Code != http.StatusBadRequest {
		t.Errorf("signed malformed: %d", w.Code)
	}
	if w := post(h, jsonHeader(), "{"); w.Code != http.StatusUnauthorized {
		t.Errorf("unsigned malformed: %d", w.Code)
	}
}

// TestHTTPHandlerLogsToListener checks that a refused request is logged
// where the listener it dispatches to logs, and without the body.
func TestHTTPHandlerLogsToListener(t *testing.T) {
	var logs bytes.Buffer
	l := listener.New(listener.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	h := &listener.HTTPHandler{Dispatcher: l}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"id":"secret-body"`))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest {
		t.Fatalf("status %d, want 400", rec.Code)
	}
	if !strings.Contains(logs.String(), "event refused") || strings.Contains(logs.String(), "secret-body") {
		t.Fatalf("log %q: want the refusal, without the body", logs.String())
	}
}
