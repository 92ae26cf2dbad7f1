package listener

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// TestEnvelopeStopsAtTheBound: a native envelope of 100,000 context
// attributes (or namespaces), about a megabyte, is refused as soon as the
// 65th is read, not after all of them are decoded into a map (or a slice)
// and counted: refusing it costs about the allocations of refusing one of
// 65, where it cost one or more for each attribute.
func TestEnvelopeStopsAtTheBound(t *testing.T) {
	for _, field := range []string{"context", "namespaces"} {
		refuse := func(n int) float64 {
			items := make([]string, n)
			for i := range items {
				if field == "context" {
					items[i] = fmt.Sprintf(`"k%d":"v%d"`, i, i)
				} else {
					items[i] = fmt.Sprintf(`"ns%d"`, i)
				}
			}
			open, end := "{", "}"
			if field == "namespaces" {
				open, end = "[", "]"
			}
			body := []byte(`{"id":"e-1","topic":"records:created","` + field + `":` + open + strings.Join(items, ",") + end + `,"payload":{}}`)
			var err error
			allocs := testing.AllocsPerRun(3, func() { _, err = decodeEnvelope(body) })
			if !errors.Is(err, ErrInvalidEvent) || !strings.Contains(err.Error(), "more than 64") {
				t.Fatalf("%s of %d: %v, want ErrInvalidEvent, more than 64", field, n, err)
			}
			return allocs
		}
		few, many := refuse(maxAttributes+1), refuse(100_000)
		// The strict decoder's buffer doubles some twenty times more on its
		// way through a megabyte.
		if many > few+64 {
			t.Errorf("%s: %.0f allocations to refuse 100,000, %.0f to refuse %d; want about as many", field, many, few, maxAttributes+1)
		}
	}
}

// FuzzBoundedAttributes checks that the envelope's context and namespaces
// decode as encoding/json decodes a map[string]string and a []string,
// bound aside: the same value (repeated keys, nulls, escapes, invalid
// UTF-8 included), or an error of the same JSON type, or the bound's error
// where encoding/json read more than 64. Called by the json package (the
// strict decoder) and directly (the walk), on valid JSON, as both do.
func FuzzBoundedAttributes(f *testing.F) {
	many := func(n int, dup bool) string {
		items := make([]string, n)
		for i := range items {
			k := i
			if dup {
				k = i % 3
			}
			items[i] = fmt.Sprintf(`"k%d":"v%d"`, k, i)
		}
		return "{" + strings.Join(items, ",") + "}"
	}
	for _, s := range []string{
		`null`, `{}`, `[]`, ` { "a" : "b" , "a" : "c" } `, `{"a":null}`, `{"a":"x","a":null}`,
		`{"\u0061":"x","a":"y"}`, "{\"\xff\":\"\xfe\"}", `{"a\"b":"c\n"}`, `{"":""}`,
		`{"a":1}`, `{"a":true}`, `{"a":{"b":"c"}}`, `{"a":["b"]}`, `"x"`, `1e999`, `false`, `[1]`,
		`["a",null,"\u00e9"]`, `[["a"]]`, `[{}]`, `{"a":"b","c":2}`,
		many(64, false), many(65, false), many(200, true),
		"[" + strings.Repeat(`"n",`, 64) + `"n"]`, "[" + strings.Repeat(`"n",`, 63) + `"n"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var ctx map[string]string
		ctxErr := json.Unmarshal(data, &ctx)
		if ctxErr == nil && len(ctx) > maxAttributes {
			ctxErr = errManyAttributes
		}
		var direct, viaJSON boundedContext
		sameDecoding(t, data, "context", map[string]string(direct), direct.UnmarshalJSON(data), ctx, ctxErr)
		sameDecoding(t, data, "context via json", map[string]string(viaJSON), json.Unmarshal(data, &viaJSON), ctx, ctxErr)

		var ns []string
		nsErr := json.Unmarshal(data, &ns)
		if nsErr == nil && len(ns) > maxAttributes {
			nsErr = errManyNamespaces
		}
		var nsDirect, nsViaJSON boundedNamespaces
		sameDecoding(t, data, "namespaces", []string(nsDirect), nsDirect.UnmarshalJSON(data), ns, nsErr)
		sameDecoding(t, data, "namespaces via json", []string(nsViaJSON), json.Unmarshal(data, &nsViaJSON), ns, nsErr)
	})
}

// sameDecoding fails t unless got and err, a bounded decoding of data, are
// encoding/json's want and wantErr: the same value, or errors of the same
// JSON type. A type error after the 64th attribute is found as the bound
// by the bounded decoding, which stops there.
func sameDecoding[T any](t *testing.T, data []byte, name string, got T, err error, want T, wantErr error) {
	t.Helper()
	var te, wantTE *json.UnmarshalTypeError
	switch {
	case err == nil && wantErr == nil:
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s of %q: %#v, encoding/json %#v", name, data, got, want)
		}
	case err == nil || wantErr == nil:
		t.Fatalf("%s of %q: %v, encoding/json %v", name, data, err, wantErr)
	case errors.Is(err, ErrInvalidEvent) && (errors.Is(wantErr, ErrInvalidEvent) || errors.As(wantErr, &wantTE)):
	case !errors.As(err, &te) || !errors.As(wantErr, &wantTE) || te.Value != wantTE.Value:
		t.Fatalf("%s of %q: %v, encoding/json %v", name, data, err, wantErr)
	}
}
