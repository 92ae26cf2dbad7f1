package outboxtest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldhq/herald/internal/limits"
	"github.com/heraldhq/herald/outbox"
)

// The fleet model check: the model check of model.go, over a store that a
// fleet of workers shares. Two or three handles are opened on the same
// storage (a database, a stream), and each random operation goes through
// a handle chosen at random: Puts, Leases, Settles of every outcome with
// live and stale tokens taken through any handle, time passing, Replays
// and Purges, Puts again of ids the outbox holds, a handle closed and
// another opened in its place (a worker restarting), and bursts of Leases
// made through every handle at once, with a Settle, the same new
// deliveries Put through two handles, and now and then a handle opening,
// among them. What it checks:
//
//   - a Lease returns only deliveries that may be leased (by the clock of
//     LeaseOptions.Now): never one held under a live lease through any
//     handle (two workers sending it at once), never one acknowledged,
//     and, when the store keeps key order, never one behind another of its
//     destination and key that is pending or leased; in a burst, no
//     delivery twice, and each one leasable once the burst's Settle and
//     Puts are counted (a burst settles no lease that ran out, and puts
//     again no id it settles, so either order is checkable);
//   - a Settle succeeds exactly when its token holds the lease, through
//     whichever handle it goes, and fails with ErrLeaseLost otherwise;
//   - nothing is lost: a Lease that returns fewer than its Max leaves the
//     deliveries it may lease to the fleet, and every one of them must be
//     leased by some handle within fleetPatience of real time, polling the
//     handles without moving the model's clock (a handle may lag the
//     others, as the index of natsstore does); at the end, every pending
//     delivery is leased through one handle alone (each must come to see
//     them all) and delivered;
//   - what a Lease returns is the delivery put, with the model's due time
//     and attempt count, and History through any handle holds every
//     attempt recorded through any handle (the newest 64 of them);
//   - a Put of an id the outbox holds, through any handle, changes
//     nothing; a Replay or Purge through any handle moves its dead letter
//     (within fleetPatience: a handle may see it late);
//   - a store with a Wake method wakes every handle, within fleetPatience,
//     after a Put that stored something, a Released settlement and a
//     Replay through any of them;
//   - the counts of every handle (an Admin) come to the model's pending
//     and dead within fleetPatience, now and then and at the end (not the
//     leased: Stats judges leases by the real clock).
//
// Replay makes a delivery due at the real time, behind the model's clock,
// which starts an hour ahead; a store that judges leases by the real
// clock rather than LeaseOptions.Now fails the check.

// fleetSeeds is how many random runs RunFleet makes, of fleetSteps
// operations each, over fleets of 2 and 3 handles in turn.
const fleetSeeds, fleetSteps = 4, 250

// fleetPatience is how long, in real time, the fleet gets to lease a
// delivery that a Lease passed over, or to show a change made through
// another handle. It is longer than the 2 seconds after which natsstore
// tries again an entry its index found behind the stream.
const fleetPatience = 4 * time.Second

// RunFleet runs the fleet model check (see above) as subtests, one per
// seed. newFleet prepares new, empty storage for one subtest and returns
// open, which opens a handle on it; RunFleet closes the handles it opens.
// A store that is not meant for a fleet (one process, one handle) has no
// use for it.
func RunFleet(t *testing.T, newFleet func(t *testing.T) (open func(t *testing.T) outbox.Outbox)) {
	for seed := range uint64(fleetSeeds) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			open := newFleet(t)
			f := &fleet{t: t, open: open, r: rand.New(rand.NewPCG(seed, 11))}
			for range 2 + int(seed%2) {
				f.join()
			}
			f.run()
		})
	}
}

// waker is the optional capability of a store that wakes its Queue.
type waker interface{ Wake() <-chan struct{} }

// fleet is one run of the fleet model check.
type fleet struct {
	t      *testing.T
	open   func(t *testing.T) outbox.Outbox
	r      *rand.Rand
	hs     []outbox.Outbox
	names  []string // of the handles, for messages: h0, h1, …
	opened int
	m      *model
	keyed  bool
	admin  bool
	wakes  bool
	step   int
	polls  int // Leases made to find deliveries a Lease passed over
	lagged int // Leases that passed over a delivery they could lease
	dests  []string
	// attempts and history count, by id, the attempts since the delivery
	// was put or replayed, and all those recorded.
	attempts, history map[string]int
	// replayed holds, by id, when the Replay that made the delivery due at
	// the real time began.
	replayed map[string]time.Time
}

