package natsstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/guard"
	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// bodyReserve is the part of the server's max_payload kept for a record's
// headers and history; a body may use the rest.
const bodyReserve = 32 << 10

// store is an [outbox.Outbox] on a JetStream stream; see the package
// documentation. Open it with [Open]. It is safe for concurrent use, and
// any number of store values, in any number of processes, may share one
// stream.
type store struct {
	js      jetstream.JetStream
	stream  jetstream.Stream
	cfg     Config
	prefix  string // cfg.Subject + "."
	maxBody int
	seed    [8]byte

	watch jetstream.ConsumeContext

	mu       sync.Mutex
	closed   bool
	entries  map[string]*entry
	dests    map[string]*destList
	lastDest string
	seen     uint64 // the last stream sequence the watcher applied
	// undone holds the sequences of the messages a failed Put deleted
	// before the watcher brought them: it may still bring them, having
	// read them before the deletion, and must not apply them.
	undone map[uint64]struct{}

	// The destination states (destinations.go): their bucket, the
	// watcher's stop, and the states as last seen with the revision of
	// each key they reflect, under mu.
	kv         jetstream.KeyValue
	stopStates func()
	states     map[string]outbox.DestinationState
	stateRevs  map[string]uint64
}

// Open creates or updates the outbox stream described by cfg on js (an
// idempotent call: every worker of a fleet makes it at start-up), loads
// the index of its records and returns the [outbox.Store] once the index
// is complete. It refuses with [outbox.ErrInvalid], and leaves as it is, a
// stream of that name that is not an outbox on cfg.Subject (one message
// per subject). The store uses js's connection and never closes it; ctx
// bounds Open only.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (outbox.Store, error) {
	if js == nil {
		return nil, fmt.Errorf("%w: nil JetStream", outbox.ErrInvalid)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkExisting(ctx, js, cfg); err != nil {
		return nil, err
	}
	st, err := js.CreateOrUpdateStream(ctx, cfg.streamConfig())
	if err != nil {
		return nil, fmt.Errorf("natsstore: create stream %s: %w", cfg.Stream, err)
	}
	o := &store{
		js: js, stream: st, cfg: cfg, prefix: cfg.Subject + ".",
		maxBody: limits.Body,
		entries: make(map[string]*entry),
		dests:   make(map[string]*destList),
	}
	if nc := js.Conn(); nc != nil {
		if mp := int(nc.MaxPayload()); mp > 0 {
			o.maxBody = min(o.maxBody, mp-bodyReserve)
		}
	}
	if _, err := rand.Read(o.seed[:]); err != nil {
		return nil, fmt.Errorf("natsstore: seed: %w", err)
	}
	if err := o.openStates(ctx); err != nil {
		return nil, err
	}
	if err := o.startWatch(ctx); err != nil {
		o.stopStates()
		return nil, err
	}
	return o, nil
}

// checkExisting refuses, with [outbox.ErrInvalid], a stream named
// cfg.Stream that exists but is not the outbox cfg describes: another
// application's stream (the update would purge all but one message of
// each subject) or an outbox on other subjects (the update would strand
// its records out of the index's sight).
func checkExisting(ctx context.Context, js jetstream.JetStream, cfg Config) error {
	st, err := js.Stream(ctx, cfg.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("natsstore: look up stream %s: %w", cfg.Stream, err)
	}
	c := st.CachedInfo().Config
	if c.MaxMsgsPerSubject != 1 || !slices.Equal(c.Subjects, []string{cfg.Subject + ".>"}) {
		return fmt.Errorf("%w: stream %s exists and is not an outbox on %s.> (subjects %q, %d messages per subject)",
			outbox.ErrInvalid, cfg.Stream, cfg.Subject, c.Subjects, c.MaxMsgsPerSubject)
	}
	return nil
}

// startWatch starts the ordered consumer that keeps the index current and
// waits until it has read every record.
func (o *store) startWatch(ctx context.Context) error {
	cc, err := o.follow(ctx, "outbox index", o.cfg.Stream, o.prefix+">", true, o.applyRecord)
	o.watch = cc
	return err
}

