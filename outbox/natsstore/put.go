package natsstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/internal/idclash"
	"github.com/heraldhq/herald/internal/wire"
	"github.com/heraldhq/herald/outbox"
)

// errNoPutAck is why Put gave up on the acknowledgements of its publishes.
var errNoPutAck = fmt.Errorf("no acknowledgement of a publish within %v", putAckWait)

// putBatch is how many publishes Put keeps in flight before it waits for
// their acknowledgements.
const putBatch = 256

// putAckWait bounds how long Put waits for the acknowledgements of the
// publishes it made once its context ended, so that it can undo those that
// were stored.
const putAckWait = 10 * time.Second

// Put stores deliveries; see [outbox.Outbox.Put]. It publishes them
// asynchronously, each expecting an empty subject, and returns once
// JetStream acknowledged every one. A delivery whose id the stream holds
// for its destination (pending, leased, dead, or acknowledged or purged
// within [Config.DuplicateWindow], as a tombstone) is dropped, once adopt
// has made sure that no other Put can still undo the record held.
//
// Put is all or nothing. Every delivery is encoded before any is
// published, and one the record format cannot hold (an id the Queue's id
// rule refuses, an empty or non-UTF-8 destination, or a body larger than
// the server's max_payload allows, less 32 KiB for the record's metadata)
// is refused with [outbox.ErrInvalid]. When the stream refuses a publish, or ctx ends
// before every acknowledgement came, Put deletes the deliveries it stored
// and returns the error: call it again. The one exception is a delivery
// that a worker of the fleet leased, or another Put of the same id
// adopted, in the moment between its publish and the undo: it stays, and
// is sent; the error names it, and a retried Put drops it as held.
//
// A delivery whose id the stream holds for another destination (pending,
// leased, dead, or acknowledged or purged within the window) fails the Put
// with [outbox.ErrInvalid] the same way: adopt reads the record held
// anyway. A tombstone that an earlier version of this package wrote keeps
// no destination: its id is dropped whatever the destination.
func (o *store) Put(ctx context.Context, ds ...outbox.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := idclash.InBatch(outbox.ErrInvalid, len(ds), func(i int) (string, string) { return ds[i].ID, ds[i].Destination }); err != nil {
		return err
	}
	ps, err := o.encode(ds)
	if err != nil {
		return err
	}
	if err := o.lock(ctx); err != nil {
		return err
	}
	o.mu.Unlock()
	for start := 0; start < len(ps) && err == nil; start += putBatch {
		err = o.publish(ctx, ps[start:min(start+putBatch, len(ps))])
	}
	if err == nil {
		err = o.adoptAll(ctx, ps)
	}
	if err != nil {
		return o.undo(ps, err)
	}
	o.mu.Lock()
	if !o.closed {
		for _, p := range ps {
			if p.seq != 0 {
				o.applyLocked(p.m, p.seq, false)
			}
		}
	}
	o.mu.Unlock()
	return nil
}

// encode checks that the record format holds every delivery of ds and
// encodes each as its record's message.
func (o *store) encode(ds []outbox.Delivery) ([]published, error) {
	ps := make([]published, len(ds))
	for i := range ds {
		if err := o.storable(&ds[i]); err != nil {
			return nil, err
		}
		d := &ds[i]
		r := record{meta: meta{
			ID: d.ID, Destination: d.Destination, EventID: d.EventID, TraceParent: d.TraceParent, Topic: d.Topic, ContentType: d.ContentType,
			Due: wire.Nanos(d.Due), Created: wire.Nanos(d.Created), Attempts: d.Attempts,
		}, body: d.Body}
		m, err := r.msg(o.subject(d.ID))
		if err != nil {
			return nil, err
		}
		ps[i] = published{m: r.meta, msg: m}
	}
	return ps, nil
}

// published is one delivery of a Put: its record and, once JetStream
// stored it, its stream sequence.
type published struct {
	m   meta
	msg *nats.Msg
	// seq is the stream sequence of the message this Put wrote for the
	// delivery: 0 while none (not yet, or the id is held and was left).
	seq uint64
	// held: the stream held the id when this Put published. A record this
	// Put then rewrote (adopted) is not its to undo.
	held bool
	// unsure: its acknowledgement never came, so it may be stored
	unsure bool
}

