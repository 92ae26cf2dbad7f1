package natsstore

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldhq/herald/outbox"
)

// putBatch is how many publishes Put keeps in flight before it waits for
// their acknowledgements.
const putBatch = 256

// Put stores deliveries; see [outbox.Outbox.Put]. It publishes them
// asynchronously, each expecting an empty subject and carrying its id as
// Nats-Msg-Id, and returns once JetStream acknowledged every one. A
// delivery whose id the stream holds (pending, leased, dead, or
// acknowledged or purged within [Config.DuplicateWindow]) is dropped.
// Every delivery is validated before any is published, and a body larger
// than the server's max_payload allows (less 32 KiB for the record's
// metadata) is refused with [outbox.ErrInvalid]. When the connection
// fails midway, some deliveries may be stored and others not; Put is
// idempotent, so call it again.
func (o *Outbox) Put(ctx context.Context, ds ...outbox.Delivery) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for i := range ds {
		if len(ds[i].Body) > o.maxBody {
			return fmt.Errorf("%w: body of %d bytes exceeds the %d the NATS server's max_payload allows (delivery %s)",
				outbox.ErrInvalid, len(ds[i].Body), o.maxBody, ds[i].ID)
		}
	}
	o.mu.Lock()
	err := o.checkOpen()
	o.mu.Unlock()
	if err != nil {
		return err
	}
	now := time.Now()
	for start := 0; start < len(ds); start += putBatch {
		if err := o.putBatch(ctx, ds[start:min(start+putBatch, len(ds))], now); err != nil {
			return err
		}
	}
	return nil
}

// putBatch publishes ds and waits for the acknowledgements.
func (o *Outbox) putBatch(ctx context.Context, ds []outbox.Delivery, now time.Time) error {
	type pending struct {
		m   meta
		ack jetstream.PubAckFuture
	}
	ps := make([]pending, 0, len(ds))
	for _, d := range ds {
		r := record{meta: meta{
			ID: d.ID, Destination: d.Destination, Topic: d.Topic, ContentType: d.ContentType,
			Due: nanos(d.Due), Created: nanos(d.Created), Attempts: d.Attempts,
		}, body: d.Body}
		if r.Due == 0 {
			r.Due = nanos(now)
		}
		if r.Created == 0 {
			r.Created = nanos(now)
		}
		m, err := r.msg(o.subject(d.ID))
		if err != nil {
			return err
		}
		f, err := o.js.PublishMsgAsync(m, jetstream.WithMsgID(d.ID), jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			return fmt.Errorf("natsstore: put %s: %w", d.ID, err)
		}
		ps = append(ps, pending{r.meta, f})
	}
	var first error
	for _, p := range ps {
		select {
		case ack := <-p.ack.Ok():
			if ack.Duplicate {
				continue
			}
			o.mu.Lock()
			if !o.closed {
				o.applyLocked(p.m, ack.Sequence, false)
			}
			o.mu.Unlock()
		case err := <-p.ack.Err():
			if !isConflict(err) && first == nil {
				first = fmt.Errorf("natsstore: put %s: %w", p.m.ID, err)
			}
		case <-ctx.Done():
			return fmt.Errorf("natsstore: put: %w", ctx.Err())
		}
	}
	return first
}
