package boltstore

import (
	"reflect"
	"testing"
	"time"

	"github.com/heraldhq/herald/sender/outbox"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record and attempt
// decoders: they must never panic, and whatever they accept must encode
// back to something that decodes to the same value.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(appendRecord(nil, &record{dest: "d", topic: "job:ready", ctype: "application/json", created: 1, due: 2, attempts: 3, nhist: 3}))
	f.Add(appendRecord(nil, &record{dest: "dest", dead: true, deadAt: time.Now().UnixNano(), reason: "gone (410)", due: -5}))
	f.Add(appendAttempt(nil, &outbox.Attempt{At: time.Unix(1, 2), Status: 503, Latency: time.Second, Tries: 2, Error: "destination failed"}))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeRecord("id", b); err == nil {
			again, err := decodeRecord("id", appendRecord(nil, &r))
			if err != nil || !reflect.DeepEqual(again, r) {
				t.Fatalf("record %+v does not survive a round trip: %+v, %v", r, again, err)
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
	got, err := decodeRecord("x", appendRecord(nil, &r))
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	enc := appendRecord(nil, &r)
	for i := range enc {
		if _, err := decodeRecord("x", enc[:i]); err == nil {
			t.Errorf("a record cut to %d of %d bytes decoded", i, len(enc))
		}
	}
	if _, err := decodeRecord("x", append(enc, 0)); err == nil {
		t.Error("a record with a trailing byte decoded")
	}
}