// storable reports whether the record format holds d; the Queue validated
// it already, so this only guards the stream's subjects and headers.
func (o *store) storable(d *outbox.Delivery) error {
	// The id rule (printable ASCII, at most 256 bytes) also keeps its
	// subject under the server's max_control_line, past which the server
	// closes the connection the whole store uses.
	if err := wire.CheckID(d.ID); err != nil {
		return fmt.Errorf("%w: natsstore: delivery id: %w", outbox.ErrInvalid, err)
	}
	switch {
	case d.Destination == "" || !utf8.ValidString(d.Destination):
		return fmt.Errorf("%w: natsstore cannot store a delivery with an empty or non-UTF-8 destination", outbox.ErrInvalid)
	case len(d.Body) > o.maxBody:
		return fmt.Errorf("%w: body of %d bytes exceeds the %d the NATS server's max_payload allows (delivery %s)",
			outbox.ErrInvalid, len(d.Body), o.maxBody, d.ID)
	}
	return nil
}

// publish publishes ps and waits for every acknowledgement, noting the
// sequence of each delivery stored. It returns the first error; a
// conflict (the id is held) is not one, and marks the delivery held. When
// ctx ends, it still waits up to putAckWait for the acknowledgements, so
// that Put knows what to undo, and marks those that never came unsure; it
// waits putAckWait at most before it does so, even while ctx lasts.
func (o *store) publish(ctx context.Context, ps []published) error {
	futures := make([]jetstream.PubAckFuture, 0, len(ps))
	var first error
	for _, p := range ps {
		f, err := o.js.PublishMsgAsync(p.msg, jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			first = fmt.Errorf("natsstore: put %s: %w", p.m.ID, err)
			break
		}
		futures = append(futures, f)
	}
	// late is cancelled putAckWait after wait ends; wait ends with ctx, or
	// after putAckWait: a clustered stream whose leader changes answers
	// none of the publishes it received meanwhile, and an acknowledgement
	// not answered has no end of its own.
	late, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()
	bounded, cancel := context.WithTimeoutCause(ctx, putAckWait, errNoPutAck)
	defer cancel()
	wait := bounded
	for i, f := range futures {
		for {
			select {
			case ack := <-f.Ok():
				ps[i].seq = ack.Sequence
			case err := <-f.Err():
				ps[i].held = isConflict(err)
				if !ps[i].held && first == nil {
					first = fmt.Errorf("natsstore: put %s: %w", ps[i].m.ID, err)
				}
			case <-wait.Done():
				if wait == bounded { // wait a while longer, to know what to undo
					if first == nil {
						first = fmt.Errorf("natsstore: put: %w", cmp.Or(ctx.Err(), context.Cause(bounded)))
					}
					wait = late
					time.AfterFunc(putAckWait, stop)
					continue
				}
				ps[i].unsure = true
			}
			break
		}
	}
	return first
}

// undo deletes the deliveries of ps that this Put stored, after it failed
// with cause, and returns cause, naming any it could not delete. It never
// deletes a record it adopted: that one another Put stored, and may have
// returned for.
func (o *store) undo(ps []published, cause error) error {
	ctx, cancel := context.WithTimeout(context.Background(), putAckWait)
	defer cancel()
	var kept []string
	var failed error
	for i := range ps {
		p := &ps[i]
		if p.unsure {
			kept = append(kept, p.m.ID)
		}
		if p.seq == 0 || p.held {
			continue
		}
		err := o.stream.DeleteMsg(ctx, p.seq)
		replaced := o.missing(ctx, p.seq, err)
		if err == nil || replaced {
			o.forget(p.m, p.seq)
		}
		switch {
		case replaced:
			kept = append(kept, p.m.ID) // replaced: a worker leased it, or another Put adopted it
		case err != nil && failed == nil:
			failed = err
		}
	}
	switch {
	case failed != nil:
		return fmt.Errorf("%w; undoing the stored part also failed, so some deliveries may be stored: %w", cause, failed)
	case len(kept) > 0:
		return fmt.Errorf("%w; deliveries %q may be stored (leased before the undo, or never acknowledged)", cause, kept)
	}
	return cause
}

// missing reports whether the failed deletion of message seq, which
// ended with err, failed because the stream no longer holds it (a later
// message on its subject replaced it). The server words that in more
// than one way, so missing asks for the message when err is not the one
// nats.go names.
func (o *store) missing(ctx context.Context, seq uint64, err error) bool {
	if err == nil || errors.Is(err, jetstream.ErrMsgNotFound) {
		return err != nil
	}
	_, gerr := o.stream.GetMsg(ctx, seq)
	return errors.Is(gerr, jetstream.ErrMsgNotFound)
}

