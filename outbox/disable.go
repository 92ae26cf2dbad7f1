package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/heraldhq/herald/internal/limits"
)

// DestinationStore is what an [Outbox] may offer, beside [Admin], so that
// destinations a Queue disabled stay disabled across restarts and across a
// fleet sharing the outbox. Every store of this module implements it.
// Without it a Queue disables destinations in memory only, until it
// restarts, and a 410 Gone dead-letters its delivery as before.
//
// A store keeps one small record per destination that has one, and needs
// nothing else: no index, no relation to the deliveries. A Queue reads the
// records once per poll interval, and writes one when a destination is
// disabled or enabled, or after it has been failing for a minute and when
// it recovers; never per delivery.
//
// A record the store cannot read (damaged, or written by something else,
// which includes one that fails [DestinationState.Validate]) must not
// hide the others, nor enable its destination: DestinationStates
// returns it as its destination disabled, Disabled when the store read it
// and Reason saying the record is unreadable, so that the destination is
// held (and logged by a Queue) until it is enabled or disabled again,
// which replaces the record. One whose destination cannot be told is
// skipped. The conformance suite (outboxtest) cannot damage a record;
// each store tests this on its own storage.
type DestinationStore interface {
	// DestinationStates returns every recorded state, in any order; see
	// above for a record that cannot be read.
	DestinationStates(ctx context.Context) ([]DestinationState, error)

	// SetDestinationState records s for s.Destination, replacing what was
	// recorded. A state whose FailingSince and Disabled are both zero
	// removes the record: that enables the destination.
	// It refuses a state that fails [DestinationState.Validate].
	SetDestinationState(ctx context.Context, s DestinationState) error
}

// DestinationState is what a [DestinationStore] records of a destination.
type DestinationState struct {
	// Destination names it: 1 to 256 bytes of UTF-8 without control
	// characters, line separators or bidi controls.
	Destination string `json:"destination"`
	// FailingSince is when its current run of failures without a success
	// began; zero when it has not been failing for long.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Disabled is when it was disabled (for a record the store cannot
	// read, when the store read it); zero while it is enabled.
	Disabled time.Time `json:"disabled,omitzero"`
	// Reason says why it was disabled (for a record the store cannot
	// read, that it is unreadable); at most 1024 bytes.
	Reason string `json:"reason,omitempty"`
}

// Validate reports, as an error wrapping [ErrInvalid], a state that no
// store may record: a destination name that is empty, longer than 256
// bytes, not UTF-8 or holds a control character, line separator or bidi
// control, or a reason longer than 1024 bytes.
// Every [DestinationStore] refuses such a state with it.
func (s DestinationState) Validate() error {
	if err := checkName("destination name", s.Destination, limits.Name); err != nil {
		return err
	}
	if len(s.Reason) > limits.Reason {
		return fmt.Errorf("%w: reason longer than %d bytes", ErrInvalid, limits.Reason)
	}
	return nil
}

// persistFailing is how long a destination must have been failing before
// a Queue records it in the store, so that a receiver failing some of its
// requests costs no write per failure.
const persistFailing = time.Minute

// Reasons a Queue gives for disabling a destination.
const (
	reasonDisabledGone = "gone (410)"
	reasonDisabledLong = "failing without a success since"
)

// states is the Outbox's DestinationStore, or nil.
func (q *Queue) states() DestinationStore {
	ds, _ := q.Outbox.(DestinationStore)
	return ds
}

