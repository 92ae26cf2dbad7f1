package listener

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
)

// refAmbiguous is the slow reference for lookupField's ambiguity: it
// decodes data token by token, and reports whether an object on the path
// holds a segment's key twice, or in another case only. It assumes data
// is valid JSON.
func refAmbiguous(data []byte, path []string) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	for _, seg := range path {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch tok {
		case json.Delim('{'):
			var vals []json.RawMessage // of the keys that fold to seg, exact last
			exact := -1
			for dec.More() {
				k, _ := dec.Token()
				var v json.RawMessage
				if dec.Decode(&v) != nil {
					return false
				}
				if strings.EqualFold(k.(string), seg) {
					if k.(string) == seg {
						exact = len(vals)
					}
					vals = append(vals, v)
				}
			}
			if len(vals) > 1 || len(vals) == 1 && exact < 0 {
				return true
			}
			if exact < 0 {
				return false
			}
			dec = json.NewDecoder(bytes.NewReader(vals[exact]))
		case json.Delim('['):
			n, ok := arrayIndex(seg)
			if !ok {
				return false
			}
			var v json.RawMessage
			for i := 0; i <= n; i++ {
				if !dec.More() || dec.Decode(&v) != nil {
					return false
				}
			}
			dec = json.NewDecoder(bytes.NewReader(v))
		default:
			return false
		}
	}
	return false
}

// refLookup is the slow reference for lookupField: decode everything with
// encoding/json and walk the result.
func refLookup(data []byte, path []string) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", false
	}
	for _, seg := range path {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[seg]; !ok {
				return "", false
			}
		case []any:
			n, ok := arrayIndex(seg)
			if !ok || n >= len(x) {
				return "", false
			}
			v = x[n]
		default:
			return "", false
		}
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "null", true
	}
	return "", false
}

func FuzzField(f *testing.F) {
	f.Add([]byte(`{"a":{"b":"c"}}`), "a.b")
	f.Add([]byte(`{"a":[1,{"b":true}]}`), "a.1.b")
	f.Add([]byte(`{"a\u0062":"\u00e9","ab":-1.5e3}`), "ab")
	f.Add([]byte(`[[null]]`), "0.0")
	f.Add([]byte(`{"a":"x","a":{"b":2}}`), "a.b")
	f.Add([]byte(`{"a":"\xff"}`), "a")
	f.Add([]byte(`{"s":1,"\u017f":2}`), "s")
	f.Add([]byte(`{"k":{"K":1}}`), "k.k")
	f.Fuzz(func(t *testing.T, data []byte, path string) {
		segs := strings.Split(path, ".")
		got, ok, err := lookupField(data, segs) // must not panic on anything
		if !json.Valid(data) {
			return
		}
		if amb := refAmbiguous(data, segs); amb != (err != nil) {
			t.Fatalf("lookupField(%q, %q): error %v; reference ambiguous %v", data, path, err, amb)
		}
		if err != nil {
			return
		}
		want, wantOK := refLookup(data, segs)
		if ok != wantOK || got != want {
			t.Fatalf("lookupField(%q, %q) = %q, %v; reference %q, %v", data, path, got, ok, want, wantOK)
		}
	})
}

// TestScanString checks where jscan.str ends a string, around the escapes
// that make it look for the closing quote again.
func TestScanString(t *testing.T) {
	for _, tc := range []struct {
		in      string
		end     int // s.i after the string; -1: not a string
		escaped bool
	}{
		{`"abc"x`, 5, false},
		{`""`, 2, false},
		{`"a\"b"x`, 6, true},
		{`"\\"x`, 4, true},
		{`"\\\""x`, 6, true},
		{`"a\nb\tc"x`, 9, true},
		{`"` + strings.Repeat(`\n`, 1000) + `"x`, 2002, true},
		{`"` + strings.Repeat(`\"`, 1000) + `"x`, 2002, true},
		{`"abc`, -1, false},
		{`"a\"`, -1, true},
		{`"a\`, -1, true},
	} {
		s := jscan{d: []byte(tc.in)}
		escaped, ok := s.str()
		if ok != (tc.end >= 0) || (ok && (s.i != tc.end || escaped != tc.escaped)) {
			t.Errorf("str(%.40q) = escaped %v, ok %v, at %d; want escaped %v, end %d", tc.in, escaped, ok, s.i, tc.escaped, tc.end)
		}
	}
}