// forget drops from the index the entry of m at revision seq, which Put
// deleted.
func (o *store) forget(m meta, seq uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	if e := o.entries[m.ID]; e != nil && e.rev == seq {
		gone := e.meta
		gone.State = stateGone
		o.updateLocked(e, gone, seq, true)
	}
	if seq > o.seen {
		// The watcher may have read it before the deletion: a deleted
		// message leaves no trace in the stream for it to see after.
		if o.undone == nil {
			o.undone = make(map[uint64]struct{})
		}
		o.undone[seq] = struct{}{}
	}
}

// adoptAtOnce is how many held ids adoptAll settles at the same time.
const adoptAtOnce = 32

// adoptAll adopts the held deliveries of ps, up to adoptAtOnce at a time:
// each costs two round trips to the server, and a retried batch may hold
// every id. It returns the first error, once every adopt started has
// ended, so that undo sees what each did.
func (o *store) adoptAll(ctx context.Context, ps []published) error {
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	fail := func(err error) { once.Do(func() { first = err; cancel() }) }
	slots := make(chan struct{}, adoptAtOnce)
	for _, i := range toAdopt(ps) {
		select {
		case slots <- struct{}{}:
		case <-actx.Done():
		}
		if actx.Err() != nil {
			fail(fmt.Errorf("natsstore: put %s: %w", ps[i].m.ID, context.Cause(actx)))
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := o.adopt(actx, &ps[i]); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	return first
}

// toAdopt returns the indexes of the held deliveries of ps that adoptAll
// adopts: an id given more than once in a Put is adopted once, and not at
// all when the Put stored it itself. Its copies would only race each
// other's rewrites, and the Put's own record is the Put's to undo.
func toAdopt(ps []published) []int {
	var idx []int
	var done map[string]bool
	for i := range ps {
		if !ps[i].held {
			continue
		}
		if done == nil {
			done = make(map[string]bool)
			for _, p := range ps {
				if !p.held {
					done[p.m.ID] = true
				}
			}
		}
		if !done[ps[i].m.ID] {
			done[ps[i].m.ID] = true
			idx = append(idx, i)
		}
	}
	return idx
}

// adoptTries bounds the rounds of adopt on a record that other writers
// keep changing.
const adoptTries = 5

// adopt settles a delivery of a Put whose id the stream held (p.held),
// before the Put reports it stored. The record held may be one that
// another Put published and has not returned for yet; that Put may still
// fail and undo it, and the delivery would be lost although this Put
// returned nil (a client retrying an event on another worker of the fleet
// does exactly this). So adopt rewrites a pending, unleased record as it
// is, guarded by its revision: an undo then finds its message replaced
// and leaves the delivery be. A record that a lease or a settlement wrote
// (leased, dead, a tombstone) no Put undoes, and stays as it is. A record
// gone by the time adopt reads it (its undo came first) is stored afresh
// from p, as this Put's own. A record of another destination, a
// tombstone's included, fails the Put (see Put).
func (o *store) adopt(ctx context.Context, p *published) error {
	for range adoptTries {
		sm, err := o.stream.GetLastMsgForSubject(ctx, p.msg.Subject)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			// The undo came first: store p's own record, as this Put's.
			ack, err := o.js.PublishMsg(ctx, p.msg, jetstream.WithExpectLastSequencePerSubject(0))
			if err == nil {
				p.held, p.seq = false, ack.Sequence
				return nil
			}
			if !isConflict(err) {
				p.unsure = true // stored, maybe, with the acknowledgement lost
				return fmt.Errorf("natsstore: put %s: %w", p.m.ID, err)
			}
		case err != nil:
			return fmt.Errorf("natsstore: put %s: %w", p.m.ID, err)
		default:
			r, err := o.recordAt(sm)
			if err != nil {
				return fmt.Errorf("natsstore: put %s: the stream holds an unreadable record under its id: %w", p.m.ID, err)
			}
			// A tombstone of an earlier version names no destination:
			// the id is dropped, whatever its destination was.
			if r.Destination != p.m.Destination && (r.State != stateGone || r.Destination != "") {
				return idclash.Err(outbox.ErrInvalid, p.m.ID, r.Destination, p.m.Destination)
			}
			if r.State != statePending || r.Until != 0 {
				return nil
			}
			seq, err := o.write(ctx, r, sm.Sequence)
			if err == nil {
				p.m, p.seq = r.meta, seq
				return nil
			}
			if !errors.Is(err, outbox.ErrLeaseLost) {
				return err
			}
		}
	}
	return fmt.Errorf("natsstore: put %s: the record held under its id kept changing", p.m.ID)
}
