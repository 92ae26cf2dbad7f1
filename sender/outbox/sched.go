package outbox

import (
	"context"
	"errors"
	"time"
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
	return st.circuit.admits(&q.breaker, time.Now(), 2*q.perDest-len(st.queue)-st.sending)
}

// take leases as many due deliveries as the buffer admits and buffers them.
// Deliveries to unknown destinations are dead-lettered at once. It returns
// how many it leased.
func (q *Queue) take(ctx context.Context) int {
	q.mu.Lock()
	free := 2*q.workers - q.buffered - q.sending
	q.mu.Unlock()
	if free <= 0 {
		return 0
	}
	ls, err := q.Outbox.Lease(ctx, LeaseOptions{Max: free, TTL: q.ttl, Allow: q.admits})
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrClosed) {
			q.logError(ctx, "outbox lease failed", err)
		}
		return 0
	}
	var orphans []Leased
	q.mu.Lock()
	for _, l := range ls {
		st, ok := q.dests[l.Destination]
		if !ok {
			orphans = append(orphans, l)
			continue
		}
		st.queue = append(st.queue, l)
		st.circuit.started()
		q.buffered++
	}
	q.work.Broadcast()
	q.mu.Unlock()
	for _, l := range orphans {
		a := Attempt{At: time.Now(), Error: ReasonUnknown}
		q.settle(context.WithoutCancel(ctx), l, outcome{kind: DeadLettered, a: a, reason: ReasonUnknown})
	}
	return len(ls)
}

// pick takes the next buffered delivery of a destination below its limit,
// round-robin, and counts it as sending. q.mu must be held.
func (q *Queue) pick() (Leased, *destState, bool) {
	n := len(q.order)
	for i := range n {
		st := q.order[(q.next+i)%n]
		if len(st.queue) == 0 || st.sending >= q.perDest {
			continue
		}
		l := st.queue[0]
		st.queue[0] = Leased{}
		st.queue = st.queue[1:]
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
			out = append(out, s.queue...)
			q.buffered -= len(s.queue)
			s.queue = nil
		}
	}
	return out
}

// worker sends buffered deliveries until Run stops leasing; then it
// releases what is still buffered and returns.
func (q *Queue) worker() {
	defer q.wg.Done()
	q.mu.Lock()
	for {
		if q.halted {
			rest := q.unbuffer(nil)
			q.mu.Unlock()
			ctx := context.WithoutCancel(q.sends)
			for _, l := range rest {
				q.settle(ctx, l, outcome{kind: Released})
			}
			return
		}
		l, st, ok := q.pick()
		if !ok {
			q.work.Wait()
			continue
		}
		q.mu.Unlock()
		if time.Until(l.Until) < q.ttl/2 {
			// It waited so long in the buffer that the lease might run
			// out during the attempt, and another worker take it: give
			// it back instead.
			q.settle(context.WithoutCancel(q.sends), l, outcome{kind: Released})
		} else {
			q.attempt(l, st)
		}
		q.mu.Lock()
		st.sending--
		q.sending--
		q.work.Signal() // a destination slot is free
		if q.buffered <= q.workers {
			q.poke() // refill the buffer in batches, before it runs dry
		}
	}
}
