package listener

import (
	"bytes"
	"encoding/json"
	"slices"
	"unicode/utf8"
)

// The decoders' fast paths. The strict decoders of the native envelope
// (Event.UnmarshalJSON) and of a structured CloudEvent read through a
// json.Decoder, which copies the body, scans the payload twice (to find its
// end, then to decode it as a json.RawMessage) and allocates a token per
// key: BenchmarkDecode has that at about four times the walk's time and
// eight times its allocations for a 1 KiB event. Most events are plain:
// valid JSON, an object whose keys are written without escapes, each once,
// with values of the expected types. For those, walkObject checks the
// document once with json.Valid and then walks it, knowing it is well
// formed, cutting each value out by counting brackets. Anything else makes
// the walk give up, and the strict decoder decodes the same bytes and gives
// its exact error, so that the two paths cannot disagree on what is
// accepted. FuzzEnvelopeWalk and FuzzStructuredWalk check that they agree.

// envelopeKeys are the envelope's keys, in the bit order of walkEnvelope's
// seen set.
var envelopeKeys = [...]string{"id", "topic", "createdAt", "context", "payload", "namespaces", "partitionKey"}

// walkEnvelope decodes data as UnmarshalJSON does, when data is a plain
// envelope: its own keys only, each once and without escapes. ok is false
// when it is not, and then nothing is decided.
func walkEnvelope(data []byte) (ev Event, ok bool) {
	var seen uint8
	ok = walkObject(data, func(k, v []byte) bool {
		f := keyIndex(k)
		if f < 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		return setField(&ev, f, v)
	})
	if !ok {
		return Event{}, false
	}
	if bytes.Equal(ev.Payload, []byte("null")) {
		ev.Payload = nil
	}
	return ev, true
}

// walkStructured reads a structured CloudEvent as readStructured does, when
// data is plain: attribute names without escapes, each once, and values
// that readStructured takes. ok is false when it is not, and then nothing
// is decided.
func walkStructured(data []byte) (c ceEvent, ok bool) {
	var seen []string
	ok = walkObject(data, func(k, v []byte) bool {
		if bytes.IndexByte(k, '\\') >= 0 || !utf8.Valid(k) {
			return false
		}
		key := string(k)
		// Repeats are found by a scan of the names seen, so their number
		// is capped: an event of many thousands of extensions would make
		// it quadratic. Past the cap the strict decoder reads the event.
		if len(seen) == maxWalkAttributes || slices.Contains(seen, key) {
			return false
		}
		seen = append(seen, key)
		switch key {
		case "data":
			if string(v) != "null" {
				c.ev.Payload = bytes.Clone(v) // the caller may reuse data
			}
			return true
		case "data_base64":
			return false
		}
		var s string
		switch at(v, 0) {
		case 'n': // null: the attribute is absent
			return true
		case '"':
			if !setString(&s, v) {
				return false
			}
		case '{', '[':
			return false
		default: // a number or a boolean, taken as its JSON text
			if stringAttribute(key) {
				return false
			}
			s = string(v)
		}
		return c.set(key, s) == nil
	})
	if !ok {
		return ceEvent{}, false
	}
	return c, true
}

// maxWalkAttributes is the most attributes walkStructured reads; a
// CloudEvent usually has a dozen or so.
const maxWalkAttributes = 64

// walkObject calls member with the raw key (between its quotes) and the
// value of each member of the JSON object in data, in order, until member
// returns false. It reports whether data is valid JSON holding one object
// and member returned true for every member.
func walkObject(data []byte, member func(key, value []byte) bool) bool {
	if !json.Valid(data) {
		return false
	}
	i := skipSpace(data, 0)
	if at(data, i) != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if at(data, i) == '}' {
		return true
	}
	for {
		end := stringEnd(data, i)
		if end < 0 {
			return false
		}
		key := data[i+1 : end-1]
		i = skipSpace(data, end)
		if at(data, i) != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		end = valueEnd(data, i)
		if end <= i || !member(key, data[i:end]) {
			return false
		}
		i = skipSpace(data, end)
		switch at(data, i) {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
}

// keyIndex returns the index in envelopeKeys of the key whose raw bytes
// (between the quotes) are k, or -1. An escaped spelling of a key is not
// recognised: the strict decoder reads it.
func keyIndex(k []byte) int {
	for i, name := range envelopeKeys {
		if string(k) == name {
			return i
		}
	}
	return -1
}

// setField sets field f of ev from the JSON value v, as json.Decoder.Decode
// would into the field, and reports whether it could; a value of the wrong
// type makes it report false.
func setField(ev *Event, f int, v []byte) bool {
	switch envelopeKeys[f] {
	case "id":
		return setString(&ev.ID, v)
	case "topic":
		return setString(&ev.Topic, v)
	case "partitionKey":
		return setString(&ev.PartitionKey, v)
	case "payload":
		ev.Payload = bytes.Clone(v) // as json.RawMessage does: the caller may reuse data
		return true
	case "createdAt":
		return json.Unmarshal(v, &ev.CreatedAt) == nil
	case "context":
		return json.Unmarshal(v, &ev.Context) == nil
	case "namespaces":
		return json.Unmarshal(v, &ev.Namespaces) == nil
	}
	return false
}

// setString sets *s from the JSON value v: a string, taken as it is when it
// has no escape and is valid UTF-8, and decoded by encoding/json otherwise;
// null leaves *s as it is, as encoding/json does. Any other type reports
// false.
func setString(s *string, v []byte) bool {
	switch {
	case string(v) == "null":
		return true
	case len(v) < 2 || v[0] != '"':
		return false
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		*s = string(raw)
		return true
	}
	return json.Unmarshal(v, s) == nil
}

// at returns data[i], or 0 past the end.
func at(data []byte, i int) byte {
	if i < 0 || i >= len(data) {
		return 0
	}
	return data[i]
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the JSON string that starts at i,
// or -1 if none does.
func stringEnd(data []byte, i int) int {
	if at(data, i) != '"' {
		return -1
	}
	start := i + 1
	for j := start; j < len(data); j++ {
		q := bytes.IndexByte(data[j:], '"')
		if q < 0 {
			return -1
		}
		j += q
		// The quote ends the string unless an odd run of backslashes,
		// within the string, escapes it.
		n := 0
		for k := j - 1; k >= start && data[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index just past the JSON value that starts at i in
// data, which is valid JSON, or -1. Objects and arrays are skipped by
// counting brackets outside strings, without recursion.
func valueEnd(data []byte, i int) int {
	switch at(data, i) {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				if i = stringEnd(data, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	case 0:
		return -1
	}
	// A number, true, false or null: it runs to the next delimiter.
	for i < len(data) {
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
