package listener_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
)

// signedIntake is an HTTPHandler with a Standard Webhooks verifier behind
// a real TLS server, and the events its handler saw.
type signedIntake struct {
	srv    *httptest.Server
	signer *auth.Scheme

	mu  sync.Mutex
	got []listener.Event
}

func newSignedIntake(t *testing.T, opts ...listener.Option) *signedIntake {
	t.Helper()
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("0123456789abcdef0123456789abcdef"))})
	if err != nil {
		t.Fatal(err)
	}
	in := &signedIntake{signer: std}
	l := listener.New(opts...)
	mustOn(t, l, "**", func(_ context.Context, ev *listener.Event) error {
		in.mu.Lock()
		in.got = append(in.got, *ev)
		in.mu.Unlock()
		return nil
	})
	in.srv = httptest.NewTLSServer(&listener.HTTPHandler{Dispatcher: l, Verifier: std})
	t.Cleanup(in.srv.Close)
	return in
}

// sign returns the headers a platform sends with body: contentType and a
// Standard Webhooks signature of the delivery id msgID.
func (in *signedIntake) sign(t *testing.T, contentType, msgID, body string) http.Header {
	t.Helper()
	h := http.Header{"Content-Type": {contentType}}
	if err := in.signer.Sign(h, auth.Message{ID: msgID, Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	return h
}

// post sends body with header and returns the status and reply.
func (in *signedIntake) post(t *testing.T, header http.Header, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, in.srv.URL+"/events", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header.Clone()
	resp, err := in.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(reply))
}

func (in *signedIntake) events() []listener.Event {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]listener.Event(nil), in.got...)
}

// TestHTTPVerifiedRelabel replays a captured signed request with ce-*
// headers that re-label it (another type, the id of a later event): the
// signature still verifies, since no scheme signs those headers, so the
// request must be refused before any handler runs, and the genuine later
// event must not be dropped as a duplicate.
func TestHTTPVerifiedRelabel(t *testing.T) {
	in := newSignedIntake(t, listener.WithDedupe(0, 0))

	captured := `{"id":"evt_1","topic":"job:ready","payload":{"jobId":"j1"}}`
	hdr := in.sign(t, "application/json", "msg_1", captured)
	if code, reply := in.post(t, hdr, captured); code != http.StatusNoContent {
		t.Fatalf("genuine event: %d %q", code, reply)
	}

	relabelled := hdr.Clone()
	relabelled.Set("Ce-Specversion", "1.0")
	relabelled.Set("Ce-Type", "billing:refund")
	relabelled.Set("Ce-Id", "evt_2")
	relabelled.Set("Ce-Source", "/billing")
	code, reply := in.post(t, relabelled, captured)
	want := "binary-mode CloudEvents attributes are not signed by standard; " +
		"send structured mode (Content-Type: application/cloudevents+json)"
	if code != http.StatusBadRequest || reply != want {
		t.Errorf("relabelled replay: %d %q, want 400 %q", code, reply, want)
	}
	// A binary-mode CloudEvent signed as a whole is refused the same way:
	// its attributes are outside the signature all the same.
	binary := in.sign(t, "application/json", "msg_b", `{"jobId":"j9"}`)
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "evt_9", "Ce-Type": "job:ready", "Ce-Source": "/jobs"} {
		binary.Set(k, v)
	}
	if code, reply := in.post(t, binary, `{"jobId":"j9"}`); code != http.StatusBadRequest || reply != want {
		t.Errorf("signed binary mode: %d %q, want 400", code, reply)
	}
	// Unsigned, it is refused as unsigned first.
	binary.Del("Webhook-Signature")
	if code, _ := in.post(t, binary, `{"jobId":"j9"}`); code != http.StatusUnauthorized {
		t.Errorf("unsigned binary mode: %d, want 401", code)
	}
	// The signed envelope re-sent as a structured CloudEvent does not parse.
	asStructured := hdr.Clone()
	asStructured.Set("Content-Type", listener.ContentTypeCloudEventsForTest)
	if code, _ := in.post(t, asStructured, captured); code != http.StatusBadRequest {
		t.Errorf("envelope re-sent as structured: %d, want 400", code)
	}

	// The genuine evt_2, in the native envelope and then structured mode
	// (another id), is handled: the replay did not use up its id.
	later := `{"id":"evt_2","topic":"billing:refund","payload":{"amount":5}}`
	if code, reply := in.post(t, in.sign(t, "application/json", "msg_2", later), later); code != http.StatusNoContent {
		t.Fatalf("genuine later event: %d %q", code, reply)
	}
	structured := `{"specversion":"1.0","id":"evt_3","type":"job:done","source":"/jobs","data":{"jobId":"j1"}}`
	if code, reply := in.post(t, in.sign(t, listener.ContentTypeCloudEventsForTest, "msg_3", structured), structured); code != http.StatusNoContent {
		t.Fatalf("structured event: %d %q", code, reply)
	}

	got := in.events()
	wantEvents := []struct{ id, topic, payload string }{
		{"evt_1", "job:ready", `{"jobId":"j1"}`},
		{"evt_2", "billing:refund", `{"amount":5}`},
		{"evt_3", "job:done", `{"jobId":"j1"}`},
	}
	if len(got) != len(wantEvents) {
		t.Fatalf("handler saw %d events, want %d: %+v", len(got), len(wantEvents), got)
	}
	for i, w := range wantEvents {
		// The id is the body's, not the signed webhook-id (msg_*).
		if got[i].ID != w.id || got[i].Topic != w.topic || string(got[i].Payload) != w.payload {
			t.Errorf("event %d = %s %s %s, want %s %s %s", i, got[i].ID, got[i].Topic, got[i].Payload, w.id, w.topic, w.payload)
		}
	}
	if got[2].Context["source"] != "/jobs" {
		t.Errorf("structured source %q, want /jobs", got[2].Context["source"])
	}
}

