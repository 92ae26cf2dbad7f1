package listener_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldhq/herald/listener"
)

// TestHTTPAttributesBounded: an event carries at most 64 context
// attributes (CloudEvents source, subject and extensions included) and 64
// namespaces. A body of a megabyte held about 96,000 of them, which took
// 40 MB to read and was forwarded whole; one more than the bound is now
// refused with 400, in every format, and the bound itself is taken.
func TestHTTPAttributesBounded(t *testing.T) {
	c := newCapture(t)
	h := &listener.HTTPHandler{Dispatcher: c.l}
	ce := http.Header{"Content-Type": {"application/cloudevents+json"}}
	structured := func(n int) string { // source and n-1 extensions
		var b strings.Builder
		b.WriteString(`{"specversion":"1.0","id":"ce-1","source":"urn:s","type":"records:created"`)
		for i := 1; i < n; i++ {
			fmt.Fprintf(&b, `,"x%d":"v"`, i)
		}
		return b.String() + `,"data":{}}`
	}
	envelope := func(field string, n int) string {
		items := make([]string, n)
		for i := range items {
			if field == "context" {
				items[i] = fmt.Sprintf(`"k%d":"v"`, i)
			} else {
				items[i] = fmt.Sprintf(`"ns%d"`, i)
			}
		}
		open, end := "{", "}"
		if field == "namespaces" {
			open, end = "[", "]"
		}
		return `{"id":"e-1","topic":"records:created","` + field + `":` + open + strings.Join(items, ",") + end + `,"payload":{}}`
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		body   func(n int) string
	}{
		{"structured CloudEvent", ce, structured},
		{"envelope context", jsonHeader(), func(n int) string { return envelope("context", n) }},
		{"envelope namespaces", jsonHeader(), func(n int) string { return envelope("namespaces", n) }},
	} {
		if w := post(h, tc.header, tc.body(64)); w.Code != http.StatusNoContent {
			t.Errorf("%s, 64 attributes: status %d (%s), want 204", tc.name, w.Code, w.Body)
		}
		w := post(h, tc.header, tc.body(65))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "more than 64") {
			t.Errorf("%s, 65 attributes: status %d (%s), want 400 saying more than 64", tc.name, w.Code, strings.TrimSpace(w.Body.String()))
		}
	}
}
