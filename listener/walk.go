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
		switch v[0] {
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
// and member returned true for every member. It moves through data with the
// jscan of Field's paths, which cannot index past the slice; a value it
// passes is never empty.
func walkObject(data []byte, member func(key, value []byte) bool) bool {
	return json.Valid(data) && walkMembers(data, member)
}

// walkMembers is walkObject on data known to be valid JSON.
func walkMembers(data []byte, member func(key, value []byte) bool) bool {
	s := jscan{d: data}
	return s.entries('{', '}', func() bool {
		start := s.i
		if s.peek() != '"' {
			return false
		}
		if _, ok := s.str(); !ok {
			return false
		}
		key := data[start+1 : s.i-1]
		s.ws()
		if s.peek() != ':' {
			return false
		}
		s.i++
		s.ws()
		start = s.i
		return s.skip() && s.i > start && member(key, data[start:s.i])
	})
}

// walkElements calls elem with each value of the JSON array in data, valid
// JSON, in order, until elem returns false. It reports whether data holds
// an array and elem returned true for every element; a value it passes is
// never empty.
func walkElements(data []byte, elem func(value []byte) bool) bool {
	s := jscan{d: data}
	return s.entries('[', ']', func() bool {
		start := s.i
		return s.skip() && s.i > start && elem(data[start:s.i])
	})
}

// entries reads the object or array that starts at s (after white space)
// with open and ends with end, calling entry where each member or element
// starts; entry reads it and reports whether to go on. It reports whether
// s held such a value and entry returned true for every one.
func (s *jscan) entries(open, end byte, entry func() bool) bool {
	s.ws()
	if s.peek() != open {
		return false
	}
	s.i++
	s.ws()
	if s.peek() == end {
		return true
	}
	for {
		if !entry() {
			return false
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
			s.ws()
		case end:
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
	case "context": // past the bound, the strict decoder words the error
		return (*boundedContext)(&ev.Context).UnmarshalJSON(v) == nil
	case "namespaces":
		return (*boundedNamespaces)(&ev.Namespaces).UnmarshalJSON(v) == nil
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
