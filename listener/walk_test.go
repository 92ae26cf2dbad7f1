package listener

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// walkCase is an input for a walk and its strict decoder to agree on, with
// whether the walk should decide it itself.
type walkCase struct {
	name string
	body string
	walk bool
}

// envelopeCases are envelopes for walkEnvelope and the strict decoder.
var envelopeCases = []walkCase{
	{"plain", `{"id":"1","topic":"job:ready","payload":{"x":[1,2]}}`, true},
	{"every field", `{"id":"1","topic":"job:ready","createdAt":"2025-01-01T00:00:00+02:00","context":{"a":"b","a":"c"},"payload":{"x":[1,2]},"namespaces":["n","m"],"partitionKey":"order-7"}`, true},
	{"white space everywhere", " \t\r\n{ \"id\" : \"1\" ,\n\"topic\":\"a:b\" , \"payload\" : [ 1 , {\"}\" : \"]\\\"[{\"} ] }\n ", true},
	{"empty object", `{}`, true},
	{"null fields", `{"id":null,"topic":null,"createdAt":null,"context":null,"payload":null,"namespaces":null,"partitionKey":null}`, true},
	{"scalar payloads", `{"id":"1","topic":"a:b","payload":-1.5e+3}`, true},
	{"string payload with escapes", `{"id":"1","topic":"a:b","payload":"a\\\"b\u00e9"}`, true},
	{"escaped string value", `{"id":"\u00e9\n","topic":"a:b"}`, true},
	{"string value not UTF-8", "{\"id\":\"\xff\xfe\",\"topic\":\"a:b\"}", true},
	{"escaped key", `{"i\u0064":"1","topic":"a:b"}`, false},
	{"unknown key", `{"id":"1","topic":"a:b","extra":1}`, false},
	{"key in another case", `{"ID":"1","topic":"a:b"}`, false},
	{"repeated key", `{"id":"1","topic":"a:b","id":"2"}`, false},
	{"number for a string", `{"id":1,"topic":"a:b"}`, false},
	{"object for a string", `{"id":{},"topic":"a:b"}`, false},
	{"bad time", `{"id":"1","topic":"a:b","createdAt":"yesterday"}`, false},
	{"context of numbers", `{"id":"1","topic":"a:b","context":{"a":1}}`, false},
	{"namespaces of objects", `{"id":"1","topic":"a:b","namespaces":[{}]}`, false},
	{"not an object", `["id","1"]`, false},
	{"trailing data", `{"id":"1","topic":"a:b"} x`, false},
	{"two values", `{"id":"1"}{"id":"2"}`, false},
	{"truncated", `{"id":"1","topic":"a:b","payload":{"x":[1,2]}`, false},
	{"invalid JSON in the payload", `{"id":"1","topic":"a:b","payload":{x:1}}`, false},
	{"empty", ``, false},
	{"deep payload", `{"id":"1","topic":"a:b","payload":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`, false},
	{"as many context attributes as allowed, and repeats", `{"id":"1","topic":"a:b","context":{` + attributes(maxAttributes) + `,` + attributes(maxAttributes) + `}}`, true},
	{"a context attribute too many", `{"id":"1","topic":"a:b","context":{` + attributes(maxAttributes+1) + `}}`, false},
	{"a namespace too many", `{"id":"1","topic":"a:b","namespaces":[` + strings.Repeat(`"n",`, maxAttributes) + `"n"]}`, false},
}

// attributes returns n context attributes, comma separated.
func attributes(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`"k%d":"v%d"`, i, i)
	}
	return strings.Join(items, ",")
}

// TestEnvelopeWalk checks that walkEnvelope takes the plain envelopes,
// leaves the others to the strict decoder, and decodes the ones it takes
// exactly as the strict decoder does.
func TestEnvelopeWalk(t *testing.T) {
	testWalk(t, envelopeCases, func(data []byte) bool {
		_, ok := walkEnvelope(data)
		return ok
	}, checkWalk)
}

