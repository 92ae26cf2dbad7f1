package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/telemetry"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Record encoding versions. A record starts with its version byte, so that
// a later format can be read next to this one. Version 1 records, of
// format 1 files, had no body: it lived in a bucket of its own (see
// migrate.go).
const (
	recordV1  = 1
	recordV2  = 2
	attemptV1 = 1
)

// record is the stored state of one delivery, pending or dead, without its
// id (the key) and body (stored after it).
type record struct {
	dest, topic, ctype string
	event              string // the event id; empty for none
	key                string // the partition key; empty for none
	trace              string // the W3C traceparent; empty for none
	created, due       int64  // Unix nanoseconds
	attempts           int
	nhist              int // history entries written; the next one's sequence number
	dead               bool
	deadAt             int64
	reason             string
}

// errShort reports a record that ends early.
var errShort = errors.New("truncated")

// appendRecord appends the encoding of r and body to b:
//
//	version(1) flags(1) uvarint(attempts) uvarint(nhist)
//	varint(created) varint(due) varint(deadAt)
//	string(dest) string(topic) string(ctype) string(reason) [string(event)]
//	[string(key)] [string(trace)] body...
//
// where string is uvarint(len) followed by the bytes, flags bit 0 marks a
// dead letter, flags bit 1 says an event id follows the reason, flags bit 2
// that a partition key follows it, flags bit 3 that a W3C traceparent
// follows them, and the body runs to the end. A record without an event id,
// key or traceparent is encoded as before they existed, and one with them
// is refused (unknown flags) by a build that predates them, rather than
// misread.
func appendRecord(b []byte, r *record, body []byte) []byte {
	b = slices.Grow(b, recordSize(r)+len(body))
	b = appendHeader(b, recordV2, r)
	return append(b, body...)
}

// recordSize bounds the length of r's header.
func recordSize(r *record) int {
	return 2 + 9*binary.MaxVarintLen64 + len(r.dest) + len(r.topic) + len(r.ctype) + len(r.reason) + len(r.event) + len(r.key) + len(r.trace)
}

// appendHeader appends the record fields of r, under version.
func appendHeader(b []byte, version byte, r *record) []byte {
	var flags byte
	if r.dead {
		flags |= 1
	}
	if r.event != "" {
		flags |= 2
	}
	if r.key != "" {
		flags |= 4
	}
	if r.trace != "" {
		flags |= 8
		flags |= 4
	}
	b = append(b, version, flags)
	b = binary.AppendUvarint(b, uint64(r.attempts))
	b = binary.AppendUvarint(b, uint64(r.nhist))
	b = binary.AppendVarint(b, r.created)
	b = binary.AppendVarint(b, r.due)
	b = binary.AppendVarint(b, r.deadAt)
	for _, s := range [...]string{r.dest, r.topic, r.ctype, r.reason} {
		b = appendString(b, s)
	}
	// The event id, the key and the traceparent are written only when
	// their flag says so.
	if flags&2 != 0 {
		b = appendString(b, r.event)
	}
	if flags&4 != 0 {
		b = appendString(b, r.key)
	}
	if flags&8 != 0 {
		b = appendString(b, r.trace)
	}
	return b
}

// appendString appends uvarint(len(s)) and s to b.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord decodes a record stored under id and returns it with its
// body, which points into b. It checks every length, so that damage is
// reported instead of acted upon; Open also validates the delivery (see
// store.verify). The error wraps [outbox.ErrCorrupt].
func decodeRecord(id string, b []byte) (record, []byte, error) {
	return decodeVersion(id, b, recordV2)
}

// decodeLeased is decodeRecord for a record found under the destination
// dest: its destination shares dest's string instead of a copy of its own,
// one allocation less for each delivery Lease decodes.
func decodeLeased(id, dest string, b []byte) (record, []byte, error) {
	return decodeWith(id, decoder{b: b, known: dest}, recordV2)
}

// decodeVersion decodes a record of the given version: for recordV2 it
// returns the body after it; a recordV1 record must end with its fields.
func decodeVersion(id string, b []byte, version byte) (record, []byte, error) {
	return decodeWith(id, decoder{b: b}, version)
}