// join opens a handle and adds it to the fleet.
func (f *fleet) join() {
	h := f.open(f.t)
	f.t.Cleanup(func() { _ = h.Close() })
	f.hs = append(f.hs, h)
	f.names = append(f.names, fmt.Sprint("h", f.opened))
	f.opened++
}

// pick returns a handle chosen at random, and its index.
func (f *fleet) pick() (outbox.Outbox, int) {
	i := f.r.IntN(len(f.hs))
	return f.hs[i], i
}

func (f *fleet) fatalf(format string, args ...any) {
	f.t.Helper()
	f.t.Fatalf("step %d: %s", f.step, fmt.Sprintf(format, args...))
}

func (f *fleet) run() {
	ko, keyed := f.hs[0].(interface{ OrdersByKey() bool })
	f.keyed = keyed && ko.OrdersByKey()
	_, f.admin = f.hs[0].(outbox.Admin)
	_, f.wakes = f.hs[0].(waker)
	f.dests = []string{"a", "b", "c"}
	f.attempts, f.history, f.replayed = map[string]int{}, map[string]int{}, map[string]time.Time{}
	// An hour ahead: a Replay makes a delivery due at the real time, which
	// must not be ahead of the model's.
	f.m = &model{now: time.Now().Add(time.Hour).Round(time.Millisecond), items: map[string]*modelItem{}, lines: map[string][]string{}}
	for f.step = range fleetSteps {
		switch op := f.r.IntN(20); {
		case op < 5:
			f.put()
		case op < 10:
			f.lease()
		case op < 14:
			f.settle()
		case op < 15:
			f.burst()
		case op < 17:
			f.m.now = f.m.now.Add(time.Duration(f.r.IntN(80)) * time.Millisecond)
		case op < 18:
			f.putAgain()
		case op < 19:
			if f.admin {
				f.deadLetter()
			}
		default:
			if f.r.IntN(4) == 0 {
				f.restart()
			} else if f.admin {
				f.checkHistory()
				f.checkCounts()
			}
		}
	}
	f.drain()
	f.t.Logf("%d handles opened; %d Leases passed over deliveries they could lease, and %d more were made to find them", f.opened, f.lagged, f.polls)
}

// woken returns a function that waits until every handle's wake-up
// channel, as it is now, is closed: call it after an operation that must
// wake the fleet.
func (f *fleet) woken(what string) func() {
	if !f.wakes {
		return func() {}
	}
	chs := make([]<-chan struct{}, len(f.hs))
	for i, h := range f.hs {
		chs[i] = h.(waker).Wake()
	}
	return func() {
		f.t.Helper()
		timeout := time.After(fleetPatience)
		for i, ch := range chs {
			select {
			case <-ch:
			case <-timeout:
				f.fatalf("%s: handle %s not woken within %v", what, f.names[i], fleetPatience)
			}
		}
	}
}

// put puts new deliveries through a handle.
func (f *fleet) put() {
	h, i := f.pick()
	ds := f.deliveries(fmt.Sprintf("s%03d-", f.step))
	wait := f.woken("Put")
	if err := h.Put(ctx, ds...); err != nil {
		f.fatalf("Put through %s: %v", f.names[i], err)
	}
	f.add(ds)
	wait()
}

// putAgain puts again, through a handle, deliveries whose ids the outbox
// holds (pending, leased or dead), for the same destination but changed:
// they must be dropped.
func (f *fleet) putAgain() {
	ds := f.held()
	if len(ds) == 0 {
		return
	}
	h, i := f.pick()
	if err := h.Put(ctx, ds...); err != nil {
		f.fatalf("Put again of held ids through %s: %v", f.names[i], err)
	}
}

// held returns up to three deliveries with ids the outbox holds, for the
// destination it holds each for, changed: another body (or key), due long
// ago. (One for another destination fails the Put; see
// testIDOtherDestination.)
func (f *fleet) held() []outbox.Delivery {
	var held []string
	for id := range f.m.items {
		held = append(held, id)
	}
	if len(held) == 0 {
		return nil
	}
	slices.Sort(held)
	var ds []outbox.Delivery
	for range 1 + f.r.IntN(3) {
		id := held[f.r.IntN(len(held))]
		d := mk(id, f.m.items[id].dest)
		d.Body = []byte("changed")
		d.Created, d.Due = f.m.now, f.m.now.Add(-time.Hour) // due, were it stored
		if f.keyed && f.r.IntN(2) == 0 {
			d.PartitionKey = "k0"
		}
		ds = append(ds, d)
	}
	return ds
}

