package natsstore

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"hash/fnv"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// dueGrain is the granularity of the earliest-due-first order of Lease:
// deliveries due within the same second are taken in an order of their own
// for each store, so that a fleet's workers do not all reach for the
// same records.
const dueGrain = int64(time.Second)

// entry is the index's view of one record: its metadata and revision
// (the stream sequence of its latest message), never its body.
type entry struct {
	meta
	rev   uint64
	order uint64 // tie-break within a due second, per store
	// claiming: a Lease of this store is writing a lease on it.
	claiming bool
	// stale: a guarded write or read found the index behind the stream;
	// the watcher's next update of the record clears it. Until then the
	// entry is not leased, except for a retry after staleRetry, so that an
	// update the watcher never brings costs a retry, not a delivery.
	stale   bool
	staleAt time.Time
	// corrupt: the record at rev cannot be read, so it is not leased
	// until the watcher brings another revision.
	corrupt bool
	// inList: the entry is in its destination's list.
	inList bool
	// rec caches the whole record while this store holds its lease at
	// revision rev, so settling it needs no read.
	rec *record
}

// destList holds the pending entries of one destination, sorted by due
// time when sorted is set. Entries that left (acknowledged, dead, moved)
// stay until the next sort and are skipped.
type destList struct {
	name    string
	entries []*entry
	sorted  bool
	garbage int
}

// member reports whether e belongs in l.
func (l *destList) member(e *entry) bool {
	return e.State == statePending && e.Destination == l.name
}

// sort drops the entries that left and sorts the rest.
func (l *destList) sort() {
	if l.sorted {
		return
	}
	l.entries = slices.DeleteFunc(l.entries, func(e *entry) bool {
		if l.member(e) {
			return false
		}
		if e.Destination == l.name {
			e.inList = false
		}
		return true
	})
	slices.SortFunc(l.entries, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(a.Due/dueGrain, b.Due/dueGrain), cmp.Compare(a.order, b.order), cmp.Compare(a.ID, b.ID))
	})
	l.sorted, l.garbage = true, 0
}

// order returns the tie-break rank of id for this store.
func (o *store) orderOf(id string) uint64 {
	h := fnv.New64a()
	h.Write(o.seed[:])
	h.Write([]byte(id))
	return h.Sum64()
}

// list returns the list of the named destination, creating it.
func (o *store) list(dest string) *destList {
	l := o.dests[dest]
	if l == nil {
		l = &destList{name: dest, sorted: true}
		o.dests[dest] = l
	}
	return l
}

// applyLocked records that the record m.ID is m at revision rev, if that
// is newer than what the index holds, and returns its entry (nil when the
// record is gone). fromWatcher says the update comes in stream order from
// the watcher; other updates are the store's own writes, applied at once
// so that a caller sees its writes. o.mu is held.
func (o *store) applyLocked(m meta, rev uint64, fromWatcher bool) *entry {
	if !fromWatcher && rev <= o.seen {
		// The watcher already applied this revision or a newer one.
		return o.entries[m.ID]
	}
	if fromWatcher {
		o.seen = max(o.seen, rev)
		if o.skipUndone(rev) {
			return o.entries[m.ID]
		}
	}
	e := o.entries[m.ID]
	if e != nil && rev < e.rev {
		return e
	}
	if e != nil && rev == e.rev {
		if m.State == stateGone && fromWatcher {
			delete(o.entries, m.ID)
		}
		return e
	}
	if e == nil {
		if m.State == stateGone && fromWatcher {
			return nil
		}
		e = &entry{order: o.orderOf(m.ID)}
		o.entries[m.ID] = e
	}
	o.updateLocked(e, m, rev, fromWatcher)
	return e
}

// skipUndone reports whether the watcher's message rev is one a failed Put
// deleted, and forgets the deletions the watcher has passed. o.mu is held.
func (o *store) skipUndone(rev uint64) bool {
	if len(o.undone) == 0 {
		return false
	}
	_, skip := o.undone[rev]
	for seq := range o.undone {
		if seq <= o.seen {
			delete(o.undone, seq)
		}
	}
	return skip
}

// updateLocked makes e the record m at revision rev, moving it between the
// destination lists; drop removes a gone record from the index. o.mu is
// held.
func (o *store) updateLocked(e *entry, m meta, rev uint64, drop bool) {
	old := e.meta
	wasMember := e.rev != 0 && old.State == statePending
	e.meta, e.rev, e.stale, e.corrupt, e.rec = m, rev, false, false, nil
	switch {
	case m.State != statePending:
		if wasMember {
			if l := o.dests[old.Destination]; l != nil {
				l.garbage++
				if l.garbage > len(l.entries)/2 {
					l.sorted = false
				}
			}
		}
		if m.State == stateGone && drop {
			delete(o.entries, m.ID)
		}
	case !e.inList || old.Destination != m.Destination:
		l := o.list(m.Destination)
		l.entries = append(l.entries, e)
		l.sorted, e.inList = false, true
	case old.Due/dueGrain != m.Due/dueGrain:
		o.list(m.Destination).sorted = false
	}
}

// dropLocked removes from the index the entry of the delivery whose
// subject subj is, when message seq replaced its record with one that
// cannot be read: as a store opened later never indexes it. o.mu is held.
func (o *store) dropLocked(subj string, seq uint64) {
	id, ok := o.idOf(subj)
	if !ok {
		return
	}
	if e := o.entries[id]; e != nil && e.rev < seq {
		gone := e.meta
		gone.State = stateGone
		o.updateLocked(e, gone, seq, true)
	}
}

// idOf returns the delivery id whose subject subj is. A subject the store
// does not make for any id (outside the prefix, not unpadded base64url, or
// another spelling of an id's subject, such as with trailing bits set) is
// no delivery's: ok is false.
func (o *store) idOf(subj string) (id string, ok bool) {
	enc, ok := strings.CutPrefix(subj, o.prefix)
	if !ok {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if id = string(b); err != nil || o.checkSubject(subj, id) != nil {
		return "", false
	}
	return id, true
}

// refresh reads the latest record of each pick the index was found to be
// behind on, and applies it, so that the index catches up without waiting
// for the watcher, which lags behind other workers' writes and brings
// nothing at all for a record whose every message is gone (its tombstone
// expired): such a record leaves the index, a newer one replaces the
// entry.
func (o *store) refresh(ctx context.Context, picks []pick) {
	for _, p := range picks {
		sm, err := o.stream.GetLastMsgForSubject(ctx, o.subject(p.id))
		var m meta
		var rev uint64
		gone := errors.Is(err, jetstream.ErrMsgNotFound)
		switch {
		case gone:
		case err == nil:
			// A record that cannot be read leaves the index, as it does
			// when the watcher brings it.
			m, err = o.metaAt(sm.Subject, sm.Header)
			gone = err != nil
			rev = sm.Sequence
		default:
			continue // no answer from the server: the retry after staleRetry will do
		}
		o.mu.Lock()
		if !o.closed && o.entries[p.id] == p.e && p.e.rev == p.rev {
			switch {
			case gone:
				m = p.e.meta
				m.State = stateGone
				o.updateLocked(p.e, m, p.rev, true)
			case rev > p.rev:
				o.updateLocked(p.e, m, rev, true)
			}
		}
		o.mu.Unlock()
	}
}
