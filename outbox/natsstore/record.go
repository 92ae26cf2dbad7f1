package natsstore

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// metaHeader carries a record's metadata as JSON.
const metaHeader = "Herald-Meta"

// Record states.
const (
	statePending = ""     // pending, maybe leased
	stateDead    = "dead" // a dead letter
	stateGone    = "gone" // a tombstone: acknowledged or purged
)

// meta is the metadata of a record, as stored in its metaHeader. Times are
// Unix nanoseconds, zero when unset.
type meta struct {
	ID          string `json:"id"`
	Destination string `json:"dest,omitempty"`
	EventID     string `json:"event,omitempty"`
	TraceParent string `json:"tp,omitempty"`
	Topic       string `json:"topic,omitempty"`
	ContentType string `json:"ct,omitempty"`
	State       string `json:"state,omitempty"`
	Due         int64  `json:"due,omitempty"`
	Created     int64  `json:"created,omitempty"`
	Attempts    int    `json:"attempts,omitempty"`
	Until       int64  `json:"until,omitempty"` // lease expiry
	Reason      string `json:"reason,omitempty"`
	DeadAt      int64  `json:"deadAt,omitempty"`
}

// attempt is the stored form of an [outbox.AttemptRecord].
type attempt struct {
	At      int64  `json:"at"`
	Status  int    `json:"status,omitempty"`
	Latency int64  `json:"latency,omitempty"`
	Tries   int    `json:"tries,omitempty"`
	Error   string `json:"error,omitempty"`
}

// record is one delivery as stored: metadata, history and body.
type record struct {
	meta
	history []attempt
	body    []byte
}

// subject returns the subject of the delivery with the given id.
func (o *store) subject(id string) string {
	return o.prefix + base64.RawURLEncoding.EncodeToString([]byte(id))
}

// delivery returns the record as an [outbox.Delivery].
func (m *meta) delivery(body []byte) outbox.Delivery {
	return outbox.Delivery{
		ID: m.ID, Destination: m.Destination, EventID: m.EventID, TraceParent: m.TraceParent, Topic: m.Topic, ContentType: m.ContentType,
		Body: body, Due: wire.Time(m.Due), Created: wire.Time(m.Created), Attempts: m.Attempts,
	}
}

// addAttempt appends a to the history, dropping the oldest beyond
// limits.History (a delivery replayed again and again would otherwise grow
// without bound), and cuts its text to 1024 bytes; msg drops more of the
// oldest if their encoding would not fit what Open reserved.
func (r *record) addAttempt(a outbox.AttemptRecord) {
	a.Error = limits.Clip(a.Error)
	r.history = append(r.history, attempt{
		At: wire.Nanos(a.At), Status: a.Status, Latency: int64(a.Latency), Tries: a.Tries, Error: a.Error,
	})
	if n := len(r.history); n > limits.History {
		r.history = r.history[n-limits.History:]
	}
}

// attempts returns the history as [outbox.AttemptRecord] values.
func (r *record) attempts() []outbox.AttemptRecord {
	out := make([]outbox.AttemptRecord, 0, len(r.history))
	for _, a := range r.history {
		out = append(out, outbox.AttemptRecord{
			At: wire.Time(a.At), Status: a.Status, Latency: time.Duration(a.Latency), Tries: a.Tries, Error: a.Error,
		})
	}
	return out
}

// msg encodes the record as a message to subj. The data is the history's
// length as a uvarint, the history as JSON, then the body.
func (r *record) msg(subj string) (*nats.Msg, error) {
	mj, err := json.Marshal(&r.meta)
	if err != nil {
		return nil, fmt.Errorf("natsstore: encode record %s: %w", r.ID, err)
	}
	hj, err := r.encodeHistory(bodyReserve - len(mj) - headerSlack)
	if err != nil {
		return nil, fmt.Errorf("natsstore: encode history of %s: %w", r.ID, err)
	}
	data := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(hj)+len(r.body)), uint64(len(hj)))
	data = append(append(data, hj...), r.body...)
	m := nats.NewMsg(subj)
	m.Header.Set(metaHeader, string(mj))
	m.Data = data
	return m, nil
}

