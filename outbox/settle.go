package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/heraldhq/herald/internal/limits"
)

// The Queue's settling: workers hand the outcomes of their attempts to one
// settler goroutine, which writes them in batches. Unless the outbox is a
// [NewMemory] store, it gathers outcomes for up to settleWindow and writes them in
// one call of Settle, so that a durable outbox commits hundreds together
// rather than the few that finished during its last commit; it stops
// gathering once a settleGap passed with none, so that a Queue running dry
// does not hold back its last outcomes. Outcomes the outbox fails to record
// it tries again while their leases last (resettle).

// result is the outcome of an attempt, with what the settler reports of
// the delivery it settles. The delivery itself stays behind: thousands of
// outcomes may wait in q.results and the settler's batch, whose memory
// the garbage collector scans at every cycle, and a whole Leased more than
// doubled it.
type result struct {
	s        Settlement
	dest     string
	attempts int       // the delivery's attempts before this one
	until    time.Time // the end of its lease
	keyed    bool      // it has a partition key: its end lets the next of its line go
}

// resultOf returns the result of s, an outcome of l.
func resultOf(l *Leased, s Settlement) result {
	return result{s: s, dest: l.Destination, attempts: l.Attempts, until: l.Until, keyed: l.PartitionKey != ""}
}

const (
	// maxSettleBatch caps the outcomes the settler writes in one call.
	maxSettleBatch = 1024
	// settleWindow is how long the settler gathers outcomes for a
	// durable outbox: an outcome waits up to this long before its commit, and a
	// crash meanwhile costs a duplicate attempt, not a lost delivery.
	settleWindow = 20 * time.Millisecond
	// settleGap ends the gathering early: no outcome came in this long.
	settleGap = time.Millisecond
)

// settler writes the results the workers send until the channel closes.
// Settling survives shutdown: a lost acknowledgement means a duplicate.
func (q *Queue) settler(done chan<- struct{}) {
	defer close(done)
	ctx := q.store
	window := settleWindow
	if _, ok := q.Outbox.(*memory); ok {
		window = 0 // nothing to commit: gathering would only delay
	}
	batch := make([]result, 0, 64)
	var ss []Settlement // reused, as batch is
	for r := range q.results {
		batch = append(batch[:0], r)
		q.gather(&batch, window)
		ss = settlements(batch, ss[:0])
		errs := q.settle(ctx, ss)
		q.resettle(ctx, batch, ss, errs)
		q.report(ctx, batch, errs)
		clear(batch) // let the deliveries go
		clear(ss)
	}
}

// gather appends to batch the results that arrive within window, up to
// maxSettleBatch, and returns early once a settleGap passed in which none
// came. It sleeps through each gap and then takes what came meanwhile,
// rather than waking for each result: at thousands of outcomes a second
// that was a wake-up, a timer reset and a channel hand-off per outcome,
// and now is one wake-up per gap. With a zero window it takes only the
// results already waiting.
func (q *Queue) gather(batch *[]result, window time.Duration) {
	deadline := time.Now().Add(window)
	for slept := false; ; slept = true {
		before := len(*batch)
		if !q.takeWaiting(batch) || len(*batch) >= maxSettleBatch {
			return
		}
		wait := min(time.Until(deadline), settleGap)
		if wait <= 0 || (slept && len(*batch) == before) {
			return
		}
		time.Sleep(wait)
	}
}

// takeWaiting appends to batch the results waiting in q.results, up to
// maxSettleBatch, without blocking. It returns false once the channel is
// closed.
func (q *Queue) takeWaiting(batch *[]result) bool {
	for len(*batch) < maxSettleBatch {
		select {
		case r, ok := <-q.results:
			if !ok {
				return false
			}
			*batch = append(*batch, r)
		default:
			return true
		}
	}
	return true
}

// release gives leased deliveries back unattempted.
func (q *Queue) release(ctx context.Context, ls []Leased) {
	q.recordAll(ctx, ls, Settlement{Outcome: Released})
}

// recordAll records the same outcome s for each of ls.
func (q *Queue) recordAll(ctx context.Context, ls []Leased, s Settlement) {
	if len(ls) == 0 {
		return
	}
	rs := make([]result, len(ls))
	for i := range ls {
		s.ID, s.Token = ls[i].ID, ls[i].Token
		rs[i] = resultOf(&ls[i], s)
	}
	q.record(ctx, rs)
}

// record writes results to the outbox once, then logs and reports them.
// Releases and dead letters of unknown destinations go this way: a
// release that fails only leaves its delivery leased until its lease
// ends.
func (q *Queue) record(ctx context.Context, rs []result) {
	ss := settlements(rs, make([]Settlement, 0, len(rs)))
	q.report(ctx, rs, q.settle(ctx, ss))
}

