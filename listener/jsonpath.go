package listener

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// errAmbiguousKey: a payload object holds a filter's key twice, or in
// another case (see lookupField).
var errAmbiguousKey = errors.New("payload holds a filter's key twice, or in another case")

// lookupField finds the scalar at a dotted path in a JSON document without
// decoding the rest of it. Object keys are matched exactly, as encoding/json
// decodes them (escapes resolved, bytes that are not UTF-8 read as U+FFFD);
// a segment made of digits also indexes an array. It returns the string's
// value for a JSON string, the literal text for a number, true, false or
// null, and ok=false when the path does not lead to a scalar or the
// document is malformed on the way.
//
// An object on the path whose keys include the segment twice, or a key
// that differs from it only in case, is ambiguous: encoding/json decodes it
// into a map by the exact key, into a struct by any key that matches when
// case is folded, the last one winning. It returns errAmbiguousKey then, so
// that a filter cannot be made to read another value than a handler does.
func lookupField(data []byte, path []string) (val string, ok bool, err error) {
	s := jscan{d: data}
	for _, seg := range path {
		s.ws()
		switch s.peek() {
		case '{':
			found, ambiguous := s.findKey(seg)
			if ambiguous {
				return "", false, fmt.Errorf("%w: %q", errAmbiguousKey, seg)
			}
			if !found {
				return "", false, nil
			}
		case '[':
			n, isIndex := arrayIndex(seg)
			if !isIndex || !s.findIndex(n) {
				return "", false, nil
			}
		default:
			return "", false, nil
		}
	}
	s.ws()
	switch c := s.peek(); {
	case c == '"':
		start := s.i
		esc, ok := s.str()
		if !ok {
			return "", false, nil
		}
		raw := s.d[start+1 : s.i-1]
		if !esc && utf8.Valid(raw) {
			return string(raw), true, nil
		}
		var out string
		if json.Unmarshal(s.d[start:s.i], &out) != nil {
			return "", false, nil
		}
		return out, true, nil
	case c == '-' || c >= '0' && c <= '9' || c == 't' || c == 'f' || c == 'n':
		start := s.i
		for s.i < len(s.d) && !delimiter(s.d[s.i]) {
			s.i++
		}
		return string(s.d[start:s.i]), true, nil
	default:
		return "", false, nil
	}
}

// arrayIndex parses a path segment as a non-negative array index.
func arrayIndex(seg string) (int, bool) {
	if seg == "" || len(seg) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func delimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// jscan is a minimal, lenient JSON scanner over a byte slice. It never
// panics on malformed input; it just reports failure.
type jscan struct {
	d []byte
	i int
}

func (s *jscan) peek() byte {
	if s.i < len(s.d) {
		return s.d[s.i]
	}
	return 0
}

func (s *jscan) ws() {
	for s.i < len(s.d) {
		switch s.d[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// str consumes a string starting at the opening quote and reports whether it
// held escapes. It jumps to the next quote with bytes.IndexByte and looks
// for a backslash only before it, so a payload's long strings are skipped
// at memory speed. The quote is looked for again only once an escape moved
// past it: looking again after every escape read a long string of escapes
// in quadratic time, seconds for a 1 MiB body.
func (s *jscan) str() (escaped, ok bool) {
	s.i++   // opening quote
	q := -1 // the next quote at or after s.i, once found
	for s.i < len(s.d) {
		if q < s.i {
			n := bytes.IndexByte(s.d[s.i:], '"')
			if n < 0 {
				return escaped, false
			}
			q = s.i + n
		}
		b := bytes.IndexByte(s.d[s.i:q], '\\')
		if b < 0 {
			s.i = q + 1
			return escaped, true
		}
		escaped = true
		s.i += b + 2 // the escaped byte, a quote or not, is no end
	}
	return escaped, false
}

// skip consumes one value of any kind.
func (s *jscan) skip() bool {
	s.ws()
	switch s.peek() {
	case '"':
		_, ok := s.str()
		return ok
	case '{', '[':
		depth := 0
		for s.i < len(s.d) {
			switch s.d[s.i] {
			case '"':
				if _, ok := s.str(); !ok {
					return false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return true
				}
			}
			s.i++
		}
		return false
	case 0:
		return false
	default:
		start := s.i
		for s.i < len(s.d) && !delimiter(s.d[s.i]) {
			s.i++
		}
		return s.i > start
	}
}

// findKey positions the scanner at the value of key in the object that
// starts at the current position. It reports found=false when the object
// lacks key or is malformed, and ambiguous=true when the object holds key
// more than once, or a key equal to it only when case is folded (see
// lookupField).
func (s *jscan) findKey(key string) (found, ambiguous bool) {
	s.i++ // '{'
	at, folds := -1, 0
	kb := []byte(key) // once, not per key compared
	for {
		s.ws()
		switch s.peek() {
		case '}':
			switch {
			case folds > 1 || folds == 1 && at < 0:
				return false, true
			case at < 0:
				return false, false
			}
			s.i = at
			return true, false
		case ',':
			s.i++
			continue
		case '"':
		default:
			return false, false
		}
		start := s.i
		esc, ok := s.str()
		if !ok {
			return false, false
		}
		// A key with an escape or with bytes that are not UTF-8 is
		// compared as encoding/json decodes it (invalid bytes become
		// U+FFFD), so that the filter sees the keys a receiver sees.
		k := s.d[start+1 : s.i-1]
		if esc || !utf8.Valid(k) {
			var dk string
			if json.Unmarshal(s.d[start:s.i], &dk) != nil {
				return false, false
			}
			k = []byte(dk)
		}
		exact := string(k) == key
		if exact || bytes.EqualFold(k, kb) {
			folds++ // bytes.EqualFold is encoding/json's own rule for struct fields
		}
		s.ws()
		if s.peek() != ':' {
			return false, false
		}
		s.i++
		s.ws()
		if exact {
			at = s.i
		}
		if !s.skip() {
			return false, false
		}
	}
}

// findIndex positions the scanner at element n of the array that starts at
// the current position.
func (s *jscan) findIndex(n int) bool {
	s.i++ // '['
	for k := 0; ; k++ {
		s.ws()
		if s.peek() == ']' {
			return false
		}
		if k == n {
			return true
		}
		if !s.skip() {
			return false
		}
		s.ws()
		if s.peek() != ',' {
			return false
		}
		s.i++
	}
}
