package listener

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode"
)

// maxFoldDepth bounds the nesting foldedKey follows; encoding/json refuses
// a document nested deeper than 10,000 anyway.
const maxFoldDepth = 10000

// foldedKey returns a key of an object in data that another key of the
// same object equals when case is folded, or repeats, and whether there is
// one. encoding/json matches a struct field to any such key, the last one
// winning, while a reader matching keys exactly (a map, JavaScript,
// Python) takes the one spelt as the field is: a typed handler's Validate
// would check one value and Forward send bytes that mean another. What
// does not parse it leaves to the decoder to describe.
func foldedKey(data []byte) (string, bool) {
	type frame struct {
		keys      map[string]struct{} // folded; nil for an array
		expectKey bool
	}
	var stack []frame
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		t, err := dec.Token()
		if err != nil || len(stack) > maxFoldDepth {
			return "", false
		}
		top := len(stack) - 1
		switch t := t.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, frame{keys: map[string]struct{}{}, expectKey: true})
				continue
			case '[':
				stack = append(stack, frame{})
				continue
			}
			stack = stack[:top] // '}' or ']': the parent's value ends
		case string:
			if top >= 0 && stack[top].keys != nil && stack[top].expectKey {
				f := foldString(t)
				if _, dup := stack[top].keys[f]; dup {
					return t, true
				}
				stack[top].keys[f] = struct{}{}
				stack[top].expectKey = false
				continue
			}
		}
		if top = len(stack) - 1; top >= 0 && stack[top].keys != nil {
			stack[top].expectKey = true // a member's value ended
		}
	}
}

// foldString maps each rune of s to the least rune that case folding
// equates it with, so that two strings strings.EqualFold equates map to
// the same string (encoding/json's rule for struct fields: "K", "k" and
// the Kelvin sign, "S", "s" and "ſ").
func foldString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
