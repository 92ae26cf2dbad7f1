package wire

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"strings"
	"testing"
)

// FuzzCheckHeader checks the two rules against what they promise: a header
// CheckHeader accepts is written by net/http and read back as one field of
// that name with that value (less the white space HTTP trims at either
// end), so it can neither split into two fields nor end the header block;
// an id CheckID accepts is such a header value, unchanged, and fits in
// MaxIDLen bytes.
func FuzzCheckHeader(f *testing.F) {
	f.Add("X-Tenant", "acme")
	f.Add("X-Evil", "a\r\nX-Injected: 1")
	f.Add("Bad Name", "v")
	f.Add("X-Tab", "a\tb")
	f.Add("X-Nul", "a\x00b")
	f.Add("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
	f.Fuzz(func(t *testing.T, name, value string) {
		if CheckHeader(name, value) == nil {
			if got := roundTrip(t, name, value); got != strings.Trim(value, " \t") {
				t.Fatalf("header %q: %q came back as %q", name, value, got)
			}
		}
		if CheckID(value) == nil {
			if len(value) > MaxIDLen || CheckHeader("Webhook-Id", value) != nil {
				t.Fatalf("CheckID accepted %q, which is no header value", value)
			}
			if got := roundTrip(t, "Webhook-Id", value); got != value {
				t.Fatalf("id %q came back as %q", value, got)
			}
		}
	})
}

// roundTrip writes one header field with net/http and reads the header
// block back, failing unless it holds exactly that one field.
func roundTrip(t *testing.T, name, value string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := (http.Header{name: {value}}).Write(&buf); err != nil {
		t.Fatal(err)
	}
	buf.WriteString("\r\n")
	h, err := textproto.NewReader(bufio.NewReader(&buf)).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("header %q: %q does not read back: %v", name, value, err)
	}
	if len(h) != 1 || len(h[textproto.CanonicalMIMEHeaderKey(name)]) != 1 {
		t.Fatalf("header %q: %q read back as %v", name, value, h)
	}
	return h.Get(name)
}
