package boltstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/outbox"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record and attempt
// decoders: they must never panic, and whatever they accept must encode
// back to something that decodes to the same value.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, &record{dest: "d", topic: "job:ready", ctype: "application/json", created: 1, due: 2, attempts: 3, nhist: 3}, []byte(`{"a":1}`)))
	f.Add(appendRecord(nil, &record{dest: "dest", dead: true, deadAt: time.Now().UnixNano(), reason: "gone (410)", due: -5}, nil))
	f.Add(appendAttempt(nil, &outbox.AttemptRecord{At: time.Unix(1, 2), Status: 503, Latency: time.Second, Tries: 2, Error: "destination failed"}))
	f.Add(appendRecord(nil, &record{dest: "d", event: "evt_1", topic: "job:ready", created: 1, due: 2}, []byte(`{}`)))
	f.Add(appendRecord(nil, &record{dest: "d", event: "evt_1", key: "order-42", topic: "job:ready", created: 1, due: 2}, []byte(`{}`)))
	f.Add(appendRecord(nil, &record{dest: "d", key: "k", dead: true, reason: "gone (410)"}, nil))
	f.Add(appendRecord(nil, &record{dest: "d", trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", due: 2}, []byte(`{}`)))
	f.Add(appendRecord(nil, &record{dest: "d", event: "e", key: "k", trace: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", due: 2}, []byte(`{}`)))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, body, err := decodeRecord("id", b); err == nil {
			again, body2, err := decodeRecord("id", appendRecord(nil, &r, body))
			if err != nil || !reflect.DeepEqual(again, r) || !bytes.Equal(body, body2) {
				t.Fatalf("record %+v does not survive a round trip: %+v, %v", r, again, err)
			}
		}
		// Lease's decoding, given a destination, reads the same record
		// and fails alike, whichever destination it is given.
		r, body, err := decodeRecord("id", b)
		for _, dest := range []string{"d", r.dest} {
			lr, lbody, lerr := decodeLeased("id", dest, b)
			if (lerr == nil) != (err == nil) || !reflect.DeepEqual(lr, r) || !bytes.Equal(lbody, body) {
				t.Fatalf("decodeLeased with %q: %+v, %v; decodeRecord: %+v, %v", dest, lr, lerr, r, err)
			}
		}
		if r, _, err := decodeVersion("id", b, recordV1); err == nil {
			if _, body, err := decodeRecord("id", appendRecord(nil, &r, nil)); err != nil || len(body) != 0 {
				t.Fatalf("version 1 record %+v does not convert: %v", r, err)
			}
		}
		if a, err := decodeAttempt("id", b); err == nil {
			again, err := decodeAttempt("id", appendAttempt(nil, &a))
			if err != nil || !again.At.Equal(a.At) || again.Status != a.Status || again.Latency != a.Latency || again.Tries != a.Tries || again.Error != a.Error {
				t.Fatalf("attempt %+v does not survive a round trip: %+v, %v", a, again, err)
			}
		}
	})
}

func TestRecordRoundTrip(t *testing.T) {
	r := record{dest: "d", topic: "t", ctype: "c", created: -1, due: 1 << 62, attempts: 7, nhist: 9, dead: true, deadAt: 42, reason: "r"}
	body := []byte("the body")
	enc := appendRecord(nil, &r, body)
	got, gotBody, err := decodeRecord("x", enc)
	if err != nil || !reflect.DeepEqual(got, r) || !bytes.Equal(gotBody, body) {
		t.Fatalf("round trip: %+v %q, %v", got, gotBody, err)
	}
	header := len(enc) - len(body)
	for i := range header {
		if _, _, err := decodeRecord("x", enc[:i]); err == nil {
			t.Errorf("a record cut to %d of %d bytes decoded", i, header)
		}
	}
	// A version 1 record has no body, and nothing may follow its fields.
	v1 := appendHeader(nil, recordV1, &r)
	if got, _, err := decodeVersion("x", v1, recordV1); err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("version 1: %+v, %v", got, err)
	}
	if _, _, err := decodeVersion("x", append(v1, 0), recordV1); err == nil {
		t.Error("a version 1 record with a trailing byte decoded")
	}
	if _, _, err := decodeRecord("x", v1); err == nil {
		t.Error("a version 1 record decoded as version 2")
	}
}

// TestRecordEventID: a record with an event id keeps it across a round
// trip, and one without is encoded exactly as before event ids existed,
// so that a file without them stays readable by an older build.
func TestRecordEventID(t *testing.T) {
	without := record{dest: "d", topic: "t", created: 1, due: 2, reason: ""}
	old := []byte{recordV2, 0, 0, 0, 2, 4, 0, 1, 'd', 1, 't', 0, 0}
	if enc := appendRecord(nil, &without, nil); !bytes.Equal(enc, old) {
		t.Errorf("a record without an event id encodes as %v, want %v", enc, old)
	}
	with := without
	with.event = "evt_1"
	enc := appendRecord(nil, &with, []byte("body"))
	got, body, err := decodeRecord("x", enc)
	if err != nil || got != with || string(body) != "body" {
		t.Fatalf("round trip: %+v %q, %v", got, body, err)
	}
	if d := got.delivery("x"); d.EventID != "evt_1" {
		t.Errorf("delivery has event id %q", d.EventID)
	}
}

// TestRecordKey: a record keeps its partition key across a round trip,
// with or without an event id, and the delivery it describes carries it.
func TestRecordKey(t *testing.T) {
	for _, r := range []record{
		{dest: "d", topic: "t", created: 1, due: 2, key: "order-42"},
		{dest: "d", event: "evt_1", key: "ключ", dead: true, reason: "r"},
	} {
		got, body, err := decodeRecord("x", appendRecord(nil, &r, []byte("body")))
		if err != nil || got != r || string(body) != "body" {
			t.Fatalf("round trip of %+v: %+v %q, %v", r, got, body, err)
		}
		if d := got.delivery("x"); d.PartitionKey != r.key || d.EventID != r.event {
			t.Errorf("delivery has key %q and event %q", d.PartitionKey, d.EventID)
		}
	}
	// An older build reads flags 0 to 3 only: a keyed record has bit 2.
	if enc := appendRecord(nil, &record{dest: "d", key: "k"}, nil); enc[1]&4 == 0 {
		t.Errorf("a keyed record has flags %#x", enc[1])
	}
}

// TestRecordTraceParent: a record keeps its traceparent, with or without
// an event id, and a record with one is refused, not misread, by the
// decoding rules of a build that knew only event ids (flags 0 to 3).
func TestRecordTraceParent(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, event := range []string{"", "evt_1"} {
		r := record{dest: "d", topic: "t", event: event, trace: tp, created: 1, due: 2}
		enc := appendRecord(nil, &r, []byte("body"))
		got, body, err := decodeRecord("x", enc)
		if err != nil || got != r || string(body) != "body" {
			t.Fatalf("round trip with event %q: %+v %q, %v", event, got, body, err)
		}
		if d := got.delivery("x"); d.TraceParent != tp || d.EventID != event {
			t.Errorf("delivery has trace parent %q, event id %q", d.TraceParent, d.EventID)
		}
		if enc[1]&^3 == 0 {
			t.Errorf("a record with a traceparent has flags %#x, which an older build would misread", enc[1])
		}
	}
	// All three optional fields together keep their own values.
	r := record{dest: "d", event: "evt_1", key: "order-42", trace: tp, dead: true, reason: "r"}
	if got, _, err := decodeRecord("x", appendRecord(nil, &r, nil)); err != nil || got != r {
		t.Fatalf("round trip of %+v: %+v, %v", r, got, err)
	}
}

// FuzzDueKey: a due index key read back from the file splits into a
// destination (no NUL), a due time (int64 edges included) and an id that
// make the very same key again; one that cannot is refused, not misread.
func FuzzDueKey(f *testing.F) {
	f.Add(dueKey("dest", 0, "id"))
	f.Add(dueKey("d", -1<<63, "i"))
	f.Add(dueKey("d", 1<<63-1, "\x00\xff"))
	f.Add([]byte("d\x00short"))
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00i"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, k []byte) {
		dest, due, id, err := parseDueKey(k)
		if err != nil {
			if i := bytes.IndexByte(k, 0); i > 0 && len(k) > i+9 {
				t.Fatalf("%q refused: %v", k, err)
			}
			return
		}
		if len(dest) == 0 || bytes.IndexByte(dest, 0) >= 0 || len(id) == 0 {
			t.Fatalf("%q split into %q, %d, %q", k, dest, due, id)
		}
		if again := dueKey(string(dest), due, string(id)); !bytes.Equal(again, k) {
			t.Fatalf("%q split into %q, %d, %q, which make %q", k, dest, due, id, again)
		}
	})
}