// applyRecord applies to the index a message of the outbox stream, at
// stream sequence seq.
func (o *store) applyRecord(msg jetstream.Msg, seq uint64) {
	m, err := o.metaAt(msg.Subject(), msg.Headers())
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	if err != nil {
		o.seen = max(o.seen, seq)
		o.dropLocked(msg.Subject(), seq)
	} else {
		o.applyLocked(m, seq, true)
	}
	o.mu.Unlock()
	if err != nil {
		// Anyone who may publish under the stream's subjects chose it.
		o.warn("outbox index: unreadable record", err, slog.String("subject", wire.Show(msg.Subject())))
	}
}

// follow starts an ordered consumer of the last message of each subject of
// stream under filter, and then of each new one, which hands them to
// apply with their stream sequences, and returns once it has read those
// the stream held, or fails when ctx ends first. It is the new JetStream API's ordered consumer, which
// makes itself again at once after the connection comes back, where a
// key-value watcher took some 20 seconds after a server restart. name
// goes in its warnings.
func (o *store) follow(ctx context.Context, name, stream, filter string, headersOnly bool, apply func(jetstream.Msg, uint64)) (jetstream.ConsumeContext, error) {
	cons, err := o.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{filter},
		DeliverPolicy:  jetstream.DeliverLastPerSubjectPolicy,
		HeadersOnly:    headersOnly,
	})
	if err != nil {
		return nil, fmt.Errorf("natsstore: watch stream %s: %w", stream, err)
	}
	ready := make(chan struct{})
	var once sync.Once
	var applied atomic.Uint64 // the last stream sequence applied
	cc, err := cons.Consume(func(msg jetstream.Msg) {
		md, err := msg.Metadata()
		if err != nil {
			o.warn(name+": message without metadata", err)
			return
		}
		apply(msg, md.Sequence.Stream)
		applied.Store(max(applied.Load(), md.Sequence.Stream))
		if md.NumPending == 0 {
			once.Do(func() { close(ready) })
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		o.warn(name+": watcher", err)
	}))
	if err != nil {
		return nil, fmt.Errorf("natsstore: watch stream %s: %w", stream, err)
	}
	// The consumer reports when it has caught up; an empty stream (or one
	// whose last messages expired meanwhile) sends nothing, so also ask.
	// The consumer of an empty stream counts as delivered the stream's last
	// sequence, which no message brings: it is caught up when it has
	// nothing pending and has delivered nothing, or all it delivered has
	// been applied.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ready:
			return cc, nil
		case <-ctx.Done():
			cc.Stop()
			return nil, fmt.Errorf("natsstore: load %s: %w", name, ctx.Err())
		case <-tick.C:
			info, err := cons.Info(ctx)
			if err != nil {
				continue
			}
			if info.NumPending == 0 && (info.Delivered.Consumer == 0 || applied.Load() >= info.Delivered.Stream) {
				return cc, nil
			}
		}
	}
}

// warn logs a failure of the watcher.
func (o *store) warn(msg string, err error, attrs ...slog.Attr) {
	if o.cfg.Logger == nil {
		return
	}
	o.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, msg,
		append(attrs, slog.String("stream", o.cfg.Stream), slog.String("error", err.Error()))...)
}

// Close stops the index watcher; later calls fail with
// [outbox.ErrClosed]. Leases held through this store run out as usual and
// their deliveries are then taken by other workers. Close does not close
// the NATS connection.
func (o *store) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	o.entries, o.dests = nil, nil
	if o.watch != nil {
		o.watch.Stop()
	}
	if o.stopStates != nil {
		o.stopStates()
	}
	o.states, o.stateRevs = nil, nil
	return nil
}

// lock takes o.mu for a call under ctx, or fails without it when ctx has
// ended or o is closed ([outbox.ErrClosed]).
func (o *store) lock(ctx context.Context) error {
	return guard.Lock(ctx, &o.mu, &o.closed, outbox.ErrClosed)
}

// isConflict reports whether err is JetStream refusing a guarded write
// because the subject's last sequence is not the expected one.
func isConflict(err error) bool {
	var jerr jetstream.JetStreamError
	if !errors.As(err, &jerr) || jerr.APIError() == nil {
		return false
	}
	c := jerr.APIError().ErrorCode
	return c == jetstream.JSErrCodeStreamWrongLastSequence || c == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}