// settle calls the outbox's Settle. An outbox that breaks the contract by
// returning another number of errors than of settlements (one a user
// wrote) fails them all, rather than the Queue's settler panicking and
// taking the process down.
func (q *Queue) settle(ctx context.Context, ss []Settlement) []error {
	errs := q.Outbox.Settle(ctx, ss)
	if len(errs) == len(ss) {
		return errs
	}
	err := fmt.Errorf("%w: the outbox's Settle returned %d errors for %d settlements", ErrInvalid, len(errs), len(ss))
	errs = make([]error, len(ss))
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// settlements appends the settlements of rs to ss and returns it.
func settlements(rs []result, ss []Settlement) []Settlement {
	for i := range rs {
		ss = append(ss, rs[i].s)
		ss[i].Reason = limits.Clip(ss[i].Reason) // the Attempt's Error is clipped already
	}
	return ss
}

// Waits between the settler's tries of outcomes the outbox failed to
// record: the first, doubled at each try up to the last.
const (
	resettleFirst = 50 * time.Millisecond
	resettleMax   = time.Second
)

// resettle tries again to record the outcomes of ss (the settlements of
// rs) that the outbox failed to record for a reason that may pass, such as
// a database restarting or a disk that was full, while their leases last:
// each one it records spares a duplicate of a delivery already made. It
// waits between tries, holding back the workers' next outcomes meanwhile,
// and stops once the sends are cancelled (Run's context ended, or
// Shutdown's). errs receives the errors of the last tries.
func (q *Queue) resettle(ctx context.Context, rs []result, ss []Settlement, errs []error) {
	var idx []int
	var sub []Settlement
	for wait := resettleFirst; ; wait = min(2*wait, resettleMax) {
		idx, sub = idx[:0], sub[:0]
		end := time.Now().Add(wait)
		for i, err := range errs {
			if err != nil && transient(err) && rs[i].until.After(end) {
				idx, sub = append(idx, i), append(sub, ss[i])
			}
		}
		if len(idx) == 0 || !q.pauseSettler(wait) {
			return
		}
		subErrs := q.settle(ctx, sub)
		for j, i := range idx {
			errs[i] = subErrs[j]
		}
	}
}

// transient reports whether an outbox's failure to record an outcome may
// pass if tried again.
func transient(err error) bool {
	for _, final := range []error{ErrLeaseLost, ErrClosed, ErrInvalid, ErrCorrupt, ErrNotFound} {
		if errors.Is(err, final) {
			return false
		}
	}
	return true
}

// pauseSettler waits d, and reports false at once if the sends are
// cancelled first.
func (q *Queue) pauseSettler(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-q.sends.Done():
		return false
	}
}

// report handles the results rs whose outcomes the outbox recorded, or
// failed to with errs: it has the leasing loop look again for those left
// leased (retryUnrecorded), and at once for the next of an ordered line
// whose delivery ended, logs failures and dead letters, and gives each to
// the Metrics.
func (q *Queue) report(ctx context.Context, rs []result, errs []error) {
	q.retryUnrecorded(rs, errs)
	if endedKeyed(rs, errs) {
		q.poke() // the next delivery of its line may be due: no store says so
	}
	q.logUnrecorded(ctx, rs, errs)
	for i := range rs {
		s, dest, err := &rs[i].s, rs[i].dest, errs[i]
		number := rs[i].attempts + 1
		if s.Outcome == Released {
			number = 0
		}
		switch {
		case err == nil && s.Outcome == DeadLettered && q.log != nil:
			q.log.LogAttrs(ctx, slog.LevelWarn, "webhook dead-lettered",
				slog.String("id", s.ID), slog.String("destination", dest),
				slog.Int("attempts", number), slog.String("reason", s.Reason))
		}
		if q.metrics != nil {
			q.metrics.Observe(Sample{Destination: dest, Outcome: s.Outcome, Status: s.Attempt.Status, Latency: s.Attempt.Latency, Attempt: number})
		}
	}
}

// logUnrecorded logs the outcomes of rs the outbox failed to record
// (errs), one line for each run of outcomes that failed alike: a commit
// that fails fails every outcome of the batch, and a line for each of a
// thousand would bury the logs in a disk-full or database outage, and fill
// the disk further. A line names the first delivery of its run, and how
// many the run holds.
func (q *Queue) logUnrecorded(ctx context.Context, rs []result, errs []error) {
	if q.log == nil {
		return
	}
	for i := 0; i < len(rs); {
		err := errs[i]
		if err == nil || errQuiet(err) {
			i++
			continue
		}
		n := 1
		for i+n < len(rs) && errs[i+n] != nil && (errs[i+n] == err || errs[i+n].Error() == err.Error()) {
			n++
		}
		s := &rs[i].s
		q.logError(ctx, "outbox update failed", err,
			slog.String("id", s.ID), slog.String("destination", rs[i].dest), slog.String("outcome", s.Outcome.String()),
			slog.Int("deliveries", n))
		i += n
	}
}

// endedKeyed reports whether the outbox recorded (errs) the end, delivered
// or dead, of a delivery of rs with a partition key, which lets the next
// delivery of its line be leased.
func endedKeyed(rs []result, errs []error) bool {
	for i := range rs {
		if o := rs[i].s.Outcome; rs[i].keyed && errs[i] == nil && (o == Delivered || o == DeadLettered) {
			return true
		}
	}
	return false
}

// retryUnrecorded makes the leasing loop look again when the first lease
// of rs whose outcome failed to be recorded (errs) ends: the outbox still
// holds it leased, and its delivery is due again then, as after a crash,
// but no store notification wakes the loop for it.
func (q *Queue) retryUnrecorded(rs []result, errs []error) {
	var at time.Time
	for i, err := range errs {
		if err != nil && !errors.Is(err, ErrLeaseLost) && (at.IsZero() || rs[i].until.Before(at)) {
			at = rs[i].until
		}
	}
	if at.IsZero() {
		return
	}
	q.mu.Lock()
	if q.retryAt.IsZero() || at.Before(q.retryAt) {
		q.retryAt = at
	}
	q.mu.Unlock()
	q.poke()
}