// FuzzReadState: a destination's state record, read back from the file,
// is either the state it decodes to, when that names its key and is one a
// store may record, or its key held for reasonUnreadable; a key that is
// no destination name is skipped. Whatever it reads passes Validate.
func FuzzReadState(f *testing.F) {
	f.Add([]byte("d"), []byte(`{"destination":"d","disabled":"2026-01-02T03:04:05Z","reason":"gone (410)"}`))
	f.Add([]byte("d"), []byte(`{"destination":"d","destination":"e","failing_since":"0001-01-01T00:00:00Z"}`))
	f.Add([]byte("d"), []byte(`{"destination":"d","disabled":"9999-12-31T23:59:59-23:59"}`))
	f.Add([]byte("d"), []byte(`{"destination":"d","reason":"`+strings.Repeat("x", 1025)+`"}`))
	f.Add([]byte("a\nb"), []byte(`{"destination":"a\nb"}`))
	f.Add([]byte("\xff"), []byte("{\"destination\":\"\xff\"}"))
	f.Add([]byte{}, []byte{})
	now := time.Unix(1, 0)
	f.Fuzz(func(t *testing.T, k, v []byte) {
		st, ok := readState(k, v, now)
		if !ok {
			if (outbox.DestinationState{Destination: string(k)}).Validate() == nil {
				t.Fatalf("key %q skipped, though a destination name", k)
			}
			return
		}
		if err := st.Validate(); err != nil || st.Destination != string(k) {
			t.Fatalf("key %q read as %+v: %v", k, st, err)
		}
		if st.Reason == reasonUnreadable && st.Disabled.Equal(now) {
			return
		}
		var want outbox.DestinationState
		if err := json.Unmarshal(v, &want); err != nil || !reflect.DeepEqual(st, want) {
			t.Fatalf("key %q read as %+v, which its record %q is not (%v)", k, st, v, err)
		}
	})
}