// headerSlack is what a record's message may need of bodyReserve beside
// its metadata and history: the header's name and framing.
const headerSlack = 1 << 10

// encodeHistory encodes the history as JSON in at most budget bytes,
// dropping the oldest attempts until it fits. limits.History texts of 1024
// bytes do not: 64 KiB as they are, and six times that where JSON escapes
// them, and a receiver chooses the text of its errors. A record too large
// for the stream could never be settled again, and its delivery would be
// retried at every lease's end, beyond its schedule. The latest attempt
// alone always fits: at most 6 KiB, against a budget of at least 8.
func (r *record) encodeHistory(budget int) ([]byte, error) {
	for len(r.history) > 0 {
		hj, err := json.Marshal(r.history)
		if err != nil || len(hj) <= budget || len(r.history) == 1 {
			return hj, err
		}
		r.history = r.history[(len(r.history)+3)/4:] // the oldest quarter, at least one
	}
	return nil, nil
}

// decodeMeta reads a record's metadata from its headers.
func decodeMeta(h nats.Header) (meta, error) {
	var m meta
	v := h.Get(metaHeader)
	if v == "" {
		return m, fmt.Errorf("%w: message without %s header", outbox.ErrCorrupt, metaHeader)
	}
	if err := json.Unmarshal([]byte(v), &m); err != nil {
		return m, fmt.Errorf("%w: %s header: %w", outbox.ErrCorrupt, metaHeader, err)
	}
	if m.ID == "" {
		return m, fmt.Errorf("%w: record without id", outbox.ErrCorrupt)
	}
	return m, nil
}

// metaAt reads the metadata of the record a message on subject holds. A
// message whose metadata names an id of another subject (another writer
// put it there) is not that delivery's record, and is refused as
// [outbox.ErrCorrupt]: taken for the delivery's latest revision, it
// would make every lease of the delivery fail, for good.
func (o *store) metaAt(subject string, h nats.Header) (meta, error) {
	m, err := decodeMeta(h)
	if err == nil {
		err = o.checkSubject(subject, m.ID)
	}
	return m, err
}

// recordAt reads a whole record from sm, refusing one of another id than
// sm's subject, as metaAt does.
func (o *store) recordAt(sm *jetstream.RawStreamMsg) (*record, error) {
	r, err := decodeRecord(sm.Header, sm.Data)
	if err == nil {
		err = o.checkSubject(sm.Subject, r.ID)
	}
	if err != nil {
		return nil, err
	}
	return r, nil
}

// checkSubject refuses, as [outbox.ErrCorrupt], a record of id found on
// subject when that is not id's subject. It builds nothing on the heap
// for an id of usual length: the index's watcher calls it for every
// record written.
func (o *store) checkSubject(subject, id string) error {
	var b [128]byte
	enc, ok := strings.CutPrefix(subject, o.prefix)
	if !ok || enc != string(base64.RawURLEncoding.AppendEncode(b[:0], []byte(id))) {
		return fmt.Errorf("%w: a record of another id on subject %s", outbox.ErrCorrupt, wire.Show(subject))
	}
	return nil
}

// decodeRecord reads a whole record from a stored message.
func decodeRecord(h nats.Header, data []byte) (*record, error) {
	m, err := decodeMeta(h)
	if err != nil {
		return nil, err
	}
	r := &record{meta: m}
	if m.State == stateGone {
		return r, nil
	}
	n, k := binary.Uvarint(data)
	if k <= 0 || n > uint64(len(data)-k) {
		return nil, fmt.Errorf("%w: record %s: bad history length", outbox.ErrCorrupt, m.ID)
	}
	if n > 0 {
		if err := json.Unmarshal(data[k:k+int(n)], &r.history); err != nil {
			return nil, fmt.Errorf("%w: record %s: history: %w", outbox.ErrCorrupt, m.ID, err)
		}
	}
	r.body = data[k+int(n):]
	return r, nil
}
