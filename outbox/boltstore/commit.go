package boltstore

import (
	"context"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/heraldhq/herald/outbox"
)

// op is one change waiting for a commit. fn must check everything it can
// before it writes, and return an error only before its first write: its
// transaction is shared with other changes and commits whatever fn wrote.
type op struct {
	fn    func(tx *bolt.Tx, b *bucketSet) error
	after func() // run after a successful commit, if fn succeeded
	// ends are the leases this change settles: the committer ends each
	// once committed, or frees it for another try if its change failed,
	// taking s.mu once for the whole batch.
	ends []ending
	err  error
	done chan error
}

// commit submits a change and waits until it is durably committed or
// failed. Once submitted, a change is waited for even if ctx ends, so that
// its caller never mistakes a committed change for a lost one.
func (s *store) commit(ctx context.Context, fn func(tx *bolt.Tx, b *bucketSet) error, after func()) error {
	_, err := s.submit(ctx, &op{fn: fn, after: after})
	return err
}

// submit submits o and waits until it is committed or failed; see commit.
// submitted reports whether o reached the committer: if not (ctx ended
// before, or while o waited for room in the committer's queue, or the
// store is closed), nothing was done with it, o.lease included.
func (s *store) submit(ctx context.Context, o *op) (submitted bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	o.done = make(chan error, 1)
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return false, outbox.ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		// The committer's queue is full (a commit stalled on the disk)
		// and the caller gave up: nothing was done with o.
		s.closeMu.RUnlock()
		return false, ctx.Err()
	}
	s.closeMu.RUnlock()
	return true, <-o.done
}

// collect appends the changes already waiting to batch, up to maxBatch.
func (s *store) collect(batch *[]*op) {
	for len(*batch) < s.maxBatch {
		select {
		case o, ok := <-s.ops:
			if !ok {
				return
			}
			*batch = append(*batch, o)
		default:
			return
		}
	}
}

// lingerGap ends a linger early: when no change arrived for this long, the
// writers have all had their say.
const lingerGap = 100 * time.Microsecond

// linger appends the changes arriving within total, up to maxBatch, and
// stops when none arrived for gap.
func (s *store) linger(batch *[]*op, t *time.Timer, total, gap time.Duration) {
	deadline := time.Now().Add(total)
	for len(*batch) < s.maxBatch {
		wait := time.Until(deadline)
		if gap > 0 {
			wait = min(wait, gap)
		}
		if wait <= 0 {
			return
		}
		t.Reset(wait)
		select {
		case o, ok := <-s.ops:
			if !t.Stop() {
				<-t.C
			}
			if !ok {
				return
			}
			*batch = append(*batch, o)
			s.collect(batch)
		case <-t.C:
			return
		}
	}
}

// commitLoop is the committer: it takes every change waiting, up to
// maxBatch, applies them in one read-write transaction and commits it with
// one fsync. While it commits, new changes queue up for the next round, so
// the batch grows with the load and a lone change is never delayed.
func (s *store) commitLoop() {
	defer close(s.done)
	batch := make([]*op, 0, s.maxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for o := range s.ops {
		batch = append(batch[:0], o)
		s.collect(&batch)
		if len(batch) > 1 && s.lingerMax > 0 {
			// Others are writing too: wait a little for more of them, so
			// that they share this commit rather than pay for the next.
			s.linger(&batch, timer, s.lingerMax, lingerGap)
		}
		var added map[string][]byte
		// bbolt panics on a damaged page: fail the batch and roll back
		// rather than take the process down.
		err := guarded(func() error {
			return s.db.Update(func(tx *bolt.Tx) error {
				b := buckets(tx)
				defer func() { added = b.added }()
				for _, o := range batch {
					if o.err = b.err; o.err == nil {
						o.err = o.fn(tx, &b)
					}
				}
				return nil
			})
		})
		s.endLeases(batch, added, err)
		for _, o := range batch {
			switch {
			case err != nil:
				o.done <- err
			case o.err != nil:
				o.done <- o.err
			default:
				if o.after != nil {
					o.after()
				}
				o.done <- nil
			}
		}
		clear(batch)
	}
}

// endLeases ends the leases settled by the committed changes of batch,
// frees those of the failed ones, and drops the skips the due entries added
// could precede, under one lock of s.mu. err is the commit's error.
func (s *store) endLeases(batch []*op, added map[string][]byte, err error) {
	locked := len(added) > 0
	if locked {
		s.mu.Lock()
		s.dropSkips(added)
	}
	for _, o := range batch {
		for i := range o.ends {
			e := &o.ends[i]
			if !locked {
				s.mu.Lock()
				locked = true
			}
			if err == nil && o.err == nil && e.err == nil {
				if s.leases[e.id] == e.lease {
					delete(s.leases, e.id)
				}
			} else {
				e.lease.busy = false
			}
		}
	}
	if locked {
		s.mu.Unlock()
	}
}
