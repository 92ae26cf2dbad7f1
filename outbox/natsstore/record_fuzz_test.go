package natsstore

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/heraldhq/herald/outbox"
)

// FuzzDecodeRecord: a record is read back from a stream that anything
// with the account's credentials can write to. Whatever its metadata
// header and data, decodeRecord never panics and refuses with
// outbox.ErrCorrupt; a record it reads is written back (msg) and read
// again the same, its history at most cut to its latest attempts; and
// checkSubject takes a record only on the one subject of its id.
func FuzzDecodeRecord(f *testing.F) {
	o := &store{prefix: "herald.outbox."}
	good := &record{
		meta:    meta{ID: "d1", Destination: "dest", EventID: "e1", Topic: "a:b", Due: 1 << 62, Created: -1 << 63, Attempts: 3},
		history: []attempt{{At: 1, Status: 500, Latency: 1<<63 - 1, Tries: 2, Error: "boom\x00\r\n\xff"}},
		body:    []byte(`{"x":1}`),
	}
	m, err := good.msg(o.subject(good.ID))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(m.Header.Get(metaHeader), m.Data, m.Subject)
	f.Add(`{"id":"d1","state":"gone"}`, []byte{}, "herald.outbox.ZDE")
	f.Add(`{"id":"d1","id":"d2","due":9223372036854775807,"attempts":-1}`, []byte{0}, "herald.outbox.ZDI")
	f.Add(`{"id":"d1"}`, []byte{0x80}, "herald.outbox.ZDE")
	f.Add(`{"id":"d1"}`, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, "")
	f.Add(`{"id":"d1"}`, []byte{5, '[', '{', '}', ']'}, "herald.outbox.ZDE")
	f.Add(`{"id":"d1"}`, []byte{2, '[', '{'}, "herald.outbox.ZDE=")
	f.Add(`{"id":""}`, []byte{0}, "herald.outbox.")
	f.Add(`{"id":"\xff\u0000","due":1e999}`, []byte{0}, "herald.outbox.77-")
	f.Add("", []byte(nil), "")
	f.Fuzz(func(t *testing.T, metaJSON string, data []byte, subject string) {
		h := nats.Header{metaHeader: {metaJSON}}
		r, err := decodeRecord(h, data)
		if err != nil {
			if !errors.Is(err, outbox.ErrCorrupt) {
				t.Fatalf("refused without ErrCorrupt: %v", err)
			}
			return
		}
		if o.checkSubject(o.subject(r.ID), r.ID) != nil {
			t.Fatalf("record %q refused on its own subject", r.ID)
		}
		if o.checkSubject(subject, r.ID) == nil && subject != o.subject(r.ID) {
			t.Fatalf("record %q taken on subject %q", r.ID, subject)
		}
		if r.State == stateGone {
			return
		}
		m, err := r.msg(o.subject(r.ID))
		if err != nil {
			t.Fatalf("record %q read but not written back: %v", r.ID, err)
		}
		again, err := decodeRecord(m.Header, m.Data)
		if err != nil {
			t.Fatalf("record %q written back unreadable: %v", r.ID, err)
		}
		n := len(again.history)
		if again.meta != r.meta || !bytes.Equal(again.body, r.body) || n > len(r.history) ||
			!reflect.DeepEqual(again.history, r.history[len(r.history)-n:]) || n == 0 && len(r.history) > 0 {
			t.Fatalf("record %q changed when written back: %+v, want %+v", r.ID, again, r)
		}
	})
}

// FuzzReadState: a value of the states bucket, which anything with the
// account's credentials can write, is either the state it decodes to,
// when that is its key's and one a store may record, or its key's
// destination held for reasonUnreadable; a key that names no destination
// is skipped. Whatever it reads passes Validate.
func FuzzReadState(f *testing.F) {
	f.Add("ZA", []byte(`{"destination":"d","disabled":"2026-01-02T03:04:05Z","reason":"gone (410)"}`))
	f.Add("ZA", []byte(`{"destination":"d","destination":"e"}`))
	f.Add("ZB", []byte(`{"destination":"d"}`))
	f.Add("ZA", []byte(`{"destination":"d","reason":"`+strings.Repeat("x", 1025)+`"}`))
	f.Add("YQpi", []byte(`{"destination":"a\nb"}`))
	f.Add("_w", []byte("{\"destination\":\"\xff\"}"))
	f.Add("Z", []byte{})
	f.Add("", []byte(`{"destination":""}`))
	now := time.Unix(1, 0)
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		st, readable, ok := readState(key, value, now)
		if !ok {
			name, err := base64.RawURLEncoding.DecodeString(key)
			if err == nil && (outbox.DestinationState{Destination: string(name)}).Validate() == nil {
				t.Fatalf("key %q (%q) skipped, though a destination name", key, name)
			}
			return
		}
		if err := st.Validate(); err != nil {
			t.Fatalf("key %q read as %+v: %v", key, st, err)
		}
		if !readable {
			if st.Reason != reasonUnreadable || !st.Disabled.Equal(now) {
				t.Fatalf("key %q unreadable, but read as %+v", key, st)
			}
			return
		}
		var want outbox.DestinationState
		if err := json.Unmarshal(value, &want); err != nil || !reflect.DeepEqual(st, want) || stateKey(st.Destination) != key {
			t.Fatalf("key %q read as %+v, which its value %q is not (%v)", key, st, value, err)
		}
	})
}
