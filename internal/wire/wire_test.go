package wire

import (
	"strings"
	"testing"
)

func TestCheckID(t *testing.T) {
	for _, tc := range []struct {
		name, id string
		ok       bool
	}{
		{"uuid", "01890a5d-ac96-774b-bcce-b302099a8057", true},
		{"punctuation", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W:job.done", true},
		{"longest", strings.Repeat("a", MaxIDLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxIDLen+1), false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"line break", "a\r\nX-Evil: 1", false},
		{"NUL", "a\x00", false},
		{"DEL", "a\x7f", false},
		{"non-ASCII", "café", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckID(tc.id)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckID(%q) = %v, want ok=%v", tc.id, err, tc.ok)
			}
			if err != nil && tc.id != "" && strings.Contains(err.Error(), tc.id) {
				t.Fatalf("error %q echoes the id", err)
			}
		})
	}
}

func TestCheckHeader(t *testing.T) {
	for _, tc := range []struct {
		test, name, value string
		ok                bool
	}{
		{"plain", "X-Tenant", "acme", true},
		{"token punctuation", "X-A!#$%&'*+-.^_`|~1", "secret-v", true},
		{"tab in value", "X-A", "a\tb", true},
		{"empty value", "X-A", "", true},
		{"utf-8 value", "X-A", "café", true},
		{"empty name", "", "secret-v", false},
		{"space in name", "X A", "secret-v", false},
		{"colon in name", "X:A", "secret-v", false},
		{"non-ASCII name", "X-Café", "secret-v", false},
		{"CRLF in value", "X-A", "secret\r\nX-Evil: 1", false},
		{"LF in value", "X-A", "v\nw", false},
		{"NUL in value", "X-A", "v\x00", false},
		{"DEL in value", "X-A", "v\x7f", false},
	} {
		t.Run(tc.test, func(t *testing.T) {
			err := CheckHeader(tc.name, tc.value)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckHeader(%q, %q) = %v, want ok=%v", tc.name, tc.value, err, tc.ok)
			}
			if err != nil && tc.value != "" && strings.Contains(err.Error(), tc.value) {
				t.Fatalf("error %q echoes the value", err)
			}
		})
	}
}