// loadStates reads the recorded states and applies them: a destination
// recorded disabled is disabled, and logged as such, one with no record is
// enabled (a person or another process enabled it), its failures counted
// from scratch as after Enable. A local change made while it read wins.
func (q *Queue) loadStates(ctx context.Context) {
	ds := q.states()
	if ds == nil {
		return
	}
	q.mu.Lock()
	gen := q.stateGen
	q.mu.Unlock()
	list, err := ds.DestinationStates(ctx)
	if err != nil {
		if ctx.Err() == nil && !errQuiet(err) {
			q.logError(ctx, "outbox: reading destination states failed", err)
		}
		return
	}
	byName := make(map[string]DestinationState, len(list))
	for _, s := range list {
		byName[s.Destination] = s
	}
	var rest []Leased
	var held []DestinationState
	q.mu.Lock()
	if gen != q.stateGen || q.writing > 0 {
		// A local change is newer than what was read, or its write may
		// not have reached the store when it was read.
		q.mu.Unlock()
		return
	}
	for _, st := range q.order {
		s, ok := byName[st.dest.Name]
		was := st.ctl.disabled
		st.ctl.disabled = ok && !s.Disabled.IsZero()
		if st.ctl.disabled && !was {
			held = append(held, s)
		}
		if was && !st.ctl.disabled {
			// Enabled elsewhere: its failures count from scratch, as after
			// Enable, not from the run that disabled it.
			st.ctl.failing = time.Time{}
		}
		st.ctl.stored.Store(ok && !s.FailingSince.IsZero())
		if st.ctl.stored.Load() && (st.ctl.failing.IsZero() || s.FailingSince.Before(st.ctl.failing)) {
			st.ctl.failing = s.FailingSince
		}
		if st.ctl.disabled {
			rest = append(rest, q.unbuffer(st)...)
		}
	}
	q.mu.Unlock()
	q.release(q.store, rest)
	for _, s := range held {
		q.logHeld(ctx, s)
	}
}

// logHeld logs a warning for a destination that the recorded states
// disabled: at start, or when another Queue on the outbox disabled it.
func (q *Queue) logHeld(ctx context.Context, s DestinationState) {
	if q.log != nil {
		q.log.LogAttrs(ctx, slog.LevelWarn, "destination disabled in the outbox: its deliveries are held until it is enabled",
			slog.String("destination", s.Destination), slog.Time("since", s.Disabled.UTC()), slog.String("reason", limits.Clip(s.Reason)))
	}
}

// track notes the outcome of an attempt for auto-disable: a success ends a
// run of failures (but leaves a disabled destination disabled); a failure
// starts one, is recorded once it lasted persistFailing, and disables the
// destination once it lasted its DisableAfter; gone (410) disables it at
// once. It returns whether the destination is disabled, so that the caller
// holds the delivery.
func (q *Queue) track(st *destState, ok, gone bool) bool {
	after := st.dest.DisableAfter
	if after <= 0 && !gone && !(ok && st.ctl.stored.Load()) {
		return false // the common case: nothing configured, nothing recorded
	}
	now := time.Now()
	q.mu.Lock()
	var write *DestinationState
	switch {
	case st.ctl.disabled:
		// Only Enable undoes a disable: a success now is a request that was
		// in flight before it.
	case ok:
		if st.ctl.stored.Load() {
			write = &DestinationState{Destination: st.dest.Name}
		}
		st.ctl.failing = time.Time{}
		st.ctl.stored.Store(false)
	default:
		if st.ctl.failing.IsZero() {
			st.ctl.failing = now
		}
		failing := now.Sub(st.ctl.failing)
		switch {
		case gone:
			q.mu.Unlock()
			return q.disable(st, reasonDisabledGone)
		case after > 0 && failing >= after:
			since := st.ctl.failing.UTC().Format(time.RFC3339)
			q.mu.Unlock()
			return q.disable(st, reasonDisabledLong+" "+since)
		case after > 0 && !st.ctl.stored.Load() && failing >= min(persistFailing, after/2):
			st.ctl.stored.Store(true)
			write = &DestinationState{Destination: st.dest.Name, FailingSince: st.ctl.failing}
		}
	}
	if write != nil {
		q.writing++
	}
	disabled := st.ctl.disabled
	q.mu.Unlock()
	if write != nil {
		q.setState(*write, true)
	}
	return disabled
}

// setState writes a destination state to the store, if it has one. The
// caller counted the write in q.writing when it made the local change, so
// that no reload applies what it read while the write was under way; once
// the write is done, the state generation moves on, so that a reload that
// began before it is discarded too (loadStates). Between them, these
// cover every reload that overlaps a local change.
//
// A bookkeeping write (a run of failures recorded, or its end) is not
// made over a record that says disabled: another Queue on the outbox
// disabled the destination since this one last read the states, and only
// a disable or Enable replaces that. The read and the write are two
// calls, so a disable landing between them can still be lost; the
// window is one round trip to the store, not a poll interval.
func (q *Queue) setState(s DestinationState, bookkeeping bool) {
	ctx := q.store
	if ds := q.states(); ds != nil && !(bookkeeping && storedDisabled(ctx, ds, s.Destination)) {
		if err := ds.SetDestinationState(ctx, s); err != nil && !errQuiet(err) {
			q.logError(ctx, "outbox: recording a destination state failed", err, slog.String("destination", s.Destination))
		}
	}
	q.mu.Lock()
	q.writing--
	q.stateGen++
	q.mu.Unlock()
}

