package wire

import (
	"encoding/json"
	"fmt"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// EscapedJSON encodes v as [json.Marshal] does, then writes as \uXXXX
// every character that is not printable (unicode.IsPrint), which holds
// every one that [DisplayableRune] refuses: encoding/json escapes the
// control characters below U+0020 and U+2028, U+2029, but writes DEL, the
// C1 controls and the bidi controls as they are, and a text stored before
// the rule refused them would then reorder or recolour the terminal that
// shows it. The result is valid JSON that decodes to what json.Marshal
// gives, and valid UTF-8 (json.Marshal writes an invalid byte as \ufffd).
// The admin handler answers with it and herald prints its JSON lines with
// it.
func EscapedJSON(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return EscapeJSON(b), nil
}

// EscapeJSON returns b, JSON that encoding/json (or log/slog's JSON
// handler) wrote, with every character that is not printable written as
// \uXXXX, as [EscapedJSON] does; b itself when it has none. Outside
// strings JSON is ASCII, so every such character is in a string, where
// \uXXXX means it.
func EscapeJSON(b []byte) []byte {
	if printable(b) {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if unicode.IsPrint(r) {
			out = append(out, b[:n]...)
		} else if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
			out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
		} else {
			out = fmt.Appendf(out, `\u%04x`, r)
		}
		b = b[n:]
	}
	return out
}

// printable reports whether b is made of printable characters only; the
// output of json.Marshal is valid UTF-8.
func printable(b []byte) bool {
	for i := 0; i < len(b); {
		if c := b[i]; c-' ' < 0x7f-' ' {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if !unicode.IsPrint(r) {
			return false
		}
		i += n
	}
	return true
}
