package natsstore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// Destination states (outbox.DestinationStore) live in a key-value bucket
// beside the stream, named after it with a _DEST suffix, one key per
// destination (its name in unpadded base64url). A watcher keeps them in
// memory, as the index keeps the deliveries, so that the Queue's reading
// them once per poll costs no round trip; a change made by one worker of a
// fleet reaches the others within milliseconds. A removed state is written
// as an empty value, not deleted, so that its write has a revision: a
// worker applies a change only when it is newer than what it has seen of
// that key, and the watcher, which lags behind the worker's own writes,
// cannot bring back a state the worker has just removed.

// statesBucket is the name of the states bucket of a stream: the stream's
// name with _DEST added when a bucket name can hold it (letters and digits
// of ASCII, '-' and '_'). Any other name is escaped: each byte but an ASCII
// letter, digit or '_' (so '-' too) becomes '-' and its two hex digits, and
// _DEST_ESC is added. The mapping is one to one: an escaped name decodes
// one way, and its suffix is not _DEST, so no two streams share a bucket.
func statesBucket(stream string) string {
	if !strings.ContainsFunc(stream, func(r rune) bool { return !bucketChar(r) && r != '-' }) {
		return stream + "_DEST"
	}
	const hex = "0123456789ABCDEF"
	b := make([]byte, 0, 3*len(stream)+len("_DEST_ESC"))
	for i := range len(stream) {
		c := stream[i]
		if bucketChar(rune(c)) {
			b = append(b, c)
			continue
		}
		b = append(b, '-', hex[c>>4], hex[c&0xF])
	}
	return string(append(b, "_DEST_ESC"...))
}

// bucketChar reports whether r is an ASCII letter or digit or '_', which an
// escaped bucket name holds as they are.
func bucketChar(r rune) bool {
	return r == '_' || r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r))
}

// openStates creates or binds the states bucket and starts its watcher,
// returning once the states held are loaded. The watcher reads the
// bucket's stream (KV_ and the bucket's name) with the ordered consumer of
// the index (follow), not a key-value watcher, which after a server
// restart went on without the other workers' changes for some 20 seconds.
func (o *store) openStates(ctx context.Context) error {
	bucket := statesBucket(o.cfg.Stream)
	kv, err := o.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "herald webhook outbox: destination states",
		History:     1,
		Storage:     o.cfg.Storage,
		Replicas:    o.cfg.Replicas,
	})
	if err != nil {
		return fmt.Errorf("natsstore: destination states bucket: %w", err)
	}
	o.kv, o.stopStates = kv, func() {}
	o.states, o.stateRevs = map[string]outbox.DestinationState{}, map[string]uint64{}
	keys := "$KV." + bucket + "."
	cc, err := o.follow(ctx, "destination states", "KV_"+bucket, keys+">", false, func(msg jetstream.Msg, seq uint64) {
		op := msg.Headers().Get(kvOperation)
		o.applyState(strings.TrimPrefix(msg.Subject(), keys), seq, op == "DEL" || op == "PURGE" || len(msg.Data()) == 0, msg.Data())
	})
	if err != nil {
		return err
	}
	o.stopStates = cc.Stop
	return nil
}

// kvOperation is the header of a key-value bucket's message that marks a
// key deleted ("DEL") or purged ("PURGE"); a put has none. Another value,
// which NATS's key-value clients read as a put, removes nothing: the
// message's value is read, and held as unreadable if it is not a state.
const kvOperation = "KV-Operation"

// reasonUnreadable is the Reason of the state kept for a value of the
// states bucket that cannot be read.
const reasonUnreadable = "its recorded state is unreadable (damaged): held until enabled or disabled again"