// deliveries returns from one to four new deliveries, as modelPut puts.
func (f *fleet) deliveries(prefix string) []outbox.Delivery {
	ds := make([]outbox.Delivery, 1+f.r.IntN(4))
	for i := range ds {
		d := mk(fmt.Sprint(prefix, i), f.dests[f.r.IntN(len(f.dests))])
		d.Created, d.Due = f.m.now, f.m.now.Add(time.Duration(f.r.IntN(3)-1)*10*time.Millisecond)
		if f.keyed && f.r.IntN(3) == 0 {
			d.PartitionKey = fmt.Sprint("k", f.r.IntN(2))
		}
		ds[i] = d
	}
	return ds
}

// add adds ds, stored, to the model.
func (f *fleet) add(ds []outbox.Delivery) {
	for _, d := range ds {
		it := &modelItem{dest: d.Destination, key: d.PartitionKey, due: d.Due}
		f.m.items[d.ID] = it
		if it.key != "" {
			f.m.lines[f.m.line(it)] = append(f.m.lines[f.m.line(it)], d.ID)
		}
	}
}

// lease leases through a handle, as modelLease does, and has the fleet
// lease what it passed over.
func (f *fleet) lease() {
	n := 1 + f.r.IntN(5)
	o := outbox.LeaseOptions{Max: n, TTL: 100 * time.Millisecond, Now: f.m.now}
	refused := ""
	if f.r.IntN(2) == 0 {
		refused = f.dests[f.r.IntN(len(f.dests))]
		o.Allow = func(d string) int {
			if d == refused {
				return 0
			}
			return n
		}
	}
	h, i := f.pick()
	ls, err := h.Lease(ctx, o)
	if err != nil {
		f.fatalf("Lease through %s: %v", f.names[i], err)
	}
	for _, l := range ls {
		f.leased(l, i, f.m)
	}
	if len(ls) < n {
		if len(f.leasable(refused)) > 0 {
			f.lagged++
		}
		f.chase(refused)
	}
}

// leased checks that l, leased through handle i, may be leased by the
// model before, and records it.
func (f *fleet) leased(l outbox.Leased, i int, before *model) {
	f.t.Helper()
	it := before.items[l.ID]
	if it == nil || !before.leasable(l.ID, it) {
		desc := "not held (acknowledged or purged)"
		if it != nil {
			desc = f.describe(l.ID, it)
		}
		f.fatalf("Lease through %s returned %s, which may not be leased: %s", f.names[i], l.ID, desc)
	}
	if want := f.m.now.Add(100 * time.Millisecond); !l.Until.Equal(want) {
		f.fatalf("Lease through %s returned %s until %v, want Now+TTL %v", f.names[i], l.ID, l.Until, want)
	}
	it = f.m.items[l.ID]
	d := mk(l.ID, it.dest)
	switch {
	case l.Attempts != f.attempts[l.ID]:
		f.fatalf("Lease through %s returned %s with %d attempts, want %d", f.names[i], l.ID, l.Attempts, f.attempts[l.ID])
	case !l.Due.Equal(it.due) && !(f.replayed[l.ID].Before(it.due) && !l.Due.Before(f.replayed[l.ID]) && !l.Due.After(it.due)):
		f.fatalf("Lease through %s returned %s due %v, want %v", f.names[i], l.ID, l.Due, it.due)
	case l.Destination != d.Destination || l.EventID != d.EventID || l.Topic != d.Topic || l.TraceParent != d.TraceParent || string(l.Body) != string(d.Body):
		f.fatalf("Lease through %s returned %+v, want the delivery put, %+v", f.names[i], l.Delivery, d)
	}
	it.token, it.until = l.Token, l.Until
	f.m.tokens = append(f.m.tokens, outbox.Settlement{ID: l.ID, Token: l.Token})
}

// describe says why the model holds id not leasable.
func (f *fleet) describe(id string, it *modelItem) string { return describe(f.m, id, it) }

// describeIn is describe in the model m.
func (f *fleet) describeIn(m *model, id string) string {
	it := m.items[id]
	if it == nil {
		return "not held (acknowledged or purged)"
	}
	return describe(m, id, it)
}

