package listener_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldhq/herald/auth"
	"github.com/heraldhq/herald/listener"
	"github.com/heraldhq/herald/sender"
)

// fuzzHTTP posts body to an HTTPHandler and checks the invariants: no
// panic, a known status, and every accepted event is valid and survives a
// round trip through the native envelope. It then posts the same request
// signed, to a handler with a Verifier, and checks that the ce-* headers,
// which no scheme signs, changed nothing: a verified event is the one the
// body gives without them, and binary mode is never dispatched.
func fuzzHTTP(t *testing.T, header http.Header, body []byte) {
	code, got := serveFuzz(t, nil, header, body)
	switch code {
	case http.StatusNoContent:
		if len(got) != 1 {
			t.Fatalf("204 but %d events dispatched", len(got))
		}
		ev := got[0]
		if err := ev.Validate(); err != nil {
			t.Fatalf("accepted an invalid event: %v", err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatalf("accepted event does not encode: %v", err)
		}
		back, err := listener.ParseHTTPForTest(http.Header{"Content-Type": {"application/json"}}, b)
		if err != nil {
			t.Fatalf("re-encoded event %s does not parse: %v", b, err)
		}
		if back.ID != ev.ID || back.Topic != ev.Topic || !back.CreatedAt.Equal(ev.CreatedAt) {
			t.Fatalf("round trip changed the event: %+v vs %+v", back, ev)
		}
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		if len(got) != 0 {
			t.Fatalf("status %d but handler ran", code)
		}
	default:
		t.Fatalf("unexpected status %d", code)
	}
	fuzzSigned(t, header, body)
}

var fuzzVerifier = func() *auth.Scheme {
	std, err := auth.NewStandard([]auth.Secret{auth.NewSecret([]byte("fuzz-secret-0123456789abcdef0123"))})
	if err != nil {
		panic(err)
	}
	return std
}()

// fuzzSigned is fuzzHTTP's verified half.
func fuzzSigned(t *testing.T, header http.Header, body []byte) {
	signed := header.Clone()
	if signed == nil {
		signed = http.Header{}
	}
	if err := fuzzVerifier.Sign(signed, auth.Message{ID: "fuzz", Body: body}); err != nil {
		t.Fatal(err)
	}
	code, got := serveFuzz(t, fuzzVerifier, signed, body)
	if code != http.StatusNoContent {
		if len(got) != 0 {
			t.Fatalf("verified: status %d but handler ran", code)
		}
		return
	}
	if len(got) != 1 {
		t.Fatalf("verified: 204 but %d events dispatched", len(got))
	}
	stripped := http.Header{}
	for k, v := range header {
		if !strings.HasPrefix(strings.ToLower(k), "ce-") {
			stripped[k] = v
		}
	}
	want, err := listener.ParseHTTPForTest(stripped, body)
	if err != nil {
		t.Fatalf("verified event %+v, but the body alone does not parse: %v", got[0], err)
	}
	if !reflect.DeepEqual(got[0], want) {
		t.Fatalf("ce-* headers changed a verified event: %+v, body alone gives %+v", got[0], want)
	}
}

// serveFuzz posts one request to an HTTPHandler with verifier v (nil: none)
// and returns the status and the events dispatched.
func serveFuzz(t *testing.T, v auth.Verifier, header http.Header, body []byte) (int, []*listener.Event) {
	l := listener.New()
	var got []*listener.Event
	if err := l.On("**", func(_ context.Context, ev *listener.Event) error {
		got = append(got, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	h := &listener.HTTPHandler{Dispatcher: l, Verifier: v, MaxBodyBytes: 4096}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
	for k, v := range header {
		req.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w.Code, got
}

var fuzzContentTypes = []string{"application/json", listener.ContentTypeCloudEventsForTest, "", "text/plain", listener.ContentTypeCloudEventsBatchForTest}

func FuzzEnvelope(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id":"1","topic":"job:ready","createdAt":"2025-01-01T00:00:00Z","context":{"a":"b"},"payload":{"x":[1,2]},"namespaces":["n"]}`))
	f.Add(uint8(0), []byte(`{"id":"1","topic":"job:ready","id":"2"}`))
	f.Add(uint8(0), []byte(`{"id":"1","topic":"job:ready"} x`))
	f.Add(uint8(1), []byte(`{"specversion":"1.0","id":"1","source":"s","type":"a:b","ext":3,"data":{"k":"v"}}`))
	f.Add(uint8(1), []byte(`{"specversion":"1.0","id":"1","source":"s","type":"a:b","data_base64":"AA=="}`))
	f.Add(uint8(2), []byte(`{"id":"\u00e9","topic":"a:b","payload":null}`))
	f.Add(uint8(0), []byte(`{"id":"1","topic":"job:ready","partitionKey":"order-7"}`))
	f.Add(uint8(1), []byte(`{"specversion":"1.0","id":"1","source":"s","type":"a:b","partitionkey":"k\u0001"}`))
	f.Add(uint8(0), []byte(`{"id":"1","topic":"job:ready","createdAt":"2025-01-01T00:00:00+24:00"}`))
	f.Add(uint8(1), []byte(`{"specversion":"1.0","id":"1","source":"s","type":"a:b","time":"2025-01-01T00:00:00-24:30"}`))
	f.Fuzz(func(t *testing.T, ct uint8, body []byte) {
		hdr := http.Header{}
		if c := fuzzContentTypes[int(ct)%len(fuzzContentTypes)]; c != "" {
			hdr.Set("Content-Type", c)
		}
		fuzzHTTP(t, hdr, body)
	})
}

func FuzzCloudEventsBinary(f *testing.F) {
	f.Add("1.0", "id-1", "/src", "job:ready", "2025-01-01T00:00:00Z", "ext", "v%20x", "application/json", []byte(`{"a":1}`))
	f.Add("1.0", "id-1", "", "job:ready", "", "Bad_Name", "v", "", []byte(``))
	f.Add("0.3", "id-1", "s", "job", "now", "ext", "%zz", "text/plain", []byte(`<a/>`))
	f.Fuzz(func(t *testing.T, spec, id, source, typ, tm, extName, extVal, ct string, body []byte) {
		hdr := http.Header{}
		set := func(k, v string) {
			if v != "" {
				hdr[k] = []string{v}
			}
		}
		set("Ce-Specversion", spec)
		set("Ce-Id", id)
		set("Ce-Source", source)
		set("Ce-Type", typ)
		set("Ce-Time", tm)
		set("Content-Type", ct)
		if extName != "" {
			set("Ce-"+extName, extVal)
		}
		if hdr.Get("Ce-Specversion") == "" {
			hdr["Ce-Specversion"] = []string{"1.0"}
		}
		fuzzHTTP(t, hdr, body)
	})
}

// FuzzPattern checks that the listener routes exactly as the module's one
// matcher decides, seen through sender: On accepts the patterns
// sender.ValidatePattern accepts, and a handler runs for the topics
// Destination.Wants wants, with the router's indexes in play.
func FuzzPattern(f *testing.F) {
	for _, s := range [][2]string{{"job:*", "job:ready"}, {"**", "a:b"}, {"*a*b:*", "xaxb:c"}, {"job:**", "job:x"}, {"a:b:c", "a:b"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		verr := sender.ValidatePattern(pattern)
		var l listener.Listener
		ran := false
		err := l.On(pattern, func(context.Context, *listener.Event) error { ran = true; return nil })
		if (err == nil) != (verr == nil) || err != nil && !errors.Is(err, sender.ErrInvalidPattern) {
			t.Fatalf("On(%q) = %v, ValidatePattern = %v", pattern, err, verr)
		}
		if err != nil {
			return
		}
		want := sender.Destination{Topics: []string{pattern}}.Wants(topic)
		if want && listener.ValidateTopicForTest(topic) != nil {
			t.Fatalf("pattern %q matched invalid topic %q", pattern, topic)
		}
		// A valid topic used as a pattern matches exactly itself.
		if listener.ValidateTopicForTest(pattern) == nil && want != (pattern == topic) {
			t.Fatalf("literal pattern %q vs %q: %v", pattern, topic, want)
		}
		_ = l.Dispatch(context.Background(), &listener.Event{ID: "x", Topic: topic})
		if ran != want {
			t.Fatalf("dispatch of %q to %q ran=%v, Wants=%v", topic, pattern, ran, want)
		}
	})
}