// applyState applies one change of the states bucket to the states kept
// in memory: key's state is value at revision rev, or removed. A value it
// cannot read (damaged, or written by something else) holds the key's
// destination: it reads as disabled now, for reasonUnreadable. A key that
// names no destination is skipped.
func (o *store) applyState(key string, rev uint64, removed bool, value []byte) {
	var st outbox.DestinationState
	if !removed {
		var readable, ok bool
		st, readable, ok = readState(key, value, time.Now())
		if !readable {
			// A raw publish on the bucket chose the key, whatever NATS's
			// key-value clients allow.
			shown := wire.Show(key)
			o.warn("destination states: unreadable state; its destination is held", fmt.Errorf("%w: key %s", outbox.ErrCorrupt, shown), slog.String("key", shown))
		}
		if !ok {
			return
		}
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.setStateLocked(key, rev, st, removed)
}

// readState reads value, the state kept under key. A value that does not
// decode, names a destination of another key or is no state a store may
// record (a reason over 1024 bytes: something else wrote it) is not
// readable, and reads as key's destination disabled at now for
// reasonUnreadable; ok is false when key names no destination, and the
// value is to be skipped.
func readState(key string, value []byte, now time.Time) (st outbox.DestinationState, readable, ok bool) {
	if err := json.Unmarshal(value, &st); err == nil && stateKey(st.Destination) == key && st.Validate() == nil {
		return st, true, true
	}
	name, err := base64.RawURLEncoding.DecodeString(key)
	st = outbox.DestinationState{Destination: string(name), Disabled: now, Reason: reasonUnreadable}
	return st, false, err == nil && st.Validate() == nil
}

// setStateLocked records, unless it has seen a newer one, revision rev of
// key: st, or the removal of the key's state.
func (o *store) setStateLocked(key string, rev uint64, st outbox.DestinationState, del bool) {
	if o.closed || rev <= o.stateRevs[key] {
		return
	}
	o.stateRevs[key] = rev
	if !del {
		o.states[st.Destination] = st
		return
	}
	for name := range o.states {
		if stateKey(name) == key {
			delete(o.states, name)
		}
	}
}

// stateKey is the bucket key of a destination's state.
func stateKey(dest string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(dest))
}

// DestinationStates returns the recorded destination states, as the
// watcher last saw them; see [outbox.DestinationStore].
func (o *store) DestinationStates(ctx context.Context) ([]outbox.DestinationState, error) {
	if err := o.lock(ctx); err != nil {
		return nil, err
	}
	defer o.mu.Unlock()
	out := make([]outbox.DestinationState, 0, len(o.states))
	for _, s := range o.states {
		out = append(out, s)
	}
	return out, nil
}

// SetDestinationState records a destination state once the server stored
// it; see [outbox.DestinationStore]. Removing a state the bucket does not
// hold writes nothing: an enable of a name never recorded (a typo, a
// script) left a key in the bucket for good, which every worker loaded.
func (o *store) SetDestinationState(ctx context.Context, st outbox.DestinationState) error {
	if err := st.Validate(); err != nil {
		return err
	}
	err := o.lock(ctx)
	if err != nil {
		return err
	}
	o.mu.Unlock()
	key := stateKey(st.Destination)
	remove := st.FailingSince.IsZero() && st.Disabled.IsZero()
	var v []byte // empty: removed
	if remove {
		// Asked of the bucket, not of what the watcher last saw, which
		// may not have the state another worker just wrote.
		e, err := o.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return nil // never recorded: no key to leave behind for good
		case err != nil:
			return fmt.Errorf("natsstore: destination state: %w", err)
		case len(e.Value()) == 0:
			return nil // removed already
		}
	} else if v, err = json.Marshal(st); err != nil {
		return fmt.Errorf("natsstore: destination state: %w", err)
	}
	rev, err := o.kv.Put(ctx, key, v)
	if err != nil {
		return fmt.Errorf("natsstore: destination state: %w", err)
	}
	// Seen at once here; the watcher brings it to the other workers.
	o.mu.Lock()
	defer o.mu.Unlock()
	o.setStateLocked(key, rev, st, remove)
	return nil
}