// storedDisabled reports whether ds records dest as disabled; a failed
// read counts as not disabled, as the write that follows it would fail
// too and be logged.
func storedDisabled(ctx context.Context, ds DestinationStore, dest string) bool {
	list, err := ds.DestinationStates(ctx)
	if err != nil {
		return false
	}
	for _, s := range list {
		if s.Destination == dest {
			return !s.Disabled.IsZero()
		}
	}
	return false
}

// disable disables st for reason: it stops leasing its deliveries, gives
// back those buffered, records it in the store, logs a warning and calls
// OnDisable. It reports whether the destination is disabled: false when a
// 410 came and the outbox cannot record it, so that the delivery is
// dead-lettered as it was before destinations could be disabled.
func (q *Queue) disable(st *destState, reason string) bool {
	if reason == reasonDisabledGone && q.states() == nil {
		return false
	}
	now := time.Now()
	q.mu.Lock()
	if st.ctl.disabled {
		q.mu.Unlock()
		return true
	}
	st.ctl.disabled = true
	q.writing++
	failing := st.ctl.failing
	rest := q.unbuffer(st)
	q.mu.Unlock()
	ctx := q.store
	q.release(ctx, rest)
	q.setState(DestinationState{Destination: st.dest.Name, FailingSince: failing, Disabled: now, Reason: reason}, false)
	if q.log != nil {
		q.log.LogAttrs(ctx, slog.LevelWarn, "destination disabled: its deliveries are held until it is enabled",
			slog.String("destination", st.dest.Name), slog.String("reason", reason))
	}
	q.onDisable(st.dest.Name, reason)
	return true
}

// Enable resumes a destination that was disabled, here and in the outbox
// (so in every Queue that shares it, within a poll interval): its held
// deliveries are sent again, and its failures count from scratch. Enabling
// a destination that is not disabled does nothing: one that is only
// failing keeps its run of failures, recorded or not, which goes on
// counting towards its DisableAfter. The destination need not be among
// the Queue's Destinations, so that a tool can enable one it does not
// deliver to; a name no destination can have (empty, over 256 bytes, with
// a control character) fails with an error wrapping [ErrInvalid].
func (q *Queue) Enable(ctx context.Context, destination string) error {
	if err := q.init(); err != nil {
		return err
	}
	if err := checkName("destination name", destination, limits.Name); err != nil {
		return err
	}
	q.mu.Lock()
	st, known := q.dests[destination]
	disabled := known && st.ctl.disabled
	q.mu.Unlock()
	if ds := q.states(); ds != nil {
		removed, err := enableState(ctx, ds, destination, disabled)
		if err != nil {
			return err
		}
		disabled = disabled || removed // disabled by another Queue, maybe
	}
	q.mu.Lock()
	q.stateGen++ // a reload under way when the write ended may have missed it
	if known && (disabled || st.ctl.disabled) {
		st.ctl.disabled, st.ctl.failing = false, time.Time{}
		st.ctl.stored.Store(false)
	}
	q.mu.Unlock()
	q.poke()
	return nil
}

// enableState removes the recorded state of dest from ds when dest is
// disabled: known to be here (disabled), recorded so in ds, or when ds
// cannot say (its states cannot be read: the write then fails too, or
// clears what could not be read). It reports whether it removed the
// record. The state of a destination that is only failing is kept, as is
// the absence of one: enabling it changes nothing, and writes nothing.
func enableState(ctx context.Context, ds DestinationStore, dest string, disabled bool) (bool, error) {
	if !disabled {
		states, err := ds.DestinationStates(ctx)
		if err == nil {
			i := slices.IndexFunc(states, func(s DestinationState) bool { return s.Destination == dest })
			if i < 0 || states[i].Disabled.IsZero() {
				return false, nil
			}
		}
	}
	return true, ds.SetDestinationState(ctx, DestinationState{Destination: dest})
}
