package wire

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestEscapedJSONRefusedRunes: every rune that DisplayableRune refuses is
// written escaped, and the answer decodes to the text.
func TestEscapedJSONRefusedRunes(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if DisplayableRune(r) || r >= 0xd800 && r < 0xe000 {
			continue
		}
		s := "a" + string(r) + "b"
		b, err := EscapedJSON(s)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b) || strings.ContainsRune(string(b), r) {
			t.Fatalf("EscapedJSON(%q) = %q", s, b)
		}
		var got string
		if err := json.Unmarshal(b, &got); err != nil || got != s {
			t.Fatalf("EscapedJSON(%q) = %q decodes to %q, %v", s, b, got, err)
		}
	}
}

// FuzzEscapedJSON: EscapedJSON writes no character that is not
// printable, and decodes to what json.Marshal would have written.
func FuzzEscapedJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "job:re\u202eady", "\xff\xfe", "\U000e0001tag", "\u2028\u2029", "\x7f\u0085\u009b", "héllo 世界"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := EscapedJSON(map[string]string{"s": s})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range string(b) {
			if !unicode.IsPrint(r) || !DisplayableRune(r) {
				t.Fatalf("EscapedJSON of %q = %q", s, b)
			}
		}
		if !utf8.Valid(b) {
			t.Fatalf("EscapedJSON of %q = %q", s, b)
		}
		var got, want map[string]string
		plain, _ := json.Marshal(map[string]string{"s": s})
		if err := json.Unmarshal(plain, &want); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &got); err != nil || got["s"] != want["s"] {
			t.Fatalf("EscapedJSON of %q = %q decodes to %q, %v", s, b, got["s"], err)
		}
	})
}