// testWalk runs check on each of cases, after checking that walks decides
// those it should.
func testWalk(t *testing.T, cases []walkCase, walks func([]byte) bool, check func(*testing.T, []byte)) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if ok := walks([]byte(tc.body)); ok != tc.walk {
				t.Errorf("the walk took it: %v, want %v", ok, tc.walk)
			}
			check(t, []byte(tc.body))
		})
	}
}

// TestEnvelopeWalkCopiesPayload checks that the payload does not share the
// caller's buffer, which a source may reuse for the next request.
func TestEnvelopeWalkCopiesPayload(t *testing.T) {
	body := []byte(`{"id":"1","topic":"a:b","payload":{"k":"v"}}`)
	ev, ok := walkEnvelope(body)
	if !ok {
		t.Fatal("walkEnvelope gave up on a plain envelope")
	}
	copy(body, bytes.Repeat([]byte("x"), len(body)))
	if string(ev.Payload) != `{"k":"v"}` {
		t.Fatalf("payload changed with the caller's buffer: %q", ev.Payload)
	}
}

// checkWalk fails t unless UnmarshalJSON (with its walk) and the strict
// decoder agree on data: the same event, or the same error.
func checkWalk(t *testing.T, data []byte) {
	t.Helper()
	var strict, got Event
	strictErr := strict.unmarshalStrict(data)
	if ev, ok := walkEnvelope(data); ok {
		sameResult(t, data, "walkEnvelope", ev, nil, strict, strictErr)
	}
	err := got.UnmarshalJSON(data)
	sameResult(t, data, "UnmarshalJSON", got, err, strict, strictErr)
}

// sameResult fails t unless name's result of decoding data, got and err,
// is the strict decoder's, want and wantErr: the same value, or an error
// with the same text.
func sameResult[T any](t *testing.T, data []byte, name string, got T, err error, want T, wantErr error) {
	t.Helper()
	switch {
	case (err == nil) != (wantErr == nil):
		t.Fatalf("%s(%q) = %v, the strict decoder %v", name, data, err, wantErr)
	case err != nil && err.Error() != wantErr.Error():
		t.Fatalf("%s(%q) = %q, the strict decoder %q", name, data, err, wantErr)
	case err == nil && !reflect.DeepEqual(got, want):
		t.Fatalf("%s(%q) read\n%#v\nthe strict decoder\n%#v", name, data, got, want)
	}
}

// FuzzEnvelopeWalk checks that the envelope's fast path and its strict
// decoder agree on every input.
func FuzzEnvelopeWalk(f *testing.F) {
	for _, tc := range envelopeCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkWalk(t, data)
	})
}

// structuredCases are structured CloudEvents for walkStructured and the
// strict decoder.
var structuredCases = []walkCase{
	{"plain", `{"specversion":"1.0","id":"1","source":"s","type":"job:ready","data":{"k":"v"}}`, true},
	{"every attribute", `{"specversion":"1.0","id":"1","source":"urn:s","type":"job:ready","time":"2025-01-01T00:00:00Z","subject":"x","datacontenttype":"application/json","dataschema":"https://s/x","partitionkey":"order-7","ext":"v","num":3.5,"flag":true,"data":[1,"]"]}`, true},
	{"null data and attribute", `{"specversion":"1.0","id":"1","source":"s","type":"a:b","data":null,"subject":null}`, true},
	{"escaped value", `{"specversion":"1.0","id":"\u00e9","source":"s\n","type":"a:b"}`, true},
	{"missing source", `{"specversion":"1.0","id":"1","type":"a:b"}`, true},
	{"specversion 0.3", `{"specversion":"0.3","id":"1","source":"s","type":"a:b"}`, true},
	{"empty object", `{}`, true},
	{"escaped name", `{"specversion":"1.0","i\u0064":"1","source":"s","type":"a:b"}`, false},
	{"repeated attribute", `{"specversion":"1.0","id":"1","id":"2","source":"s","type":"a:b"}`, false},
	{"number id", `{"specversion":"1.0","id":1,"source":"s","type":"a:b"}`, false},
	{"object extension", `{"specversion":"1.0","id":"1","source":"s","type":"a:b","ext":{}}`, false},
	{"data_base64", `{"specversion":"1.0","id":"1","source":"s","type":"a:b","data_base64":"AA=="}`, false},
	{"bad time", `{"specversion":"1.0","id":"1","source":"s","type":"a:b","time":"now"}`, false},
	{"XML data", `{"specversion":"1.0","id":"1","source":"s","type":"a:b","datacontenttype":"text/xml"}`, false},
	{"trailing data", `{"specversion":"1.0","id":"1","source":"s","type":"a:b"} {}`, false},
	{"not an object", `"specversion"`, false},
	{"as many extensions as the walk reads", `{"specversion":"1.0","id":"1","source":"s","type":"a:b"` + extensions(maxWalkAttributes-4) + `}`, true},
	{"more extensions than the walk reads", `{"specversion":"1.0","id":"1","source":"s","type":"a:b"` + extensions(maxWalkAttributes-3) + `}`, false},
}

