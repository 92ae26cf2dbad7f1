package outbox

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/bodypool"
	"github.com/heraldhq/herald/internal/deadline"
)

// The Queue's scheduling: the leasing loop keeps a buffer of leased
// deliveries, per destination, and the workers pick from it round-robin
// among the destinations that are below their concurrency limit. A worker
// that finishes a delivery picks the next one at once, without waiting for
// the leasing loop, which refills the buffer meanwhile. The buffer holds at
// most 2×Workers deliveries, and at most 2×PerDestination (sending
// included) for one destination, so bodies in memory stay bounded and a
// slow destination cannot fill it.

// admits is the Lease Allow function: how many more deliveries to dest may
// be leased now, given what is buffered and sent, and its breaker.
func (q *Queue) admits(dest string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	st, ok := q.dests[dest]
	if !ok {
		return q.workers // leased only to be dead-lettered
	}
	now := time.Now()
	n := st.circuit.admits(&q.breaker, now, 2*q.perDest-st.queue.len()-st.sending)
	return q.controlled(&st.ctl, now, n)
}

// room returns how many deliveries the buffer has room for, or 0 when it
// should not be refilled yet: while the workers have enough buffered to
// keep busy, it waits until half of them could take a new one, so that the
// leasing loop leases in batches. A lease is a read of the outbox, and
// leasing one delivery at a time as each worker finishes costs a durable
// outbox that read per delivery. q.mu must be held.
func (q *Queue) room() int {
	free := 2*q.workers - q.buffered - q.sending
	if q.buffered > 0 && free < (q.workers+1)/2 {
		return 0
	}
	return max(free, 0)
}

// take leases as many due deliveries as the buffer has room for and
// buffers them. Deliveries to unknown destinations are dead-lettered at
// once. It returns how many it leased, and the outbox's error.
func (q *Queue) take(ctx context.Context) (int, error) {
	q.mu.Lock()
	free := q.room()
	q.mu.Unlock()
	if free <= 0 {
		return 0, nil
	}
	ls, err := q.Outbox.Lease(ctx, LeaseOptions{Max: free, TTL: q.ttl, Now: time.Now(), Allow: q.admits})
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
			q.logError(ctx, "outbox lease failed", err)
		}
		return 0, err
	}
	var orphans, held []Leased
	now := time.Now()
	q.mu.Lock()
	for _, l := range ls {
		st, ok := q.dests[l.Destination]
		if !ok {
			orphans = append(orphans, l)
			continue
		}
		if st.circuit.state == breakerOpen && now.Before(st.circuit.until) {
			// Admitted before the breaker opened, brought back after
			// (a worker's failure opened it during the Lease): give it
			// back unattempted, as the breaker gave back those buffered.
			held = append(held, l)
			continue
		}
		st.queue.push(l)
		st.circuit.started(l.Token)
		st.ctl.spend(now)
		q.buffered++
		q.work.Signal() // one worker per delivery, not all of them
	}
	q.mu.Unlock()
	q.release(q.store, held)
	q.recordAll(q.store, orphans, Settlement{Outcome: DeadLettered,
		Attempt: AttemptRecord{At: time.Now(), Error: reasonUnknown}, Reason: reasonUnknown})
	return len(ls), nil
}

// pick takes the next buffered delivery of a destination below its limit,
// round-robin, and counts it as sending. q.mu must be held.
func (q *Queue) pick() (Leased, *destState, bool) {
	n := len(q.order)
	for i := range n {
		st := q.order[(q.next+i)%n]
		if st.queue.len() == 0 || st.sending >= q.perDest {
			continue
		}
		l := st.queue.pop()
		st.sending++
		q.sending++
		q.buffered--
		q.next = (q.next + i + 1) % n
		return l, st, true
	}
	return Leased{}, nil, false
}

// unbuffer empties the buffer of st, or of every destination when st is
// nil, and returns what it held. q.mu must be held.
func (q *Queue) unbuffer(st *destState) []Leased {
	var out []Leased
	for _, s := range q.order {
		if st == nil || s == st {
			rest := s.queue.drain()
			for i := range rest {
				s.circuit.abandoned(rest[i].Token)
			}
			out = append(out, rest...)
			q.buffered -= len(rest)
		}
	}
	return out
}

// worker sends buffered deliveries until Shutdown is called or Run stops
// leasing; once Run has stopped leasing it releases what is still buffered
// and returns.
func (q *Queue) worker() {
	defer q.wg.Done()
	// The worker's own send timer and context: its sends hang from them,
	// rather than all the workers' from the one q.sends.
	w := new(deadline.Timer)
	defer w.Stop()
	var watch *bodypool.Watch // its sends' writes, when the bodies are lent
	if q.lends {
		watch = bodypool.NewWatch()
	}
	q.mu.Lock()
	for {
		if q.halted {
			rest := q.unbuffer(nil)
			q.mu.Unlock()
			q.release(q.store, rest)
			return
		}
		if q.stopped || q.sends.Err() != nil {
			// Shutdown, or Run's context ended: no new attempt, though
			// the leasing loop, in a store call or a callback, has not
			// stopped yet; it halts the workers once it has, and they
			// release the buffer then.
			q.work.Wait()
			continue
		}
		l, st, ok := q.pick()
		if !ok {
			q.work.Wait()
			continue
		}
		q.mu.Unlock()
		stale := time.Until(l.Until) < q.ttl/2
		if stale {
			// It waited so long in the buffer that the lease might run
			// out during the attempt, and another worker take it: give
			// it back instead.
			q.release(q.store, []Leased{l})
		} else {
			q.attempt(w, watch, l, st)
			if watch != nil && !watch.Quiet() {
				// A write of its requests is still running, or never
				// will (a request that got a connection but was not
				// written): the next attempts get a Watch of their
				// own, so that it holds back only this attempt's body.
				watch = bodypool.NewWatch()
			}
		}
		q.mu.Lock()
		if stale {
			st.circuit.abandoned(l.Token)
		}
		st.sending--
		q.sending--
		q.work.Signal() // a destination slot is free
		if q.room() > 0 {
			q.poke() // refill the buffer in batches, before it runs dry
		}
	}
}

// leasedQueue is a first-in first-out queue of leased deliveries that
// reuses its array, so that a busy destination does not allocate per
// delivery.
type leasedQueue struct {
	ls   []Leased
	head int // ls[head:] are queued
}

func (lq *leasedQueue) len() int { return len(lq.ls) - lq.head }

func (lq *leasedQueue) push(l Leased) {
	if lq.head > 0 && len(lq.ls) == cap(lq.ls) {
		n := copy(lq.ls, lq.ls[lq.head:])
		clear(lq.ls[n:])
		lq.ls, lq.head = lq.ls[:n], 0
	}
	lq.ls = append(lq.ls, l)
}

func (lq *leasedQueue) pop() Leased {
	l := lq.ls[lq.head]
	lq.ls[lq.head] = Leased{} // let its body go
	if lq.head++; lq.head == len(lq.ls) {
		lq.ls, lq.head = lq.ls[:0], 0
	}
	return l
}

// drain empties the queue and returns what it held.
func (lq *leasedQueue) drain() []Leased {
	out := slices.Clone(lq.ls[lq.head:])
	clear(lq.ls)
	lq.ls, lq.head = lq.ls[:0], 0
	return out
}
