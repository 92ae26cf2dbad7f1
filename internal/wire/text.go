package wire

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Displayable reports whether s is text that shows as itself in an error,
// a log line, a metric label or a listing: valid UTF-8 without a control
// character (C0, DEL, C1), a line or paragraph separator (U+2028, U+2029)
// or a bidi control (U+200E, U+200F, U+061C, U+202A to U+202E, U+2066 to
// U+2069). A line break can forge a log line; a bidi control makes one
// name read as another (Trojan Source). When s is not, at is the byte
// offset of the first rune that breaks the rule. Names, ids, topics and
// key ids that reach logs are checked with it. It allocates nothing and
// decodes only the bytes at or above 0x80.
func Displayable(s string) (at int, ok bool) {
	for i := 0; i < len(s); {
		c := s[i]
		if c-' ' < 0x7f-' ' { // printable ASCII, in one comparison
			i++
			continue
		}
		if c < utf8.RuneSelf { // C0 or DEL
			return i, false
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || !DisplayableRune(r) {
			return i, false
		}
		i += n
	}
	return 0, true
}

// DisplayableRune reports whether r may appear in text that [Displayable]
// accepts. utf8.RuneError itself (U+FFFD) is displayable; an invalid byte
// is not, which only [Displayable] can tell.
func DisplayableRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= ' ' && r != 0x7f
	}
	return !unicode.IsControl(r) && !unicode.In(r, unicode.Zl, unicode.Zp, unicode.Bidi_Control)
}

// CheckText reports, when [Displayable] refuses s, what it holds and at
// which byte offset, never s itself. Callers wrap the error with their
// package's prefix and sentinel and say which text it is.
func CheckText(s string) error {
	at, ok := Displayable(s)
	if ok {
		return nil
	}
	r, n := utf8.DecodeRuneInString(s[at:])
	switch {
	case r == utf8.RuneError && n == 1:
		return fmt.Errorf("is not valid UTF-8 at byte %d", at)
	case unicode.IsControl(r):
		return fmt.Errorf("holds a control character (%U) at byte %d", r, at)
	}
	return fmt.Errorf("holds a line separator or bidi control (%U) at byte %d", r, at)
}

// Show returns s as it is when [Displayable] accepts it, else quoted in Go
// syntax with escapes for what is not graphic (\u202e, \x1b, \u2028), for
// a log line or an error that names text taken from outside unchecked,
// such as a NATS subject.
func Show(s string) string {
	if _, ok := Displayable(s); ok {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

// SubjectPrefix reports whether p can prefix the NATS subjects of a stream
// (the stream takes p+".>"): dot-separated tokens, none empty, none with a
// wildcard ('*' or '>'), white space or anything [Displayable] refuses. A
// wildcard would make the stream take the subjects of other prefixes ("a.*"
// takes every "a.X.…"); the server refuses the rest, or, for a control
// byte, takes it and shows it in every log line that names a subject.
func SubjectPrefix(p string) bool {
	if p == "" {
		return false
	}
	if _, ok := Displayable(p); !ok {
		return false
	}
	for tok := range strings.SplitSeq(p, ".") {
		if tok == "" || strings.ContainsAny(tok, "*> ") {
			return false
		}
	}
	return true
}