// extensions returns n extension attributes, each with a comma before it.
func extensions(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `,"x%d":%d`, i, i)
	}
	return b.String()
}

// TestStructuredWalk checks that walkStructured takes the plain events,
// leaves the others to the strict decoder, and reads the ones it takes
// exactly as the strict decoder does.
func TestStructuredWalk(t *testing.T) {
	testWalk(t, structuredCases, func(data []byte) bool {
		_, ok := walkStructured(data)
		return ok
	}, checkStructuredWalk)
}

// checkStructuredWalk fails t unless parseStructured (with its walk) and
// the strict decoder agree on data: the same event, or the same error.
func checkStructuredWalk(t *testing.T, data []byte) {
	t.Helper()
	strict, strictErr := readStructured(data)
	if c, ok := walkStructured(data); ok {
		sameResult(t, data, "walkStructured", c, nil, strict, strictErr)
	}
	got, err := parseStructured(data)
	var want *Event
	if strictErr == nil {
		want, strictErr = strict.finish()
	}
	sameResult(t, data, "parseStructured", got, err, want, strictErr)
}

// FuzzStructuredWalk checks that the structured CloudEvent's fast path and
// its strict decoder agree on every input.
func FuzzStructuredWalk(f *testing.F) {
	for _, tc := range structuredCases {
		f.Add([]byte(tc.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStructuredWalk(t, data)
	})
}

// BenchmarkDecode decodes and validates a 1 KiB event as the HTTP source
// does, as a native envelope and as a structured CloudEvent, beside the
// strict decoders alone: the paths before the walk.
func BenchmarkDecode(b *testing.B) {
	data := `{"data":"` + strings.Repeat("x", 1<<10-11) + `"}`
	envelope := []byte(`{"id":"evt_0123456789abcdef","topic":"job:ready","payload":` + data + `}`)
	structured := []byte(`{"specversion":"1.0","id":"evt_0123456789abcdef","source":"urn:platform","type":"job:ready","data":` + data + `}`)
	// A hostile payload: one long string of escapes, which a scanner that
	// looks for the closing quote again after each escape reads in
	// quadratic time.
	escapes := []byte(`{"id":"evt_0123456789abcdef","topic":"job:ready","payload":{"data":"` + strings.Repeat(`\n`, 1<<17) + `"}}`)
	envelopeWalk := func(body []byte) error {
		_, err := decodeEnvelope(body)
		return err
	}
	envelopeStrict := func(body []byte) error {
		var ev Event
		if err := ev.unmarshalStrict(body); err != nil {
			return err
		}
		return ev.Validate()
	}
	for _, bc := range []struct {
		name   string
		body   []byte
		decode func([]byte) error
	}{
		{"envelope/walk", envelope, envelopeWalk},
		{"envelope/strict", envelope, envelopeStrict},
		{"escapes/walk", escapes, envelopeWalk},
		{"escapes/strict", escapes, envelopeStrict},
		{"structured/walk", structured, func(body []byte) error {
			_, err := parseStructured(body)
			return err
		}},
		{"structured/strict", structured, func(body []byte) error {
			c, err := readStructured(body)
			if err == nil {
				_, err = c.finish()
			}
			return err
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.decode(bc.body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
