package outbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// FuzzAdminHandler sends AdminHandler any method, path, query, content type
// and body, over an outbox holding dead letters whose bodies carry a marker.
// Whatever comes in, the handler answers without panicking, with a status
// and a JSON body, and never with a delivery's body.
func FuzzAdminHandler(f *testing.F) {
	f.Add("GET", "/dead-letters", "limit=1", "", "")
	f.Add("GET", "/dead-letters", "after=YQBhMQ&destination=a", "", "")
	f.Add("GET", "/dead-letters", "after=%ZZ&limit=-1", "", "")
	f.Add("GET", "/history", "id=a1", "", "")
	f.Add("GET", "/stats", "", "", "")
	f.Add("POST", "/dead-letters/replay", "", "application/json", `{"ids":["a1"]}`)
	f.Add("POST", "/dead-letters/purge", "", "application/json; charset=utf-8", `{"all":true} {}`)
	f.Add("POST", "/dead-letters/purge", "", "text/plain", `{"destination":"b"}`)
	f.Add("DELETE", "/dead-letters", "", "", "")
	f.Add("POST", "/destinations/enable", "", "application/json", `{"destination":"a"}`)
	f.Add("POST", "/destinations/enable", "", "application/json", `{"destination":"a\u0007","x":1}`)
	f.Add("GET", "/destinations", "", "", "")
	f.Add("GET", "/dead-letters", "destination=semi;colon&destination=a", "", "")
	f.Add("POST", "/dead-letters/purge", "", "application/json", `{"all":false,"ALL":true}`)
	f.Add("POST", "/dead-letters/replay", "", "application/json", `{"destination":"zz","destination":"a"}`)
	f.Fuzz(func(t *testing.T, method, path, query, contentType, body string) {
		if !validMethod(method) {
			return
		}
		h := outbox.AdminHandler(fuzzAdminOutbox(t))
		r := &http.Request{
			Method: method,
			URL:    &url.URL{Path: path, RawQuery: query},
			Header: http.Header{},
			Body:   io.NopCloser(strings.NewReader(body)),
		}
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		r = r.WithContext(t.Context())
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code < 200 || w.Code > 599 {
			t.Fatalf("status %d", w.Code)
		}
		if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("body is not JSON: %q", w.Body.String())
		}
		if path == "/destinations/enable" && w.Code == http.StatusOK {
			// The answer names what was enabled, which the request
			// named (a marker too, maybe), and nothing else.
			var req struct {
				Destination string `json:"destination"`
			}
			var got map[string]string
			if json.Unmarshal([]byte(body), &req) != nil || json.Unmarshal(w.Body.Bytes(), &got) != nil ||
				len(got) != 1 || got["enabled"] != req.Destination {
				t.Fatalf("enable %q answered %q", body, w.Body.String())
			}
			return
		}
		if bytes.Contains(w.Body.Bytes(), []byte("BODY-")) {
			t.Fatalf("a delivery's body was served: %q", w.Body.String())
		}
	})
}

// validMethod reports whether m is a token net/http would accept as a
// request method.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// fuzzAdminOutbox returns a memory outbox with three dead letters, two of
// destination "a" and one of "b", whose bodies hold the marker "BODY-".
func fuzzAdminOutbox(t *testing.T) outbox.Store {
	ob := outbox.NewMemory()
	now := time.Now()
	var ds []outbox.Delivery
	for _, id := range []string{"a1", "a2", "b1"} {
		ds = append(ds, outbox.Delivery{ID: id, Destination: id[:1], EventID: "evt-" + id,
			Body: []byte(`{"x":"BODY-` + id + `"}`), Due: now, Created: now})
	}
	if err := ob.Put(t.Context(), ds...); err != nil {
		t.Fatal(err)
	}
	ls, err := ob.Lease(t.Context(), outbox.LeaseOptions{Max: 10, TTL: time.Minute, Now: time.Now()})
	if err != nil || len(ls) != len(ds) {
		t.Fatalf("Lease: %d, %v", len(ls), err)
	}
	ss := make([]outbox.Settlement, len(ls))
	for i, l := range ls {
		ss[i] = outbox.Settlement{ID: l.ID, Token: l.Token, Outcome: outbox.DeadLettered, Reason: "gone (410)",
			Attempt: outbox.AttemptRecord{At: now, Status: 410, Tries: 1, Error: "gone"}}
	}
	for _, err := range ob.Settle(t.Context(), ss) {
		if err != nil {
			t.Fatal(err)
		}
	}
	return ob
}