// TestHTTPBinaryWithoutVerifier: with no Verifier nothing is signed, and
// binary mode keeps working.
func TestHTTPBinaryWithoutVerifier(t *testing.T) {
	c := newCapture(t)
	srv := httptest.NewTLSServer(&listener.HTTPHandler{Dispatcher: c.l})
	defer srv.Close()
	req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = ceHeader()
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || c.last == nil || c.last.ID != "ce-1" || c.last.Topic != "workbook:updated" {
		t.Fatalf("binary mode without Verifier: %d, event %+v", resp.StatusCode, c.last)
	}
}

// TestHTTPBinaryUnderMiddleware: an HTTPHandler without a Verifier of its
// own, behind auth.Middleware, refuses binary mode as one with a Verifier
// does: the middleware verified the body, not the ce-* headers. It took
// the event's type and id from them, so a captured signed request could
// be delivered as any topic and id, its signed bytes the payload. The
// native envelope still passes.
func TestHTTPBinaryUnderMiddleware(t *testing.T) {
	in := newSignedIntake(t) // for its signer
	l := listener.New()
	var got []string
	var mu sync.Mutex
	mustOn(t, l, "**", func(_ context.Context, ev *listener.Event) error {
		mu.Lock()
		got = append(got, ev.Topic+"/"+ev.ID)
		mu.Unlock()
		return nil
	})
	srv := httptest.NewTLSServer(auth.Middleware(in.signer)(&listener.HTTPHandler{Dispatcher: l}))
	defer srv.Close()
	post := func(h http.Header, body string) int {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"id":"evt_1","topic":"job:ready","payload":{"n":1}}`
	relabelled := in.sign(t, "application/json", "msg_1", body)
	for k, v := range map[string]string{"Ce-Specversion": "1.0", "Ce-Id": "attacker-chosen", "Ce-Type": "account:delete", "Ce-Source": "/x"} {
		relabelled.Set(k, v)
	}
	if code := post(relabelled, body); code != http.StatusBadRequest {
		t.Errorf("binary mode under auth.Middleware: %d, want 400", code)
	}
	if code := post(in.sign(t, "application/json", "msg_2", body), body); code != http.StatusNoContent {
		t.Errorf("the native envelope under auth.Middleware: %d, want 204", code)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "job:ready/evt_1" {
		t.Errorf("dispatched %q, want the envelope's event alone", got)
	}
}