// decodeWith is decodeVersion reading with d.
func decodeWith(id string, d decoder, version byte) (record, []byte, error) {
	var r record
	v := d.byte()
	flags := d.byte()
	switch {
	case d.err != nil, v == version:
	case v == recordV1:
		// Migration moved every body it found: this one had none.
		return r, nil, corrupt("delivery", id, errors.New("a record of format 1 whose body is missing"))
	default:
		return r, nil, corrupt("delivery", id, fmt.Errorf("unknown record version %d", v))
	}
	if flags&^15 != 0 {
		d.fail(fmt.Errorf("unknown flags %#x", flags))
	}
	r.dead = flags&1 != 0
	r.attempts = d.count()
	r.nhist = d.count()
	r.created = d.varint()
	r.due = d.varint()
	r.deadAt = d.varint()
	r.dest = d.name(limits.Name)
	r.topic = d.string(limits.Topic)
	r.ctype = d.string(limits.Topic)
	r.reason = d.string(limits.Reason)
	if flags&2 != 0 {
		r.event = d.string(limits.ID)
	}
	if flags&4 != 0 {
		r.key = d.string(wire.MaxKeyLen)
	}
	if flags&8 != 0 {
		r.trace = d.string(telemetry.MaxTraceparent)
	}
	body := d.b
	switch {
	case d.err != nil:
	case version == recordV1:
		d.end()
	case len(body) > limits.Body:
		d.fail(fmt.Errorf("body of %d bytes out of range", len(body)))
	}
	if d.err != nil {
		return record{}, nil, corrupt("delivery", id, d.err)
	}
	return r, body, nil
}

// delivery returns the delivery r describes, without its body.
func (r *record) delivery(id string) outbox.Delivery {
	return outbox.Delivery{
		ID: id, Destination: r.dest, EventID: r.event, TraceParent: r.trace, Topic: r.topic, ContentType: r.ctype, PartitionKey: r.key,
		Due: time.Unix(0, r.due), Created: time.Unix(0, r.created), Attempts: r.attempts,
	}
}

// appendAttempt appends the encoding of a to b:
//
//	version(1) varint(at) uvarint(status) varint(latency) uvarint(tries) string(error)
func appendAttempt(b []byte, a *outbox.AttemptRecord) []byte {
	b = append(b, attemptV1)
	b = binary.AppendVarint(b, wire.Nanos(a.At))
	b = binary.AppendUvarint(b, uint64(max(a.Status, 0)))
	b = binary.AppendVarint(b, int64(a.Latency))
	b = binary.AppendUvarint(b, uint64(max(a.Tries, 0)))
	b = binary.AppendUvarint(b, uint64(len(a.Error)))
	return append(b, a.Error...)
}

// decodeAttempt decodes one history entry of the delivery id.
func decodeAttempt(id string, b []byte) (outbox.AttemptRecord, error) {
	var a outbox.AttemptRecord
	d := decoder{b: b}
	if v := d.byte(); d.err == nil && v != attemptV1 {
		return a, corrupt("attempt of", id, fmt.Errorf("unknown version %d", v))
	}
	a.At = wire.Time(d.varint())
	a.Status = d.count()
	a.Latency = time.Duration(d.varint())
	a.Tries = d.count()
	a.Error = d.string(limits.Reason)
	d.end()
	if d.err != nil {
		return outbox.AttemptRecord{}, corrupt("attempt of", id, d.err)
	}
	return a, nil
}

// errMissingRecord reports an index entry or record whose counterpart is gone.
var errMissingRecord = errors.New("missing")

// corruptIndex wraps a malformed index key.
func corruptIndex(err error) error {
	return fmt.Errorf("%w: %w", outbox.ErrCorrupt, err)
}

// corrupt wraps a decoding failure with what and where.
func corrupt(what, id string, err error) error {
	return fmt.Errorf("%w: %s %q: %w", outbox.ErrCorrupt, what, id, err)
}

// decoder reads a record, remembering the first error; once it failed,
// every read returns a zero value.
type decoder struct {
	b     []byte
	err   error
	known string // a destination name that name returns rather than copies
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail(errShort)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint, "unsigned varint") }

func (d *decoder) varint() int64 { return readVarint(d, binary.Varint, "varint") }

// readVarint reads one number with read (binary.Uvarint or binary.Varint),
// failing d with "bad " and what when it does not parse.
func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int), what string) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b)
	if n <= 0 {
		d.fail(errors.New("bad " + what))
		return 0
	}
	d.b = d.b[n:]
	return v
}

// maxCount bounds counters (attempts, statuses, history length).
const maxCount = 1 << 30

func (d *decoder) count() int {
	v := d.uvarint()
	if v > maxCount {
		d.fail(fmt.Errorf("count %d out of range", v))
		return 0
	}
	return int(v)
}

func (d *decoder) string(max int) string {
	return string(d.bytes(max))
}

// name reads a string like string, but returns d.known, without a copy,
// when the string is equal to it.
func (d *decoder) name(max int) string {
	if b := d.bytes(max); d.known == "" || string(b) != d.known {
		return string(b)
	}
	return d.known
}

// bytes reads uvarint(len) and the bytes that follow, which point into d.b.
func (d *decoder) bytes(max int) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("string of %d bytes out of range", n))
		return nil
	}
	b := d.b[:n]
	d.b = d.b[n:]
	return b
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail(fmt.Errorf("%d trailing bytes", len(d.b)))
	}
}