// describe says whether m may lease id, and why not.
func describe(m *model, id string, it *modelItem) string {
	switch {
	case it.dead:
		return "dead"
	case it.due.After(m.now):
		return fmt.Sprintf("due in %v", it.due.Sub(m.now))
	case it.token != "" && it.until.After(m.now):
		return fmt.Sprintf("leased for %v more under token %s", it.until.Sub(m.now), it.token)
	case it.key != "" && !m.leasable(id, it):
		return fmt.Sprintf("behind %v in its line %s/%s", m.lines[m.line(it)], it.dest, it.key)
	}
	return "leasable"
}

// leasable returns the ids the model may lease now, but for refused's.
func (f *fleet) leasable(refused string) []string {
	var ids []string
	for id, it := range f.m.items {
		if f.m.leasable(id, it) && it.dest != refused {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// chase leases, through the handles in turn, every delivery the model may
// lease (but refused's), within fleetPatience, without moving the clock:
// a handle may not see at once what another wrote.
func (f *fleet) chase(refused string) { f.chaseThrough(refused, f.hs, f.names) }

// chaseThrough is chase through the handles hs alone, named names.
func (f *fleet) chaseThrough(refused string, hs []outbox.Outbox, names []string) {
	f.t.Helper()
	deadline := time.Now().Add(fleetPatience)
	for turn := 0; ; turn++ {
		missed := f.leasable(refused)
		if len(missed) == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.fatalf("none of %v leased %v within %v: lost (%s)", names, missed, fleetPatience, f.describe(missed[0], f.m.items[missed[0]]))
		}
		if turn >= len(hs) {
			time.Sleep(10 * time.Millisecond)
		}
		i := turn % len(hs)
		f.polls++
		ls, err := hs[i].Lease(ctx, outbox.LeaseOptions{Max: len(missed), TTL: 100 * time.Millisecond, Now: f.m.now,
			Allow: func(d string) int {
				if d == refused {
					return 0
				}
				return len(missed)
			}})
		if err != nil {
			f.fatalf("Lease through %s: %v", names[i], err)
		}
		for _, l := range ls {
			f.leased(l, slices.Index(f.names, names[i]), f.m)
		}
	}
}

// settle settles recent leases, live and stale, through a handle, as
// modelSettle does.
func (f *fleet) settle() {
	ss := f.settlements()
	if len(ss) == 0 {
		return
	}
	h, i := f.pick()
	wait := func() {}
	if f.releases(ss) {
		wait = f.woken("Settle Released")
	}
	errs := h.Settle(ctx, ss)
	f.settled(ss, errs, i)
	wait()
}

// releases reports whether ss releases a live lease.
func (f *fleet) releases(ss []outbox.Settlement) bool {
	for _, s := range ss {
		if it := f.m.items[s.ID]; s.Outcome == outbox.Released && it != nil && !it.dead && it.token == s.Token {
			return true
		}
	}
	return false
}

// settlements returns up to four settlements of recent leases, each of
// one delivery, with outcomes at random.
func (f *fleet) settlements() []outbox.Settlement {
	return f.m.settlements(f.r, 12)
}

// settled checks the errors of ss, settled through handle i, and
// records what they did.
func (f *fleet) settled(ss []outbox.Settlement, errs []error, i int) {
	f.t.Helper()
	if len(errs) != len(ss) {
		f.fatalf("Settle through %s returned %d errors for %d settlements", f.names[i], len(errs), len(ss))
	}
	for j, s := range ss {
		it := f.m.items[s.ID]
		held := it != nil && !it.dead && it.token == s.Token
		if wrong := f.m.settle(s, errs[j]); wrong != "" {
			f.fatalf("%s, through %s", wrong, f.names[i])
		}
		if held && (s.Outcome == outbox.Retrying || s.Outcome == outbox.DeadLettered) {
			if s.Outcome == outbox.Retrying {
				delete(f.replayed, s.ID)
			}
			f.attempts[s.ID]++
			f.history[s.ID]++
		}
	}
}

// burst leases through every handle at once, with the same clock, while
// one more handle settles: no delivery may be leased twice, and each must
// be leasable before the burst or after its Settle.
func (f *fleet) burst() {
	// No settlement of a lease that ran out and was not taken over: it
	// races the burst's Leases, and either may win.
	ss := slices.DeleteFunc(f.settlements(), func(s outbox.Settlement) bool {
		it := f.m.items[s.ID]
		return it != nil && !it.dead && it.token == s.Token && !it.until.After(f.m.now)
	})
	si := f.r.IntN(len(f.hs))
	maxes := make([]int, len(f.hs))
	for i := range maxes {
		maxes[i] = 1 + f.r.IntN(4)
	}
	got := make([][]outbox.Leased, len(f.hs))
	errs := make([]error, len(f.hs))
	var serrs []error
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, h := range f.hs {
		wg.Go(func() {
			<-start
			got[i], errs[i] = h.Lease(ctx, outbox.LeaseOptions{Max: maxes[i], TTL: 100 * time.Millisecond, Now: f.m.now})
		})
	}
	if len(ss) > 0 {
		wg.Go(func() {
			<-start
			serrs = f.hs[si].Settle(ctx, ss)
		})
	}
	// The same new deliveries put through two handles at once, as a client
	// retrying an event on another worker, and held ones again.
	ds := f.deliveries(fmt.Sprintf("s%03d-b", f.step))
	// Not ids settled in the burst: acknowledged first, an id is forgotten,
	// and a Put of it stores a new delivery.
	again := slices.DeleteFunc(f.held(), func(d outbox.Delivery) bool {
		return slices.ContainsFunc(ss, func(s outbox.Settlement) bool { return s.ID == d.ID })
	})
	perrs := make([]error, 3)
	for j := range perrs {
		wg.Go(func() {
			<-start
			h := f.hs[(si+j)%len(f.hs)]
			if j < 2 {
				perrs[j] = h.Put(ctx, ds...)
			} else if len(again) > 0 {
				perrs[j] = h.Put(ctx, again...)
			}
		})
	}
	// Now and then a worker joins the fleet meanwhile, loading what the
	// others are changing.
	var joined outbox.Outbox
	if f.r.IntN(3) == 0 {
		wg.Go(func() {
			<-start
			joined = f.open(f.t)
		})
	}
	close(start)
	wg.Wait()
	if joined != nil {
		f.t.Cleanup(func() { _ = joined.Close() })
		f.hs = append(f.hs, joined)
		f.names = append(f.names, fmt.Sprint("h", f.opened))
		f.opened++
		if len(f.hs) > 3 {
			_ = f.hs[0].Close()
			f.hs, f.names = f.hs[1:], f.names[1:]
		}
	}
	for j, err := range perrs {
		if err != nil {
			f.fatalf("Put %d of a burst: %v", j, err)
		}
	}
	before := f.m.clone()
	if len(ss) > 0 {
		f.settled(ss, serrs, si)
	}
	f.add(ds)
	by := map[string]string{}
	for i, ls := range got {
		if errs[i] != nil {
			f.fatalf("Lease through %s in a burst: %v", f.names[i], errs[i])
		}
		for _, l := range ls {
			if other, twice := by[l.ID]; twice {
				f.fatalf("%s leased through %s and %s at once, in a burst", l.ID, other, f.names[i])
			}
			by[l.ID] = f.names[i]
		}
	}
	// Checked after the settlements: a delivery that one of them freed
	// (Released, or the head of its line acknowledged) may have been leased
	// after it; one leasable before and not after was not leasable at all,
	// since the settlements hold live leases or none.
	for i, ls := range got {
		for _, l := range ls {
			if it := f.m.items[l.ID]; it != nil && f.m.leasable(l.ID, it) {
				f.leased(l, i, f.m)
				continue
			}
			f.fatalf("%s leased through %s in a burst, while %s settled %v: before it was %s, after it is %s",
				l.ID, f.names[i], f.names[si], ss, f.describeIn(before, l.ID), f.describeIn(f.m, l.ID))
		}
	}
	short := false
	for i := range got {
		short = short || len(got[i]) < maxes[i]
	}
	if short {
		f.chase("")
	}
}

// clone returns a copy of m, for checking against the state before a
// burst.
func (m *model) clone() *model {
	c := &model{now: m.now, items: make(map[string]*modelItem, len(m.items)), lines: make(map[string][]string, len(m.lines))}
	for id, it := range m.items {
		cp := *it
		c.items[id] = &cp
	}
	for k, l := range m.lines {
		c.lines[k] = slices.Clone(l)
	}
	return c
}

// deadLetter replays or purges a dead letter through a handle, which may
// not see it at once.
func (f *fleet) deadLetter() {
	var dead []string
	for id, it := range f.m.items {
		if it.dead {
			dead = append(dead, id)
		}
	}
	if len(dead) == 0 {
		return
	}
	slices.Sort(dead)
	id := dead[f.r.IntN(len(dead))]
	it := f.m.items[id]
	h, i := f.pick()
	admin := h.(outbox.Admin)
	replay := f.r.IntN(2) == 0
	what, op := "Purge", admin.Purge
	if replay {
		what, op = "Replay", admin.Replay
	}
	wait := func() {}
	if replay {
		wait = f.woken("Replay")
	}
	began := time.Now()
	deadline := began.Add(fleetPatience)
	for {
		n, err := op(ctx, outbox.Selector{IDs: []string{id}})
		if err != nil || n > 1 {
			f.fatalf("%s %s through %s: %d, %v", what, id, f.names[i], n, err)
		}
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			f.fatalf("%s %s through %s: still 0 after %v", what, id, f.names[i], fleetPatience)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !replay {
		delete(f.m.items, id)
		return
	}
	wait()
	f.attempts[id], f.replayed[id] = 0, began
	it.dead, it.due = false, time.Now() // the real time: behind the model's
	if it.key != "" {
		f.m.lines[f.m.line(it)] = append(f.m.lines[f.m.line(it)], id)
	}
}

// checkHistory reads the history of a delivery through a handle: it
// holds every attempt recorded, however many handles recorded them.
func (f *fleet) checkHistory() {
	var held []string
	for id := range f.m.items {
		held = append(held, id)
	}
	if len(held) == 0 {
		return
	}
	slices.Sort(held)
	id := held[f.r.IntN(len(held))]
	h, i := f.pick()
	as, err := h.(outbox.Admin).History(ctx, id)
	if err != nil || len(as) != min(f.history[id], limits.History) {
		f.fatalf("History of %s through %s: %d attempts, %v; want %d", id, f.names[i], len(as), err, min(f.history[id], limits.History))
	}
}

// checkCounts waits until the counts of pending and dead deliveries of
// every handle come to the model's. (Leased is not checked: Stats judges
// leases by the real clock.)
func (f *fleet) checkCounts() {
	var want outbox.Stats
	for _, it := range f.m.items {
		if it.dead {
			want.Dead++
		} else {
			want.Pending++
		}
	}
	for i, h := range f.hs {
		var got outbox.Stats
		var err error
		for deadline := time.Now().Add(fleetPatience); ; time.Sleep(10 * time.Millisecond) {
			got, err = h.(outbox.Admin).Stats(ctx)
			got.Leased = 0
			if err == nil && got == want || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || got != want {
			f.fatalf("Stats through %s: %+v, %v; want %+v within %v", f.names[i], got, err, want, fleetPatience)
		}
	}
}

// restart closes a handle, as a worker that stops, and opens another in
// its place. Its leases stay live until they run out.
func (f *fleet) restart() {
	_, i := f.pick()
	if err := f.hs[i].Close(); err != nil {
		f.fatalf("Close %s: %v", f.names[i], err)
	}
	f.hs = slices.Delete(f.hs, i, i+1)
	f.names = slices.Delete(f.names, i, i+1)
	f.join()
}

// drain lets every lease run out and has the fleet lease and deliver all
// that is pending, then waits for the counts of every handle.
func (f *fleet) drain() {
	f.step = fleetSteps
	f.m.now = f.m.now.Add(time.Second)
	for {
		var pending []string
		for id, it := range f.m.items {
			if !it.dead {
				pending = append(pending, id)
			}
		}
		if len(pending) == 0 {
			break
		}
		// Through one handle alone: each must come to see every delivery.
		j := f.r.IntN(len(f.hs))
		f.chaseThrough("", f.hs[j:j+1], f.names[j:j+1])
		var ss []outbox.Settlement
		for _, s := range f.m.tokens {
			if it := f.m.items[s.ID]; it != nil && !it.dead && it.token == s.Token {
				s.Outcome = outbox.Delivered
				ss = append(ss, s)
			}
		}
		if len(ss) == 0 {
			slices.Sort(pending)
			f.fatalf("drain: %v pending, none leasable (%s)", pending, f.describe(pending[0], f.m.items[pending[0]]))
		}
		h, i := f.pick()
		f.settled(ss, h.Settle(ctx, ss), i)
	}
	if !f.admin {
		return
	}
	want := outbox.Stats{Dead: len(f.m.items)} // the dead letters alone are left
	for i, h := range f.hs {
		var got outbox.Stats
		var err error
		for deadline := time.Now().Add(fleetPatience); ; time.Sleep(10 * time.Millisecond) {
			got, err = h.(outbox.Admin).Stats(ctx)
			if err == nil && got == want || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || got != want {
			f.t.Errorf("Stats through %s after the drain: %+v, %v; want %+v", f.names[i], got, err, want)
		}
	}
}
